"""Polars schemas of the Postgres source tables, the combined view and the quarantine.

The table definitions themselves live in ``ddl.sql`` next to this file; these
dicts are what the loaders produce and what ``copy_query_out`` should read
back, so both sides agree on names and dtypes.
"""

from __future__ import annotations

import polars as pl

PROGRAMS = ("Medicaid", "Medicare", "MedicarePartD")

PROVIDERS = {
    "npi": pl.Utf8,
    "display_name": pl.Utf8,
    "taxonomy_1": pl.Utf8,
    "state": pl.Utf8,
    "is_excluded": pl.Boolean,
    "entity_type_code": pl.Int16,
}

EXCLUSIONS = {
    "exclusion_id": pl.Utf8,
    "npi": pl.Utf8,
    "last_name": pl.Utf8,
    "first_name": pl.Utf8,
    "middle_name": pl.Utf8,
    "business_name": pl.Utf8,
    "business_name_normalized": pl.Utf8,
    "general": pl.Utf8,
    "specialty": pl.Utf8,
    "upin": pl.Utf8,
    "dob": pl.Date,
    "address": pl.Utf8,
    "city": pl.Utf8,
    "state": pl.Utf8,
    "zip": pl.Utf8,
    "excltype": pl.Utf8,
    "excldate": pl.Date,
    "reindate": pl.Date,
    "reinstated": pl.Boolean,
    "waiverdate": pl.Date,
    "wvrstate": pl.Utf8,
}

PAYMENTS_MEDICAID = {
    "npi": pl.Utf8,
    "year": pl.Int32,
    "payments": pl.Float64,
    "claims": pl.Int64,
    "beneficiaries": pl.Int64,
}

PAYMENTS_MEDICARE = {
    "npi": pl.Utf8,
    "year": pl.Int32,
    "provider_type": pl.Utf8,
    "state": pl.Utf8,
    "medicare_paid": pl.Float64,
    "medicare_allowed": pl.Float64,
    "total_services": pl.Float64,
    "total_beneficiaries": pl.Int64,
}

MEDICARE_PART_D = {
    "npi": pl.Utf8,
    "year": pl.Int32,
    "provider_type": pl.Utf8,
    "state": pl.Utf8,
    "total_drug_cost": pl.Float64,
    "total_claims": pl.Int64,
    "total_benes": pl.Int64,
}

# Rows of the view payments_combined_v; the payment extract reads this shape.
PAYMENTS_COMBINED = {
    "npi": pl.Utf8,
    "year": pl.Int32,
    "program": pl.Utf8,
    "payments": pl.Float64,
    "allowed": pl.Float64,
    "claims": pl.Float64,
    "beneficiaries": pl.Float64,
    "taxonomy": pl.Utf8,
    "state": pl.Utf8,
}

QUARANTINE = {
    "source": pl.Utf8,
    "source_file": pl.Utf8,
    "line_number": pl.Int64,
    "reason": pl.Utf8,
    "raw": pl.Utf8,
    "run_id": pl.Utf8,
}

TABLE_SCHEMAS: dict[str, dict[str, pl.DataType]] = {
    "providers": PROVIDERS,
    "exclusions": EXCLUSIONS,
    "payments_medicaid": PAYMENTS_MEDICAID,
    "payments_medicare": PAYMENTS_MEDICARE,
    "medicare_part_d": MEDICARE_PART_D,
    "payments_combined_v": PAYMENTS_COMBINED,
}
