"""Synthetic provider population and provider-year-program amounts (vectorised numpy).

Everything here is a pure function of a numpy ``Generator``, so one seed
always gives the same population. Amounts are lognormal around each
specialty's medians with a persistent provider factor, a yearly factor and
a 3% yearly trend; provider-years have gaps like the real files.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from claidex_assets.sources import generator_names as names

YEARS = np.arange(2019, 2024)
PROGRAMS = ("Medicare", "MedicarePartD", "Medicaid")


def npi_check_digits(stems: np.ndarray) -> np.ndarray:
    """Luhn check digits for 9-digit NPI stems over the prefix 80840 (vectorised ``npi_check_digit``)."""
    stems = stems.astype(np.int64)
    total = np.full(stems.shape, 24, dtype=np.int64)  # Luhn sum of the constant prefix 80840
    for position in range(9):  # position 0 is the last stem digit, which is doubled
        digit = (stems // 10**position) % 10
        if position % 2 == 0:
            digit = digit * 2
            digit = np.where(digit > 9, digit - 9, digit)
        total += digit
    return (10 - total % 10) % 10


def unique_integers(rng: np.random.Generator, low: int, high: int, count: int) -> np.ndarray:
    """Draw ``count`` distinct integers from ``[low, high)`` in random order (sparse draws only)."""
    if count > (high - low) // 4:
        raise ValueError(f"cannot draw {count} distinct values sparsely from a range of {high - low}")
    values = np.array([], dtype=np.int64)
    while len(values) < count:
        extra = rng.integers(low, high, size=count - len(values) + count // 20 + 16)
        values = np.unique(np.concatenate([values, extra]))
    return rng.permutation(values)[:count]


def make_npis(rng: np.random.Generator, count: int, share_prefix_2: float = 0.002) -> np.ndarray:
    """Draw ``count`` unique valid NPIs as int64; almost all start with 1, a few with 2."""
    count_2 = max(1, int(round(count * share_prefix_2)))
    stems = np.concatenate([
        unique_integers(rng, 100_000_000, 200_000_000, count - count_2),
        unique_integers(rng, 200_000_000, 300_000_000, count_2),
    ])
    stems = rng.permutation(stems)
    return stems * 10 + npi_check_digits(stems)


@dataclass
class Population:
    """One row per NPPES provider, as parallel numpy arrays (index = provider id)."""

    npi: np.ndarray  # int64
    entity_type: np.ndarray  # 1 individual, 2 organization
    taxonomy: np.ndarray  # index into names.TAXONOMIES
    state: np.ndarray  # object array of two-letter codes
    city: np.ndarray
    zip5: np.ndarray  # int
    first_name: np.ndarray
    last_name: np.ndarray
    org_name: np.ndarray
    sex: np.ndarray
    billing: np.ndarray  # bool: has payment rows (scored)

    @property
    def size(self) -> int:
        return len(self.npi)


def _pick(rng: np.random.Generator, values: tuple[str, ...], size: int) -> np.ndarray:
    return np.array(values, dtype=object)[rng.integers(0, len(values), size)]


def make_population(rng: np.random.Generator, billing: int, non_billing: int, org_names: np.ndarray | None = None) -> Population:
    """Draw ``billing + non_billing`` providers; the first ``billing`` ones have payments.

    ``org_names`` may fix the names (and mark the taxonomy SNF) of the last
    organizations among the billing providers; the SNF generator uses it.
    """
    size = billing + non_billing
    taxonomy_index = {t.code: i for i, t in enumerate(names.TAXONOMIES)}
    entity_type = np.where(rng.random(size) < 0.2, 2, 1)
    taxonomy = np.empty(size, dtype=np.int64)
    for kind in (1, 2):
        rows, weights = names.taxonomy_table(kind)
        codes = np.array([taxonomy_index[t.code] for t in rows])
        mask = entity_type == kind
        taxonomy[mask] = codes[rng.choice(len(rows), size=mask.sum(), p=weights)]

    state_codes, state_weights = names.state_table()
    state = state_codes[rng.choice(len(state_codes), size=size, p=state_weights)]
    first = _pick(rng, names.FIRST_NAMES, size)
    last = _pick(rng, names.LAST_NAMES, size)
    org = (
        _pick(rng, names.ORG_WORDS, size) + " " + _pick(rng, names.ORG_WORDS, size) + " "
        + _pick(rng, names.ORG_SUFFIXES, size) + " " + _pick(rng, names.COMPANY_FORMS, size)
    )
    if org_names is not None and len(org_names):
        fixed = np.arange(billing - len(org_names), billing)
        entity_type[fixed] = 2
        taxonomy[fixed] = taxonomy_index[names.SNF_TAXONOMY]
        org[fixed] = org_names
    return Population(
        npi=make_npis(rng, size),
        entity_type=entity_type,
        taxonomy=taxonomy,
        state=state,
        city=_pick(rng, names.CITIES, size),
        zip5=rng.integers(1001, 99951, size),
        first_name=first,
        last_name=last,
        org_name=org,
        sex=np.where(rng.random(size) < 0.5, "F", "M").astype(object),
        billing=np.arange(size) < billing,
    )


def _taxonomy_param(pop: Population, attribute: str) -> np.ndarray:
    values = np.array([getattr(t, attribute) for t in names.TAXONOMIES], dtype=float)
    return values[pop.taxonomy]


def program_presence(rng: np.random.Generator, pop: Population) -> np.ndarray:
    """Boolean array ``[provider, program, year]``: which provider-year-program rows exist.

    Each billing provider is active from a start year to an end year; each
    program it is enrolled in skips an interior year now and then. A billing
    provider in no program is put in its most likely one.
    """
    size, years = pop.size, len(YEARS)
    start = rng.choice(years, size=size, p=[0.62, 0.10, 0.10, 0.10, 0.08])
    end = np.where(rng.random(size) < 0.88, years - 1, rng.integers(0, years, size))
    end = np.maximum(end, start)
    year_index = np.arange(years)[None, :]
    active = (year_index >= start[:, None]) & (year_index <= end[:, None]) & pop.billing[:, None]

    p_medicare = _taxonomy_param(pop, "p_medicare")
    medicare = rng.random(size) < p_medicare
    partd_p = np.where(medicare, _taxonomy_param(pop, "p_partd_med"), _taxonomy_param(pop, "p_partd_alone"))
    partd = rng.random(size) < partd_p
    medicaid = rng.random(size) < _taxonomy_param(pop, "p_medicaid")
    member = np.stack([medicare, partd, medicaid], axis=1)
    probabilities = np.stack([p_medicare, partd_p, _taxonomy_param(pop, "p_medicaid")], axis=1)
    none = ~member.any(axis=1)
    member[none, probabilities[none].argmax(axis=1)] = True

    interior = (year_index > start[:, None]) & (year_index < end[:, None])
    presence = np.empty((size, 3, years), dtype=bool)
    for program in range(3):
        gap = interior & (rng.random((size, years)) < 0.06)
        presence[:, program, :] = active & member[:, program, None] & ~gap
    return presence


def amounts(rng: np.random.Generator, pop: Population, provider: np.ndarray, year_index: np.ndarray, program: int) -> dict[str, np.ndarray]:
    """Draw the amounts of the given provider-year rows of one program (0 Medicare, 1 Part D, 2 Medicaid)."""
    size = len(provider)
    tax = pop.taxonomy[provider]

    def param(attribute: str) -> np.ndarray:
        return np.array([getattr(t, attribute) for t in names.TAXONOMIES], dtype=float)[tax]

    # The provider factor comes from a seed per provider, so all programs of one provider share it.
    provider_factor = np.exp(0.6 * _provider_normal(pop.npi[provider]))
    level = provider_factor * np.exp(rng.normal(0, 0.12, size)) * 1.03**year_index
    benes = np.maximum(11, np.round(param("benes") * level * np.exp(rng.normal(0, 0.25, size)))).astype(np.int64)
    if program == 0:
        services = np.maximum(benes, np.round(benes * param("services_per_bene") * np.exp(rng.normal(0, 0.25, size))))
        allowed = np.round(services * param("medicare_per_service") * np.exp(rng.normal(0, 0.2, size)), 2)
        return {
            "benes": benes,
            "services": services,
            "allowed": allowed,
            "paid": np.round(allowed * rng.uniform(0.74, 0.8, size), 2),
            "submitted": np.round(allowed * rng.uniform(1.8, 3.5, size), 2),
            "hcpcs": rng.integers(3, 60, size),
        }
    if program == 1:
        claims = np.maximum(benes, np.round(benes * rng.uniform(2.0, 9.0, size)))
        return {
            "benes": benes,
            "claims": claims,
            "drug_cost": np.round(claims * param("drug_cost_per_claim") * np.exp(rng.normal(0, 0.4, size)), 2),
            "fills": np.round(claims * rng.uniform(1.0, 1.6, size), 1),
        }
    claims = np.maximum(benes, np.round(benes * rng.uniform(1.5, 6.0, size)))
    return {
        "benes": benes,
        "claims": claims,
        "paid": np.round(claims * param("medicaid_per_claim") * np.exp(rng.normal(0, 0.3, size)), 2),
    }


def _provider_normal(npi: np.ndarray) -> np.ndarray:
    """A standard normal value fixed per NPI (a hash of the NPI through Box-Muller)."""
    x = (npi.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(11)
    y = (npi.astype(np.uint64) * np.uint64(0xC2B2AE3D27D4EB4F)) >> np.uint64(11)
    u1 = (x.astype(np.float64) + 1.0) / 2.0**53
    u2 = y.astype(np.float64) / 2.0**53
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2 * np.pi * u2)
