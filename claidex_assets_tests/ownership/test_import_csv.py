"""Round trips of the ownership graph through Neo4j import CSV files, without a server."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from claidex_assets.errors import InputDataError
from claidex_assets.ownership.import_csv import IMPORT_FILES, read_import_csv, write_import_csv
from claidex_assets.ownership.schema import SNAPSHOT_SCHEMAS, GraphSnapshot
from claidex_assets_tests.ownership.conftest import small_graph


def assert_same_graph(actual: GraphSnapshot, expected: GraphSnapshot) -> None:
    actual, expected = actual.canonical(), expected.canonical()
    for name in SNAPSHOT_SCHEMAS:
        assert getattr(actual, name).equals(getattr(expected, name)), name


def test_import_csv_round_trip_exact(tmp_path: Path, sample_graph: GraphSnapshot) -> None:
    write_import_csv(sample_graph, tmp_path)

    back = read_import_csv(tmp_path)

    # Same rows in the same order, so no canonical() is needed: nulls stay null, "" stays "".
    for name in SNAPSHOT_SCHEMAS:
        assert getattr(back, name).equals(getattr(sample_graph, name)), name


def test_write_import_csv_row_counts(tmp_path: Path, sample_graph: GraphSnapshot) -> None:
    rows = write_import_csv(sample_graph, tmp_path)

    # 3 providers, 5 entities, 3 exclusions, 2 + 1 EXCLUDED_BY edges, 4 OWNS edges.
    assert rows == {
        "providers.csv": 3,
        "corporate_entities.csv": 5,
        "exclusions.csv": 3,
        "provider_excluded_by.csv": 2,
        "entity_excluded_by.csv": 1,
        "owns.csv": 4,
    }


def test_write_import_csv_headers(tmp_path: Path, sample_graph: GraphSnapshot) -> None:
    write_import_csv(sample_graph, tmp_path)

    first_lines = {path.name: path.read_text(encoding="utf-8").splitlines()[0] for path in tmp_path.glob("*.csv")}

    assert first_lines == {
        "providers.csv": "npi:ID(Provider),name,:LABEL",
        "corporate_entities.csv": "entity_id:ID(CorporateEntity),name,entityType,npi,:LABEL",
        "exclusions.csv": "exclusion_id:ID(Exclusion),reinstated:boolean,:LABEL",
        "provider_excluded_by.csv": ":START_ID(Provider),:END_ID(Exclusion),:TYPE",
        "entity_excluded_by.csv": ":START_ID(CorporateEntity),:END_ID(Exclusion),:TYPE",
        "owns.csv": ":START_ID(CorporateEntity),:END_ID(CorporateEntity),:TYPE",
    }


def test_write_import_csv_quoting_and_nulls(tmp_path: Path, sample_graph: GraphSnapshot) -> None:
    write_import_csv(sample_graph, tmp_path)

    providers = (tmp_path / "providers.csv").read_text(encoding="utf-8")
    entities = (tmp_path / "corporate_entities.csv").read_text(encoding="utf-8")
    exclusions = (tmp_path / "exclusions.csv").read_text(encoding="utf-8")

    # A comma forces quotes, and a quote inside is doubled.
    assert '1234567893,"Smith, John ""Jack""",Provider\n' in providers
    # A null name is an empty field without quotes.
    assert "1000000004,,Provider\n" in providers
    # A line break stays inside the quoted field.
    assert '1245319599,"Rosé Gardens Nursing\nand Rehab",Provider\n' in providers
    # The empty string is "" and the null npi and entityType are empty fields.
    assert 'HOLD-B,"",HOLDING,,CorporateEntity\n' in entities
    assert "MGMT-Ø,,,,CorporateEntity\n" in entities
    assert "EX-1,false,Exclusion\nEX-2,true,Exclusion\nEX-3,,Exclusion\n" in exclusions


