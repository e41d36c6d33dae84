"""Ids when several stores record one run: another observer's id is a suggestion, a user's is not.

The first observer to answer a start gives the run its id; the others are offered
it (``id_suggested``). A store that holds another run under that id records the
run under a number of its own, tied to the rest by ``run_uid``, and answers a
start delivered again (a retry, a spool replay) with that same number. An id the
user chose with ``-i`` is never replaced.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from event_builders import started
from gnomon import Experiment
from gnomon.events import StartedEvent, utcnow
from gnomon.observers import FileStorageObserver, MongoObserver, SqlObserver
from gnomon.observers.sql.schema import runs
from gnomon.spool import Spool
from gnomon.testing import RecordingObserver
from mongo_server import db, db_name, mongo_server  # noqa: F401 - fixtures, injected by name


def start(uid: str, run_id: str | None, suggested: bool = False) -> StartedEvent:
    return started(
        run_id, time=utcnow(), experiment={"name": "e"}, host={"hostname": "h"}, config={"a": 1},
        meta={"run_uid": uid}, run_uid=uid, id_suggested=suggested,
    )


@pytest.mark.parametrize("kind", ["file", "sqlite", "mongo"])
def test_a_suggested_id_taken_in_a_store_is_replaced_and_found_again_on_replay(
    tmp_path: Path, kind: str, request: pytest.FixtureRequest
) -> None:
    """Each store answers a start delivered again with the id it gave the first time."""
    if kind == "file":
        observer: Any = FileStorageObserver(tmp_path / "runs")
    elif kind == "sqlite":
        observer = SqlObserver(f"sqlite:///{tmp_path / 'r.db'}")
    else:
        observer = MongoObserver(request.getfixturevalue("mongo_server").url(request.getfixturevalue("db_name")))
    assert observer.on_started(start("a" * 32, None)) == "1"
    event = start("b" * 32, "1", suggested=True)
    assert observer.on_started(event) == "2"
    assert observer.on_started(event) == "2"  # delivered again: the same run
    assert observer.on_started(dataclasses.replace(event, run_id="2")) == "2"  # a spool replay
    with pytest.raises(Exception, match="already holds another run"):  # a user's id is never replaced
        observer.on_started(start("c" * 32, "1"))
    observer.close()


def test_every_store_records_the_run_when_their_numbers_disagree(
    tmp_path: Path, mongo_server: Any, db: Any, db_name: str, spool_dir: Path
) -> None:
    """A new database numbers from 1; the folder and the Mongo database hold run 1 already."""
    def experiment(*observers: Any) -> Experiment:
        ex = Experiment("ids", save_git_info=False)
        ex.main(lambda: print("hi"))
        ex.observers.extend(observers)
        return ex

    folder, mongo_url = tmp_path / "runs", mongo_server.url(db_name)
    first = experiment(FileStorageObserver(folder), MongoObserver(mongo_url)).run()
    assert first._id == 1  # MongoObserver (priority 30) gave it: an int, as in Sacred
    recorder = RecordingObserver()
    database = f"sqlite:///{tmp_path / 'new.db'}"
    started = time.monotonic()
    second = experiment(SqlObserver(database), MongoObserver(mongo_url), FileStorageObserver(folder), recorder).run()
    assert time.monotonic() - started < 5
    assert second._id == "1" and second.status == "COMPLETED"
    [event] = recorder.of_kind("started")
    assert event.run_id == "1" and event.id_suggested and event.run_uid == second.run_uid  # type: ignore[attr-defined]
    engine = sa.create_engine(database)
    with engine.connect() as conn:
        [row] = conn.execute(sa.select(runs.c.run_id, runs.c.status, runs.c.meta)).all()
    engine.dispose()
    assert (row.run_id, row.status, row.meta["run_uid"]) == ("1", "COMPLETED", second.run_uid)
    doc = db.runs.find_one({"meta.run_uid": second.run_uid})
    assert (doc["_id"], doc["status"]) == (2, "COMPLETED")
    entry = json.loads((folder / "2" / "run.json").read_text())
    assert (entry["status"], entry["meta"]["run_uid"]) == ("COMPLETED", second.run_uid)
    assert json.loads((folder / "1" / "run.json").read_text())["meta"]["run_uid"] == first.run_uid
    assert Spool(spool_dir).pending() == []
