"""``gnomon logs`` (``--tail``, ``--raw``, ``-f`` until the run ends) and ``gnomon ls --watch``, against live runs."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from gnomon.cli.main import main

PRINTER = """
import time
from gnomon import Experiment

ex = Experiment("printer")


@ex.automain
def main(_run):
    for i in range(10):
        print(f"\\x1b[1mline {i}\\x1b[0m", flush=True)
        time.sleep(0.2)
    return "done"
"""


def _store(kind: str, tmp_path: Path) -> tuple[list[str], str]:
    if kind == "file":
        return ["-F", str(tmp_path / "runs")], str(tmp_path / "runs")
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    return ["-s", url], url


def _launch(tmp_path: Path, kind: str) -> subprocess.Popen[bytes]:
    script = tmp_path / "printer.py"
    script.write_text(PRINTER)
    flags, _ = _store(kind, tmp_path)
    return subprocess.Popen(
        [sys.executable, str(script), *flags, "-b", "0.2"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _start(tmp_path: Path, kind: str) -> tuple[subprocess.Popen[bytes], str]:
    run = _launch(tmp_path, kind)
    _, url = _store(kind, tmp_path)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # wait for the run to be recorded as started
        probe = CliRunner().invoke(main, ["ls", "-q", "-S", url])
        if probe.exit_code == 0 and probe.stdout.strip() == "1":
            return run, url
        time.sleep(0.1)
    run.kill()
    pytest.fail("the printer run never appeared in the store")


@pytest.mark.parametrize("kind", ["file", "sqlite"])
def test_logs_follow_ends_when_the_run_ends(tmp_path, kind):
    run, url = _start(tmp_path, kind)
    try:
        started = time.monotonic()
        follower = subprocess.run(
            [sys.executable, "-m", "gnomon.cli.main", "logs", "1", "-f", "--interval", "0.1", "-S", url],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert run.wait(timeout=30) == 0
    finally:
        run.kill()
    assert follower.returncode == 0, follower.stderr
    lines = follower.stdout.splitlines()
    assert [line for line in lines if line.startswith("line")] == [f"line {i}" for i in range(10)]  # no ANSI: piped
    assert "Completed after" in lines[-1]  # everything up to the run's end
    assert time.monotonic() - started >= 0.5  # it followed the run, not a finished one
    raw = CliRunner().invoke(main, ["logs", "latest", "--raw", "--tail", "3", "-S", url])
    assert raw.stdout.startswith("\x1b[1mline 9\x1b[0m\nINFO") and raw.stdout.count("\n") == 3
    plain = CliRunner().invoke(main, ["logs", "1", "--tail", "3", "-S", url])
    assert plain.stdout.startswith("line 9\nINFO") and plain.stdout.count("\n") == 3
    finished = CliRunner().invoke(main, ["logs", "1", "--follow", "-S", url])
    assert finished.exit_code == 0 and finished.stdout.count("line ") == 10  # a finished run: printed, then done


@pytest.mark.parametrize("kind", ["file", "sqlite"])
def test_ls_watch_reports_new_runs(tmp_path, kind):
    first, url = _start(tmp_path, kind)
    assert first.wait(timeout=30) == 0
    command = [sys.executable, "-m", "gnomon.cli.main", "ls", "--watch", "--interval", "0.2", "--nl", "-S", url]
    watcher = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert watcher.stdout is not None
        assert json.loads(watcher.stdout.readline())["run_id"] == "1"  # the listing, then the changes
        second = _launch(tmp_path, kind)
        second.wait(timeout=30)
        changes: list[dict[str, object]] = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any(c.get("status") == "COMPLETED" for c in changes):
            line = watcher.stdout.readline()
            if line:
                changes.append(json.loads(line))
    finally:
        watcher.send_signal(signal.SIGINT)
        _, errors = watcher.communicate(timeout=20)  # also closes the pipes
    assert changes[0]["change"] == "added" and changes[0]["run_id"] == "2"
    assert changes[-1]["status"] == "COMPLETED" and changes[-1]["run_id"] == "2"
    assert watcher.returncode == 0 and "Traceback" not in errors