def test_write_import_csv_empty_graph(tmp_path: Path) -> None:
    rows = write_import_csv(GraphSnapshot.empty(), tmp_path)

    back = read_import_csv(tmp_path)

    assert set(rows.values()) == {0}
    assert back.row_counts() == {name: 0 for name in SNAPSHOT_SCHEMAS}


def test_read_import_csv_missing_file(tmp_path: Path, sample_graph: GraphSnapshot) -> None:
    write_import_csv(sample_graph, tmp_path)
    (tmp_path / "owns.csv").unlink()

    with pytest.raises(InputDataError, match="missing ownership graph file .*owns.csv"):
        read_import_csv(tmp_path)


def test_read_import_csv_wrong_header(tmp_path: Path, sample_graph: GraphSnapshot) -> None:
    write_import_csv(sample_graph, tmp_path)
    path = tmp_path / "providers.csv"
    path.write_text(path.read_text(encoding="utf-8").replace("npi:ID(Provider)", "npi", 1), encoding="utf-8")

    with pytest.raises(InputDataError, match=r"providers.csv: header 'npi,name,:LABEL' does not match"):
        read_import_csv(tmp_path)


def test_read_import_csv_wrong_label(tmp_path: Path, sample_graph: GraphSnapshot) -> None:
    write_import_csv(sample_graph, tmp_path)
    path = tmp_path / "owns.csv"
    path.write_text(path.read_text(encoding="utf-8").replace("HOLD-B,SNF-1,OWNS", "HOLD-B,SNF-1,MANAGES"))

    with pytest.raises(InputDataError, match=r"owns.csv: 1 rows have :TYPE 'MANAGES', expected 'OWNS'"):
        read_import_csv(tmp_path)


def test_read_import_csv_bad_boolean(tmp_path: Path, sample_graph: GraphSnapshot) -> None:
    write_import_csv(sample_graph, tmp_path)
    path = tmp_path / "exclusions.csv"
    path.write_text(path.read_text(encoding="utf-8").replace("EX-2,true", "EX-2,yes"), encoding="utf-8")

    with pytest.raises(InputDataError, match="exclusions.csv: failed to parse"):
        read_import_csv(tmp_path)


def test_import_files_cover_every_frame() -> None:
    assert sorted(layout.frame for layout in IMPORT_FILES) == sorted(SNAPSHOT_SCHEMAS)


# Any text: hypothesis' default alphabet has commas, quotes, line breaks, NUL, and
# characters outside the Basic Multilingual Plane, and no surrogates (not valid UTF-8).
names = st.one_of(st.none(), st.text(max_size=40))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(provider_names=st.lists(names, min_size=1, max_size=8), entity_names=st.lists(names, min_size=1, max_size=8))
def test_import_csv_round_trip_any_names(
    tmp_path: Path, provider_names: list[str | None], entity_names: list[str | None]
) -> None:
    graph = small_graph()
    providers = pl.DataFrame(
        {"npi": [f"{1000000000 + i}" for i in range(len(provider_names))], "name": provider_names},
        schema=SNAPSHOT_SCHEMAS["providers"],
    )
    entities = pl.DataFrame(
        {
            "entity_id": [f"E{i}" for i in range(len(entity_names))],
            "name": entity_names,
            # The names double as entityType and npi values, to cover every text column.
            "entity_type": entity_names,
            "npi": list(reversed(entity_names)),
        },
        schema=SNAPSHOT_SCHEMAS["entities"],
    )
    snapshot = GraphSnapshot(
        providers=providers,
        entities=entities,
        exclusions=graph.exclusions,
        provider_exclusions=graph.provider_exclusions.clear(),
        entity_exclusions=graph.entity_exclusions.clear(),
        owns=graph.owns.clear(),
    )

    write_import_csv(snapshot, tmp_path)
    back = read_import_csv(tmp_path)

    assert back.providers.equals(snapshot.providers)
    assert back.entities.equals(snapshot.entities)
