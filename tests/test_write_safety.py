"""What the write side keeps and how: run files, ids, artifact names, config files.

Each test runs a real experiment script (or the public API) and looks at what
reached the stores: a SQLite file that holds its runs without its write-ahead
log, a folder and a database that each record a run under an id of their own,
run files that follow the umask, names no store can keep refused up front, and
hostile config files refused quickly.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import stat
import subprocess
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from gnomon import Experiment
from gnomon.errors import ConfigError
from gnomon.events import MAX_RUN_ID_LENGTH
from gnomon.observers import FileStorageObserver
from gnomon.spool import Spool

SCRIPT = textwrap.dedent(
    """
    from gnomon import Experiment

    ex = Experiment("demo")

    @ex.config
    def cfg():
        lr = 0.1

    @ex.automain
    def main(lr, _run):
        print("training with", lr)
        with open("model.txt", "w") as handle:
            handle.write("weights")
        _run.add_artifact("model.txt")
        _run.add_resource("model.txt")
        _run.info["epochs"] = 3
        _run.log_scalar("loss", 0.5)
        return lr
    """
)


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "exp.py"
    path.write_text(SCRIPT)
    return path


@pytest.fixture
def run_script(script: Path, python: str, script_env: dict[str, str]) -> Any:
    def run(*args: str, umask: str | None = None) -> subprocess.CompletedProcess[str]:
        command = [python, str(script), *args]
        if umask is not None:  # set in a shell, so the test process keeps its own
            command = ["sh", "-c", f'umask {umask} && exec "$@"', "sh", *command]
        return subprocess.run(
            command, cwd=script.parent, env=script_env, capture_output=True, text=True, timeout=120, check=False
        )

    return run


def sqlite_runs(path: Path) -> list[tuple[str, str, str | None]]:
    """(run_id, status, meta.run_uid) of every run in a SQLite file, read with the stdlib."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        return list(db.execute("SELECT run_id, status, json_extract(meta, '$.run_uid') FROM runs ORDER BY id"))


# ------------------------------------------------------------------ SQLite file


def test_the_sqlite_file_alone_holds_every_run_that_ended(run_script: Any, script: Path, tmp_path: Path) -> None:
    for _ in range(3):
        assert run_script("-s", "sqlite:///runs.db").returncode == 0
    alone = tmp_path / "copy"
    alone.mkdir()
    shutil.copyfile(script.parent / "runs.db", alone / "runs.db")  # no runs.db-wal beside it
    assert [status for _, status, _ in sqlite_runs(alone / "runs.db")] == ["COMPLETED"] * 3


def test_a_queued_run_reaches_the_sqlite_file_too(run_script: Any, script: Path, tmp_path: Path) -> None:
    assert run_script("-q", "-s", "sqlite:///runs.db").returncode == 0
    (tmp_path / "copy").mkdir()
    shutil.copyfile(script.parent / "runs.db", tmp_path / "copy" / "runs.db")
    assert [status for _, status, _ in sqlite_runs(tmp_path / "copy" / "runs.db")] == ["QUEUED"]


# ------------------------------------------------------------------ ids


def test_folder_and_new_database_each_record_the_run_under_an_id_of_their_own(
    run_script: Any, script: Path, spool_dir: Path
) -> None:
    """Sacred users' ``-F runs -s db``: the database numbers from 1, the folder holds 1 already."""
    assert run_script("-F", "runs").returncode == 0
    started = time.monotonic()
    result = run_script("-F", "runs", "-s", "sqlite:///new.db")
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert elapsed < 5, f"took {elapsed:.1f} s"
    assert "WARNING" not in result.stderr and "sync" not in result.stderr
    runs = script.parent / "runs"
    first, second = (json.loads((runs / i / "run.json").read_text()) for i in ("1", "2"))
    assert second["status"] == "COMPLETED" and second["artifacts"] == ["model.txt"]
    assert "training with 0.1" in (runs / "2" / "cout.txt").read_text()
    [(db_id, status, uid)] = sqlite_runs(script.parent / "new.db")
    assert (db_id, status) == ("1", "COMPLETED")
    assert uid == second["meta"]["run_uid"] != first["meta"]["run_uid"]  # tied by run_uid
    assert first["status"] == "COMPLETED" and first["meta"]["command"] == "main"  # untouched
    assert Spool(spool_dir).pending() == []


def test_a_run_id_no_store_can_keep_is_refused_before_anything_is_recorded(
    tmp_path: Path, spool_dir: Path
) -> None:
    ex = Experiment("demo", save_git_info=False)
    ex.main(lambda: None)
    ex.observers.append(FileStorageObserver(tmp_path / "runs"))
    for bad in ("x" * 300, "x" * (MAX_RUN_ID_LENGTH + 1), "..", "a/b"):
        with pytest.raises(ConfigError, match="cannot be a run id"):
            ex.run(options={"--id": bad})
    assert not (tmp_path / "runs").exists()
    assert Spool(spool_dir).pending() == []
    assert ex.run(options={"--id": "x" * MAX_RUN_ID_LENGTH}).status == "COMPLETED"


