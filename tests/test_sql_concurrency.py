"""Twenty processes writing runs into one new database at once: twenty complete runs, distinct ids."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("sqlalchemy", reason="the SQL observer needs gnomon[sql]")

from gnomon.observers.sql import SqlReader
from gnomon.observers.sql.testing import BACKENDS, DatabaseUnavailable, fresh_database
from gnomon.spool import Spool

PROCESSES = 20

SCRIPT = textwrap.dedent(
    """
    import os, sys, time
    from gnomon.observers.sql import SqlObserver
    from gnomon.run import Run

    url, go, index = sys.argv[1], sys.argv[2], int(sys.argv[3])
    open(go + f".ready{index}", "w").close()
    while not os.path.exists(go):
        time.sleep(0.005)

    def main():
        for i in range(2000):
            run.log_scalar("loss", float(i), step=i)
            if i % 500 == 0:
                print(f"process {index} step {i}")
        run.info["index"] = index
        return index

    observer = SqlObserver(url)
    run = Run(config={"index": index}, main_function=main, observers=[observer])
    run.beat_interval = 0.05
    run.capture_mode = "sys"
    run()
    observer.close()
    print("id", run._id, run.status)
    """
)


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest) -> Any:
    try:
        database = fresh_database(request.param)
        url = database.__enter__()
    except DatabaseUnavailable as error:
        pytest.skip(str(error))
    try:
        yield url
    finally:
        database.__exit__(None, None, None)


@pytest.mark.timeout(180)
def test_twenty_processes_write_twenty_complete_runs(db_url: str, tmp_path: Path, script_env: dict[str, str]) -> None:
    script = tmp_path / "writer.py"
    script.write_text(SCRIPT)
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), db_url, str(go), str(i)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=script_env,
        )
        for i in range(PROCESSES)
    ]
    # every interpreter is up before any opens the new database: they migrate it together
    deadline = time.monotonic() + 60
    while len(list(tmp_path.glob("go.ready*"))) < PROCESSES and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()
    outputs = [p.communicate(timeout=150) for p in procs]
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
        assert "locked" not in err.lower() and "Observer" not in err, err
        assert "COMPLETED" in out
    reader = SqlReader(db_url)
    try:
        ids = reader.run_ids()
        assert len(ids) == PROCESSES == len(set(ids))
        assert sorted(int(i) for i in ids) == list(range(1, PROCESSES + 1))
        seen = set()
        for run_id in ids:
            record = reader.run(run_id)
            assert record["status"] == "COMPLETED"
            index = record["config"]["index"]
            seen.add(index)
            assert record["result"] == index and record["info"] == {"index": index}
            assert record["captured_out"] == "".join(f"process {index} step {i}\n" for i in range(0, 2000, 500))
            steps, values, _ = reader.metric_series(run_id, "loss")
            assert steps == list(range(2000)) and values == [float(i) for i in range(2000)]
        assert seen == set(range(PROCESSES))
    finally:
        reader.close()
    assert Spool(script_env["GNOMON_SPOOL_DIR"]).pending() == []  # nothing had to wait
