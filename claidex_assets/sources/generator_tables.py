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

_PROVIDER_TYPES = np.array([t.provider_type for t in names.TAXONOMIES], dtype=object)
_TAXONOMY_CODES = np.array([t.code for t in names.TAXONOMIES], dtype=object)
_CREDENTIALS = np.array(["M.D.", "D.O.", "NP", "PA-C", "MD", "DDS", "PT", "LCSW", "PHD", "DPM"], dtype=object)


def _text(values: np.ndarray) -> pl.Series:
    return pl.Series(values.astype(str) if values.dtype != object else values, dtype=pl.Utf8)


def _amount(values: np.ndarray) -> pl.Series:
    return pl.Series(np.round(values, 2)).cast(pl.Utf8)


def _count(values: np.ndarray) -> pl.Series:
    return pl.Series(np.asarray(values).astype(np.int64)).cast(pl.Utf8)


def nppes_frame(pop: Population, rng: np.random.Generator) -> pl.DataFrame:
    """NPPES rows, one per provider; columns the loaders do not read stay empty."""
    individual = pop.entity_type == 1
    size = pop.size
    zip9 = np.where(rng.random(size) < 0.6, pop.zip5 * 10_000 + rng.integers(0, 10_000, size), pop.zip5)
    postal = np.where(zip9 > 99_999, np.char.zfill(zip9.astype(str), 9), np.char.zfill(zip9.astype(str), 5))
    secondary = rng.random(size) < 0.1
    enumeration = rng.integers(2005, 2024, size)
    blank = np.full(size, "", dtype=object)
    values = {
        "NPI": _text(pop.npi),
        "Entity Type Code": _text(pop.entity_type),
        "Provider Organization Name (Legal Business Name)": _text(np.where(individual, blank, pop.org_name)),
        "Provider Last Name (Legal Name)": _text(np.where(individual, pop.last_name, blank)),
        "Provider First Name": _text(np.where(individual, pop.first_name, blank)),
        "Provider Credential Text": _text(np.where(individual, _CREDENTIALS[rng.integers(0, len(_CREDENTIALS), size)], blank)),
        "Provider First Line Business Mailing Address": _text(np.char.add(rng.integers(1, 9999, size).astype(str), " MAIN ST").astype(object)),
        "Provider Business Mailing Address City Name": _text(pop.city),
        "Provider Business Mailing Address State Name": _text(pop.state),
        "Provider Business Mailing Address Postal Code": _text(postal.astype(object)),
        "Provider Business Mailing Address Country Code (If outside U.S.)": _text(np.full(size, "US", dtype=object)),
        "Provider First Line Business Practice Location Address": _text(np.char.add(rng.integers(1, 9999, size).astype(str), " OAK AVE").astype(object)),
        "Provider Business Practice Location Address City Name": _text(pop.city),
        "Provider Business Practice Location Address State Name": _text(pop.state),
        "Provider Business Practice Location Address Postal Code": _text(postal.astype(object)),
        "Provider Business Practice Location Address Country Code (If outside U.S.)": _text(np.full(size, "US", dtype=object)),
        "Provider Enumeration Date": _text(np.char.add("05/23/", enumeration.astype(str)).astype(object)),
        "Last Update Date": _text(np.full(size, "07/08/2024", dtype=object)),
        "Provider Sex Code": _text(np.where(individual, pop.sex, blank)),
        "Authorized Official Last Name": _text(np.where(individual, blank, pop.last_name)),
        "Authorized Official First Name": _text(np.where(individual, blank, pop.first_name)),
        "Healthcare Provider Taxonomy Code_1": _text(_TAXONOMY_CODES[pop.taxonomy]),
        "Provider License Number_1": _text(np.char.zfill(rng.integers(0, 10**7, size).astype(str), 7).astype(object)),
        "Provider License Number State Code_1": _text(pop.state),
        "Healthcare Provider Primary Taxonomy Switch_1": _text(np.full(size, "Y", dtype=object)),
        "Healthcare Provider Taxonomy Code_2": _text(np.where(secondary, "174400000X", blank)),
        "Healthcare Provider Primary Taxonomy Switch_2": _text(np.where(secondary, "N", blank)),
        "Is Sole Proprietor": _text(np.where(individual, "N", blank)),
        "Is Organization Subpart": _text(np.where(individual, blank, "N")),
    }
    return pl.DataFrame(values)


