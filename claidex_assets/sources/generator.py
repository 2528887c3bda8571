"""Deterministic generator of every public source file, with planted anomalies.

``generate(out_dir, scale, seed)`` writes NPPES, LEIE, Medicare, Part D,
Medicaid and the two SNF ownership files in their public layouts, plus
``ground_truth.csv`` (npi, anomaly_type, detail) and ``manifest.json``
(files, row counts, quirk counts, expected loaded and quarantined counts,
sample rows). The same scale and seed always give byte-identical files.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import polars as pl

from claidex_assets.sources import generator_formats as formats
from claidex_assets.sources import generator_population as population
from claidex_assets.sources import generator_tables as tables
from claidex_assets.sources.generator_leie import leie_frame
from claidex_assets.sources.generator_manifest import MANIFEST_FILE, ManifestBuilder
from claidex_assets.sources.generator_plant import adjust_amounts, adjust_presence, choose_planted, linked_exclusions
from claidex_assets.sources.generator_quirks import inject
from claidex_assets.sources.generator_snf import plan_snfs

log = logging.getLogger(__name__)

GENERATOR_VERSION = 2  # bump whenever the output for a given scale and seed changes
NATIONAL = {"scored": 1_780_000, "snf": 14_400, "leie": 83_000}
SMALL_SCALE = 2_000 / NATIONAL["scored"]
QUIRK_RATE = 0.0005  # share of rows per quirk kind
QUIRK_MINIMUM = 2  # rows per quirk kind and file, so small outputs exercise every kind

PAYMENT_QUIRKS = {
    "payments_medicare": {
        "invalid_npi": "Rndrng_NPI", "negative_amount": "Tot_Mdcr_Pymt_Amt", "non_numeric_amount": "Tot_Mdcr_Alowd_Amt",
        "thousands_separator": "Tot_Mdcr_Pymt_Amt", "suppressed": "Tot_Benes", "duplicate_row": None,
        "non_utf8": "Rndrng_Prvdr_Last_Org_Name", "zip_plus4": "Rndrng_Prvdr_Zip5", "non_state_code": "Rndrng_Prvdr_State_Abrvtn",
    },
    "medicare_part_d": {
        "invalid_npi": "PRSCRBR_NPI", "negative_amount": "Tot_Drug_Cst", "non_numeric_amount": "Tot_Clms",
        "thousands_separator": "Tot_Drug_Cst", "suppressed": "Tot_Benes", "duplicate_row": None,
        "non_utf8": "Prscrbr_Last_Org_Name", "zip_plus4": "Prscrbr_Zip5", "non_state_code": "Prscrbr_State_Abrvtn",
    },
    "payments_medicaid": {
        "invalid_npi": "BILLING_PROVIDER_NPI_NUM", "negative_amount": "TOTAL_PAID", "non_numeric_amount": "TOTAL_PAID",
        "thousands_separator": "TOTAL_PAID", "suppressed": "TOTAL_UNIQUE_BENEFICIARIES", "duplicate_row": None,
        "year_out_of_range": "CLAIM_FROM_MONTH",
    },
}
NPPES_QUIRKS = {
    "invalid_npi": "NPI", "duplicate_row": None, "non_utf8": "Provider First Line Business Practice Location Address",
    "zip_plus4": "Provider Business Practice Location Address Postal Code",
    "non_state_code": "Provider Business Practice Location Address State Name",
}
LEIE_QUIRKS = {"non_utf8": "ADDRESS", "zip_plus4": "ZIP"}


def resolve_scale(scale: str | float) -> float:
    """Turn ``small``, ``national`` or a number (a fraction of national size) into a fraction."""
    if scale == "small":
        return SMALL_SCALE
    if scale == "national":
        return 1.0
    try:
        value = float(scale)
    except (TypeError, ValueError):
        raise ValueError(f"invalid scale {scale!r}; use 'small', 'national' or a positive fraction of national size") from None
    if not value > 0:
        raise ValueError(f"invalid scale {scale!r}; it must be positive")
    return value


def reusable_manifest(out_dir: Path, scale: str | float, seed: int) -> dict | None:
    """Return the manifest of ``out_dir`` when it was written with these parameters and every file is intact."""
    path = Path(out_dir) / MANIFEST_FILE
    if not path.exists():
        return None
    manifest = json.loads(path.read_text())
    if manifest.get("parameters") != _parameters(resolve_scale(scale), seed):
        return None
    for name, record in manifest["files"].items():
        file = Path(out_dir) / name
        if not file.exists() or file.stat().st_size != record["bytes"]:
            return None
    return manifest


def _parameters(fraction: float, seed: int) -> dict:
    return {"generator_version": GENERATOR_VERSION, "scale": fraction, "seed": int(seed)}


def generate(out_dir: str | Path, scale: str | float = "small", seed: int = 0, reuse: bool = False) -> dict:
    """Write every source file for ``scale`` into ``out_dir`` and return the manifest.

    With ``reuse``, an existing output written with the same parameters is
    kept and its manifest returned without writing anything.
    """
    out_dir = Path(out_dir)
    fraction = resolve_scale(scale)
    if reuse and (existing := reusable_manifest(out_dir, scale, seed)) is not None:
        log.info("reusing generated data in %s (scale %s, seed %s)", out_dir, fraction, seed)
        return existing
    started = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(12)]
    scored = max(200, int(round(NATIONAL["scored"] * fraction)))
    planted_count = max(6, int(round(2e-4 * scored)))
    snf_count = max(60, int(round(NATIONAL["snf"] * fraction)))
    leie_count = max(120, int(round(NATIONAL["leie"] * fraction)))

    plan = plan_snfs(streams[0], snf_count, planted_chains=max(5, planted_count // 4))
    pop = population.make_population(streams[1], scored, int(round(0.3 * scored)) + 200, np.array(plan.names, dtype=object))
    snf_index = np.arange(scored - snf_count, scored)
    pop.state[snf_index] = np.array(plan.states, dtype=object)
    planted = choose_planted(streams[2], pop, planted_count)
    linked, truth, linked_npis = linked_exclusions(streams[10], pop, plan, snf_index, planted, leie_count // 10)
    builder = ManifestBuilder(out_dir, _parameters(fraction, seed))

    presence = population.program_presence(streams[3], pop)
    adjust_presence(presence, planted)
    presence[snf_index, 2, -2:] = True  # every facility bills Medicaid in the last two years
    protected_npis = sorted({int(pop.npi[i]) for i in planted.all_indices} | {int(n) for n in pop.npi[snf_index]} | linked_npis)

    people = tables.population_frame(pop)
    for program, table in enumerate(("payments_medicare", "medicare_part_d", "payments_medicaid")):
        provider, year_index = np.nonzero(presence[:, program, :])
        amounts = population.amounts(streams[4 + program], pop, provider, year_index, program)
        adjust_amounts(program, provider, year_index, amounts, planted)
        years = population.YEARS[year_index]
        if program == 0:
            frame = tables.medicare_frame(people, provider, years, amounts)
        elif program == 1:
            frame = tables.partd_frame(people, provider, years, amounts)
        else:
            frame = tables.medicaid_frame(people, provider, years, amounts, streams[7])
        npi_column = PAYMENT_QUIRKS[table]["invalid_npi"]
        protected = frame[npi_column].cast(pl.Int64).is_in(protected_npis).to_numpy()
        result = inject(frame, streams[8], PAYMENT_QUIRKS[table], QUIRK_RATE, QUIRK_MINIMUM, protected)
        builder.add_payment_table(table, result)
        log.info("wrote %s: %s rows", table, result.frame.height)
        del frame, result, amounts  # free this program's frames before building the next one

    nppes = tables.nppes_frame(pop, people, streams[9])
    protected = np.isin(pop.npi, protected_npis)
    nppes_result = inject(nppes, streams[8], NPPES_QUIRKS, QUIRK_RATE, QUIRK_MINIMUM, protected)
    builder.add_file(formats.NPPES_FILE, "providers", nppes_result, layout=formats.nppes_columns(), quote_all=True)
    leie = leie_frame(streams[10], linked, leie_count)
    builder.add_file(formats.LEIE_FILE, "exclusions", inject(leie, streams[8], LEIE_QUIRKS, QUIRK_RATE, QUIRK_MINIMUM))

    npis = [str(n) for n in pop.npi[snf_index]]
    multiple = (streams[11].random(snf_count) < 0.02).tolist()
    multiple[-1] = True
    builder.add_plain(formats.SNF_ENROLLMENTS_FILE, "snf_enrollments", tables.snf_enrollment_frame(plan, npis, multiple))
    builder.add_plain(formats.SNF_OWNERS_FILE, "snf_owners", tables.snf_owner_frame(plan), encoding="cp1252")

    controls = {"reinstated_billing_npis": sorted(str(pop.npi[i]) for i in planted.reinstated_control)}
    manifest = builder.finish(truth, plan, controls)
    log.info("generated %s scored providers into %s in %.1f s", scored, out_dir, time.perf_counter() - started)
    return manifest
