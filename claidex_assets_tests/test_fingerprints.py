"""Fingerprint queries against a real Postgres, and the run plan on hand-made fingerprints."""

import re

import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from claidex_assets import fingerprints as fp
from claidex_assets.assets import extracts
from claidex_assets.npi import make_npi, partition_keys
from claidex_assets.postgres import connect

KEYS = tuple(partition_keys(7))
TABLES = {table: "10:123" for table in fp.TABLE_COLUMNS}


def fingerprints(ranges=None, tables=None, graph="g1", invalid=fp.EMPTY, keys=KEYS) -> fp.SourceFingerprints:
    base = {key: f"5:{index}" for index, key in enumerate(keys)}
    return fp.SourceFingerprints(tuple(keys), {**base, **(ranges or {})}, invalid, {**TABLES, **(tables or {})}, graph)


def cursor(**kwargs) -> fp.SensorCursor:
    return fp.SensorCursor(fingerprints(**kwargs), generation=3)


# ---------------------------------------------------------------------------
# plan_runs on hand-made fingerprints


def test_plan_no_change_is_empty():
    plan = fp.plan_runs(cursor(), fingerprints())
    assert plan.runs == []
    assert plan.changed == []


def test_plan_one_range_changed():
    plan = fp.plan_runs(cursor(), fingerprints(ranges={KEYS[2]: "6:99"}))
    assert len(plan.runs) == 1
    run = plan.runs[0]
    assert run.kind == fp.PARTITION_RANGE
    assert run.partition_keys == (KEYS[2],)
    # generation 3 in the previous cursor, so this evaluation is generation 4
    assert run.run_key.startswith(f"claidex-range-{KEYS[2]}-{KEYS[2]}-4-")


def test_plan_two_separate_ranges_two_runs():
    plan = fp.plan_runs(cursor(), fingerprints(ranges={KEYS[1]: "6:1", KEYS[4]: "6:4"}))
    assert [run.partition_keys for run in plan.runs] == [(KEYS[1],), (KEYS[4],)]
    assert len({run.run_key for run in plan.runs}) == 2


def test_plan_adjacent_ranges_one_run():
    plan = fp.plan_runs(cursor(), fingerprints(ranges={KEYS[3]: "6:3", KEYS[4]: "6:4", KEYS[5]: "0:0"}))
    assert [run.partition_keys for run in plan.runs] == [(KEYS[3], KEYS[4], KEYS[5])]


def test_plan_range_emptied_counts_as_change():
    previous = fp.SensorCursor(fingerprints())
    current_ranges = dict(fingerprints().provider_ranges)
    del current_ranges[KEYS[0]]  # every row of the first range deleted: the query returns no group
    current = fp.SourceFingerprints(KEYS, current_ranges, fp.EMPTY, dict(TABLES), "g1")
    assert [run.partition_keys for run in fp.plan_runs(previous, current).runs] == [(KEYS[0],)]


def test_plan_payments_change_global_run():
    plan = fp.plan_runs(cursor(), fingerprints(tables={"payments_medicare": "11:7"}))
    assert len(plan.runs) == 1
    assert plan.runs[0].kind == fp.GLOBAL_ASSETS
    assert plan.runs[0].partition_keys == ()
    assert plan.changed == ["payments_medicare"]


def test_plan_exclusions_change_global_run():
    plan = fp.plan_runs(cursor(), fingerprints(tables={"exclusions": "9:1"}))
    assert [run.kind for run in plan.runs] == [fp.GLOBAL_ASSETS]


def test_plan_invalid_npi_rows_global_run():
    plan = fp.plan_runs(cursor(), fingerprints(invalid="1:42"))
    assert [run.kind for run in plan.runs] == [fp.GLOBAL_ASSETS]


def test_plan_graph_change_all_partitions():
    plan = fp.plan_runs(cursor(), fingerprints(graph="g2", ranges={KEYS[1]: "6:1"}))
    assert len(plan.runs) == 1
    assert plan.runs[0].kind == fp.ALL_PARTITIONS
    assert plan.runs[0].partition_keys == KEYS
    assert plan.changed == ["ownership_graph"]


def test_plan_partition_layout_change_all():
    new_keys = tuple(partition_keys(5))
    plan = fp.plan_runs(cursor(), fingerprints(keys=new_keys))
    assert [run.partition_keys for run in plan.runs] == [new_keys]


def test_plan_ranges_and_payments_ranges_only():
    # The range run reruns the extracts, scoring and publish too, so no separate global run.
    plan = fp.plan_runs(cursor(), fingerprints(ranges={KEYS[0]: "1:1"}, tables={"payments_medicaid": "2:2"}))
    assert [run.kind for run in plan.runs] == [fp.PARTITION_RANGE]
    assert "payments_medicaid" in plan.changed


def test_plan_run_key_repeatable_and_generation():
    current = fingerprints(ranges={KEYS[2]: "6:99"})
    first = fp.plan_runs(cursor(), current).runs[0].run_key
    again = fp.plan_runs(cursor(), current).runs[0].run_key
    later = fp.plan_runs(fp.SensorCursor(fingerprints(), generation=8), current).runs[0].run_key
    assert first == again
    assert later != first


def test_cursor_json_round_trip():
    original = fp.SensorCursor(fingerprints(ranges={KEYS[1]: "7:-3"}, invalid="2:5"), generation=12)
    assert fp.SensorCursor.from_json(original.to_json()) == original


@pytest.mark.parametrize("text", [None, "", "not json", '{"version": 99}', '{"version": 1}', "[1, 2]"])
def test_cursor_unreadable_is_none(text):
    assert fp.SensorCursor.from_json(text) is None


