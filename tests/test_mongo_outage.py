"""Outages: the run is never harmed, events are spooled, and ``gnomon sync`` makes the database whole."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from typing import Any

import pytest

# mongo_server first: it skips this module where pymongo or SecantusDB is missing.
from mongo_server import MongoServer, db, db_name, mongo_server  # noqa: F401 - fixtures, injected by name

# isort: split

import pymongo
from bson import ObjectId

from gnomon.errors import ObserverError
from gnomon.observers import MongoObserver
from gnomon.run import Run
from gnomon.settings import SETTINGS
from gnomon.spool import Spool
from gnomon.sync import sync
from gnomon.testing import RecordingObserver

FAST = {"serverSelectionTimeoutMS": 300, "connectTimeoutMS": 300}


def snapshot(database: Any) -> dict[str, Any]:
    """Everything stored, with ObjectIds numbered in order of appearance and upload dates left out."""
    ids: dict[str, str] = {}

    def norm(value: Any) -> Any:
        if isinstance(value, ObjectId) or (isinstance(value, str) and ObjectId.is_valid(value) and len(value) == 24):
            return ids.setdefault(str(value), f"oid{len(ids)}")
        if isinstance(value, dict):
            return {k: norm(v) for k, v in value.items()}
        if isinstance(value, list):
            return [norm(v) for v in value]
        return value

    runs = [norm(d) for d in database.runs.find().sort("_id", 1)]
    metrics = [norm({k: v for k, v in d.items() if k != "_id"}) for d in database.metrics.find().sort([("name", 1), ("part", 1)])]
    files = sorted(
        (
            d["filename"], d["length"], d.get("sha256"), repr(d.get("metadata")), d.get("contentType"),
            b"".join(bytes(c["data"]) for c in database["fs.chunks"].find({"files_id": d["_id"]}).sort("n", 1)),
        )
        for d in database["fs.files"].find()
    )
    return {"runs": runs, "metrics": metrics, "files": files}


def replay(events: list[Any], observer: MongoObserver) -> None:
    """Deliver recorded events to an observer the way the dispatcher does (ids rewritten)."""
    own_id = None
    for event in events:
        if event.kind in ("started", "queued"):
            own_id = observer.handle(dataclasses.replace(event, run_id=None))
        else:
            observer.handle(dataclasses.replace(event, run_id=own_id))
    observer.flush()


def from_url(url: str | None, key: str) -> MongoObserver:
    """What the registry does once the ``mongodb`` entry point is installed."""
    assert url is not None
    return MongoObserver.from_url(url)


def make_run(observers: list[Any], main: Any) -> Run:
    run = Run(config={"lr": 0.5}, main_function=main, observers=observers, host_info={"hostname": "box"})
    run.beat_interval = 0.05
    run.capture_mode = "sys"
    return run


def join_workers(run: Run) -> None:
    """Wait until the run's delivery threads have given up their last attempt."""
    for worker in run._dispatcher.workers:
        worker.thread.join(10)


def test_unreachable_at_start_the_run_goes_on_and_sync_stores_it(
    tmp_path, mongo_server, db, db_name, caplog
) -> None:
    SETTINGS.START_TIMEOUT = 0.5
    SETTINGS.DRAIN_TIMEOUT = 0.5
    server = MongoServer(tmp_path / "data").start()
    url = server.url("outage")
    server.stop()  # the database is down before the run starts
    artifact = tmp_path / "model.bin"
    artifact.write_bytes(b"weights")
    recorder = RecordingObserver(priority=0)

    def main() -> str:
        print("working")
        for i in range(10):
            run.log_scalar("loss", 1 / (i + 1))
        run.add_artifact(artifact)
        run.info["best"] = 0.1
        return "done"

    run = make_run([MongoObserver(url, **FAST), recorder], main)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING):
        assert run() == "done"
    assert run.status == "COMPLETED" and time.monotonic() - started < 5
    mongo_warnings = [
        r for r in caplog.records if "MongoObserver" in r.getMessage() and r.levelno >= logging.WARNING
    ]
    assert len(mongo_warnings) == 2  # one when it happens, one for the spool at the end: not one per retry
    assert "could not record the start of the run" in mongo_warnings[0].getMessage()
    assert "kept in" in mongo_warnings[1].getMessage()
    assert all("password" not in r.getMessage() for r in mongo_warnings)
    join_workers(run)
    assert Spool().pending()

    # what the database would have held with no outage
    replay(recorder.events, MongoObserver(mongo_server.url(db_name)))
    server.start()
    try:
        report = sync(observer_url=server.url("outage"), observer_factory=from_url)
        assert report.failed == 0 and report.delivered > 0, report.messages
        client = pymongo.MongoClient(server.uri)
        try:
            stored = snapshot(client.outage)
            assert stored == snapshot(db)
            assert stored["runs"][0]["status"] == "COMPLETED"
            again = sync(observer_factory=from_url)
            assert again.delivered == 0 and snapshot(client.outage) == stored
            replay(recorder.events, MongoObserver(server.url("outage")))  # a sync interrupted and redone
            assert snapshot(client.outage) == stored
        finally:
            client.close()
    finally:
        server.stop()


