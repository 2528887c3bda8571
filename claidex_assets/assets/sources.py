"""External assets: the Postgres source tables and the Neo4j ownership graph.

They are declared, not computed, so the asset lineage starts where the data
lives; the source-change sensor notices when they change.
"""

import dagster as dg

SOURCE_GROUP = "sources"

POSTGRES_TABLES = {
    "providers": "NPPES providers: display name, primary taxonomy, practice state, entity type.",
    "exclusions": "OIG LEIE exclusions with dates and reinstatement.",
    "payments_medicaid": "Medicaid payments per provider-year.",
    "payments_medicare": "Medicare Physician & Other Practitioners payments per provider-year.",
    "medicare_part_d": "Medicare Part D prescriber drug costs per provider-year.",
}

source_table_specs = [
    dg.AssetSpec(key=name, description=text, group_name=SOURCE_GROUP, kinds={"postgres"})
    for name, text in POSTGRES_TABLES.items()
]

payments_view_spec = dg.AssetSpec(
    key="payments_combined_v",
    description="View that unions the three payment tables with program names Medicaid, Medicare, MedicarePartD.",
    group_name=SOURCE_GROUP,
    kinds={"postgres"},
    deps=["payments_medicaid", "payments_medicare", "medicare_part_d", "providers"],
)

ownership_graph_spec = dg.AssetSpec(
    key="ownership_graph",
    description="Corporate ownership graph of skilled nursing facilities in Neo4j (or its import CSV files).",
    group_name=SOURCE_GROUP,
    kinds={"neo4j"},
)

SOURCE_SPECS = [*source_table_specs, payments_view_spec, ownership_graph_spec]