def _payment_common(pop: Population, provider: np.ndarray, year: np.ndarray, prefix: str) -> dict[str, pl.Series]:
    individual = pop.entity_type[provider] == 1
    blank = np.full(len(provider), "", dtype=object)
    return {
        f"{prefix}_Last_Org_Name": _text(np.where(individual, pop.last_name[provider], pop.org_name[provider])),
        f"{prefix}_First_Name": _text(np.where(individual, pop.first_name[provider], blank)),
        f"{prefix}_Gndr": _text(np.where(individual, pop.sex[provider], blank)),
        f"{prefix}_Ent_Cd": _text(np.where(individual, "I", "O").astype(object)),
        f"{prefix}_City": _text(pop.city[provider]),
        f"{prefix}_State_Abrvtn": _text(pop.state[provider]),
        f"{prefix}_Zip5": _text(np.char.zfill(pop.zip5[provider].astype(str), 5).astype(object)),
        f"{prefix}_Cntry": _text(np.full(len(provider), "US", dtype=object)),
        "__year": _text(year),
    }


def medicare_frame(pop: Population, provider: np.ndarray, year: np.ndarray, amounts: dict[str, np.ndarray]) -> pl.DataFrame:
    values = _payment_common(pop, provider, year, "Rndrng_Prvdr")
    values.update({
        "Rndrng_NPI": _text(pop.npi[provider]),
        "Rndrng_Prvdr_Type": _text(_PROVIDER_TYPES[pop.taxonomy[provider]]),
        "Rndrng_Prvdr_Mdcr_Prtcptg_Ind": _text(np.full(len(provider), "Y", dtype=object)),
        "Rndrng_Prvdr_RUCA": _text(np.full(len(provider), "1", dtype=object)),
        "Tot_HCPCS_Cds": _count(amounts["hcpcs"]),
        "Tot_Benes": _count(amounts["benes"]),
        "Tot_Srvcs": _count(amounts["services"]),
        "Tot_Sbmtd_Chrg": _amount(amounts["submitted"]),
        "Tot_Mdcr_Alowd_Amt": _amount(amounts["allowed"]),
        "Tot_Mdcr_Pymt_Amt": _amount(amounts["paid"]),
        "Tot_Mdcr_Stdzd_Amt": _amount(amounts["paid"] * 0.97),
        "Med_Tot_Benes": _count(amounts["benes"]),
        "Med_Tot_Srvcs": _count(amounts["services"]),
        "Med_Mdcr_Pymt_Amt": _amount(amounts["paid"]),
        "Drug_Sprsn_Ind": _text(np.full(len(provider), "*", dtype=object)),
    })
    return pl.DataFrame(values)


def partd_frame(pop: Population, provider: np.ndarray, year: np.ndarray, amounts: dict[str, np.ndarray]) -> pl.DataFrame:
    values = _payment_common(pop, provider, year, "Prscrbr")
    claims = amounts["claims"]
    values.update({
        "PRSCRBR_NPI": _text(pop.npi[provider]),
        "Prscrbr_Type": _text(_PROVIDER_TYPES[pop.taxonomy[provider]]),
        "Prscrbr_Type_Src": _text(np.full(len(provider), "S", dtype=object)),
        "Tot_Clms": _count(claims),
        "Tot_30day_Fills": _amount(amounts["fills"]),
        "Tot_Drug_Cst": _amount(amounts["drug_cost"]),
        "Tot_Day_Suply": _count(amounts["fills"] * 30),
        "Tot_Benes": _count(amounts["benes"]),
        "GE65_Sprsn_Flag": _text(np.where(claims < 60, "*", "").astype(object)),
        "GE65_Tot_Clms": _text(np.where(claims < 60, "", (claims * 0.8).astype(np.int64).astype(str)).astype(object)),
        "Brnd_Sprsn_Flag": _text(np.where(claims < 40, "#", "").astype(object)),
    })
    return pl.DataFrame(values)


def medicaid_frame(pop: Population, provider: np.ndarray, year: np.ndarray, amounts: dict[str, np.ndarray], rng: np.random.Generator) -> pl.DataFrame:
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
    npi = _text(pop.npi[provider][row_parent])
    return pl.DataFrame({
        "BILLING_PROVIDER_NPI_NUM": npi,
        "SERVICING_PROVIDER_NPI_NUM": npi,
        "HCPCS_CODE": _text(np.array(names.HCPCS_CODES, dtype=object)[rng.integers(0, len(names.HCPCS_CODES), len(row_parent))]),
        "CLAIM_FROM_MONTH": _text(np.char.add(np.char.add(year[row_parent].astype(str), "-"), np.char.zfill(month.astype(str), 2)).astype(object)),
        "TOTAL_UNIQUE_BENEFICIARIES": _count(benes),
        "TOTAL_CLAIMS": _count(claims),
        "TOTAL_PAID": pl.Series(cents // 100).cast(pl.Utf8) + "." + pl.Series(np.char.zfill((cents % 100).astype(str), 2)),
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
