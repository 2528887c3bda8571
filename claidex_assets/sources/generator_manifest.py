"""Write the generated files and record them in ``manifest.json``.

The manifest records, per file: its table, data year, row count, byte size,
quirk counts and how many rows the loaders must reject. Per table it
records the rows expected after loading and a few exact sample rows taken
from rows without quirks, so a round-trip test can compare the database
with what was written.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import numpy as np
import polars as pl

from claidex_assets.sources import generator_formats as formats
from claidex_assets.sources.generator_quirks import QuirkResult, write_csv
from claidex_assets.sources.generator_snf import SnfPlan

SAMPLE_ROWS = 5
GROUND_TRUTH_FILE = "ground_truth.csv"
MANIFEST_FILE = "manifest.json"


def _sample_positions(mask: np.ndarray, count: int = SAMPLE_ROWS) -> np.ndarray:
    positions = np.flatnonzero(mask)
    if len(positions) == 0:
        return positions
    return positions[np.linspace(0, len(positions) - 1, min(count, len(positions))).astype(int)]


class ManifestBuilder:
    """Collects what each written file holds while the generator writes it."""

    def __init__(self, out_dir: Path, parameters: dict) -> None:
        self.out_dir = out_dir
        self.parameters = parameters
        self.files: dict[str, dict] = {}
        self.tables: dict[str, dict] = {}
        self.samples: dict[str, list[dict]] = {}

    def _record(self, name: str, table: str, result: QuirkResult, size: int, mask: np.ndarray | None = None, year: int | None = None) -> None:
        rejected = result.rejected if mask is None else result.rejected[mask]
        self.files[name] = {
            "table": table,
            "year": year,
            "rows": int(len(rejected)),
            "bytes": size,
            "quirks": result.counts(mask),
            "expected_rejected": int(rejected.sum()),
        }
        entry = self.tables.setdefault(table, {"files": [], "rows_written": 0, "expected_rejected": 0})
        entry["files"].append(name)
        entry["rows_written"] += int(len(rejected))
        entry["expected_rejected"] += int(rejected.sum())

    def add_payment_table(self, table: str, result: QuirkResult) -> None:
        frame = result.frame
        year = frame["__year"].to_numpy().astype(int)
        if table == "payments_medicaid":
            size = write_csv(frame.drop("__year"), self.out_dir / formats.MEDICAID_FILE)
            self._record(formats.MEDICAID_FILE, table, result, size)
            valid = frame.filter(pl.Series(~result.rejected))
            self.tables[table]["expected_rows"] = valid.select("BILLING_PROVIDER_NPI_NUM", "__year").n_unique()
            self.samples[table] = _medicaid_samples(frame, result)
            return
        name_of = formats.medicare_file_name if table == "payments_medicare" else formats.partd_file_name
        layout = formats.MEDICARE_COLUMNS if table == "payments_medicare" else formats.PARTD_COLUMNS
        for data_year in sorted(set(year.tolist())):
            mask = year == data_year
            name = name_of(data_year)
            size = write_csv(frame.filter(pl.Series(mask)), self.out_dir / name, layout=layout)
            self._record(name, table, result, size, mask, data_year)
        self.tables[table]["expected_rows"] = int((~result.rejected).sum())
        self.samples[table] = [_payment_sample(table, frame.row(int(i), named=True)) for i in _sample_positions(result.clean)]

    def add_file(self, name: str, table: str, result: QuirkResult, layout: list[str] | None = None, quote_all: bool = False) -> None:
        size = write_csv(result.frame, self.out_dir / name, layout=layout, quote_all=quote_all)
        self._record(name, table, result, size)
        self.tables[table]["expected_rows"] = int((~result.rejected).sum())
        rows = [result.frame.row(int(i), named=True) for i in _sample_positions(result.clean)]
        self.samples[table] = [_provider_sample(r) if table == "providers" else _exclusion_sample(r) for r in rows]

    def add_plain(self, name: str, table: str, frame: pl.DataFrame, encoding: str = "utf-8") -> None:
        size = write_csv(frame, self.out_dir / name, encoding=encoding)
        self.files[name] = {"table": table, "year": None, "rows": frame.height, "bytes": size, "quirks": {},
                            "expected_rejected": 0, "encoding": encoding}
        self.tables[table] = {"files": [name], "rows_written": frame.height, "expected_rejected": 0,
                              "expected_rows": frame.height}

    def finish(self, truth: list[tuple[str, str, str]], plan: SnfPlan, controls: dict) -> dict:
        path = self.out_dir / GROUND_TRUTH_FILE
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(["npi", "anomaly_type", "detail"])
            writer.writerows(sorted(truth, key=lambda row: (row[1], row[0])))
        self.files[GROUND_TRUTH_FILE] = {"table": None, "year": None, "rows": len(truth), "bytes": path.stat().st_size,
                                         "quirks": {}, "expected_rejected": 0}
        quirk_totals: Counter[str] = Counter()
        for record in self.files.values():
            quirk_totals.update(record["quirks"])
        owners = {row["ASSOCIATE ID - OWNER"] for row in plan.owner_rows}
        manifest = {
            "parameters": self.parameters,
            "years": sorted({r["year"] for r in self.files.values() if r["year"] is not None}),
            "files": self.files,
            "tables": self.tables,
            "quirk_totals": dict(sorted(quirk_totals.items())),
            "samples": self.samples,
            "ground_truth": {"file": GROUND_TRUTH_FILE, "counts": dict(sorted(Counter(t[1] for t in truth).items()))},
            "snf": {"facilities": len(plan.facility_ids), "owner_rows": len(plan.owner_rows), "distinct_owners": len(owners),
                    "organizations": len({r["ASSOCIATE ID - OWNER"] for r in plan.owner_rows if r["TYPE - OWNER"] == "O"})},
            "controls": controls,
        }
        (self.out_dir / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        return manifest


def _number(text: str) -> float | None:
    return None if text in ("", "*", "#") else float(text.replace(",", ""))


def _payment_sample(table: str, row: dict) -> dict:
    if table == "payments_medicare":
        return {"npi": row["Rndrng_NPI"], "year": int(row["__year"]), "provider_type": row["Rndrng_Prvdr_Type"],
                "state": row["Rndrng_Prvdr_State_Abrvtn"], "medicare_paid": _number(row["Tot_Mdcr_Pymt_Amt"]),
                "medicare_allowed": _number(row["Tot_Mdcr_Alowd_Amt"]), "total_services": _number(row["Tot_Srvcs"]),
                "total_beneficiaries": _number(row["Tot_Benes"])}
    return {"npi": row["PRSCRBR_NPI"], "year": int(row["__year"]), "provider_type": row["Prscrbr_Type"],
            "state": row["Prscrbr_State_Abrvtn"], "total_drug_cost": _number(row["Tot_Drug_Cst"]),
            "total_claims": _number(row["Tot_Clms"]), "total_benes": _number(row["Tot_Benes"])}


def _medicaid_samples(frame: pl.DataFrame, result: QuirkResult) -> list[dict]:
    """Provider-years whose monthly rows are all clean, summed as the loader aggregates them."""
    groups = (
        frame.with_columns(clean=pl.Series(result.clean))
        .group_by("BILLING_PROVIDER_NPI_NUM", "__year", maintain_order=True)
        .agg(
            pl.col("clean").all(),
            payments=pl.col("TOTAL_PAID").cast(pl.Decimal(18, 2), strict=False).sum(),
            claims=pl.col("TOTAL_CLAIMS").cast(pl.Int64, strict=False).sum(),
            beneficiaries=pl.col("TOTAL_UNIQUE_BENEFICIARIES").cast(pl.Int64, strict=False).max(),
            months=pl.len(),
        )
    )
    groups = groups.filter(pl.col("clean") & (pl.col("months") > 1)).head(SAMPLE_ROWS * 20)
    rows = groups.rows(named=True)
    chosen = [rows[int(i)] for i in np.linspace(0, len(rows) - 1, min(SAMPLE_ROWS, len(rows))).astype(int)] if rows else []
    return [{"npi": r["BILLING_PROVIDER_NPI_NUM"], "year": int(r["__year"]), "payments": float(r["payments"]),
             "claims": int(r["claims"]), "beneficiaries": int(r["beneficiaries"])} for r in chosen]


def _provider_sample(row: dict) -> dict:
    return {"npi": row["NPI"], "entity_type_code": int(row["Entity Type Code"]),
            "taxonomy_1": row["Healthcare Provider Taxonomy Code_1"],
            "state": row["Provider Business Practice Location Address State Name"],
            "last_name": row["Provider Last Name (Legal Name)"], "first_name": row["Provider First Name"],
            "organization_name": row["Provider Organization Name (Legal Business Name)"]}


def _exclusion_sample(row: dict) -> dict:
    def date(text: str) -> str | None:
        return None if text in ("", "00000000") else f"{text[:4]}-{text[4:6]}-{text[6:]}"

    return {"npi": None if row["NPI"] == "0000000000" else row["NPI"], "last_name": row["LASTNAME"],
            "business_name": row["BUSNAME"], "state": row["STATE"], "excldate": date(row["EXCLDATE"]),
            "reindate": date(row["REINDATE"]), "reinstated": date(row["REINDATE"]) is not None}
