"""Sacred's observer interface on the built-in observers, Sacred-style classes, and typed run ids.

Scripts written for Sacred subclass the built-in observers and override one
method, calling ``super()``; they compare observers with ``==``; they use
``_run._id`` to look the run up in MongoDB; and they attach classes that have only
some of Sacred's methods.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from gnomon.observers import FileStorageObserver, MongoObserver, SqlObserver
from gnomon.run import Run
from mongo_server import db, db_name, mongo_server  # noqa: F401 - fixtures, injected by name


def make_run(observers: list[Any], main: Any, config: dict[str, Any] | None = None) -> Run:
    run = Run(
        config=config if config is not None else {"seed": 1},
        main_function=main,
        observers=observers,
        experiment_info={"name": "exp"},
        host_info={"hostname": "box"},
    )
    run.beat_interval = 0.05
    run.capture_mode = "sys"
    return run


def read(path: Path) -> Any:
    return json.loads(path.read_text())


# ---------------------------------------------------------------- overriding one method
class TaggingStorage(FileStorageObserver):
    """Sacred's idiom: change what is stored, let super() store it, return its id."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ids: list[Any] = []

    def started_event(self, ex_info, command, host_info, start_time, config, meta_info, _id):  # type: ignore[no-untyped-def]
        meta_info = {**meta_info, "tag": "baseline"}
        config = {**config, "added": True}
        run_id = super().started_event(ex_info, command, host_info, start_time, config, meta_info, _id)
        self.ids.append((_id, run_id, isinstance(start_time, datetime) and start_time.tzinfo is None))
        return run_id


def test_an_overridden_started_event_is_called_and_its_super_call_stores_what_it_passes(tmp_path: Path) -> None:
    observer = TaggingStorage(tmp_path)
    run = make_run([observer], lambda: 3)
    assert run() == 3
    assert observer.ids == [(None, "1", True)]  # Sacred's arguments; the id file storage gives, a str
    assert run._id == "1"
    stored = read(tmp_path / "1" / "run.json")
    assert stored["meta"]["tag"] == "baseline" and stored["status"] == "COMPLETED" and stored["result"] == 3
    assert read(tmp_path / "1" / "config.json") == {"seed": 1, "added": True}


