"""When the spool cannot keep what an observer did not take: the truth, what can be kept, the end recorded.

A full disk is a real one (a 64 KiB tmpfs, mounted for the test when the user may);
an event that cannot be encoded is one nested deeper than JSON encoders go.
"""

from __future__ import annotations

import errno
import logging
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from event_builders import completed, heartbeat, output, started
from gnomon.dispatch import Dispatcher
from gnomon.observers import FileStorageObserver
from gnomon.run import Run
from gnomon.settings import SETTINGS
from gnomon.spool import Spool
from gnomon.sync import sync

LOG = "gnomon.dispatch"


class FaultyStorage(FileStorageObserver):
    """File storage that can be down (every event after the start raises) or slow on output."""

    down = False
    output_delay = 0.0

    def handle(self, event: Any) -> Any:
        if self.down and event.kind != "started":
            raise ConnectionError("the store is down")
        if event.kind == "output" and self.output_delay:
            time.sleep(self.output_delay)
        return super().handle(event)


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs filled to the last byte."""
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount_point)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.strip() or mounted.returncode}")
    try:
        with open(mount_point / "filler", "wb", buffering=0) as filler:
            try:
                while True:
                    filler.write(b"\0" * 4096)
            except OSError as error:
                if error.errno != errno.ENOSPC:
                    raise
            try:
                while True:
                    filler.write(b"\0")
            except OSError:
                pass
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=False)


def test_a_full_spool_disk_is_reported_truthfully_and_the_end_still_recorded(
    tmp_path: Path, full_disk: Path, caplog: pytest.LogCaptureFixture
) -> None:
    SETTINGS.SPOOL_DIR = str(full_disk / "spool")
    SETTINGS.DRAIN_TIMEOUT = 0.3
    storage = FaultyStorage(tmp_path / "runs")
    storage.output_delay = 1.0  # a store that falls behind, then catches up after the run

    def main() -> int:
        for part in range(2):  # two beats apart: at least one output event waits behind the slow one
            for i in range(1000):
                print(f"line {part}-{i:04d} " + "x" * 80)
            time.sleep(0.3)
        return 7

    run = Run(config={}, main_function=main, observers=[storage])
    run.beat_interval = 0.1
    run.capture_mode = "sys"
    with caplog.at_level(logging.INFO, logger=LOG):
        assert run() == 7  # the run's own outcome is unchanged
    assert run.status == "COMPLETED"

    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("could not keep" in m and str(full_disk / "spool") in m and "Lost:" in m for m in errors), errors
    lost = next(m for m in errors if "Lost:" in m)
    assert "the completed event" in lost and "characters from character" in lost
    assert not any("kept in" in r.getMessage() for r in caplog.records)  # never a claim that is not true
    assert any("recorded the end of the run (completed) directly" in r.getMessage() for r in caplog.records)

    stored = orjson.loads((tmp_path / "runs" / "1" / "run.json").read_bytes())
    assert stored["status"] == "COMPLETED" and stored["result"] == 7


def test_an_event_that_cannot_be_encoded_costs_only_itself(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    spool = Spool(tmp_path / "spool")
    storage = FaultyStorage(tmp_path / "runs")
    dispatcher = Dispatcher([storage], "run-uid-deep", spool=spool, drain_timeout=0.3)
    experiment = {"name": "deep", "base_dir": str(tmp_path), "sources": [], "dependencies": []}
    run_id = dispatcher.start(started(time=datetime.now(UTC), experiment=experiment))
    storage.down = True
    deep: dict[str, Any] = {}
    level = deep
    for _ in range(300):
        level = level.setdefault("a", {})
    now = datetime.now(UTC)
    dispatcher.emit(output(run_id, 1, "hello\n", time=now))
    dispatcher.emit(heartbeat(run_id, 2, info=deep, time=now))
    dispatcher.emit(completed(run_id, 3, result=1, time=now))
    with caplog.at_level(logging.INFO, logger=LOG):
        dispatcher.close()

    (lost,) = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert "could not keep 1 of them" in lost and "Lost: 1 heartbeat event(s)." in lost
    assert "The other 2 are kept there" in lost
    assert [kind for _, _, _, kind in _rows(spool)] == ["output", "completed"]

    storage.close()  # as when the process ends: `gnomon sync` runs in another one
    report = sync(spool.directory, observer_factory=lambda url, key: FileStorageObserver(tmp_path / "runs"))
    assert report.failed == 0 and report.delivered == 2, report.messages
    run_dir = tmp_path / "runs" / str(run_id)
    assert orjson.loads((run_dir / "run.json").read_bytes())["status"] == "COMPLETED"
    assert (run_dir / "cout.txt").read_text() == "hello\n"


def _rows(spool: Spool) -> list[tuple[Any, ...]]:
    import sqlite3

    with sqlite3.connect(spool.path) as db:
        return list(db.execute("SELECT run_uid, observer_key, seq, kind FROM events ORDER BY seq"))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__]))
