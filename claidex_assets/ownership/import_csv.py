"""Write and read the ownership graph as the CSV files that ``neo4j-admin database import`` reads.

One file per node label or relationship type, each with a Neo4j import header:

=========================  ==================================================================
file                       header
=========================  ==================================================================
providers.csv              ``npi:ID(Provider),name,:LABEL``
corporate_entities.csv     ``entity_id:ID(CorporateEntity),name,entityType,npi,:LABEL``
exclusions.csv             ``exclusion_id:ID(Exclusion),reinstated:boolean,:LABEL``
provider_excluded_by.csv   ``:START_ID(Provider),:END_ID(Exclusion),:TYPE``
entity_excluded_by.csv     ``:START_ID(CorporateEntity),:END_ID(Exclusion),:TYPE``
owns.csv                   ``:START_ID(CorporateEntity),:END_ID(CorporateEntity),:TYPE``
=========================  ==================================================================

Files are UTF-8 with ``,`` as delimiter and ``"`` as quote (RFC 4180). A field is quoted
only when it has to be: when it contains a delimiter, a quote (doubled inside), a line break,
or is the empty string. A null is an empty unquoted field and the empty string is ``""``. Neo4j
reads them the same way: ``neo4j-admin database import`` (without ``--ignore-empty-strings``)
sets no property for an empty field and an empty string for ``""``, so ``write_import_csv``
followed by ``read_import_csv`` returns the same frames, nulls and empty strings included.
Names with line breaks need ``--multiline-fields=true`` at import.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from claidex_assets.errors import InputDataError
from claidex_assets.ownership.schema import SNAPSHOT_SCHEMAS, GraphSnapshot

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImportFile:
    """Layout of one import CSV file: its columns in order and the snapshot frame they come from.

    ``columns`` maps each CSV header field to the snapshot column it stores. ``constant``
    is the ``:LABEL`` or ``:TYPE`` column, written with the same value on every row.
    """

    file_name: str
    frame: str
    columns: dict[str, str]
    constant: tuple[str, str]

    def header(self) -> list[str]:
        return [*self.columns, self.constant[0]]


IMPORT_FILES: tuple[ImportFile, ...] = (
    ImportFile(
        "providers.csv",
        "providers",
        {"npi:ID(Provider)": "npi", "name": "name"},
        (":LABEL", "Provider"),
    ),
    ImportFile(
        "corporate_entities.csv",
        "entities",
        {"entity_id:ID(CorporateEntity)": "entity_id", "name": "name", "entityType": "entity_type", "npi": "npi"},
        (":LABEL", "CorporateEntity"),
    ),
    ImportFile(
        "exclusions.csv",
        "exclusions",
        {"exclusion_id:ID(Exclusion)": "exclusion_id", "reinstated:boolean": "reinstated"},
        (":LABEL", "Exclusion"),
    ),
    ImportFile(
        "provider_excluded_by.csv",
        "provider_exclusions",
        {":START_ID(Provider)": "npi", ":END_ID(Exclusion)": "exclusion_id"},
        (":TYPE", "EXCLUDED_BY"),
    ),
    ImportFile(
        "entity_excluded_by.csv",
        "entity_exclusions",
        {":START_ID(CorporateEntity)": "entity_id", ":END_ID(Exclusion)": "exclusion_id"},
        (":TYPE", "EXCLUDED_BY"),
    ),
    ImportFile(
        "owns.csv",
        "owns",
        {":START_ID(CorporateEntity)": "owner_id", ":END_ID(CorporateEntity)": "owned_id"},
        (":TYPE", "OWNS"),
    ),
)

NODE_FILES = tuple(f.file_name for f in IMPORT_FILES if f.constant[0] == ":LABEL")
RELATIONSHIP_FILES = tuple(f.file_name for f in IMPORT_FILES if f.constant[0] == ":TYPE")


def write_import_csv(snapshot: GraphSnapshot, directory: Path) -> dict[str, int]:
    """Write the snapshot as six import CSV files into ``directory`` and return the rows per file.

    Existing files of the same names are replaced. Frames are written as they are, so call
    ``snapshot.canonical()`` first for deduplicated, sorted files.
    """
    directory.mkdir(parents=True, exist_ok=True)
    rows: dict[str, int] = {}
    for layout in IMPORT_FILES:
        frame = getattr(snapshot, layout.frame)
        label_column, label = layout.constant
        table = frame.select(
            *[pl.col(column).alias(header) for header, column in layout.columns.items()],
            pl.lit(label, dtype=pl.Utf8).alias(label_column),
        )
        # Write to a temporary name first, so a reader never sees a half-written file.
        partial = directory / f".{layout.file_name}.partial"
        table.write_csv(partial, include_header=True, separator=",", quote_char='"', null_value="")
        partial.replace(directory / layout.file_name)
        rows[layout.file_name] = table.height
    logger.info("Wrote ownership graph import CSV files to %s: %s", directory, rows)
    return rows


def read_import_csv(directory: Path) -> GraphSnapshot:
    """Read the six import CSV files written by ``write_import_csv`` back into a snapshot.

    Raises InputDataError when a file is missing, its header differs from the layout above, or
    a ``:LABEL``/``:TYPE`` value is not the one the file is for.
    """
    frames: dict[str, pl.DataFrame] = {}
    for layout in IMPORT_FILES:
        frames[layout.frame] = read_import_file(directory / layout.file_name, layout)
    snapshot = GraphSnapshot(**frames)
    logger.info("Read ownership graph import CSV files from %s: %s", directory, snapshot.row_counts())
    return snapshot


def read_import_file(path: Path, layout: ImportFile) -> pl.DataFrame:
    if not path.is_file():
        raise InputDataError(
            f"missing ownership graph file {path}; write the graph files with `claidex load-graph` "
            "(or `claidex demo`), set CLAIDEX_GRAPH_CSV_DIR to the folder that holds them, "
            "or set NEO4J_URI to read the graph from Neo4j"
        )
    with path.open("r", encoding="utf-8", newline="") as handle:
        header = handle.readline().rstrip("\r\n").split(",")
    if header != layout.header():
        raise InputDataError(
            f"{path}: header {','.join(header)!r} does not match the expected {','.join(layout.header())!r}"
        )

    frame_schema = SNAPSHOT_SCHEMAS[layout.frame]
    csv_schema = {header_field: frame_schema[column] for header_field, column in layout.columns.items()}
    label_column, label = layout.constant
    csv_schema[label_column] = pl.Utf8
    try:
        table = pl.read_csv(
            path,
            schema=csv_schema,
            has_header=True,
            separator=",",
            quote_char='"',
            encoding="utf8",
        )
    except (pl.exceptions.ComputeError, pl.exceptions.SchemaError) as error:
        raise InputDataError(f"{path}: failed to parse as a Neo4j import CSV file: {error}") from error

    wrong_labels = table.filter(pl.col(label_column).ne_missing(label))
    if wrong_labels.height:
        example = wrong_labels[label_column][0]
        raise InputDataError(
            f"{path}: {wrong_labels.height} rows have {label_column} {example!r}, expected {label!r} on every row"
        )
    return table.select([pl.col(header).alias(column) for header, column in layout.columns.items()])
