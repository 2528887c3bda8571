"""Build the string frames of each public file from the synthetic population.

Every frame has only Utf8 columns. The wide layouts (NPPES, Medicare,
Part D) hold only the filled columns, and the writer adds the empty ones
chunk by chunk, because 300 empty columns of 2 million rows would need
gigabytes. The payment frames also carry a ``__year`` column that the
writer drops.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from claidex_assets.sources import generator_formats as formats
from claidex_assets.sources import generator_names as names
from claidex_assets.sources.generator_population import Population
from claidex_assets.sources.generator_snf import SnfPlan

_PROVIDER_TYPES = [t.provider_type for t in names.TAXONOMIES]
_TAXONOMY_CODES = [t.code for t in names.TAXONOMIES]
_CREDENTIALS = ["M.D.", "D.O.", "NP", "PA-C", "MD", "DDS", "PT", "LCSW", "PHD", "DPM"]


def _text(values: np.ndarray) -> pl.Series:
    """Turn a numeric array into decimal text, or an object array of strings into a Utf8 series."""
    if values.dtype == object:
        return pl.Series(values, dtype=pl.Utf8)
    return pl.Series(values).cast(pl.Utf8)


def _amount(values: np.ndarray) -> pl.Series:
    return pl.Series(np.round(values, 2)).cast(pl.Utf8)


def _count(values: np.ndarray) -> pl.Series:
    return pl.Series(np.asarray(values).astype(np.int64)).cast(pl.Utf8)


def _lookup(table: list[str], index: np.ndarray) -> pl.Series:
    return pl.Series(table, dtype=pl.Utf8).gather(pl.Series(index))


def population_frame(pop: Population) -> pl.DataFrame:
    """Build one text row per provider with every column the files repeat.

    The object arrays are converted to polars once here, and each file
    gathers its rows from this frame. Converting millions of Python strings
    again for each file would double national generation time.
    """
    individual = pl.Series(pop.entity_type == 1)
    blank = pl.lit("")
    frame = pl.DataFrame({
        "npi": _text(pop.npi),
        "individual": individual,
        "entity_code": _text(pop.entity_type),
        "last": _text(pop.last_name),
        "first": _text(pop.first_name),
        "org": _text(pop.org_name),
        "state": _text(pop.state),
        "city": _text(pop.city),
        "sex": _text(pop.sex),
        "zip5": pl.Series(pop.zip5).cast(pl.Utf8).str.zfill(5),
        "provider_type": _lookup(_PROVIDER_TYPES, pop.taxonomy),
        "taxonomy": _lookup(_TAXONOMY_CODES, pop.taxonomy),
    })
    return frame.with_columns(
        pl.when("individual").then("last").otherwise("org").alias("last_org"),
        pl.when("individual").then("first").otherwise(blank).alias("first_or_blank"),
        pl.when("individual").then("sex").otherwise(blank).alias("sex_or_blank"),
        pl.when("individual").then(pl.lit("I")).otherwise(pl.lit("O")).alias("entity_letter"),
    )


def nppes_frame(pop: Population, people: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    """NPPES rows, one per provider, with only the filled columns (the writer adds the empty ones)."""
    size = pop.size
    zip9 = np.where(rng.random(size) < 0.6, pop.zip5 * 10_000 + rng.integers(0, 10_000, size), pop.zip5)
    postal = pl.Series(zip9).cast(pl.Utf8)
    postal = pl.select(pl.when(pl.Series(zip9 > 99_999)).then(postal.str.zfill(9)).otherwise(postal.str.zfill(5))).to_series()
    secondary = pl.Series(rng.random(size) < 0.1)
    enumeration = pl.Series(rng.integers(2005, 2024, size)).cast(pl.Utf8)
    credential = _lookup(_CREDENTIALS, rng.integers(0, len(_CREDENTIALS), size))
    mailing = pl.Series(rng.integers(1, 9999, size)).cast(pl.Utf8) + " MAIN ST"
    practice = pl.Series(rng.integers(1, 9999, size)).cast(pl.Utf8) + " OAK AVE"
    license_number = pl.Series(rng.integers(0, 10**7, size)).cast(pl.Utf8).str.zfill(7)
    ind = pl.col("individual")
    blank = pl.lit("")
    return people.with_columns(
        credential=credential, postal=postal, secondary=secondary, enumeration=enumeration,
        mailing=mailing, practice=practice, license_number=license_number,
    ).select(
        pl.col("npi").alias("NPI"),
        pl.col("entity_code").alias("Entity Type Code"),
        pl.when(ind).then(blank).otherwise("org").alias("Provider Organization Name (Legal Business Name)"),
        pl.when(ind).then("last").otherwise(blank).alias("Provider Last Name (Legal Name)"),
        pl.col("first_or_blank").alias("Provider First Name"),
        pl.when(ind).then("credential").otherwise(blank).alias("Provider Credential Text"),
        pl.col("mailing").alias("Provider First Line Business Mailing Address"),
        pl.col("city").alias("Provider Business Mailing Address City Name"),
        pl.col("state").alias("Provider Business Mailing Address State Name"),
        pl.col("postal").alias("Provider Business Mailing Address Postal Code"),
        pl.lit("US").alias("Provider Business Mailing Address Country Code (If outside U.S.)"),
        pl.col("practice").alias("Provider First Line Business Practice Location Address"),
        pl.col("city").alias("Provider Business Practice Location Address City Name"),
        pl.col("state").alias("Provider Business Practice Location Address State Name"),
        pl.col("postal").alias("Provider Business Practice Location Address Postal Code"),
        pl.lit("US").alias("Provider Business Practice Location Address Country Code (If outside U.S.)"),
        ("05/23/" + pl.col("enumeration")).alias("Provider Enumeration Date"),
        pl.lit("07/08/2024").alias("Last Update Date"),
        pl.col("sex_or_blank").alias("Provider Sex Code"),
        pl.when(ind).then(blank).otherwise("last").alias("Authorized Official Last Name"),
        pl.when(ind).then(blank).otherwise("first").alias("Authorized Official First Name"),
        pl.col("taxonomy").alias("Healthcare Provider Taxonomy Code_1"),
        pl.col("license_number").alias("Provider License Number_1"),
        pl.col("state").alias("Provider License Number State Code_1"),
        pl.lit("Y").alias("Healthcare Provider Primary Taxonomy Switch_1"),
        pl.when("secondary").then(pl.lit("174400000X")).otherwise(blank).alias("Healthcare Provider Taxonomy Code_2"),
        pl.when("secondary").then(pl.lit("N")).otherwise(blank).alias("Healthcare Provider Primary Taxonomy Switch_2"),
        pl.when(ind).then(pl.lit("N")).otherwise(blank).alias("Is Sole Proprietor"),
        pl.when(ind).then(blank).otherwise(pl.lit("N")).alias("Is Organization Subpart"),
    )


def _payment_common(people: pl.DataFrame, provider: np.ndarray, year: np.ndarray, prefix: str) -> pl.DataFrame:
    rows = people.select(
        "npi", "last_org", "first_or_blank", "sex_or_blank", "entity_letter", "city", "state", "zip5", "provider_type"
    )[provider]
    return rows.select(
        pl.col("npi"),
        pl.col("provider_type"),
        pl.col("last_org").alias(f"{prefix}_Last_Org_Name"),
        pl.col("first_or_blank").alias(f"{prefix}_First_Name"),
        pl.col("sex_or_blank").alias(f"{prefix}_Gndr"),
        pl.col("entity_letter").alias(f"{prefix}_Ent_Cd"),
        pl.col("city").alias(f"{prefix}_City"),
        pl.col("state").alias(f"{prefix}_State_Abrvtn"),
        pl.col("zip5").alias(f"{prefix}_Zip5"),
        pl.lit("US").alias(f"{prefix}_Cntry"),
        _text(year).alias("__year"),
    )


def medicare_frame(people: pl.DataFrame, provider: np.ndarray, year: np.ndarray, amounts: dict[str, np.ndarray]) -> pl.DataFrame:
    frame = _payment_common(people, provider, year, "Rndrng_Prvdr")
    return frame.rename({"npi": "Rndrng_NPI", "provider_type": "Rndrng_Prvdr_Type"}).with_columns(
        pl.lit("Y").alias("Rndrng_Prvdr_Mdcr_Prtcptg_Ind"),
        pl.lit("1").alias("Rndrng_Prvdr_RUCA"),
        _count(amounts["hcpcs"]).alias("Tot_HCPCS_Cds"),
        _count(amounts["benes"]).alias("Tot_Benes"),
        _count(amounts["services"]).alias("Tot_Srvcs"),
        _amount(amounts["submitted"]).alias("Tot_Sbmtd_Chrg"),
        _amount(amounts["allowed"]).alias("Tot_Mdcr_Alowd_Amt"),
        _amount(amounts["paid"]).alias("Tot_Mdcr_Pymt_Amt"),
        _amount(amounts["paid"] * 0.97).alias("Tot_Mdcr_Stdzd_Amt"),
        _count(amounts["benes"]).alias("Med_Tot_Benes"),
        _count(amounts["services"]).alias("Med_Tot_Srvcs"),
        _amount(amounts["paid"]).alias("Med_Mdcr_Pymt_Amt"),
        pl.lit("*").alias("Drug_Sprsn_Ind"),
    )


def partd_frame(people: pl.DataFrame, provider: np.ndarray, year: np.ndarray, amounts: dict[str, np.ndarray]) -> pl.DataFrame:
    frame = _payment_common(people, provider, year, "Prscrbr")
    claims = amounts["claims"]
    ge65 = _count(claims * 0.8)
    return frame.rename({"npi": "PRSCRBR_NPI", "provider_type": "Prscrbr_Type"}).with_columns(
        pl.lit("S").alias("Prscrbr_Type_Src"),
        _count(claims).alias("Tot_Clms"),
        _amount(amounts["fills"]).alias("Tot_30day_Fills"),
        _amount(amounts["drug_cost"]).alias("Tot_Drug_Cst"),
        _count(amounts["fills"] * 30).alias("Tot_Day_Suply"),
        _count(amounts["benes"]).alias("Tot_Benes"),
        pl.when(pl.Series(claims < 60)).then(pl.lit("*")).otherwise(pl.lit("")).alias("GE65_Sprsn_Flag"),
        pl.when(pl.Series(claims < 60)).then(pl.lit("")).otherwise(ge65).alias("GE65_Tot_Clms"),
        pl.when(pl.Series(claims < 40)).then(pl.lit("#")).otherwise(pl.lit("")).alias("Brnd_Sprsn_Flag"),
    )


def medicaid_frame(people: pl.DataFrame, provider: np.ndarray, year: np.ndarray, amounts: dict[str, np.ndarray], rng: np.random.Generator) -> pl.DataFrame:
    """Monthly Medicaid rows: each provider-year is split over 1 + Poisson(1) consecutive months.

    Paid cents and claims are split so that the months sum exactly to the
    provider-year totals, and the largest month carries the year's
    beneficiary count.
    """
    months = np.minimum(1 + rng.poisson(1.0, len(provider)), 12)
    row_parent = np.repeat(np.arange(len(provider)), months)
    offset = np.arange(len(row_parent)) - np.repeat(np.cumsum(months) - months, months)
    start = rng.integers(0, 12, len(provider))
    month = (start[row_parent] + offset) % 12 + 1
    weight = rng.uniform(0.5, 1.5, len(row_parent))
    weight_sum = np.bincount(row_parent, weights=weight)
    share = weight / weight_sum[row_parent]
    first = offset == 0

    def split(total: np.ndarray) -> np.ndarray:
        part = np.floor(total[row_parent] * share).astype(np.int64)
        remainder = total.astype(np.int64) - np.bincount(row_parent, weights=part, minlength=len(provider)).astype(np.int64)
        part[first] += remainder
        return part

    claims = split(amounts["claims"])
    cents = split(np.round(amounts["paid"] * 100))
    weight_max = np.maximum.reduceat(weight, np.cumsum(months) - months)
    benes = np.maximum(1, np.round(amounts["benes"][row_parent] * weight / weight_max[row_parent])).astype(np.int64)
    npi = people["npi"].gather(pl.Series(provider[row_parent]))
    return pl.DataFrame({
        "BILLING_PROVIDER_NPI_NUM": npi,
        "SERVICING_PROVIDER_NPI_NUM": npi,
        "HCPCS_CODE": _lookup(list(names.HCPCS_CODES), rng.integers(0, len(names.HCPCS_CODES), len(row_parent))),
        "CLAIM_FROM_MONTH": _text(year[row_parent]) + "-" + _text(month).str.zfill(2),
        "TOTAL_UNIQUE_BENEFICIARIES": _count(benes),
        "TOTAL_CLAIMS": _count(claims),
        "TOTAL_PAID": _text(cents // 100) + "." + _text(cents % 100).str.zfill(2),
        "__year": _text(year[row_parent]),
    })


def snf_owner_frame(plan: SnfPlan) -> pl.DataFrame:
    rows = [{column: row.get(column, "") for column in formats.SNF_OWNER_COLUMNS} for row in plan.owner_rows]
    return pl.DataFrame(rows, schema={c: pl.Utf8 for c in formats.SNF_OWNER_COLUMNS}, orient="row")


def snf_enrollment_frame(plan: SnfPlan, npis: list[str], multiple_npi: list[bool]) -> pl.DataFrame:
    size = len(plan.facility_ids)
    values = {
        "ENROLLMENT ID": plan.enrollment_ids,
        "ENROLLMENT STATE": plan.states,
        "PROVIDER TYPE CODE": ["00-18"] * size,
        "PROVIDER TYPE TEXT": ["PART A PROVIDER - SKILLED NURSING FACILITY (SNF)"] * size,
        "NPI": npis,
        "MULTIPLE NPI FLAG": ["Y" if flag else "N" for flag in multiple_npi],
        "CCN": plan.ccns,
        "ASSOCIATE ID": plan.facility_ids,
        "ORGANIZATION NAME": plan.names,
        "ORGANIZATION TYPE STRUCTURE": ["LLC"] * size,
        "PROPRIETARY_NONPROFIT": ["P"] * size,
        "ADDRESS LINE 1": [f"{100 + i % 9000} CARE WAY" for i in range(size)],
        "CITY": [name.split(" OF ")[1].split(" ")[0] for name in plan.names],
        "STATE": plan.states,
        "ZIP CODE": [f"{10000 + (i * 7919) % 89999:05d}" for i in range(size)],
    }
    frame = pl.DataFrame(values, schema={c: pl.Utf8 for c in values})
    return frame.select([pl.col(c) if c in values else pl.lit("").alias(c) for c in formats.SNF_ENROLLMENT_COLUMNS])