def test_server_lost_mid_run_and_back_for_sync(tmp_path, mongo_server, db, db_name) -> None:
    SETTINGS.DRAIN_TIMEOUT = 0.5
    server = MongoServer(tmp_path / "data").start()
    first_beat_stored = threading.Event()
    server_down = threading.Event()
    recorder = RecordingObserver(priority=0)

    def main() -> None:
        print("before the outage")
        run.log_scalar("acc", 0.1)
        first_beat_stored.wait(10)
        server.stop()
        server_down.set()
        t0 = time.monotonic()
        for i in range(1000):
            run.log_scalar("acc", i)
            if i % 100 == 0:
                print(f"during the outage {i}")
        run.info["after"] = [1, 2]
        assert time.monotonic() - t0 < 1  # the run is not slowed by the outage

    observer = MongoObserver(server.url("midrun"), **FAST)
    run = make_run([observer, recorder], main)
    watcher = pymongo.MongoClient(server.uri, serverSelectionTimeoutMS=2000)

    def watch() -> None:
        while not first_beat_stored.is_set():
            doc = watcher.midrun.runs.find_one({"_id": 1}, {"captured_out": 1})
            if doc and doc.get("captured_out"):
                first_beat_stored.set()
            time.sleep(0.01)

    thread = threading.Thread(target=watch)
    thread.start()
    run()
    thread.join()
    watcher.close()
    assert run.status == "COMPLETED" and server_down.is_set()
    join_workers(run)
    assert Spool().pending()

    replay(recorder.events, MongoObserver(mongo_server.url(db_name)))
    server.start()  # same storage path; same port when it is free, else the sync gets the new URL
    try:
        report = sync(observer_url=server.url("midrun"), observer_factory=from_url)
        assert report.failed == 0, report.messages
        client = pymongo.MongoClient(server.uri)
        try:
            stored = snapshot(client.midrun)
            assert stored == snapshot(db)
            assert stored["runs"][0]["status"] == "COMPLETED"
            replay(recorder.events, MongoObserver(server.url("midrun")))  # everything again
            assert snapshot(client.midrun) == stored
        finally:
            client.close()
    finally:
        server.stop()


def test_strict_observer_refuses_an_unreachable_server(tmp_path) -> None:
    server = MongoServer(tmp_path / "data").start()
    url = server.url("x")
    server.stop()
    with pytest.raises(ObserverError, match="does not answer"):
        MongoObserver(url, strict=True, **FAST)


def test_collecting_an_observer_whose_server_is_gone_does_not_stall_the_collecting_thread(tmp_path) -> None:
    import gc

    server = MongoServer(tmp_path / "data").start()
    observer = MongoObserver(server.url("gone"))  # the default server-selection timeout: 10 s
    observer._check_server()  # the client exists and has a session to end
    server.stop()
    cycle = {"observer": observer}
    cycle["self"] = cycle  # collected by the cycle collector, in whatever thread runs it
    finalizer = observer._finalizer
    del observer, cycle
    started = time.monotonic()
    gc.collect()
    assert not finalizer.alive
    assert time.monotonic() - started < 2
