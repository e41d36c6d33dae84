"""A store that records the start after the run went on still gives the run its id, at once.

Under many concurrent starts a database can take longer than the start time limit
to store a run. The run does not wait longer, but ``_run._id`` must not stay None
for the whole run: it becomes the stored id as soon as the store gives it, and the
events emitted from then on carry it.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from gnomon.run import Run
from gnomon.settings import SETTINGS
from gnomon.testing import RecordingObserver


def _await_id(run: Run, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while run._id is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert run._id is not None, "the run never learned its id"
    return run._id


def test_the_run_learns_its_id_when_a_slow_store_gives_it() -> None:
    SETTINGS.START_TIMEOUT = 0.3
    release = threading.Event()

    class SlowStart(RecordingObserver):
        def handle(self, event: Any) -> Any:
            if event.kind == "started":
                release.wait(30)
            return super().handle(event)

    slow = SlowStart(priority=10, assign_id="42")
    plain = RecordingObserver()  # gives no id: it sees the ids the run's events carry
    seen: dict[str, Any] = {}

    def main() -> None:
        seen["at_start"] = run._id
        release.set()
        seen["learned"] = _await_id(run)
        print("after the id")
        run.log_scalar("loss", 0.5)

    run = Run(config={}, main_function=main, observers=[slow, plain])
    run.capture_mode = "sys"
    run.beat_interval = 0.05
    run()
    assert seen["at_start"] is None  # the run went on without waiting past the limit
    assert seen["learned"] == "42" and run._id == "42"
    # every event emitted once the id was known carries it
    later = plain.events[plain.events.index(plain.of_kind("output")[-1]):]
    assert later and {e.run_id for e in later} == {"42"}
    assert plain.of_kind("completed")[0].run_id == "42"
    assert slow.kinds[0] == "started" and slow.kinds[-1] == "completed"
    assert {e.run_id for e in slow.events[1:]} == {"42"}


@pytest.mark.timeout(120)
def test_a_locked_sqlite_database_gives_the_run_its_stored_id(tmp_path: Path) -> None:
    pytest.importorskip("sqlalchemy", reason="the SQL observer needs gnomon[sql]")
    from gnomon.observers.sql import SqlObserver, SqlReader

    SETTINGS.START_TIMEOUT = 0.3
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    observer = SqlObserver(url)
    observer.connect(10)  # a migrated database, as under many concurrent runs
    holder = sqlite3.connect(tmp_path / "runs.db", timeout=30, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")  # other writers wait, as behind 50 concurrent starts
    seen: dict[str, Any] = {}

    def main() -> str:
        seen["at_start"] = run._id
        holder.execute("ROLLBACK")
        seen["learned"] = _await_id(run)
        print("stored")
        return "done"

    run = Run(config={}, main_function=main, observers=[observer])
    run.capture_mode = "sys"
    try:
        run()
    finally:
        holder.close()
        observer.close()
    assert seen["at_start"] is None
    reader = SqlReader(url)
    try:
        assert reader.run_ids() == [seen["learned"]] == [run._id]
        record = reader.run(run._id)
    finally:
        reader.close()
    assert record["status"] == "COMPLETED" and record["captured_out"] == "stored\n"
