"""Creating a run in file storage does not grow with the runs already in the folder."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from gnomon import Experiment
from gnomon.observers import FileStorageObserver

EXISTING = 2000


def sacred_made_folder(basedir: Path, runs: int) -> None:
    """Runs as Sacred leaves them: numbered folders, no gnomon bookkeeping."""
    basedir.mkdir()
    for i in range(1, runs + 1):
        run = basedir / str(i)
        run.mkdir()
        (run / "run.json").write_text('{"status": "COMPLETED"}')


def hello(basedir: Path) -> Experiment:
    ex = Experiment("hello")
    ex.observers.append(FileStorageObserver(str(basedir)))

    @ex.main
    def main() -> str:
        return "hi"

    return ex


class Listings:
    """Counts how often the storage folder itself is listed."""

    def __init__(self, basedir: Path) -> None:
        self.basedir = os.path.realpath(basedir)
        self.count = 0

    def seen(self, path: Any) -> None:
        if path is not None and os.path.realpath(os.fspath(path)) == self.basedir:
            self.count += 1


@pytest.fixture
def listings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Listings:
    counter = Listings(tmp_path / "runs")
    scandir, listdir = os.scandir, os.listdir

    def counting_scandir(path: Any = ".") -> Any:
        counter.seen(path)
        return scandir(path)

    def counting_listdir(path: Any = ".") -> list[str]:
        counter.seen(path)
        return listdir(path)

    monkeypatch.setattr(os, "scandir", counting_scandir)
    monkeypatch.setattr(os, "listdir", counting_listdir)
    return counter


def test_a_new_run_in_a_folder_of_2000_runs_lists_it_at_most_once(tmp_path: Path, listings: Listings) -> None:
    basedir = tmp_path / "runs"
    sacred_made_folder(basedir, EXISTING)
    ids = [hello(basedir).run()._id for _ in range(3)]
    assert ids == [str(EXISTING + 1), str(EXISTING + 2), str(EXISTING + 3)]
    # The first start finds the highest id once; later starts never list the folder.
    assert listings.count <= 1
    for run_id in ids:
        assert json.loads((basedir / run_id / "run.json").read_text())["status"] == "COMPLETED"


def test_runs_started_by_another_tool_in_between_are_not_overwritten(tmp_path: Path, listings: Listings) -> None:
    basedir = tmp_path / "runs"
    sacred_made_folder(basedir, EXISTING)
    assert hello(basedir).run()._id == str(EXISTING + 1)
    (basedir / str(EXISTING + 2)).mkdir()  # a run Sacred made meanwhile
    assert hello(basedir).run()._id == str(EXISTING + 3)
    assert not (basedir / str(EXISTING + 2) / "run.json").exists()
