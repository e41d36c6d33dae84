"""gnomon.early: facts begun on a thread at a run's start, collected once where needed."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from gnomon import early


def test_a_begun_fact_is_computed_once_on_another_thread_and_used_once() -> None:
    threads: list[str] = []

    def fact() -> int:
        threads.append(threading.current_thread().name)
        return len(threads)

    early.begin("fact", fact)
    assert early.collect("fact", fact) == 1
    assert threads == ["gnomon-start-facts"]
    assert early.collect("fact", fact) == 2  # taken: the next caller computes afresh
    assert threads[1] == threading.current_thread().name


def test_an_error_is_raised_in_the_collecting_thread() -> None:
    def broken() -> None:
        raise LookupError("no such repository")

    early.begin("broken", broken)
    with pytest.raises(LookupError, match="no such repository"):
        early.collect("broken", broken)


def test_beginning_again_replaces_a_result_nobody_collected() -> None:
    early.begin("value", lambda: "stale")
    early.begin("value", lambda: "fresh")
    assert early.collect("value", lambda: "computed") == "fresh"


def test_a_run_records_the_tree_as_it_is_at_its_start(tmp_path: Path, script_env: dict[str, str]) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", "-c", "user.name=T", "-c", "user.email=t@example.com", *args],
                       cwd=tmp_path, check=True, capture_output=True)

    script = tmp_path / "hello.py"
    script.write_text("from gnomon import Experiment\nex = Experiment('hello')\n\n@ex.automain\ndef main():\n    pass\n")
    git("init", "-q")
    git("add", "hello.py")
    git("commit", "-q", "-m", "hello")
    for expected, folder in ((False, "clean"), (True, "dirty")):
        if expected:
            script.write_text(script.read_text() + "# changed\n")
        result = subprocess.run([sys.executable, "hello.py", "-F", folder], cwd=tmp_path, env=script_env,
                                capture_output=True, text=True, timeout=120, check=False)
        assert result.returncode == 0, result.stderr
        run = json.loads((tmp_path / folder / "1" / "run.json").read_text())
        assert run["experiment"]["repositories"][0]["dirty"] is expected