class Watching(FileStorageObserver):
    """Overrides every later method, recording the arguments Sacred would pass."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def heartbeat_event(self, info, captured_out, beat_time, result):  # type: ignore[no-untyped-def]
        self.calls.append(("heartbeat_event", {"info": dict(info), "captured_out": captured_out}))
        super().heartbeat_event(info, captured_out, beat_time, result)

    def log_metrics(self, metrics_by_name, info):  # type: ignore[no-untyped-def]
        self.calls.append(("log_metrics", {"metrics_by_name": metrics_by_name}))
        super().log_metrics(metrics_by_name, info)

    def completed_event(self, stop_time, result):  # type: ignore[no-untyped-def]
        self.calls.append(("completed_event", {"stop_time": stop_time, "result": result}))
        super().completed_event(stop_time, {"wrapped": result})

    def artifact_event(self, name, filename, metadata=None, content_type=None):  # type: ignore[no-untyped-def]
        self.calls.append(("artifact_event", {"name": name}))  # no super(): not stored, as in Sacred

    def resource_event(self, filename):  # type: ignore[no-untyped-def]
        self.calls.append(("resource_event", {"filename": filename}))
        super().resource_event(filename)

    def join(self) -> None:
        self.calls.append(("join", {}))
        super().join()


def test_every_overridden_method_gets_sacreds_arguments_and_super_stores(tmp_path: Path) -> None:
    observer = Watching(tmp_path / "runs")
    data = tmp_path / "data.txt"
    data.write_text("input")

    def main() -> int:
        print("first line")
        run.info["epoch"] = 1
        run.log_scalar("loss", 0.5)
        run.log_scalar("loss", 0.25)
        run.add_resource(str(data))
        run.add_artifact(str(data), "copy.txt")
        print("second line")
        return 7

    run = make_run([observer], main)
    assert run() == 7
    names = [name for name, _ in observer.calls]
    assert names[-1] == "join" and "completed_event" in names and "artifact_event" in names
    beats = [args for name, args in observer.calls if name == "heartbeat_event"]
    assert beats[-1]["captured_out"] == "first line\nsecond line\n"  # the whole output, as Sacred passed it
    assert beats[-1]["info"] == {"epoch": 1}
    metrics = [args["metrics_by_name"] for name, args in observer.calls if name == "log_metrics"]
    loss = {"steps": [], "values": []}
    for batch in metrics:
        loss["steps"] += batch["loss"]["steps"]
        loss["values"] += batch["loss"]["values"]
        assert all(isinstance(t, datetime) for t in batch["loss"]["timestamps"])
    assert loss == {"steps": [0, 1], "values": [0.5, 0.25]}
    [completed] = [args for name, args in observer.calls if name == "completed_event"]
    assert completed["result"] == 7 and completed["stop_time"].tzinfo is None
    folder = tmp_path / "runs" / "1"
    stored = read(folder / "run.json")
    assert stored["status"] == "COMPLETED" and stored["result"] == {"wrapped": 7}
    assert stored["artifacts"] == [] and not (folder / "copy.txt").exists()
    assert [pair[0] for pair in stored["resources"]] == [str(data)]
    assert read(folder / "metrics.json")["loss"]["values"] == [0.5, 0.25]
    assert read(folder / "info.json") == {"epoch": 1}
    assert (folder / "cout.txt").read_text() == "first line\nsecond line\n"


class ForgetfulStart(FileStorageObserver):
    def started_event(self, ex_info, command, host_info, start_time, config, meta_info, _id):  # type: ignore[no-untyped-def]
        super().started_event(ex_info, command, host_info, start_time, config, meta_info, _id)  # no return


def test_a_start_override_that_forgets_to_return_still_gives_the_run_its_stored_id(tmp_path: Path) -> None:
    run = make_run([ForgetfulStart(tmp_path)], lambda: print("out") or 1)
    assert run() == 1
    assert run._id == "1"
    assert read(tmp_path / "1" / "run.json")["status"] == "COMPLETED"
    assert (tmp_path / "1" / "cout.txt").read_text() == "out\n"


class FailureNote(SqlObserver):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.traces: list[list[str]] = []

    def failed_event(self, fail_time, fail_trace):  # type: ignore[no-untyped-def]
        self.traces.append(fail_trace)
        super().failed_event(fail_time, fail_trace)


def test_a_sql_subclass_override_of_failed_event_is_called_and_the_failure_stored(tmp_path: Path) -> None:
    observer = FailureNote(f"sqlite:///{tmp_path / 'runs.db'}")

    def main() -> None:
        raise RuntimeError("boom")

    run = make_run([observer], main)
    with pytest.raises(RuntimeError):
        run()
    assert len(observer.traces) == 1 and "RuntimeError: boom" in "".join(observer.traces[0])
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'runs.db'}")
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT status FROM runs")).scalar_one() == "FAILED"
    engine.dispose()
    observer.close()


def test_sacreds_methods_called_directly_store_a_run(tmp_path: Path) -> None:
    """Sacred's own tests drive observers by calling the methods themselves."""
    observer = FileStorageObserver(tmp_path)
    start = datetime(2024, 1, 2, 3, 4, 5)
    run_id = observer.started_event(
        ex_info={"name": "direct", "sources": []}, command="main", host_info={"hostname": "h"},
        start_time=start, config={"a": 1}, meta_info={}, _id=None,
    )
    assert run_id == "1"
    observer.log_metrics({"acc": {"steps": [0], "values": [0.9], "timestamps": [start]}}, {})
    observer.heartbeat_event(info={"k": 1}, captured_out="abc", beat_time=start, result=None)
    observer.heartbeat_event(info={"k": 2}, captured_out="abcdef", beat_time=start, result=None)
    observer.completed_event(stop_time=start, result=5)
    stored = read(tmp_path / "1" / "run.json")
    assert stored["status"] == "COMPLETED" and stored["result"] == 5
    assert stored["start_time"].startswith("2024-01-02T03:04:05")
    assert (tmp_path / "1" / "cout.txt").read_text() == "abcdef"
    assert read(tmp_path / "1" / "info.json") == {"k": 2}
    assert read(tmp_path / "1" / "metrics.json")["acc"]["values"] == [0.9]


def test_a_direct_call_before_started_event_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(Exception, match=r"call started_event\(\) first"):
        FileStorageObserver(tmp_path).completed_event(stop_time=datetime(2024, 1, 1), result=None)


# ---------------------------------------------------------------- equality
def test_observers_compare_equal_as_sacreds_do(tmp_path: Path) -> None:
    assert FileStorageObserver(tmp_path) == FileStorageObserver(str(tmp_path))
    assert FileStorageObserver(tmp_path) != FileStorageObserver(tmp_path / "other")
    assert len({FileStorageObserver(tmp_path), FileStorageObserver(tmp_path)}) == 1
    url = f"sqlite:///{tmp_path / 'a.db'}"
    assert SqlObserver(url) == SqlObserver(url) and SqlObserver(url) != SqlObserver(f"sqlite:///{tmp_path / 'b.db'}")
    mongo = MongoObserver("mongodb://localhost:27017/one")
    assert mongo == MongoObserver("mongodb://localhost:27017", db_name="one")
    assert mongo != MongoObserver("mongodb://localhost:27017/two")
    assert mongo != MongoObserver("mongodb://otherhost:27017/one")
    assert FileStorageObserver(tmp_path) != SqlObserver(url)


