"""Live runs in a browser: a new run appears and completes, a killed one turns DIED, output follows, edits persist."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

#: A run that prints and logs a point every 0.1 s until its gate file exists, then completes.
SCRIPT = """
import pathlib, sys, time
from gnomon.observers import FileStorageObserver
from gnomon.run import Run

folder, gate, name = sys.argv[1:4]

def main():
    step = 0
    while not pathlib.Path(gate).exists():
        print(f"{name} line {step}", flush=True)
        run.log_scalar("loss", 1.0 / (step + 1), step)
        step += 1
        time.sleep(0.1)
    return step

run = Run(config={"name": name}, main_function=main, observers=[FileStorageObserver(folder)],
          experiment_info={"name": name, "base_dir": ".", "sources": [], "dependencies": [], "repositories": []},
          host_info={"hostname": "box"})
run.beat_interval = 0.2
run.capture_mode = "sys"
run()
"""


class LiveRun:
    """A run in its own process, finished by creating its gate file (or killed)."""

    def __init__(self, folder: str, tmp: Path, name: str, env: dict[str, str]) -> None:
        script = tmp / "live_run.py"
        script.write_text(SCRIPT)
        self.gate = tmp / f"{name}.gate"
        self.process = subprocess.Popen([sys.executable, str(script), folder, str(self.gate), name], env=env,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def finish(self) -> None:
        self.gate.touch()
        assert self.process.wait(timeout=30) == 0

    def kill(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


@pytest.fixture
def live_runs(tmp_path, script_env):
    started: list[LiveRun] = []

    def start(folder: str, name: str) -> LiveRun:
        run = LiveRun(folder, tmp_path, name, script_env)
        started.append(run)
        return run

    yield start
    for run in started:
        if run.process.poll() is None:
            run.kill()


def _wait_for_run(folder: str, count: int) -> None:
    import gnomon
    from gnomon.errors import StoreError

    deadline = time.monotonic() + 20
    while True:
        assert time.monotonic() < deadline, "the run did not start"
        try:
            with gnomon.open(folder) as store:
                if len(store.runs()) >= count:
                    return
        except StoreError:  # the folder is not there yet
            pass
        time.sleep(0.05)


def test_new_run_appears_and_completes_and_a_killed_one_dies_without_reload(
        page, dashboard_server, live_runs, tmp_path, write_runs):
    folder = str(tmp_path / "runs")
    write_runs(folder, 1)  # the table starts with one finished run
    server = dashboard_server(folder, died_after=1.5)
    page.goto(server.url + "/")
    page.wait_for_selector("#live-state.on")
    assert page.locator("tr.run-row").count() == 1
    page.evaluate("window.__sameDocument = true")

    done = live_runs(folder, "finishes")
    row = page.locator("#run-row-2")
    row.wait_for(timeout=15_000)
    assert row.get_attribute("data-status") == "RUNNING"
    assert "last seen" in row.locator(".col-status").inner_text()
    killed = live_runs(folder, "killed")
    page.locator("#run-row-3").wait_for(timeout=15_000)

    done.finish()
    page.wait_for_selector('#run-row-2[data-status="COMPLETED"]', timeout=15_000)
    killed.kill()
    page.wait_for_selector('#run-row-3[data-status="DIED"]', timeout=15_000)
    assert page.locator("#run-row-3 .badge.status").inner_text() == "DIED"
    assert page.evaluate("window.__sameDocument") is True, "the page was reloaded"


def test_run_page_follows_output_and_edits_persist_while_the_run_writes(page, dashboard_server, live_runs, tmp_path):
    folder = str(tmp_path / "runs")
    run = live_runs(folder, "writer")
    _wait_for_run(folder, 1)
    server = dashboard_server(folder)
    page.goto(server.url + "/runs/1?tab=output")
    page.wait_for_selector("#live-state.on")
    page.evaluate("window.__sameDocument = true")
    output = page.locator("#output")
    first = output.inner_text()
    start = time.monotonic()
    page.wait_for_function(
        "n => document.querySelector('#output').textContent.length > n + 40", arg=len(first), timeout=10_000)
    grew_after = time.monotonic() - start
    assert grew_after < 5
    assert page.evaluate("window.__sameDocument") is True

    # Tags and notes, edited while the run keeps writing, survive the run's own updates and a reload.
    page.goto(server.url + "/runs/1")
    page.fill("#tags-add", "keep, live")
    with page.expect_navigation():
        page.click("#tags-save")
    page.fill("#notes", "written while running")
    with page.expect_navigation():
        page.click("#notes-save")
    time.sleep(0.6)  # a few more heartbeats and points from the run
    run.finish()
    page.reload()
    assert page.locator("#tags .tag").all_inner_texts() == ["keep", "live"]
    assert page.input_value("#notes") == "written while running"
    assert page.locator("#overview-status").inner_text().startswith("COMPLETED")
