"""Whole experiment scripts, run as users run them: every exit path leaves a truthful, complete record."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SCRIPT = textwrap.dedent(
    """
    import sys, time
    from gnomon import Experiment

    ex = Experiment("lifecycle")

    @ex.config
    def config():
        mode = "complete"
        lines = 3

    @ex.automain
    def main(mode, lines, _run):
        for i in range(lines):
            print(f"line {i}")
            _run.log_scalar("i", i)
        _run.info["progress"] = "all lines printed"
        if mode == "raise":
            raise RuntimeError("exploded after printing")
        if mode == "exit0":
            sys.exit(0)
        if mode == "exit3":
            sys.exit(3)
        if mode == "wait":
            print("waiting for a signal", flush=True)
            time.sleep(120)
        return "finished"
    """
)


@pytest.fixture
def experiment(tmp_path: Path) -> Path:
    path = tmp_path / "lifecycle.py"
    path.write_text(SCRIPT)
    return path


def run_script(experiment: Path, env, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(experiment), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=experiment.parent,
        timeout=timeout,
    )


def stored(base: Path, run_id: str = "1") -> tuple[dict, str, dict]:
    run_dir = base / run_id
    return (
        json.loads((run_dir / "run.json").read_text()),
        (run_dir / "cout.txt").read_text(),
        json.loads((run_dir / "metrics.json").read_text()),
    )


@pytest.mark.parametrize(
    ("mode", "status", "returncode"),
    [("complete", "COMPLETED", 0), ("raise", "FAILED", 1), ("exit0", "COMPLETED", 0), ("exit3", "FAILED", 3)],
)
def test_exit_paths(experiment: Path, script_env, tmp_path: Path, mode, status, returncode) -> None:
    runs = tmp_path / "runs"
    result = run_script(experiment, script_env, "with", f"mode={mode}", "-F", str(runs))
    assert result.returncode == returncode, result.stderr
    run, cout, metrics = stored(runs)
    assert run["status"] == status
    assert "line 0\nline 1\nline 2\n" in cout
    assert metrics["i"]["values"] == [0, 1, 2]
    assert json.loads((runs / "1" / "info.json").read_text()) == {"progress": "all lines printed"}
    if mode == "raise":
        trace = "".join(run["fail_trace"])
        assert "RuntimeError: exploded after printing" in trace and 'lifecycle.py", line' in trace
        assert "gnomon" not in trace  # the user's frames only
    if mode == "complete":
        assert run["result"] == "finished"


def test_no_heartbeat_still_records_everything(experiment: Path, script_env, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    result = run_script(experiment, script_env, "-b", "0", "-F", str(runs))
    assert result.returncode == 0, result.stderr
    run, cout, metrics = stored(runs)
    assert run["status"] == "COMPLETED" and "line 2\n" in cout and len(metrics["i"]["values"]) == 3


@pytest.mark.parametrize("capture", ["tee", "fd", "sys"])
def test_sigterm_records_interrupted_with_output_tail(experiment: Path, script_env, tmp_path: Path, capture) -> None:
    runs = tmp_path / "runs"
    with subprocess.Popen(
        [sys.executable, str(experiment), "with", "mode=wait", "lines=500", "-C", capture, "-F", str(runs)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=script_env,
        cwd=experiment.parent,
    ) as process:
        assert process.stdout is not None
        if capture != "fd":  # fd mode does not echo; wait for the run to be recorded instead
            for line in process.stdout:
                if b"waiting for a signal" in line:
                    break
        else:
            import time

            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not (runs / "1" / "run.json").exists():
                time.sleep(0.05)
            time.sleep(0.5)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
        stderr = err.decode()
    assert process.returncode == 143
    assert "Terminated by SIGTERM; the run was recorded as INTERRUPTED." in stderr
    run, cout, metrics = stored(runs)
    assert run["status"] == "INTERRUPTED"
    assert "line 499\n" in cout and "waiting for a signal" in cout
    assert len(metrics["i"]["values"]) == 500


def test_block_buffered_output_is_complete(experiment: Path, script_env, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    log = tmp_path / "nohup.out"
    with open(log, "w") as stdout:
        subprocess.run(
            [sys.executable, str(experiment), "with", "lines=50000", "-b", "0.1", "-F", str(runs)],
            stdout=stdout,
            stderr=subprocess.STDOUT,
            env=script_env,
            cwd=experiment.parent,
            timeout=120,
            check=True,
        )
    run, cout, _ = stored(runs)
    assert run["status"] == "COMPLETED"
    assert cout.count("\n") >= 50000 and "line 49999\n" in cout
    assert "line 49999" in log.read_text()


def test_broken_storage_is_spooled_and_synced_by_the_command(experiment: Path, script_env, tmp_path: Path) -> None:
    blocker = tmp_path / "blocked"
    blocker.write_text("a file where the storage folder's parent should be")
    runs = blocker / "runs"
    env = {**script_env, "GNOMON_START_TIMEOUT": "1", "GNOMON_DRAIN_TIMEOUT": "1"}
    result = run_script(experiment, env, "-F", str(runs))
    assert result.returncode == 0, result.stderr
    assert "gnomon sync" in result.stderr
    blocker.unlink()
    sync = subprocess.run(
        [sys.executable, "-m", "gnomon.cli.main", "sync"], capture_output=True, text=True, env=script_env, timeout=120
    )
    assert sync.returncode == 0, sync.stdout + sync.stderr
    run, cout, metrics = stored(runs)
    assert run["status"] == "COMPLETED" and run["result"] == "finished"
    assert "line 2\n" in cout and metrics["i"]["values"] == [0, 1, 2]
    again = subprocess.run(
        [sys.executable, "-m", "gnomon.cli.main", "sync"], capture_output=True, text=True, env=script_env, timeout=120
    )
    assert again.returncode == 0
    assert stored(runs)[1] == cout
