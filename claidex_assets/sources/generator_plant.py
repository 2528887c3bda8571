"""Planted anomalies: which providers get them and how their amounts change.

Each planted provider is an individual billing provider of a common
specialty, so it has a populated peer group. The changes are the ones the
scoring methodology looks for: payments per claim several times the peers',
payments multiplying year over year, all payments in one program, and an
active exclusion while still billing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from claidex_assets.sources import generator_names as names
from claidex_assets.sources.generator_population import YEARS, Population
from claidex_assets.sources.generator_snf import SnfPlan

COMMON_TAXONOMIES = ("207R00000X", "207Q00000X", "363LF0000X", "363A00000X", "207RC0000X")
OUTLIER_FACTOR = 6.0  # payments per claim multiplied in every program and year
GROWTH_FACTOR = 1.8  # payments and claims multiplied by this per year after the first
CONCENTRATION_FACTOR = 3.0


@dataclass
class Planted:
    """Provider indices per anomaly kind (disjoint)."""

    billing_outlier: np.ndarray
    rapid_growth: np.ndarray
    program_concentration: np.ndarray
    excluded_still_billing: np.ndarray
    reinstated_control: np.ndarray
    all_indices: set[int] = field(default_factory=set)


def choose_planted(rng: np.random.Generator, pop: Population, count: int) -> Planted:
    index = {t.code: i for i, t in enumerate(names.TAXONOMIES)}
    common = np.isin(pop.taxonomy, [index[c] for c in COMMON_TAXONOMIES])
    pool = np.flatnonzero(pop.billing & (pop.entity_type == 1) & common)
    chosen = rng.choice(pool, size=5 * count, replace=False)
    groups = [np.sort(chosen[i * count:(i + 1) * count]) for i in range(5)]
    planted = Planted(*groups)
    planted.all_indices = set(chosen.tolist())
    return planted


def adjust_presence(presence: np.ndarray, planted: Planted) -> None:
    """Give planted providers the program-years their anomaly needs (in place)."""
    for provider in np.concatenate([planted.billing_outlier, planted.rapid_growth]):
        enrolled = presence[provider].any(axis=1)
        enrolled[0] = True  # always Medicare, so the peer group is the Medicare specialty
        presence[provider] = enrolled[:, None]
    for provider in planted.program_concentration:
        presence[provider] = False
        presence[provider, 2, :] = True
    for provider in np.concatenate([planted.excluded_still_billing, planted.reinstated_control]):
        if not presence[provider, :, -2:].any():
            presence[provider, 0, -2:] = True


def adjust_amounts(program: int, provider: np.ndarray, year_index: np.ndarray, amounts: dict[str, np.ndarray], planted: Planted) -> None:
    """Scale the amounts of planted rows of one program (in place)."""
    money = {0: ("allowed", "paid", "submitted"), 1: ("drug_cost",), 2: ("paid",)}[program]
    volume = {0: ("services", "benes"), 1: ("claims", "benes"), 2: ("claims", "benes")}[program]
    outlier = np.isin(provider, planted.billing_outlier)
    for column in money:
        amounts[column][outlier] = np.round(amounts[column][outlier] * OUTLIER_FACTOR, 2)
    growth = np.isin(provider, planted.rapid_growth)
    factor = GROWTH_FACTOR ** year_index[growth]
    for column in money:
        amounts[column][growth] = np.round(amounts[column][growth] * factor, 2)
    for column in volume:
        amounts[column][growth] = np.round(amounts[column][growth] * factor)
    concentrated = np.isin(provider, planted.program_concentration)
    for column in money:
        amounts[column][concentrated] = np.round(amounts[column][concentrated] * CONCENTRATION_FACTOR, 2)


def linked_exclusions(
    rng: np.random.Generator, pop: Population, plan: SnfPlan, snf_index: np.ndarray, planted: Planted, with_npi: int
) -> tuple[list[dict[str, str]], list[tuple[str, str, str]], set[int]]:
    """Build the LEIE rows that point at generated providers and owners.

    Returns the LEIE entries, the ground-truth rows (npi, anomaly_type,
    detail) and the NPIs whose rows must stay free of quirks. Changes
    ``pop`` in place: each excluded operating company of an even planted
    chain becomes a non-billing organization provider with its name.
    """
    last_year = int(YEARS[-1])
    entries: list[dict[str, str]] = []
    truth: list[tuple[str, str, str]] = []
    protected: set[int] = set()

    def person(i: int) -> dict[str, str]:
        return {"NPI": str(pop.npi[i]), "LASTNAME": pop.last_name[i], "FIRSTNAME": pop.first_name[i], "STATE": pop.state[i]}

    details = {
        "billing_outlier": f"payments per claim x{OUTLIER_FACTOR:g} in every program and year",
        "rapid_growth": f"payments and claims x{GROWTH_FACTOR:g} per year",
        "program_concentration": f"Medicaid only, payments x{CONCENTRATION_FACTOR:g}",
    }
    for kind, detail in details.items():
        for i in getattr(planted, kind):
            truth.append((str(pop.npi[i]), kind, detail))
    for i in planted.excluded_still_billing:
        entries.append({**person(i), "EXCLDATE": f"{last_year - 2}0315"})
        truth.append((str(pop.npi[i]), "excluded_still_billing", f"LEIE exclusion since {last_year - 2}-03-15, not reinstated"))
    for i in planted.reinstated_control:
        entries.append({**person(i), "EXCLDATE": "20150610", "REINDATE": "20180110"})

    snf_npi = {f: str(pop.npi[snf_index[f]]) for f in range(len(snf_index))}
    facilities_of: dict[int, list[int]] = {}
    for facility, chain in enumerate(plan.chain_of):
        facilities_of.setdefault(chain, []).append(facility)
    spare = iter(np.flatnonzero(~pop.billing)[::-1])
    for number, chain in enumerate(plan.excluded_owner_chains):
        opco = plan.operating_company[chain]
        entry = {"BUSNAME": opco.name, "STATE": opco.state, "EXCLDATE": f"{last_year - 3}0901"}
        how = "by business name and state"
        if number % 2 == 0:
            j = int(next(spare))
            pop.entity_type[j], pop.org_name[j], pop.state[j] = 2, opco.name, opco.state
            pop.taxonomy[j] = [t.code for t in names.TAXONOMIES].index(names.ORGANIZATION_TAXONOMY)
            entry["NPI"] = str(pop.npi[j])
            protected.add(int(pop.npi[j]))
            how = f"by business name and state; also NPPES organization NPI {pop.npi[j]}"
        entries.append(entry)
        for facility in facilities_of[chain]:
            truth.append((snf_npi[facility], "ownership_excluded_owner",
                          f"direct owner {opco.name} (associate ID {opco.associate_id}) is excluded {how}"))
    for chain in plan.excluded_sibling_chains:
        sibling, *others = facilities_of[chain]
        opco = plan.operating_company[chain]
        entries.append({"NPI": snf_npi[sibling], "BUSNAME": plan.names[sibling], "STATE": plan.states[sibling],
                        "EXCLDATE": f"{last_year - 1}0120"})
        truth.append((snf_npi[sibling], "excluded_still_billing", f"SNF {plan.names[sibling]} excluded since {last_year - 1}-01-20"))
        for facility in others:
            truth.append((snf_npi[facility], "ownership_excluded_sibling",
                          f"sibling facility {plan.names[sibling]} (NPI {snf_npi[sibling]}) under common owner {opco.name} is excluded"))

    # The rest of the NPI-carrying rows name providers that do not bill (as excluded providers should not).
    for _ in range(max(0, with_npi - len(entries))):
        j = int(next(spare))
        if pop.entity_type[j] == 1:
            entries.append(person(j))
        else:
            entries.append({"NPI": str(pop.npi[j]), "BUSNAME": pop.org_name[j], "STATE": pop.state[j]})
    return entries, truth, protected
