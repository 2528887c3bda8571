"""Reference tables for the synthetic data generator: taxonomies, states, names.

The taxonomy codes are real NUCC codes and the provider type texts are the
ones the CMS Medicare files use. The amount parameters are rough medians
chosen so each specialty's distribution looks plausible; they are not
measured from CMS data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Taxonomy:
    """One NUCC taxonomy with its Medicare provider type and billing profile.

    ``share`` is the relative frequency within its entity type. Program
    probabilities: ``p_medicare``; Part D with Medicare ``p_partd_med`` and
    without it ``p_partd_alone``; ``p_medicaid``. Amount medians are in US
    dollars per Medicare service, Part D claim and Medicaid claim.
    """

    code: str
    provider_type: str
    entity_type: int
    share: float
    p_medicare: float
    p_partd_med: float
    p_partd_alone: float
    p_medicaid: float
    medicare_per_service: float = 70.0
    benes: float = 180.0
    services_per_bene: float = 4.0
    drug_cost_per_claim: float = 90.0
    medicaid_per_claim: float = 80.0


# fmt: off
TAXONOMIES: tuple[Taxonomy, ...] = (
    Taxonomy("207R00000X", "Internal Medicine", 1, 0.12, 0.85, 0.95, 0.3, 0.25, 75, 260, 4.5, 95, 70),
    Taxonomy("207Q00000X", "Family Practice", 1, 0.11, 0.80, 0.95, 0.4, 0.35, 70, 240, 4.0, 85, 65),
    Taxonomy("363LF0000X", "Nurse Practitioner", 1, 0.14, 0.60, 0.85, 0.4, 0.30, 55, 150, 3.0, 80, 55),
    Taxonomy("363A00000X", "Physician Assistant", 1, 0.08, 0.60, 0.80, 0.3, 0.25, 55, 140, 2.8, 75, 55),
    Taxonomy("208000000X", "Pediatric Medicine", 1, 0.04, 0.05, 0.30, 0.6, 0.80, 60, 20, 2.0, 40, 75),
    Taxonomy("2084P0800X", "Psychiatry", 1, 0.03, 0.65, 0.90, 0.5, 0.40, 95, 90, 6.0, 120, 110),
    Taxonomy("207RC0000X", "Cardiology", 1, 0.025, 0.92, 0.95, 0.2, 0.15, 110, 420, 5.0, 110, 90),
    Taxonomy("2085R0202X", "Diagnostic Radiology", 1, 0.03, 0.90, 0.05, 0.02, 0.20, 45, 900, 1.6, 50, 40),
    Taxonomy("207P00000X", "Emergency Medicine", 1, 0.04, 0.85, 0.50, 0.1, 0.35, 120, 500, 1.4, 30, 110),
    Taxonomy("207X00000X", "Orthopedic Surgery", 1, 0.02, 0.90, 0.80, 0.2, 0.15, 140, 250, 2.5, 40, 150),
    Taxonomy("207W00000X", "Ophthalmology", 1, 0.015, 0.93, 0.85, 0.2, 0.10, 150, 600, 3.0, 180, 120),
    Taxonomy("207N00000X", "Dermatology", 1, 0.01, 0.90, 0.85, 0.2, 0.10, 85, 550, 3.5, 160, 80),
    Taxonomy("225100000X", "Physical Therapist in Private Practice", 1, 0.06, 0.55, 0.0, 0.0, 0.20, 30, 110, 12.0, 0, 45),
    Taxonomy("1041C0700X", "Licensed Clinical Social Worker", 1, 0.04, 0.40, 0.0, 0.0, 0.35, 70, 35, 9.0, 0, 60),
    Taxonomy("103T00000X", "Clinical Psychologist", 1, 0.02, 0.50, 0.0, 0.0, 0.30, 90, 40, 8.0, 0, 85),
    Taxonomy("122300000X", "Dentist", 1, 0.03, 0.02, 0.20, 0.6, 0.45, 60, 20, 2.0, 25, 60),
    Taxonomy("152W00000X", "Optometry", 1, 0.02, 0.80, 0.30, 0.1, 0.25, 55, 300, 1.5, 60, 50),
    Taxonomy("207L00000X", "Anesthesiology", 1, 0.03, 0.85, 0.20, 0.05, 0.20, 160, 350, 1.2, 40, 140),
    Taxonomy("208600000X", "General Surgery", 1, 0.02, 0.88, 0.75, 0.2, 0.25, 130, 220, 2.2, 45, 120),
    Taxonomy("207V00000X", "Obstetrics & Gynecology", 1, 0.02, 0.55, 0.80, 0.6, 0.55, 90, 70, 2.5, 60, 95),
    Taxonomy("207RG0100X", "Gastroenterology", 1, 0.01, 0.92, 0.90, 0.2, 0.15, 150, 330, 2.0, 120, 130),
    Taxonomy("207RN0300X", "Nephrology", 1, 0.008, 0.95, 0.95, 0.2, 0.20, 95, 180, 7.0, 140, 90),
    Taxonomy("207RH0003X", "Hematology-Oncology", 1, 0.008, 0.94, 0.95, 0.2, 0.20, 180, 280, 6.0, 900, 160),
    Taxonomy("2084N0400X", "Neurology", 1, 0.01, 0.90, 0.95, 0.3, 0.20, 110, 300, 2.5, 220, 95),
    Taxonomy("208800000X", "Urology", 1, 0.008, 0.94, 0.95, 0.2, 0.15, 95, 420, 3.0, 90, 90),
    Taxonomy("111N00000X", "Chiropractic", 1, 0.03, 0.75, 0.0, 0.0, 0.10, 38, 120, 8.0, 0, 35),
    Taxonomy("213E00000X", "Podiatry", 1, 0.01, 0.90, 0.70, 0.2, 0.20, 55, 320, 4.0, 45, 50),
    Taxonomy("367500000X", "Certified Registered Nurse Anesthetist (CRNA)", 1, 0.02, 0.80, 0.0, 0.0, 0.20, 120, 300, 1.1, 0, 110),
    Taxonomy("183500000X", "Pharmacist", 1, 0.01, 0.05, 0.10, 0.3, 0.05, 40, 30, 1.0, 60, 30),
    Taxonomy("261QM1300X", "Multispecialty Clinic/Group Practice", 2, 0.20, 0.55, 0.10, 0.02, 0.50, 60, 900, 3.0, 80, 70),
    Taxonomy("332B00000X", "Durable Medical Equipment & Medical Supplies", 2, 0.12, 0.10, 0.0, 0.0, 0.55, 80, 150, 2.0, 0, 90),
    Taxonomy("3336C0003X", "Pharmacy", 2, 0.16, 0.02, 0.0, 0.0, 0.85, 30, 100, 1.0, 0, 65),
    Taxonomy("261QF0400X", "Federally Qualified Health Center (FQHC)", 2, 0.06, 0.40, 0.0, 0.0, 0.90, 140, 900, 2.5, 0, 160),
    Taxonomy("282N00000X", "General Acute Care Hospital", 2, 0.06, 0.50, 0.05, 0.0, 0.90, 200, 2500, 2.0, 100, 600),
    Taxonomy("251E00000X", "Home Health Agency", 2, 0.08, 0.15, 0.0, 0.0, 0.75, 120, 120, 6.0, 0, 140),
    Taxonomy("291U00000X", "Clinical Laboratory", 2, 0.08, 0.85, 0.0, 0.0, 0.40, 18, 3000, 3.0, 0, 20),
    Taxonomy("341600000X", "Ambulance Service Provider", 2, 0.07, 0.85, 0.0, 0.0, 0.60, 420, 400, 1.6, 0, 300),
    Taxonomy("261QR1300X", "Rural Health Clinic", 2, 0.05, 0.55, 0.0, 0.0, 0.85, 110, 700, 2.5, 0, 120),
    Taxonomy("314000000X", "Skilled Nursing Facility", 2, 0.0, 0.0, 0.0, 0.0, 1.0, 0, 90, 0, 0, 210),
)
# fmt: on

SNF_TAXONOMY = "314000000X"
ORGANIZATION_TAXONOMY = "261QM1300X"

# State weights are 2020 census populations in millions, rounded; territories
# and the military code AA are kept rare on purpose.
# fmt: off
STATE_WEIGHTS: dict[str, float] = {
    "CA": 39.5, "TX": 29.1, "FL": 21.5, "NY": 20.2, "PA": 13.0, "IL": 12.8, "OH": 11.8, "GA": 10.7,
    "NC": 10.4, "MI": 10.1, "NJ": 9.3, "VA": 8.6, "WA": 7.7, "AZ": 7.2, "MA": 7.0, "TN": 6.9,
    "IN": 6.8, "MD": 6.2, "MO": 6.2, "WI": 5.9, "CO": 5.8, "MN": 5.7, "SC": 5.1, "AL": 5.0,
    "LA": 4.7, "KY": 4.5, "OR": 4.2, "OK": 4.0, "CT": 3.6, "UT": 3.3, "IA": 3.2, "NV": 3.1,
    "AR": 3.0, "MS": 3.0, "KS": 2.9, "NM": 2.1, "NE": 2.0, "ID": 1.8, "WV": 1.8, "HI": 1.5,
    "NH": 1.4, "ME": 1.4, "RI": 1.1, "MT": 1.1, "DE": 1.0, "SD": 0.9, "ND": 0.8, "AK": 0.7,
    "DC": 0.7, "VT": 0.6, "WY": 0.6, "PR": 0.3, "GU": 0.02, "VI": 0.01,
}
# fmt: on

# Codes the loaders see that are not one of the 50 states or DC.
NON_STATE_CODES = ("PR", "GU", "VI", "AA", "ZZ")

CITIES = (
    "SPRINGFIELD", "FRANKLIN", "GREENVILLE", "BRISTOL", "CLINTON", "FAIRVIEW", "SALEM", "MADISON",
    "GEORGETOWN", "ARLINGTON", "ASHLAND", "BURLINGTON", "MANCHESTER", "MILTON", "NEWPORT", "OXFORD",
    "RIVERSIDE", "CENTERVILLE", "DOVER", "HUDSON", "JACKSON", "KINGSTON", "LEBANON", "MARION",
)
FIRST_NAMES = (
    "JAMES", "MARY", "ROBERT", "PATRICIA", "JOHN", "JENNIFER", "MICHAEL", "LINDA", "DAVID", "ELIZABETH",
    "WILLIAM", "BARBARA", "RICHARD", "SUSAN", "JOSEPH", "JESSICA", "THOMAS", "SARAH", "CHARLES", "KAREN",
    "MARIA", "WEI", "PRIYA", "AHMED", "OLUWASEUN", "NGUYEN", "CARLOS", "FATIMA", "DMITRI", "AIKO",
)
LAST_NAMES = (
    "SMITH", "JOHNSON", "WILLIAMS", "BROWN", "JONES", "GARCIA", "MILLER", "DAVIS", "RODRIGUEZ", "MARTINEZ",
    "HERNANDEZ", "LOPEZ", "GONZALEZ", "WILSON", "ANDERSON", "THOMAS", "TAYLOR", "MOORE", "JACKSON", "MARTIN",
    "LEE", "PEREZ", "THOMPSON", "WHITE", "HARRIS", "SANCHEZ", "CLARK", "PATEL", "KIM", "CHEN",
)
# Accented names appear in the real files; the SNF owner file stores them in cp1252.
ACCENTED_LAST_NAMES = ("MUÑOZ", "PEÑA", "JOSÉ", "BELTRÁN", "O’BRIEN")
ORG_WORDS = (
    "SUMMIT", "MERIDIAN", "CEDAR", "HARBOR", "PINNACLE", "BEACON", "LIBERTY", "HERITAGE", "PRAIRIE",
    "CRESCENT", "EVERGREEN", "NORTHSTAR", "VALLEY", "LAKESIDE", "RIDGEVIEW", "GOLDEN", "SILVER", "UNITY",
    "PIONEER", "CORNERSTONE", "HORIZON", "KEYSTONE", "BLUE", "PACIFIC", "ATLANTIC", "GRANITE", "MAPLE",
)
ORG_SUFFIXES = ("MEDICAL GROUP", "HEALTH SERVICES", "CARE PARTNERS", "CLINIC", "SUPPLY", "PHARMACY")
SNF_SUFFIXES = (
    "NURSING AND REHABILITATION CENTER", "HEALTH AND REHAB", "CARE CENTER", "SKILLED NURSING",
    "POST ACUTE", "LIVING CENTER",
)
CHAIN_SUFFIXES = ("HEALTHCARE", "SENIOR LIVING", "CARE GROUP", "OPERATIONS", "HEALTH SYSTEMS")
HOLDING_SUFFIXES = ("HOLDINGS", "CAPITAL PARTNERS", "INVESTORS", "EQUITY GROUP")
COMPANY_FORMS = ("LLC", "INC", "LP", "CORP")
HCPCS_CODES = ("99213", "99214", "99215", "T1019", "T2025", "H0015", "J1885", "G0151", "A0427", "S5125")


def taxonomy_table(entity_type: int) -> tuple[list[Taxonomy], np.ndarray]:
    """Return the taxonomies of one entity type and their normalised sampling weights."""
    rows = [t for t in TAXONOMIES if t.entity_type == entity_type and t.share > 0]
    weights = np.array([t.share for t in rows], dtype=float)
    return rows, weights / weights.sum()


def state_table() -> tuple[np.ndarray, np.ndarray]:
    codes = np.array(list(STATE_WEIGHTS), dtype=object)
    weights = np.array(list(STATE_WEIGHTS.values()), dtype=float)
    return codes, weights / weights.sum()
