"""MongoObserver against a real server: Sacred's schema, ids, files, escaping, targeted updates."""

from __future__ import annotations

import math
import threading
from datetime import UTC, datetime
from typing import Any

import pytest

# mongo_server first: it skips this module where pymongo or SecantusDB is missing.
from mongo_server import db, db_name, mongo_server  # noqa: F401 - fixtures, injected by name

# isort: split

from hypothesis import given
from hypothesis import strategies as st
from pymongo import monitoring

from event_builders import started
from gnomon.errors import ObserverError
from gnomon.observers import MongoObserver, QueuedMongoObserver
from gnomon.observers.mongo.documents import escape_key, unescape_key
from gnomon.observers.mongo.reader import MongoReader
from gnomon.run import Run

RUN_KEYS = {
    "_id", "format", "experiment", "command", "host", "config", "meta", "status", "start_time",
    "heartbeat", "stop_time", "result", "info", "captured_out", "artifacts", "resources", "gnomon",
}


def make_run(observers: list[Any], main: Any, config: dict[str, Any] | None = None, **experiment: Any) -> Run:
    run = Run(
        config=config if config is not None else {"seed": 1},
        main_function=main,
        observers=observers,
        experiment_info={"name": "exp", **experiment},
        host_info={"hostname": "box"},
    )
    run.beat_interval = 0.05
    run.capture_mode = "sys"
    return run


def test_started_and_completed_run_has_sacreds_schema(mongo_server, db, db_name) -> None:
    observer = MongoObserver(mongo_server.url(db_name))

    def main() -> int:
        print("hello")
        run.log_scalar("loss", 0.5)
        run.log_scalar("loss", float("nan"))
        run.info["epochs"] = 2
        return 42

    run = make_run([observer], main, config={"lr": 0.1, "nested": {"a": [1, 2]}, "bad": float("nan")})
    assert run() == 42
    doc = db.runs.find_one({"_id": 1})
    assert set(doc) == RUN_KEYS
    assert doc["format"] == "MongoObserver-0.7.0" and doc["command"] == "main"
    assert doc["status"] == "COMPLETED" and doc["result"] == 42
    assert isinstance(doc["start_time"], datetime) and isinstance(doc["stop_time"], datetime)
    assert isinstance(doc["heartbeat"], datetime) and doc["start_time"] <= doc["stop_time"]
    assert doc["config"]["lr"] == 0.1 and doc["config"]["nested"] == {"a": [1, 2]}
    assert math.isnan(doc["config"]["bad"])  # native BSON NaN, not a tagged object
    assert doc["experiment"]["name"] == "exp" and doc["host"]["hostname"] == "box"
    assert doc["captured_out"] == "hello\n"
    assert doc["info"]["epochs"] == 2
    [entry] = doc["info"]["metrics"]
    assert entry["name"] == "loss" and isinstance(entry["id"], str)
    metric = db.metrics.find_one()
    assert str(metric["_id"]) == entry["id"] and metric["run_id"] == 1 and metric["name"] == "loss"
    assert metric["steps"] == [0, 1] and metric["values"][0] == 0.5 and math.isnan(metric["values"][1])
    assert all(isinstance(t, datetime) for t in metric["timestamps"])
    assert run._id == 1  # the int _id it is stored under


def test_failed_and_interrupted_runs(mongo_server, db, db_name) -> None:
    observer = MongoObserver(mongo_server.url(db_name))

    def fails() -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        make_run([observer], fails)()

    def interrupted() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        make_run([observer], interrupted)()
    failed, stopped = db.runs.find_one({"_id": 1}), db.runs.find_one({"_id": 2})
    assert failed["status"] == "FAILED" and "ValueError: boom" in "".join(failed["fail_trace"])
    assert stopped["status"] == "INTERRUPTED" and stopped["stop_time"] is not None


