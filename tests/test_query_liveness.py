"""A run whose process is SIGKILLed reads back as DIED, on every backend, heartbeat or not."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import gnomon
from gnomon.query import liveness
from mongo_server import db, db_name, mongo_server  # noqa: F401 - fixtures, injected by name
from query_fixtures import BACKENDS, opened_store

VICTIM = """
import time
from gnomon import Experiment

ex = Experiment("victim")

@ex.main
def main(_run):
    _run.log_scalar("loss", 1.0, 0)
    print("ready", flush=True)
    time.sleep(120)

ex.run_commandline()
"""


def _start(script: Path, url: str, beat: float, env: dict[str, str]) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, str(script), "-O", url, "--beat-interval", str(beat), "--capture", "sys"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )
    assert process.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if "ready" in line:
            return process
        if not line and process.poll() is not None:
            break
    process.kill()
    out = process.stdout.read()
    process.stdout.close()
    process.wait()
    pytest.fail(f"the victim did not start: {out}")


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_killed_run_is_died_after_the_threshold(backend, tmp_path: Path, request, script_env, monkeypatch):
    script = tmp_path / "victim.py"
    script.write_text(VICTIM)
    with opened_store(backend, tmp_path, request) as (_, url):
        if backend == "file":
            url = str(tmp_path / "runs")
        beating = _start(script, url, 0.2, script_env)
        time.sleep(0.8)  # a few heartbeats
        silent = _start(script, url, 1000, script_env)  # killed before its first heartbeat
        for process in (beating, silent):
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
            process.stdout.close()
        # On the run's own host the process is known to be gone: DIED at once.
        with gnomon.open(url) as here:
            rows = here.runs(order_by="start_time").rows(["status", "recorded_status", "heartbeat"])
            assert [(r["status"], r["recorded_status"]) for r in rows] == [("DIED", "RUNNING")] * 2, rows
            assert rows[0]["heartbeat"] is not None and rows[1]["heartbeat"] is None
            assert here.runs(status="DIED").count() == 2
            assert here.runs('status == "RUNNING"').count() == 0
        # Read from another host, only the silence tells.
        monkeypatch.setattr(liveness, "_this_host", lambda: "another-host")
        store = gnomon.open(url, died_after=1.5)
        patient = gnomon.open(url)  # the default: at least 120 s of silence
        try:
            assert patient.runs(status="RUNNING").count() == 2
            assert patient.runs('status == "DIED"').count() == 0
            time.sleep(1.5 + 0.2)
            rows = store.runs(order_by="start_time").rows(["status", "recorded_status"])
            assert [r["status"] for r in rows] == ["DIED", "DIED"], rows
            assert store.runs(status="DIED").count() == 2
            assert store.runs('status == "RUNNING"').count() == 0
            assert store.runs('status != "DIED"').count() == 0
            assert patient.runs(status="RUNNING").count() == 2
        finally:
            store.close()
            patient.close()