# ---------------------------------------------------------------- Sacred-style classes
class OnlyStartAndEnd:
    """A Sacred-style observer with two of Sacred's methods and no base class."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def started_event(self, ex_info, command, host_info, start_time, config, meta_info, _id):  # type: ignore[no-untyped-def]
        self.calls.append("started")
        return None

    def completed_event(self, stop_time, result):  # type: ignore[no-untyped-def]
        self.calls.append(f"completed {result}")


def test_a_class_with_only_some_of_sacreds_methods_gets_those_calls_and_nothing_spools(
    tmp_path: Path, spool_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    observer = OnlyStartAndEnd()
    source = tmp_path / "f.txt"
    source.write_text("x")

    def main() -> int:
        print("output")
        run.log_scalar("loss", 1.0)
        run.info["a"] = 1
        run.add_artifact(str(source))
        run.add_resource(str(source))
        return 4

    run = make_run([observer], main)
    assert run() == 4
    assert observer.calls == ["started", "completed 4"]
    assert not [r for r in caplog.records if r.levelname in ("WARNING", "ERROR")]
    assert run._dispatcher.spilled == 0 and not run._dispatcher.any_spilled


class OnlyCompleted:
    def completed_event(self, stop_time, result):  # type: ignore[no-untyped-def]
        self.result = result


def test_a_class_without_started_event_is_still_an_observer(tmp_path: Path) -> None:
    observer = OnlyCompleted()
    assert make_run([observer], lambda: 9)() == 9
    assert observer.result == 9


# ---------------------------------------------------------------- typed ids
class RecordsId:
    priority = -1

    def started_event(self, ex_info, command, host_info, start_time, config, meta_info, _id):  # type: ignore[no-untyped-def]
        self.given = _id


class MongoWatching(MongoObserver):
    def started_event(self, ex_info, command, host_info, start_time, config, meta_info, _id):  # type: ignore[no-untyped-def]
        self.returned = super().started_event(ex_info, command, host_info, start_time, config, meta_info, _id)
        return self.returned


def test_run_id_of_a_mongo_run_is_the_int_it_is_stored_under(mongo_server, db, db_name, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    observer = MongoWatching(mongo_server.url(db_name))
    later = RecordsId()
    found: dict[str, Any] = {}

    def main() -> None:
        found["id"] = run._id
        found["doc"] = db.runs.find_one({"_id": run._id}, {"status": 1})

    run = make_run([observer, FileStorageObserver(tmp_path), later], main)
    run()
    assert found["id"] == 1 and isinstance(found["id"], int)
    assert found["doc"] == {"_id": 1, "status": "RUNNING"}
    assert observer.returned == 1 and isinstance(observer.returned, int)  # Sacred's MongoObserver returned ints
    assert later.given == 1 and isinstance(later.given, int)  # later observers get the id as typed
    assert (tmp_path / "1" / "run.json").exists()  # file storage stores the same id, by name
    assert db.runs.find_one({"_id": 1})["status"] == "COMPLETED"


def test_a_given_id_is_typed_as_mongo_stores_it(mongo_server, db, db_name) -> None:  # type: ignore[no-untyped-def]
    run = make_run([MongoObserver(mongo_server.url(db_name))], lambda: None)
    run._id = "12"
    run()
    assert run._id == 12 and db.runs.find_one({"_id": run._id})["status"] == "COMPLETED"


class QueueNote(FileStorageObserver):
    def queued_event(self, ex_info, command, host_info, queue_time, config, meta_info, _id):  # type: ignore[no-untyped-def]
        return super().queued_event(ex_info, command, host_info, queue_time, {**config, "queued": 1}, meta_info, _id)


def test_an_overridden_queued_event_stores_the_queued_run(tmp_path: Path) -> None:
    run = make_run([QueueNote(tmp_path)], lambda: None)
    run.queue_only = True
    run()
    assert run._id == "1" and read(tmp_path / "1" / "run.json")["status"] == "QUEUED"
    assert read(tmp_path / "1" / "config.json") == {"seed": 1, "queued": 1}


def test_sacreds_started_event_returns_the_id_as_sacreds_observers_did(mongo_server, db, db_name, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    arguments = {
        "ex_info": {"name": "direct", "sources": []}, "command": "main", "host_info": {"hostname": "h"},
        "start_time": datetime(2024, 1, 1), "config": {}, "meta_info": {}, "_id": None,
    }
    mongo = MongoObserver(mongo_server.url(db_name))
    assert mongo.started_event(**arguments) == 1  # an int, as Sacred's MongoObserver returned
    mongo.completed_event(stop_time=datetime(2024, 1, 1, 0, 1), result=None)
    assert db.runs.find_one({"_id": 1})["status"] == "COMPLETED"
    mongo.close()
    sql = SqlObserver(f"sqlite:///{tmp_path / 'r.db'}")
    assert sql.started_event(**arguments) == "1"  # a string, as Sacred's SqlObserver returned
    sql.close()
