"""``gnomon compare --sources``: a unified diff of the source files two versions of a script ran with."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from gnomon.cli.main import main

SCRIPT = '''"""A script edited between two runs."""
from gnomon import Experiment

from helpers import shift

ex = Experiment("edited")


@ex.config
def config():
    lr = 0.1


@ex.automain
def train(lr):
    scale = 2
    return shift(lr * scale)
'''

HELPERS = "def shift(x):\n    return x + 1\n"


def _run_script(folder: Path, runs: Path, database: str) -> None:
    result = subprocess.run(
        [sys.executable, "train.py", "-F", str(runs), "-s", database],
        cwd=folder, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="module")
def edited(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Run 1: the script as written; runs 2, 3: lines changed, a file added; in a folder and in SQLite."""
    tmp = tmp_path_factory.mktemp("edited")
    project, runs, database = tmp / "project", tmp / "runs", f"sqlite:///{tmp / 'runs.db'}"
    project.mkdir()
    (project / "train.py").write_text(SCRIPT)
    (project / "helpers.py").write_text(HELPERS)
    _run_script(project, runs, database)
    (project / "train.py").write_text(
        SCRIPT.replace("    scale = 2\n", "    scale = 3\n").replace("from helpers", "import extra\nfrom helpers")
    )
    (project / "extra.py").write_text("VALUE = 1\n")
    (project / "helpers.py").write_text(HELPERS + "\n\nLIMIT = 10\n")
    _run_script(project, runs, database)
    _run_script(project, runs, database)  # run 3: the same sources as run 2
    return {"file": str(runs), "sqlite": database}


def compare(url: str, *args: str) -> str:
    result = CliRunner().invoke(main, ["compare", *args, "-S", url])
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.parametrize("kind", ["file", "sqlite"])
def test_the_changed_line_shows_in_the_diff(edited, kind):
    lines = compare(edited[kind], "1", "2", "--sources").splitlines()
    assert "--- run 1 train.py" in lines and "+++ run 2 train.py" in lines
    assert "-    scale = 2" in lines and "+    scale = 3" in lines
    assert "+LIMIT = 10" in lines  # helpers.py changed too
    assert "only in run 2: extra.py" in lines
    changed = [line for line in lines if line.startswith(("-", "+")) and not line.startswith(("---", "+++"))]
    assert sorted(changed) == sorted(
        ["-    scale = 2", "+    scale = 3", "+import extra", "+", "+", "+LIMIT = 10"]
    )
    assert compare(edited[kind], "2", "3", "--sources").strip() == "(the runs have the same sources)"
    three = compare(edited[kind], "1-3", "--sources").splitlines()  # the first run against each other
    assert three.count("-    scale = 2") == 2 and "+++ run 3 train.py" in three


@pytest.mark.parametrize("kind", ["file", "sqlite"])
def test_machine_formats_and_all(edited, kind):
    rows = json.loads(compare(edited[kind], "1", "2", "--sources", "--json"))
    assert [r["path"] for r in rows] == ["extra.py", "helpers.py", "train.py"]
    assert rows[0]["run 1"] is None and len(rows[0]["run 2"]) == 12
    reverse = compare(edited[kind], "2", "1", "--sources").splitlines()
    assert "-    scale = 3" in reverse and "+    scale = 2" in reverse
    assert "only in run 2: extra.py" in reverse
    same = compare(edited[kind], "2", "3", "--sources", "--all").splitlines()
    assert same == ["same in every run: extra.py", "same in every run: helpers.py", "same in every run: train.py"]
    changed = compare(edited[kind], "1-3", "--sources", "--all").splitlines()
    assert "only in runs 2, 3: extra.py" in changed and not any(line.startswith("same") for line in changed)


def test_a_source_whose_content_is_gone_is_named(edited, tmp_path):
    import shutil

    runs = tmp_path / "runs"
    shutil.copytree(edited["file"], runs)
    for stored in (runs / "_sources").glob("train_*.py"):
        stored.unlink()
    lines = compare(str(runs), "1", "2", "--sources").splitlines()
    assert "train.py differs between runs 1 and 2 (its content is not stored with run 1)" in lines
    assert "-    scale = 2" not in lines and "+LIMIT = 10" in lines
