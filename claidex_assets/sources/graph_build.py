"""Build the ownership graph snapshot from providers, exclusions and the CMS SNF files.

Entity ids are PECOS associate IDs: the SNF Enrollments file gives each
facility's ASSOCIATE ID, and the All Owners file links an owned
organization (ASSOCIATE ID) to its owner (ASSOCIATE ID - OWNER). Because
the same id names an organization wherever it appears, an owner that has
owner rows of its own continues the chain upward (operating company, then
holding company, then fund).

Rules:

- Facilities are the enrollments' associate IDs, entity_type ``SNF``, with
  the NPI of their first enrollment (by enrollment ID) when it is a valid NPI.
- Every other organization becomes ``HoldingCompany`` when any owner row
  flags it as a holding, parent or private equity company, else
  ``Organization``.
- OWNS edges come from organizational owners (TYPE - OWNER = O) in every
  role except mortgage and security interests (role codes 36 and 37): a bank
  that lends to many facilities does not make them one chain. Individuals
  are not graph nodes. Self-ownership rows are dropped.
- An entity links to an exclusion by NPI when its NPI is on an LEIE row;
  an entity without such a link links by normalized business name and
  state instead.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

import polars as pl
import psycopg

from claidex_assets.errors import InputDataError
from claidex_assets.npi import valid_npi_expr
from claidex_assets.ownership.schema import ENTITY_NODES, GraphSnapshot
from claidex_assets.sources.leie import normalized_business_name_expr
from claidex_assets.sources.snf import parse_enrollments, parse_owners

log = logging.getLogger(__name__)

SECURITY_INTEREST_ROLES = ("36", "37")
HOLDING_FLAGS = ("holding_company", "parent_company", "private_equity_company")


@dataclass
class OwnershipReport:
    """Counts of what the SNF files produced; each rule's link count is reported separately."""

    enrollment_rows: int = 0
    facilities: int = 0
    facilities_without_npi: int = 0
    owner_rows: int = 0
    individual_owner_rows: int = 0
    organization_owner_rows: int = 0
    security_interest_rows_skipped: int = 0
    self_ownership_rows_skipped: int = 0
    organizations: int = 0
    holding_companies: int = 0
    owns_edges: int = 0
    owns_edges_above_facilities: int = 0
    exclusion_links_by_npi: int = 0
    exclusion_links_by_name_state: int = 0
    provider_exclusion_links: int = 0
    exclusions_with_unknown_npi: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def _facilities(enrollments: pl.DataFrame) -> pl.DataFrame:
    first = (
        enrollments.filter(pl.col("associate_id").is_not_null())
        .sort("associate_id", "enrollment_id", nulls_last=True)
        .unique("associate_id", keep="first", maintain_order=True)
    )
    return first.select(
        pl.col("associate_id").alias("entity_id"),
        pl.col("organization_name").alias("name"),
        pl.lit("SNF").alias("entity_type"),
        pl.when(valid_npi_expr("npi")).then(pl.col("npi")).alias("npi"),
        pl.col("state"),
    )