@given(st.sets(st.integers(min_value=0, max_value=len(KEYS) - 1)))
def test_blocks_cover_changed_contiguously(indices):
    changed = [KEYS[i] for i in indices]
    blocks = fp.contiguous_blocks(changed, KEYS)
    assert sorted(key for block in blocks for key in block) == sorted(changed)
    positions = [[KEYS.index(key) for key in block] for block in blocks]
    for block in positions:
        assert block == list(range(block[0], block[-1] + 1))
    for left, right in zip(positions, positions[1:]):
        assert right[0] > left[-1] + 1  # a gap of at least one unchanged range between blocks


def test_fingerprint_columns_match_extract_queries():
    queries = {
        "providers": extracts.PROVIDERS_QUERY,
        "exclusions": extracts.EXCLUSIONS_QUERY,
    }
    for table, query in queries.items():
        columns = fp.PROVIDER_COLUMNS if table == "providers" else fp.TABLE_COLUMNS[table]
        selected = re.match(r"SELECT (.*) FROM", query).group(1).split(", ")
        assert sorted(columns) == sorted(selected), table


# ---------------------------------------------------------------------------
# Queries against Postgres


def insert_provider(conn: psycopg.Connection, npi: str, state: str = "OH", name: str = "Clinic") -> None:
    conn.execute(
        "INSERT INTO providers (npi, display_name, taxonomy_1, state, entity_type_code) VALUES (%s, %s, %s, %s, 1)",
        (npi, name, "207Q00000X", state),
    )


@pytest.fixture
def autocommit_conn(pg_conn, postgres_url):
    pg_conn.commit()
    with connect(postgres_url, autocommit=True) as conn:
        yield conn


def test_provider_ranges_group_by_partition(pg_conn, autocommit_conn):
    # 7 partitions: the 1-block 1000000000..1999999999 in 6 ranges of ~166.7M NPIs, then the 2-block.
    first = make_npi(100000001)  # 100000001x lies in range 0
    sixth = make_npi(190000000)  # 190000000x lies in range 5 (1833333333..1999999999)
    second_block = make_npi(200000000)  # range 6
    for npi in (first, make_npi(100000002), sixth, second_block):
        insert_provider(pg_conn, npi)
    insert_provider(pg_conn, "12345")  # invalid NPI, counted apart
    pg_conn.commit()
    ranges, invalid = fp.read_provider_fingerprints(autocommit_conn, KEYS)
    assert sorted(ranges) == [KEYS[0], KEYS[5], KEYS[6]]
    assert ranges[KEYS[0]].startswith("2:")
    assert ranges[KEYS[5]].startswith("1:")
    assert invalid.startswith("1:")


def test_provider_change_alters_one_range(pg_conn, autocommit_conn):
    npis = [make_npi(100000001), make_npi(150000000), make_npi(190000000)]
    for npi in npis:
        insert_provider(pg_conn, npi)
    pg_conn.commit()
    before = fp.read_source_fingerprints(autocommit_conn, KEYS, graph="g")
    pg_conn.execute("UPDATE providers SET state = 'TX' WHERE npi = %s", (npis[1],))
    pg_conn.commit()
    after = fp.read_source_fingerprints(autocommit_conn, KEYS, graph="g")
    changed = [key for key in KEYS if before.provider_ranges.get(key) != after.provider_ranges.get(key)]
    assert changed == [KEYS[3]]  # 150000000x lies in 1500000000..1666666665
    assert before.tables == after.tables


def test_reload_same_rows_same_fingerprint(pg_conn, autocommit_conn):
    insert_provider(pg_conn, make_npi(100000001))
    pg_conn.execute("INSERT INTO payments_medicaid (npi, year, payments, claims, beneficiaries) VALUES ('x', 2023, 10, 2, 1)")
    pg_conn.commit()
    before = fp.read_source_fingerprints(autocommit_conn, KEYS, graph="g")
    # A reload writes the same values with a new loaded_at and source_file, which no extract reads.
    pg_conn.execute("UPDATE providers SET loaded_at = now() + interval '1 day', source_file = 'new.csv'")
    pg_conn.execute("UPDATE payments_medicaid SET loaded_at = now() + interval '1 day', source_file = 'new.csv'")
    pg_conn.commit()
    assert fp.read_source_fingerprints(autocommit_conn, KEYS, graph="g") == before


def test_payment_change_alters_table_only(pg_conn, autocommit_conn):
    pg_conn.execute("INSERT INTO payments_medicare (npi, year, medicare_paid) VALUES ('1', 2022, 5.00)")
    pg_conn.commit()
    before = fp.read_source_fingerprints(autocommit_conn, KEYS, graph="g")
    pg_conn.execute("UPDATE payments_medicare SET medicare_paid = 5.01")
    pg_conn.commit()
    after = fp.read_source_fingerprints(autocommit_conn, KEYS, graph="g")
    assert [t for t in fp.TABLE_COLUMNS if before.tables[t] != after.tables[t]] == ["payments_medicare"]
    assert before.provider_ranges == after.provider_ranges


def test_empty_tables_fingerprint(autocommit_conn):
    current = fp.read_source_fingerprints(autocommit_conn, KEYS, graph="g")
    assert current.provider_ranges == {}
    assert current.invalid_providers == fp.EMPTY
    assert set(current.tables.values()) == {"0:0"}


def test_fingerprints_need_autocommit(pg_conn):
    with pytest.raises(ValueError, match="autocommit"):
        fp.read_source_fingerprints(pg_conn, KEYS, graph="g")
