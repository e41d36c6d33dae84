"""Runs in threads of one process: each records only its own threads' output.

The programs run as their own processes, so descriptor-level capture is exercised
for real (pytest's own capture stays out of the way).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from gnomon.capture import start_capture

PROGRAM = textwrap.dedent(
    """
    import json, os, sys, threading
    from gnomon import Experiment
    from gnomon.testing import RecordingObserver

    mode, scenario, result = sys.argv[1], sys.argv[2], sys.argv[3]
    both_started = threading.Barrier(2)
    outputs = {}

    def make(name):
        ex = Experiment(name)
        observer = RecordingObserver()
        ex.observers.append(observer)

        @ex.main
        def main():
            both_started.wait(timeout=30)
            for i in range(200):
                print(f"{name} {i}")
                if i % 50 == 0:
                    print(f"{name} err {i}", file=sys.stderr)
            if scenario == "helper_thread":
                # a thread the run starts belongs to the run
                helper = threading.Thread(target=lambda: print(f"{name} helper"))
                helper.start()
                helper.join()
            both_started.wait(timeout=30)  # both runs are still capturing here

        def go():
            r = ex.run(options={"--capture": mode, "--loglevel": "ERROR"})
            outputs[name] = observer.output
            outputs[name + " captured_out"] = r.captured_out

        return go

    threads = [threading.Thread(target=make(name)) for name in ("alpha", "beta")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print("after both runs")
    with open(result, "w") as f:
        json.dump(outputs, f)
    """
)


def run_program(tmp_path: Path, mode: str, scenario: str) -> tuple[dict[str, str], str]:
    script = tmp_path / "two_runs.py"
    script.write_text(PROGRAM)
    result = tmp_path / "result.json"
    proc = subprocess.run(
        [sys.executable, str(script), mode, scenario, str(result)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(result.read_text()), proc.stdout


def own_lines(name: str, *, helper: bool = False) -> list[str]:
    lines = []
    for i in range(200):
        lines.append(f"{name} {i}")
        if i % 50 == 0:
            lines.append(f"{name} err {i}")
    if helper:
        lines.append(f"{name} helper")
    return lines


@pytest.mark.parametrize("mode", ["sys", "fd", "tee"])
def test_each_run_records_only_its_own_output(tmp_path: Path, mode: str) -> None:
    outputs, stdout = run_program(tmp_path, mode, "plain")
    for name in ("alpha", "beta"):
        assert outputs[name].splitlines() == own_lines(name)
        assert outputs[name + " captured_out"].splitlines() == own_lines(name)
    if mode == "fd":
        assert stdout == "after both runs\n"
    else:
        # Two threads printing at once may interleave a line and its line end, with
        # or without gnomon; every line still reaches the terminal once.
        printed = re.findall(r"(?:alpha|beta) \d+|after both runs", stdout)
        assert sorted(printed) == sorted(
            [line for name in ("alpha", "beta") for line in own_lines(name) if " err " not in line]
            + ["after both runs"]
        )


@pytest.mark.parametrize("mode", ["sys", "tee"])
def test_a_thread_started_by_a_run_belongs_to_it(tmp_path: Path, mode: str) -> None:
    outputs, _ = run_program(tmp_path, mode, "helper_thread")
    for name in ("alpha", "beta"):
        assert outputs[name].splitlines() == own_lines(name, helper=True)


def test_a_run_without_capture_beside_one_with_capture(tmp_path: Path) -> None:
    # "no" for one run leaves its output unrecorded, not recorded by the other
    script = tmp_path / "mixed.py"
    script.write_text(
        PROGRAM.replace(
            'options={"--capture": mode,',
            'options={"--capture": mode if name == "alpha" else "no",',
        )
    )
    result = tmp_path / "result.json"
    proc = subprocess.run(
        [sys.executable, str(script), "tee", "plain", str(result)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    outputs = json.loads(result.read_text())
    assert outputs["alpha"].splitlines() == own_lines("alpha")
    assert outputs["beta"] == ""
    assert "beta 199" in proc.stdout


def test_a_capture_started_inside_another_takes_the_thread_until_it_stops() -> None:
    outer = start_capture("sys")
    try:
        print("outer before")
        inner = start_capture("sys")
        try:
            print("inner")
        finally:
            inner_text = inner.stop()
        print("outer after")
    finally:
        outer_text = outer.stop()
    assert inner_text == "inner\n"
    assert outer_text == "outer before\nouter after\n"


STALLED = textwrap.dedent(
    """
    import json, os, sys, threading, time
    from gnomon.capture import start_capture

    capture = start_capture("tee")
    printer = threading.Thread(target=lambda: [print("y" * 99) for _ in range(20000)])
    printer.start()  # fills the pipe nobody reads yet, then waits in a write
    time.sleep(1.0)
    started = time.monotonic()
    part = capture.read()
    took = time.monotonic() - started
    with open(sys.argv[1] + ".tmp", "w") as f:
        json.dump({"read_seconds": took, "read_chars": len(part)}, f)
    os.replace(sys.argv[1] + ".tmp", sys.argv[1])
    printer.join()
    rest = capture.stop()
    with open(sys.argv[1], "w") as f:
        json.dump({"read_seconds": took, "total": len(part) + len(rest)}, f)
    """
)


def test_a_stalled_terminal_does_not_stall_reading(tmp_path: Path) -> None:
    # A paused pager stops the printing thread, as it would without gnomon; the
    # heartbeat still gets what was recorded.
    script = tmp_path / "stalled.py"
    script.write_text(STALLED)
    result = tmp_path / "result.json"
    proc = subprocess.Popen([sys.executable, str(script), str(result)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        for _ in range(600):
            if result.exists() or proc.poll() is not None:
                break
            time.sleep(0.1)
        first = json.loads(result.read_text())
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 0, err.decode()
    assert first["read_seconds"] < 5.0
    assert first["read_chars"] > 0
    assert json.loads(result.read_text())["total"] == 20000 * 100
    assert out == b"".join([b"y" * 99 + b"\n"] * 20000)