def test_a_300_character_id_on_the_command_line_is_a_usage_error(
    run_script: Any, script: Path, spool_dir: Path
) -> None:
    result = run_script("-F", "runs", "-i", "x" * 300)
    assert result.returncode != 0
    assert f"at most {MAX_RUN_ID_LENGTH} characters" in result.stderr
    assert not (script.parent / "runs").exists() and not list(spool_dir.iterdir())


# ------------------------------------------------------------------ permissions


RUN_FILES = ("run.json", "config.json", "cout.txt", "info.json", "metrics.json", "model.txt")


@pytest.mark.parametrize(("umask", "file_mode", "dir_mode"), [("022", 0o644, 0o755), ("077", 0o600, 0o700)])
def test_stored_files_follow_the_umask(
    run_script: Any, script: Path, umask: str, file_mode: int, dir_mode: int
) -> None:
    assert run_script("-F", "runs", umask=umask).returncode == 0
    runs = script.parent / "runs"
    files = [runs / "1" / name for name in RUN_FILES]
    files += [*(runs / "_sources").iterdir(), *(runs / "_resources").iterdir()]
    assert len(files) == len(RUN_FILES) + 2
    modes = {str(path.relative_to(runs)): stat.S_IMODE(path.stat().st_mode) for path in files}
    assert modes == dict.fromkeys(modes, file_mode)
    for folder in (runs, runs / "1", runs / "_sources", runs / "_resources"):
        assert stat.S_IMODE(folder.stat().st_mode) == dir_mode, folder


# ------------------------------------------------------------------ artifact names


def test_artifact_names_that_would_collide_are_refused_and_plain_ones_all_kept(tmp_path: Path) -> None:
    source = tmp_path / "data.bin"
    source.write_bytes(b"one")
    refused: list[str] = []

    def main(_run: Any) -> None:
        for name in (".", "..", "a/../b", "/etc/x", "dir/"):
            try:
                _run.add_artifact(source, name=name)
            except ValueError as error:
                refused.append(str(error))
        _run.add_artifact(source, name="first")
        source.write_bytes(b"two")
        _run.add_artifact(source, name="plots/second")

    ex = Experiment("demo", save_git_info=False)
    ex.main(main)
    ex.observers.append(FileStorageObserver(tmp_path / "runs"))
    assert ex.run().status == "COMPLETED"
    assert len(refused) == 5 and all("Cannot add the artifact" in text for text in refused)
    assert "'.'" in refused[0] and "'..'" in refused[1]
    run_dir = tmp_path / "runs" / "1"
    assert json.loads((run_dir / "run.json").read_text())["artifacts"] == ["first", "plots/second"]
    assert (run_dir / "first").read_bytes() == b"one" and (run_dir / "plots" / "second").read_bytes() == b"two"


# ------------------------------------------------------------------ hostile config files


BILLION_LAUGHS = "\n".join(
    [
        'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
        *(
            f"{name}: &{name} [{','.join([f'*{previous}'] * 9)}]"
            for previous, name in zip("abcdefgh", "bcdefghi", strict=True)
        ),
    ]
)


def test_a_billion_laughs_yaml_file_is_refused_quickly(run_script: Any, script: Path) -> None:
    from gnomon.config import load_config_file

    path = script.parent / "lol.yaml"
    path.write_text(BILLION_LAUGHS + "\n")
    assert len(BILLION_LAUGHS) < 400
    started = time.monotonic()
    with pytest.raises(ConfigError, match="YAML aliases"):
        load_config_file(path)
    assert time.monotonic() - started < 2
    started = time.monotonic()
    result = run_script("print_config", "with", "lol.yaml")
    assert time.monotonic() - started < 10  # an interpreter start included
    assert result.returncode != 0 and "YAML aliases" in result.stderr and "Traceback" not in result.stderr


def test_yaml_aliases_that_refer_to_themselves_are_refused_and_ordinary_ones_kept(tmp_path: Path) -> None:
    from gnomon.config import load_config_file

    looped = tmp_path / "loop.yaml"
    looped.write_text("a: &a [1, *a]\n")
    with pytest.raises(ConfigError, match="inside the value it names"):
        load_config_file(looped)
    shared = tmp_path / "shared.yaml"
    shared.write_text("base: &b {lr: 0.1, n: 3}\nx: *b\ny: {<<: *b, n: 4}\n")
    assert load_config_file(shared) == {"base": {"lr": 0.1, "n": 3}, "x": {"lr": 0.1, "n": 3}, "y": {"lr": 0.1, "n": 4}}


@pytest.mark.parametrize("suffix", [".yaml", ".json", ".toml"])
def test_config_files_nested_past_the_limit_are_refused_by_name(tmp_path: Path, suffix: str) -> None:
    from gnomon.config import load_config_file

    levels = 1000
    text = {
        ".yaml": "a: " + "[" * levels + "]" * levels,
        ".json": '{"a": ' + "[" * levels + "]" * levels + "}",
        ".toml": "a = " + "[" * levels + "]" * levels,
    }[suffix]
    path = tmp_path / f"deep{suffix}"
    path.write_text(text + "\n")
    with pytest.raises(ConfigError, match=r"deep\.\w+' is nested deeper than"):
        load_config_file(path)