def test_ten_concurrent_runs_get_distinct_ids_beside_non_integer_ids(mongo_server, db, db_name) -> None:
    db.runs.insert_many([{"_id": "custom"}, {"_id": 7}, {"_id": 3.5}])
    ids: list[str] = []
    barrier = threading.Barrier(10)

    def start_one() -> None:
        observer = MongoObserver(mongo_server.url(db_name))  # one process each, in effect
        barrier.wait()
        run = make_run([observer], lambda: None)
        run()
        ids.append(run._id)

    threads = [threading.Thread(target=start_one) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(int(i) for i in ids) == list(range(8, 18))
    assert db.runs.count_documents({"status": "COMPLETED"}) == 10


def test_id_taken_by_another_writer_is_skipped(mongo_server, db, db_name) -> None:
    observer = MongoObserver(mongo_server.url(db_name))
    first = make_run([observer], lambda: None)
    first()
    db.runs.insert_one({"_id": 2, "status": "COMPLETED"})  # e.g. Sacred's own observer
    second = make_run([observer], lambda: None)
    second()
    assert (first._id, second._id) == (1, 3)


def test_sources_and_resources_are_stored_once_per_content(mongo_server, db, db_name, tmp_path) -> None:
    source = tmp_path / "exp.py"
    source.write_text("print('exp')\n")
    data = tmp_path / "data.csv"
    data.write_text("a,b\n1,2\n")

    def main() -> None:
        run.add_resource(data)

    for _ in range(2):
        run = make_run(
            [MongoObserver(mongo_server.url(db_name))], main,
            base_dir=str(tmp_path), sources=[["exp.py", None]],
        )
        run()
    docs = list(db.runs.find().sort("_id", 1))
    assert docs[0]["experiment"]["sources"] == docs[1]["experiment"]["sources"]
    [[name, file_id]] = docs[0]["experiment"]["sources"]
    assert name == "exp.py" and db["fs.files"].count_documents({"metadata.kind": "source"}) == 1
    assert db["fs.files"].find_one({"_id": file_id})["filename"] == str(source)
    assert docs[0]["resources"] == docs[1]["resources"]
    [[path, resource_id]] = docs[0]["resources"]
    assert path == str(data) and db["fs.files"].count_documents({"metadata.kind": "resource"}) == 1
    import gridfs

    assert gridfs.GridFS(db).get(resource_id).read() == b"a,b\n1,2\n"


def test_artifacts_have_metadata_and_content_type(mongo_server, db, db_name, tmp_path) -> None:
    plot = tmp_path / "plot.png"
    plot.write_bytes(b"\x89PNG fake")

    def main() -> None:
        run.add_artifact(plot, metadata={"epoch": 3})
        plot.unlink()  # the snapshot is the observer's

    run = make_run([MongoObserver(mongo_server.url(db_name))], main)
    run()
    [artifact] = db.runs.find_one()["artifacts"]
    assert artifact["name"] == "plot.png"
    stored = db["fs.files"].find_one({"_id": artifact["file_id"]})
    assert stored["filename"] == "artifact://runs/1/plot.png"
    assert stored["contentType"] == "image/png"
    assert stored["metadata"] == {"epoch": 3, "content-type": "image/png"}
    assert MongoReader(db).artifact(1, "plot.png") == b"\x89PNG fake"


@given(st.text(max_size=12))
def test_key_escaping_round_trips(key: str) -> None:
    escaped = escape_key(key)
    assert unescape_key(escaped) == key
    assert "." not in escaped and not escaped.startswith("$")


def test_escaped_keys_round_trip_through_the_database(mongo_server, db, db_name) -> None:
    weird = {"a.b": 1, "$where": 2, "50%": 3, "x%2Ey": 4, "ok": {"c.d": {"$e": [1, {"f.g": 5}]}}}

    def main() -> dict[str, Any]:
        run.info.update(weird)
        return {"r.s": 1}

    run = make_run([MongoObserver(mongo_server.url(db_name))], main, config={"cfg": {"k.v": 1}})
    run()
    doc = db.runs.find_one()
    assert "a%2Eb" in doc["info"] and "%24where" in doc["info"] and "50%" in doc["info"]
    back = MongoReader(db).run(1)
    assert back["info"] == weird
    assert back["result"] == {"r.s": 1}
    assert back["config"]["cfg"] == {"k.v": 1}


class _Recorder(monitoring.CommandListener):
    def __init__(self) -> None:
        self.commands: list[dict[str, Any]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.commands.append(dict(event.command))

    def succeeded(self, event: Any) -> None:
        pass

    def failed(self, event: Any) -> None:
        pass


def test_updates_are_targeted_and_keep_fields_others_wrote(mongo_server, db, db_name) -> None:
    recorder = _Recorder()
    observer = MongoObserver(mongo_server.url(db_name), event_listeners=[recorder])
    started = threading.Event()
    tagged = threading.Event()

    def main() -> None:
        started.set()
        tagged.wait(10)
        for i in range(5):
            run.info["step"] = i
            print(i)
            run.log_scalar("x", i)
            import time

            time.sleep(0.06)  # let several heartbeats go out

    run = make_run([observer], main)
    thread = threading.Thread(target=run)
    thread.start()
    started.wait(10)
    db.runs.update_one({"_id": 1}, {"$set": {"omniboard.tags": ["keep"], "omniboard.notes": "mine"}})
    tagged.set()
    thread.join()
    doc = db.runs.find_one()
    assert doc["omniboard"] == {"tags": ["keep"], "notes": "mine"} and doc["status"] == "COMPLETED"
    updates = [u for c in recorder.commands if c.get("update") == "runs" for u in c["updates"]]
    assert len(updates) > 3
    for update in updates:
        spec = update["u"]
        assert all(key.startswith("$") for key in spec), spec  # operators only: no replacement
        assert "info" not in spec.get("$set", {}) and "config" not in spec.get("$set", {})
    assert any("info.step" in u["u"].get("$set", {}) for u in updates)
    assert not [c for c in recorder.commands if c.get("update") == "runs" and c.get("updates", [{}])[0].get("upsert")]


def test_queued_run_and_queued_mongo_observer_name(mongo_server, db, db_name) -> None:
    observer = QueuedMongoObserver(url=mongo_server.url(db_name), interval=1.0)
    run = make_run([observer], lambda: None)
    run.queue_only = True
    run()
    doc = db.runs.find_one()
    assert doc["status"] == "QUEUED" and doc["_id"] == 1 and isinstance(doc["meta"]["queue_time"], datetime)
    assert "start_time" not in doc


def test_given_id_that_holds_another_run_is_refused(mongo_server, db, db_name) -> None:

    db.runs.insert_one({"_id": 5, "status": "COMPLETED"})
    observer = MongoObserver(mongo_server.url(db_name))
    event = started("5", time=datetime.now(UTC), experiment={}, host={}, meta={})
    with pytest.raises(ObserverError, match="already holds another run with _id 5"):
        observer.on_started(event)


def test_a_replayed_start_is_found_by_its_run_uid_and_twin_starts_stay_two_runs(mongo_server, db, db_name) -> None:

    from gnomon.events import StartedEvent

    observer = MongoObserver(mongo_server.url(db_name))
    at = datetime.now(UTC)

    def start(uid: str) -> StartedEvent:  # same time, command and host: only the run_uid tells them apart
        return started(time=at, experiment={}, meta={"run_uid": uid}, run_uid=uid)

    first = observer.on_started(start("a" * 32))
    assert observer.on_started(start("a" * 32)) == first  # the replay: the same document
    second = observer.on_started(start("b" * 32))
    assert second != first and db.runs.count_documents({}) == 2


def test_collection_prefix_and_priority_from_the_url(mongo_server, db, db_name) -> None:
    observer = MongoObserver.from_url(mongo_server.url(db_name, collection_prefix="exp", priority=5))
    assert observer.priority == 5 and observer.runs_name == "exp_runs"
    run = make_run([observer], lambda: run.log_scalar("a", 1))
    run()
    assert db.exp_runs.count_documents({}) == 1 and db.exp_metrics.count_documents({}) == 1
    assert MongoObserver.from_url(observer.to_url()).to_url() == observer.to_url()