def build_ownership(owners: pl.DataFrame, enrollments: pl.DataFrame, report: OwnershipReport) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Return (entities with a ``state`` column, OWNS edges) from parsed owner and enrollment frames."""
    facilities = _facilities(enrollments)
    report.enrollment_rows = enrollments.height
    report.facilities = facilities.height
    report.facilities_without_npi = facilities["npi"].null_count()
    report.owner_rows = owners.height
    report.individual_owner_rows = owners.filter(pl.col("owner_type") == "I").height

    organizational = owners.filter(pl.col("owner_type") == "O")
    report.organization_owner_rows = organizational.height
    secured = pl.col("role_code").is_in(SECURITY_INTEREST_ROLES).fill_null(False)
    report.security_interest_rows_skipped = organizational.filter(secured).height
    edges_rows = organizational.filter(~secured & pl.col("owner_associate_id").is_not_null() & pl.col("associate_id").is_not_null())
    self_owned = pl.col("owner_associate_id") == pl.col("associate_id")
    report.self_ownership_rows_skipped = edges_rows.filter(self_owned).height
    edges_rows = edges_rows.filter(~self_owned)
    owns = (
        edges_rows.select(pl.col("owner_associate_id").alias("owner_id"), pl.col("associate_id").alias("owned_id"))
        .unique()
        .sort("owner_id", "owned_id")
    )

    # Organizations named as owners: first non-null name and state by association date, then enrollment.
    ordered = edges_rows.sort("owner_associate_id", "association_date", "enrollment_id", nulls_last=True)
    as_owner = ordered.group_by("owner_associate_id", maintain_order=True).agg(
        pl.col("owner_name").drop_nulls().first().alias("name"),
        pl.col("owner_state").drop_nulls().first().alias("state"),
        pl.any_horizontal([(pl.col(flag) == "Y").fill_null(False) for flag in HOLDING_FLAGS]).any().alias("holding"),
    ).rename({"owner_associate_id": "entity_id"})
    # Owned organizations that are not facilities (the middle of a multi-level chain).
    as_owned = (
        edges_rows.sort("associate_id", "enrollment_id", nulls_last=True)
        .group_by("associate_id", maintain_order=True)
        .agg(pl.col("organization_name").drop_nulls().first().alias("owned_name"))
        .rename({"associate_id": "entity_id"})
    )
    organizations = (
        as_owner.join(as_owned, on="entity_id", how="full", coalesce=True)
        .filter(~pl.col("entity_id").is_in(facilities["entity_id"].implode()))
        .select(
            "entity_id",
            pl.coalesce("name", "owned_name").alias("name"),
            pl.when(pl.col("holding").fill_null(False)).then(pl.lit("HoldingCompany")).otherwise(pl.lit("Organization")).alias("entity_type"),
            pl.lit(None, pl.Utf8).alias("npi"),
            "state",
        )
    )
    report.organizations = organizations.height
    report.holding_companies = organizations.filter(pl.col("entity_type") == "HoldingCompany").height
    report.owns_edges = owns.height
    report.owns_edges_above_facilities = owns.filter(~pl.col("owned_id").is_in(facilities["entity_id"].implode())).height
    entities = pl.concat([facilities, organizations]).sort("entity_id")
    return entities, owns


def link_entity_exclusions(entities: pl.DataFrame, exclusions: pl.DataFrame, report: OwnershipReport) -> pl.DataFrame:
    """Return (entity_id, exclusion_id) links: by NPI, else by normalized business name and state."""
    if "business_name_normalized" not in exclusions.columns:
        exclusions = exclusions.with_columns(normalized_business_name_expr("business_name").alias("business_name_normalized"))
    by_npi = (
        entities.filter(pl.col("npi").is_not_null())
        .join(exclusions.filter(pl.col("npi").is_not_null()), on="npi")
        .select("entity_id", "exclusion_id")
        .unique()
    )
    unlinked = entities.filter(~pl.col("entity_id").is_in(by_npi["entity_id"].implode()))
    by_name = (
        unlinked.with_columns(normalized_business_name_expr("name").alias("business_name_normalized"))
        .filter(pl.col("business_name_normalized").is_not_null() & pl.col("state").is_not_null())
        .join(
            exclusions.filter(pl.col("business_name_normalized").is_not_null()).select("business_name_normalized", "state", "exclusion_id"),
            on=["business_name_normalized", "state"],
        )
        .select("entity_id", "exclusion_id")
        .unique()
    )
    report.exclusion_links_by_npi = by_npi.height
    report.exclusion_links_by_name_state = by_name.height
    return pl.concat([by_npi, by_name]).sort("entity_id", "exclusion_id")


def build_graph_snapshot(
    providers_frame: pl.DataFrame, exclusions_frame: pl.DataFrame, owners_path: Path, enrollments_path: Path
) -> tuple[GraphSnapshot, OwnershipReport]:
    """Build the whole graph snapshot and a report of the counts behind it.

    ``providers_frame`` needs npi and display_name; ``exclusions_frame``
    needs exclusion_id, npi, reinstated, state and business_name (or
    business_name_normalized), as the providers and exclusions tables hold.
    """
    report = OwnershipReport()
    entities, owns = build_ownership(parse_owners(owners_path), parse_enrollments(enrollments_path), report)
    exclusions = exclusions_frame.with_columns(pl.col("reinstated").fill_null(False))
    entity_exclusions = link_entity_exclusions(entities, exclusions, report)

    providers = providers_frame.select(pl.col("npi"), pl.col("display_name").alias("name")).unique("npi").sort("npi")
    with_npi = exclusions.filter(pl.col("npi").is_not_null())
    provider_exclusions = (
        with_npi.join(providers.select("npi"), on="npi", how="semi").select("npi", "exclusion_id").sort("npi", "exclusion_id")
    )
    report.provider_exclusion_links = provider_exclusions.height
    report.exclusions_with_unknown_npi = with_npi.height - provider_exclusions.height

    snapshot = GraphSnapshot(
        providers=providers,
        entities=entities.select(list(ENTITY_NODES)),
        exclusions=exclusions.select("exclusion_id", "reinstated").sort("exclusion_id"),
        provider_exclusions=provider_exclusions,
        entity_exclusions=entity_exclusions,
        owns=owns,
    )
    log.info("built ownership graph: %s", report.as_dict())
    return snapshot, report


SNF_OWNER_PATTERNS = ("*snf*all*owners*.csv",)
SNF_ENROLLMENT_PATTERNS = ("*snf*enrollments*.csv",)
PROVIDER_QUERY = "SELECT npi, display_name FROM providers"
EXCLUSION_QUERY = "SELECT exclusion_id, npi, reinstated, business_name, business_name_normalized, state FROM exclusions"


def read_graph_inputs(conn: psycopg.Connection) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Read the providers and exclusions the graph needs from Postgres."""
    from claidex_assets.postgres import copy_query_out, require_tables

    require_tables(conn, ["providers", "exclusions"])
    providers = copy_query_out(conn, PROVIDER_QUERY, schema={"npi": pl.Utf8, "display_name": pl.Utf8})
    exclusions = copy_query_out(conn, EXCLUSION_QUERY, schema={"exclusion_id": pl.Utf8, "npi": pl.Utf8, "reinstated": pl.Boolean})
    return providers, exclusions


