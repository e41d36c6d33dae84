"""add_artifact costs the caller one copy: hashing happens in the stores, and a run
killed right after the call still gets its artifact stored by ``gnomon sync``."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import orjson
import pytest

from gnomon import Experiment
from gnomon import artifacts as artifacts_module
from gnomon.observers import FileStorageObserver, SqlObserver
from gnomon.spool import Spool
from gnomon.staged import JOURNAL
from gnomon.sync import sync

KILLED = """
import os, signal, sys
from gnomon import Experiment
from gnomon.observers import FileStorageObserver, SqlObserver

ex = Experiment("killed")
ex.observers.append(FileStorageObserver(sys.argv[1]))
ex.observers.append(SqlObserver(sys.argv[2]))


@ex.main
def main(_run):
    _run.add_artifact(sys.argv[3], name="model.bin")
    os.kill(os.getpid(), signal.SIGKILL)


ex.run()
"""


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def sql_artifacts(database: Path) -> list[tuple[str, str, int]]:
    with sqlite3.connect(database) as connection:
        return list(connection.execute("SELECT name, digest, size FROM artifacts"))


def test_an_artifact_added_right_before_sigkill_is_delivered_by_sync_with_its_digest(
    tmp_path: Path, spool_dir: Path, script_env: dict[str, str]
) -> None:
    model = tmp_path / "model.bin"
    model.write_bytes(os.urandom(3_000_000))
    runs, database = tmp_path / "runs", tmp_path / "runs.db"
    script = tmp_path / "killed.py"
    script.write_text(textwrap.dedent(KILLED))
    child = subprocess.run(
        [sys.executable, str(script), str(runs), f"sqlite:///{database}", str(model)],
        cwd=tmp_path, env=script_env, capture_output=True, check=False, timeout=120,
    )
    assert child.returncode == -9, child.stderr.decode(errors="replace")[-2000:]
    (run_dir,) = [p for p in runs.iterdir() if p.name.isdigit()]
    (run_dir / "model.bin").unlink(missing_ok=True)  # whatever the live delivery managed, sync must do it

    report = sync(spool_dir)

    assert report.delivered >= 2 and report.left == 0, report.messages
    assert (run_dir / "model.bin").read_bytes() == model.read_bytes()
    assert "model.bin" in orjson.loads((run_dir / "run.json").read_bytes())["artifacts"]
    assert sql_artifacts(database) == [("model.bin", sha256(model), 3_000_000)]
    assert not (spool_dir / "staging").exists() or not any((spool_dir / "staging").iterdir())
    assert sync(spool_dir).delivered == 0  # nothing twice


def test_the_journal_of_a_live_run_is_left_to_it_and_removed_when_it_ends(tmp_path: Path, spool_dir: Path) -> None:
    source = tmp_path / "weights.bin"
    source.write_bytes(b"w" * 10_000)
    ex = Experiment("alive")
    ex.observers.append(FileStorageObserver(tmp_path / "runs"))
    seen: dict[str, Any] = {}

    @ex.main
    def main(_run: Any) -> None:
        _run.add_artifact(str(source))
        (journal,) = (spool_dir / "staging").glob(f"*/{JOURNAL}")
        (line,) = journal.read_bytes().splitlines()
        seen["event"] = orjson.loads(line)["event"]
        Spool(spool_dir).deliveries()  # what gnomon sync does first, while this run lives
        seen["kept"] = journal.exists()
        seen["spooled"] = Spool(spool_dir).deliveries()

    run = ex.run()

    assert run.status == "COMPLETED"
    assert seen["kept"] and seen["spooled"] == []  # a live run's journal is not taken for a dead run's
    assert seen["event"]["digest"] is None  # the caller did not hash the file
    assert seen["event"]["size"] == 10_000
    assert Spool(spool_dir).deliveries() == []
    assert not list(spool_dir.glob(f"staging/*/{JOURNAL}"))
    assert (tmp_path / "runs" / str(run._id) / "weights.bin").read_bytes() == source.read_bytes()


def test_the_caller_never_hashes_an_artifact_and_the_stores_keep_its_digest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(8_000_000))
    hashed_on: list[int] = []
    real = hashlib.file_digest

    def recording(handle: Any, digest: Any, **kwargs: Any) -> Any:
        hashed_on.append(threading.get_ident())
        return real(handle, digest, **kwargs)

    monkeypatch.setattr(hashlib, "file_digest", recording)
    ex = Experiment("hashing")
    ex.observers.append(FileStorageObserver(tmp_path / "runs"))
    ex.observers.append(SqlObserver(f"sqlite:///{tmp_path / 'runs.db'}"))
    during: list[int] = []

    @ex.main
    def main(_run: Any) -> None:
        before = len(hashed_on)
        _run.add_artifact(str(source))
        during.extend(hashed_on[before:])
        source.write_bytes(b"changed at once")  # the snapshot is the run's own

    run = ex.run()

    assert run.status == "COMPLETED"
    assert threading.get_ident() not in during
    expected = hashlib.sha256((tmp_path / "runs" / str(run._id) / "big.bin").read_bytes()).hexdigest()
    assert (tmp_path / "runs" / str(run._id) / "big.bin").stat().st_size == 8_000_000
    assert sql_artifacts(tmp_path / "runs.db") == [("big.bin", expected, 8_000_000)]
    assert any(ident != threading.get_ident() for ident in hashed_on)  # the store hashed it, elsewhere


def test_a_snapshot_is_hashed_once_for_every_store_that_asks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    snapshot = tmp_path / "000001-a.bin"
    snapshot.write_bytes(b"abc" * 1000)
    calls: list[str] = []
    real = artifacts_module.file_sha256
    monkeypatch.setattr(artifacts_module, "file_sha256", lambda path: calls.append(path) or real(path))

    first = artifacts_module.snapshot_digest(str(snapshot))
    second = artifacts_module.snapshot_digest(str(snapshot))

    assert first == second == hashlib.sha256(b"abc" * 1000).hexdigest()
    assert len(calls) == 1
    assert artifacts_module.snapshot_digest(str(snapshot), "f" * 64) == "f" * 64
    assert artifacts_module.snapshot_digest(str(tmp_path / "gone.bin")) is None


def test_an_artifact_snapshot_is_a_copy_the_run_may_rewrite_in_place(tmp_path: Path) -> None:
    source = tmp_path / "log.txt"
    source.write_bytes(b"first version")
    staging = tmp_path / "staging"
    staging.mkdir()

    fields = artifacts_module.artifact_fields(source, None, None, None, staging=str(staging), number=1)
    with open(source, "r+b") as handle:  # rewritten in place: the same inode
        handle.write(b"SECOND")

    assert Path(fields["filename"]).read_bytes() == b"first version"
    assert fields["size"] == len(b"first version") and fields.get("digest") is None
    assert os.stat(fields["filename"]).st_mode & 0o077 == 0
