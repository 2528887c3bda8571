"""Synthetic SNF chains: facilities, their owners and the planted excluded owners.

Structure: most facilities belong to chains. A chain's operating company
owns each of its facilities directly (role 34). Half the operating companies
are owned by a holding company, and some holding companies by a private
equity firm. Those upper levels appear as owner rows whose ASSOCIATE ID is
the owned organization (with its own non-SNF enrollment), which is how a
multi-level chain shows in the All Owners file. Officers, directors and
managing employees are individuals, some shared across a chain's
facilities. A few banks hold mortgage interests (role 36) in many facilities.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from claidex_assets.sources import generator_names as names
from claidex_assets.sources.generator_formats import ROLE_TEXT
from claidex_assets.sources.generator_population import unique_integers

ORG_KINDS = ("CORPORATION - OWNER", "LLC - OWNER", "HOLDING COMPANY - OWNER", "PRIVATE EQUITY COMPANY - OWNER",
             "FINANCIAL INSTITUTION - OWNER", "MANAGEMENT SERVICES COMPANY - OWNER", "FOR PROFIT - OWNER",
             "PARENT COMPANY - OWNER", "OWNED BY ANOTHER ORG OR INDIVIDUAL - OWNER")


@dataclass
class Organization:
    associate_id: str
    enrollment_id: str
    name: str
    state: str
    kinds: tuple[str, ...]


@dataclass
class SnfPlan:
    """Facilities (parallel lists), organizations and owner rows, before NPIs are known."""

    facility_ids: list[str]
    enrollment_ids: list[str]
    names: list[str]
    states: list[str]
    ccns: list[str]
    chain_of: list[int]  # chain index per facility, -1 for independents
    owner_rows: list[dict[str, str]] = field(default_factory=list)
    operating_company: dict[int, Organization] = field(default_factory=dict)  # chain -> organization
    excluded_owner_chains: list[int] = field(default_factory=list)
    excluded_sibling_chains: list[int] = field(default_factory=list)


def _unique_names(rng: np.random.Generator, parts: list[tuple[str, ...]], count: int) -> list[str]:
    space = list(itertools.product(*parts))
    if count > len(space):
        raise ValueError(f"need {count} distinct names but the word lists give only {len(space)}")
    return [" ".join(space[i]) for i in rng.choice(len(space), size=count, replace=False)]


def _date(rng: np.random.Generator) -> str:
    return f"{int(rng.integers(1995, 2024))}-{int(rng.integers(1, 13)):02d}-{int(rng.integers(1, 29)):02d}"


class _Ids:
    """Distinct 10-digit associate IDs and 'O'-prefixed enrollment IDs."""

    def __init__(self, rng: np.random.Generator, count: int) -> None:
        self._ids = iter(unique_integers(rng, 0, 10**10, count))
        self._rng = rng
        self._enrollments = itertools.count(1)

    def associate(self) -> str:
        return f"{next(self._ids):010d}"

    def enrollment(self) -> str:
        return f"O{int(self._rng.integers(2003, 2024))}0101{next(self._enrollments):07d}"


def plan_snfs(rng: np.random.Generator, facility_count: int, planted_chains: int) -> SnfPlan:
    """Draw facilities and chains; ``planted_chains`` chains of 2-3 facilities get each planted anomaly."""
    ids = _Ids(rng, facility_count * 12 + 1000)
    state_codes, state_weights = names.state_table()
    states = list(state_codes[rng.choice(len(state_codes), size=facility_count, p=state_weights)])
    facility_names = _unique_names(
        rng, [names.ORG_WORDS, names.ORG_WORDS, ("OF",), names.CITIES, names.SNF_SUFFIXES], facility_count
    )
    # A CCN is a 2-digit state code and a 4-digit number; SNFs use 5000-6499.
    ccns = [f"{(i // 1500) % 99 + 1:02d}{5000 + i % 1500:04d}" for i in range(facility_count)]
    plan = SnfPlan(
        facility_ids=[ids.associate() for _ in range(facility_count)],
        enrollment_ids=[ids.enrollment() for _ in range(facility_count)],
        names=facility_names, states=states, ccns=ccns, chain_of=[-1] * facility_count,
    )

    # Planted chains first (2-3 facilities each), then chains of 2 + geometric size up to 70% of facilities.
    sizes = [int(rng.integers(2, 4)) for _ in range(2 * planted_chains)]
    while sum(sizes) < 0.7 * facility_count or len(sizes) < 2 * planted_chains + 3:
        sizes.append(min(2 + int(rng.geometric(0.15)), 300))
    position = 0
    for chain, size in enumerate(sizes):
        if position + size > facility_count:
            break
        for facility in range(position, position + size):
            plan.chain_of[facility] = chain
        position += size
    chain_count = max(plan.chain_of) + 1
    plan.excluded_owner_chains = list(range(0, min(planted_chains, chain_count)))
    plan.excluded_sibling_chains = list(range(planted_chains, min(2 * planted_chains, chain_count)))

    chain_names = _unique_names(rng, [names.ORG_WORDS, names.ORG_WORDS, names.CHAIN_SUFFIXES, names.COMPANY_FORMS], chain_count)
    holding_names = _unique_names(rng, [names.ORG_WORDS, names.ORG_WORDS, names.HOLDING_SUFFIXES, names.COMPANY_FORMS], chain_count)
    banks = [Organization(ids.associate(), ids.enrollment(), f"{word} NATIONAL BANK", "NY", ("FINANCIAL INSTITUTION - OWNER",))
             for word in names.ORG_WORDS[:5]]
    chain_people = {}
    for chain in range(chain_count):
        state = states[plan.chain_of.index(chain)]
        opco = Organization(ids.associate(), ids.enrollment(), chain_names[chain], state,
                            ("LLC - OWNER", "MANAGEMENT SERVICES COMPANY - OWNER", "FOR PROFIT - OWNER"))
        plan.operating_company[chain] = opco
        chain_people[chain] = [_person(rng, ids) for _ in range(int(rng.integers(6, 21)))]
        # The first three unplanted chains always have upper levels, so small outputs show them too.
        first_unplanted = chain - 2 * planted_chains
        if first_unplanted >= 0 and (first_unplanted < 3 or rng.random() < 0.5):
            holding = Organization(ids.associate(), ids.enrollment(), holding_names[chain], state,
                                   ("HOLDING COMPANY - OWNER", "PARENT COMPANY - OWNER", "FOR PROFIT - OWNER"))
            plan.owner_rows.append(_org_row(rng, opco, holding, "34", "100"))
            opco.kinds = opco.kinds + ("OWNED BY ANOTHER ORG OR INDIVIDUAL - OWNER",)
            if first_unplanted == 0 or rng.random() < 0.3:
                equity = Organization(ids.associate(), ids.enrollment(), holding.name.replace("HOLDINGS", "EQUITY FUND"),
                                      "NY", ("PRIVATE EQUITY COMPANY - OWNER", "FOR PROFIT - OWNER"))
                plan.owner_rows.append(_org_row(rng, holding, equity, "34", "80"))

    for facility in range(facility_count):
        target = Organization(plan.facility_ids[facility], plan.enrollment_ids[facility], facility_names[facility],
                              states[facility], ())
        chain = plan.chain_of[facility]
        if chain >= 0:
            owner = plan.operating_company[chain]
            people = chain_people[chain]
        else:
            owner = Organization(ids.associate(), ids.enrollment(), f"{facility_names[facility]} OPERATIONS LLC",
                                 states[facility], ("LLC - OWNER", "FOR PROFIT - OWNER"))
            people = []
        if chain >= 0 or rng.random() < 0.7:
            plan.owner_rows.append(_org_row(rng, target, owner, "34", "100"))
        if facility == facility_count - 1 or rng.random() < 0.1:
            bank = banks[int(rng.integers(0, len(banks)))]
            plan.owner_rows.append(_org_row(rng, target, bank, "36", ""))
        own_people = [_person(rng, ids) for _ in range(1 + int(rng.poisson(4)))]
        for person in people + own_people:
            for role in person["roles"]:
                plan.owner_rows.append(_person_row(rng, target, person, role))
    return plan


def _person(rng: np.random.Generator, ids: _Ids) -> dict:
    last_pool = names.ACCENTED_LAST_NAMES if rng.random() < 0.03 else names.LAST_NAMES
    roles = [("40", "41", "42", "43", "44")[int(rng.integers(0, 5))]]
    if rng.random() < 0.3:
        roles.append("41" if roles[0] != "41" else "40")
    if rng.random() < 0.1:
        roles.append("34")
    return {
        "id": ids.associate(),
        "first": names.FIRST_NAMES[int(rng.integers(0, len(names.FIRST_NAMES)))],
        "middle": "ABCDEFGHJKLMNPRSTW"[int(rng.integers(0, 18))] if rng.random() < 0.6 else "",
        "last": last_pool[int(rng.integers(0, len(last_pool)))],
        "roles": roles,
    }


def _base_row(rng: np.random.Generator, target: Organization, owner_id: str, kind: str, role: str) -> dict[str, str]:
    return {
        "ENROLLMENT ID": target.enrollment_id, "ASSOCIATE ID": target.associate_id,
        "ORGANIZATION NAME": target.name, "ASSOCIATE ID - OWNER": owner_id, "TYPE - OWNER": kind,
        "ROLE CODE - OWNER": role, "ROLE TEXT - OWNER": ROLE_TEXT[role], "ASSOCIATION DATE - OWNER": _date(rng),
    }


def _org_row(rng: np.random.Generator, target: Organization, owner: Organization, role: str, percent: str) -> dict[str, str]:
    row = _base_row(rng, target, owner.associate_id, "O", role)
    row.update({
        "ORGANIZATION NAME - OWNER": owner.name, "ADDRESS LINE 1 - OWNER": f"{int(rng.integers(1, 9999))} MAIN ST",
        "CITY - OWNER": names.CITIES[int(rng.integers(0, len(names.CITIES)))], "STATE - OWNER": owner.state,
        "ZIP CODE - OWNER": f"{int(rng.integers(1001, 99951)):05d}", "PERCENTAGE OWNERSHIP": percent,
    })
    for column in ORG_KINDS + ("CREATED FOR ACQUISITION - OWNER", "CORPORATION - OWNER", "MEDICAL PROVIDER SUPPLIER - OWNER",
                               "MEDICAL STAFFING COMPANY - OWNER", "INVESTMENT FIRM - OWNER", "CONSULTING FIRM - OWNER",
                               "NON PROFIT - OWNER", "REIT - OWNER", "CHAIN HOME OFFICE - OWNER",
                               "TRUST OR TRUSTEE - OWNER", "OTHER TYPE - OWNER"):
        row[column] = "Y" if column in owner.kinds else "N"
    return row


def _person_row(rng: np.random.Generator, target: Organization, person: dict, role: str) -> dict[str, str]:
    row = _base_row(rng, target, person["id"], "I", role)
    row.update({
        "FIRST NAME - OWNER": person["first"], "MIDDLE NAME - OWNER": person["middle"],
        "LAST NAME - OWNER": person["last"], "TITLE - OWNER": "ADMINISTRATOR" if role == "42" else "",
        "PERCENTAGE OWNERSHIP": str(int(rng.integers(5, 51))) if role == "34" else "",
    })
    return row