def find_snf_files(directory: Path) -> tuple[Path, Path]:
    """Return the (All Owners, Enrollments) files of a folder, matched by the CMS file names."""

    def find(patterns: tuple[str, ...], what: str) -> Path:
        matches = sorted(p for p in Path(directory).iterdir() if any(fnmatch.fnmatch(p.name.lower(), x) for x in patterns))
        if not matches:
            raise InputDataError(f"no {what} file in {directory}; expected a name like {patterns[0]}")
        return matches[-1]

    return find(SNF_OWNER_PATTERNS, "SNF All Owners"), find(SNF_ENROLLMENT_PATTERNS, "SNF Enrollments")


@dataclass
class LoadAllResult:
    """Reports of loading a folder of source files: one per file, and the ownership graph's."""

    source_reports: list = field(default_factory=list)
    graph_report: OwnershipReport | None = None
    snapshot: GraphSnapshot | None = None


def load_all(data_dir: str | Path, conn: psycopg.Connection, csv_dir: str | Path | None) -> LoadAllResult:
    """Load every source file of ``data_dir`` into Postgres, then build the ownership graph.

    Files are recognised by their public names (a generated folder has all
    of them). The graph is written as Neo4j import CSV files to ``csv_dir``
    when it is given.
    """
    from claidex_assets.postgres import apply_schema
    from claidex_assets.sources.commands import FILE_PATTERNS, LOADERS, source_of_file

    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise InputDataError(f"folder not found: {data_dir}; pass the folder that holds the source CSV files")
    apply_schema(conn)
    run_id = "load-all-" + dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    order = list(FILE_PATTERNS)
    jobs = sorted(
        ((source, path) for path in data_dir.iterdir() if path.is_file() and (source := source_of_file(path))),
        key=lambda job: (order.index(job[0]), job[1].name),
    )
    result = LoadAllResult()
    for source, path in jobs:
        result.source_reports.append(LOADERS[source](conn, path, None, run_id=run_id))

    providers, exclusions = read_graph_inputs(conn)
    owners_path, enrollments_path = find_snf_files(data_dir)
    result.snapshot, result.graph_report = build_graph_snapshot(providers, exclusions, owners_path, enrollments_path)
    if csv_dir is not None:
        from claidex_assets.ownership.import_csv import write_import_csv

        write_import_csv(result.snapshot, Path(csv_dir))
    return result
