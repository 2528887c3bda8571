"""A reader on another connection never sees a partial ``provider_risk_scores`` while a publish runs."""

from __future__ import annotations

import datetime
import threading
import time

import psycopg
import pytest

from claidex_assets import postgres
from claidex_assets.assets.publish import publish_scores
from claidex_assets.npi import make_npi
from claidex_assets_tests.test_crash_safety import synthetic_scores

OLD_ROWS = 200_000
NEW_ROWS = 180_000
CHUNK_ROWS = 20_000
READ_QUERY = "SELECT count(*), min(run_id), max(run_id) FROM provider_risk_scores"
# Upper bound of the reader loop; the publish of 180,000 rows takes seconds.
READ_LIMIT_S = 60.0
STEP_WAIT_S = 30.0


class Reader(threading.Thread):
    """Reads the count and run ids in a loop until stopped or READ_LIMIT_S passes."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.observations: list[tuple[int, str | None, str | None]] = []
        self.reads = 0
        self.read_done = threading.Condition()
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with psycopg.connect(self.url, autocommit=True) as conn:
                deadline = time.monotonic() + READ_LIMIT_S
                while not self.stop.is_set() and time.monotonic() < deadline:
                    row = conn.execute(READ_QUERY).fetchone()
                    with self.read_done:
                        self.observations.append(row)
                        self.reads += 1
                        self.read_done.notify_all()
        except BaseException as error:  # reported by the test thread
            self.error = error
            with self.read_done:
                self.read_done.notify_all()

    def wait_for_read_after(self, reads_before: int) -> None:
        """Block until a read that started after ``reads_before`` reads has completed.

        The read in flight when this is called may have started earlier, so
        this waits for two more completed reads.
        """
        with self.read_done:
            finished = self.read_done.wait_for(
                lambda: self.reads > reads_before + 1 or self.error is not None or not self.is_alive(),
                timeout=STEP_WAIT_S,
            )
        assert finished, "the reader made no read within 30 s"


def test_reader_sees_old_or_new_result(postgres_url: str) -> None:
    old_npis = [make_npi(100_000_000 + index) for index in range(OLD_ROWS)]
    # The new result drops the first 40,000 old NPIs and adds 20,000 above the old range.
    new_npis = old_npis[40_000:] + [make_npi(100_000_000 + OLD_ROWS + index) for index in range(20_000)]
    assert len(new_npis) == NEW_ROWS
    old = synthetic_scores(old_npis, "run-A", datetime.datetime(2026, 1, 5, tzinfo=datetime.UTC))
    new = synthetic_scores(new_npis, "run-B", datetime.datetime(2026, 1, 12, tzinfo=datetime.UTC))

    with postgres.connect(postgres_url, autocommit=True) as conn:
        postgres.apply_schema(conn)
        publish_scores(conn, old)

    reader = Reader(postgres_url)
    reader.start()
    steps: list[str] = []

    def checkpoint(step: str) -> None:
        # Hold the publish at every step until the reader has read once more,
        # so reads happen between every COPY chunk and inside the swap transaction.
        steps.append(step)
        reader.wait_for_read_after(reader.reads)

    try:
        with postgres.connect(postgres_url, autocommit=True) as conn:
            publish_scores(conn, new, chunk_rows=CHUNK_ROWS, checkpoint=checkpoint)
        reader.wait_for_read_after(reader.reads)
    finally:
        reader.stop.set()
        reader.join(timeout=STEP_WAIT_S)
    if reader.error is not None:
        raise reader.error

    # 180,000 rows in chunks of 20,000: 9 chunks, plus 5 named steps.
    assert len(steps) == 14
    # Each step waited for two completed reads.
    assert len(reader.observations) >= 2 * len(steps)
    observed = set(reader.observations)
    assert observed <= {(OLD_ROWS, "run-A", "run-A"), (NEW_ROWS, "run-B", "run-B")}, observed
    assert (OLD_ROWS, "run-A", "run-A") in observed
    assert reader.observations[-1] == (NEW_ROWS, "run-B", "run-B")
    # Once the new result showed up, the old one never came back.
    first_new = reader.observations.index((NEW_ROWS, "run-B", "run-B"))
    assert all(row[1] == "run-B" for row in reader.observations[first_new:])


@pytest.mark.parametrize("step", ["deleted", "inserted"])
def test_reader_inside_swap_sees_old(postgres_url: str, step: str) -> None:
    old_npis = [make_npi(200_000_000 + index) for index in range(500)]
    old = synthetic_scores(old_npis, "run-A", datetime.datetime(2026, 1, 5, tzinfo=datetime.UTC))
    new = synthetic_scores(old_npis[100:], "run-B", datetime.datetime(2026, 1, 12, tzinfo=datetime.UTC))
    with postgres.connect(postgres_url, autocommit=True) as conn:
        postgres.apply_schema(conn)
        publish_scores(conn, old)

    seen: list[tuple] = []

    def checkpoint(current: str) -> None:
        if current == step:
            # A separate connection reads while the swap transaction is open and uncommitted.
            with psycopg.connect(postgres_url, autocommit=True) as reader:
                seen.append(reader.execute(READ_QUERY).fetchone())

    with postgres.connect(postgres_url, autocommit=True) as conn:
        publish_scores(conn, new, checkpoint=checkpoint)
    assert seen == [(500, "run-A", "run-A")]
    with psycopg.connect(postgres_url) as conn:
        # 500 old NPIs minus the first 100.
        assert conn.execute(READ_QUERY).fetchone() == (400, "run-B", "run-B")
