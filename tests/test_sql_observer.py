"""SqlObserver on SQLite, PostgreSQL and MariaDB: a run is stored whole, replays store nothing twice."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("sqlalchemy", reason="the SQL observer needs gnomon[sql]")

from event_builders import T0, artifact, at, completed, heartbeat, metrics, output, queued, resource, series, started
from gnomon.errors import ObserverError
from gnomon.events import (
    StartedEvent,
)
from gnomon.observers.sql import SqlObserver, SqlReader
from gnomon.observers.sql.testing import BACKENDS, DatabaseUnavailable, fresh_database
from gnomon.provenance import get_digest
from gnomon.run import Run
from gnomon.serialize import decode


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest) -> Any:
    """A fresh, empty database on each backend (skipped when its server is unreachable)."""
    try:
        database = fresh_database(request.param)
        url = database.__enter__()
    except DatabaseUnavailable as error:
        pytest.skip(str(error))
    try:
        yield url
    finally:
        database.__exit__(None, None, None)


@pytest.fixture
def store(db_url: str) -> Any:
    observer = SqlObserver(db_url)
    reader = SqlReader(db_url)
    yield observer, reader
    observer.close()
    reader.close()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "pkg").mkdir(parents=True)
    (root / "exp.py").write_text("print('hello')\n")
    (root / "pkg" / "helpers.py").write_text("X = 1\n")
    return root


def experiment_info(project: Path) -> dict[str, Any]:
    return {
        "name": "exp",
        "base_dir": str(project),
        "sources": [
            ["exp.py", get_digest(project / "exp.py")],
            ["pkg/helpers.py", get_digest(project / "pkg" / "helpers.py")],
        ],
        "dependencies": ["numpy==1.26.0", "gnomon==0.1.0"],
        "repositories": [
            {"url": "https://alice:s3cret@git.example.com/lab/exp.git", "commit": "a" * 40, "dirty": True}
        ],
        "mainfile": "exp.py",
    }


def run_fields(project: Path, command: str = "main") -> dict[str, Any]:
    """What the start (or queueing) of a run of the project's experiment carries."""
    return {
        "experiment": experiment_info(project),
        "command": command,
        "host": {"hostname": "box", "os": ["Linux", "Linux-6"], "python_version": "3.11.7"},
        "config": {"lr": 0.1, "layers": [1, 2], "nested": {"b": 2, "a": 1}},
        "meta": {"command": command, "comment": "first try", "priority": 3, "options": {"--x": None}},
    }


def project_start(project: Path, run_id: str | None = None, command: str = "main") -> StartedEvent:
    return started(run_id, **run_fields(project, command))


@pytest.fixture
def run_with(db_url: str) -> Any:
    """Build a Run observed by a SqlObserver on the test database; closed after the test."""
    made: list[SqlObserver] = []

    def build(main: Any, beat: float = 0.02) -> Run:
        observer = SqlObserver(db_url)
        made.append(observer)
        run = Run(config={"seed": 1, "lr": 0.1}, main_function=main, observers=[observer])
        run.beat_interval = beat
        run.capture_mode = "sys"
        return run

    yield build
    for observer in made:
        observer.close()


@pytest.mark.parametrize(
    ("result", "check"),
    [
        ("a string", lambda r: r == "a string"),
        ({"acc": 0.9, "nested": {"k": [1, None]}}, lambda r: r == {"acc": 0.9, "nested": {"k": [1, None]}}),
        (np.arange(6, dtype=np.float32).reshape(2, 3), lambda r: r.dtype == np.float32 and r.tolist() == [[0, 1, 2], [3, 4, 5]]),
        (float("nan"), lambda r: math.isnan(r)),
    ],
    ids=["string", "dict", "ndarray", "nan"],
)
def test_a_run_end_to_end_keeps_any_result(db_url: str, run_with: Any, result: Any, check: Any) -> None:
    def main() -> Any:
        print("hello")
        for i in range(250):
            run.log_scalar("loss", 1.0 / (i + 1))
        run.log_scalar("acc", 0.5, step=10)
        run.info["epochs"] = 3
        return result

    run = run_with(main)
    run()
    assert run.status == "COMPLETED"
    reader = SqlReader(db_url)
    try:
        record = reader.run(run._id)
        assert record["status"] == "COMPLETED" and record["run_id"] == run._id
        assert check(decode(record["result"])) and check(reader.result(run._id))
        assert record["captured_out"] == "hello\n" and record["output_length"] == 6
        assert record["config"] == {"seed": 1, "lr": 0.1}
        assert record["info"] == {"epochs": 3}
        assert record["start_time"] <= record["heartbeat"] <= record["stop_time"]
        assert record["start_time"].tzinfo is not None
        series = reader.metrics(run._id)
        assert series["loss"]["values"] == [1.0 / (i + 1) for i in range(250)]
        assert series["loss"]["steps"] == list(range(250))
        assert series["acc"]["steps"] == [10] and series["acc"]["values"] == [0.5]
    finally:
        reader.close()


def test_failed_run_keeps_output_and_trace(db_url: str, run_with: Any) -> None:
    def main() -> None:
        print("about to fail")
        raise ValueError("boom")

    run = run_with(main)
    with pytest.raises(ValueError, match="boom"):
        run()
    reader = SqlReader(db_url)
    record = reader.run(run._id)
    reader.close()
    assert record["status"] == "FAILED" and record["stop_time"] is not None
    assert record["captured_out"] == "about to fail\n"
    assert "ValueError: boom" in "".join(record["fail_trace"])


def test_every_field_is_stored(store: Any, project: Path, tmp_path: Path) -> None:
    observer, reader = store
    run_id = observer.on_started(project_start(project))
    assert run_id == "1"
    observer.on_output(output(run_id, 1, "héllo 🎉\n"))
    observer.on_metrics(metrics(run_id, 2, loss=[1.0, 0.5]))
    observer.on_heartbeat(heartbeat(run_id, 3, info={"k": [1]}, result=7))
    data = tmp_path / "data.csv"
    data.write_text("a,b\n")
    observer.on_resource(resource(run_id, 4, str(data), get_digest(data)))
    snapshot = tmp_path / "snap"
    snapshot.write_bytes(b"\x00weights")
    observer.on_artifact(
        artifact(
            run_id, 5, "model.bin", str(snapshot), source="/x/model.bin", digest=get_digest(snapshot), size=8,
            metadata={"epoch": 3}, content_type="application/octet-stream",
        )
    )
    observer.on_completed(completed(run_id, 6, result={"acc": 1}))

    record = reader.run(run_id)
    assert record["status"] == "COMPLETED"
    assert (record["start_time"], record["heartbeat"], record["stop_time"]) == (T0, at(3), at(6))
    assert record["command"] == "main" and record["comment"] == "first try" and record["priority"] == 3
    assert record["hostname"] == "box" and record["host"]["os"] == ["Linux", "Linux-6"]
    assert record["meta"]["options"] == {"--x": None}
    assert record["config"] == {"lr": 0.1, "layers": [1, 2], "nested": {"b": 2, "a": 1}}
    assert record["info"] == {"k": [1]} and record["result"] == {"acc": 1}
    assert record["captured_out"] == "héllo 🎉\n"
    experiment = record["experiment"]
    assert experiment["name"] == "exp" and experiment["mainfile"] == "exp.py"
    assert experiment["stored_dependencies"] == [["numpy", "1.26.0"], ["gnomon", "0.1.0"]]
    # credentials in git remotes are never stored
    assert experiment["stored_repositories"] == [
        {"url": "https://git.example.com/lab/exp.git", "commit": "a" * 40, "dirty": True}
    ]
    assert "s3cret" not in repr(experiment)
    sources = dict(experiment["stored_sources"])
    assert reader.blob(sources["exp.py"]) == b"print('hello')\n"
    assert reader.blob(sources["pkg/helpers.py"]) == b"X = 1\n"
    (stored_artifact,) = record["artifacts"]
    assert stored_artifact["name"] == "model.bin" and stored_artifact["size"] == 8
    assert stored_artifact["metadata"] == {"epoch": 3}
    assert stored_artifact["content_type"] == "application/octet-stream"
    assert reader.artifact(run_id, "model.bin") == b"\x00weights"
    (stored_resource,) = record["resources"]
    assert stored_resource["filename"] == str(data) and stored_resource["stored"]
    assert reader.blob(stored_resource["digest"]) == b"a,b\n"


def test_nan_and_infinities_round_trip_as_metrics(store: Any, project: Path) -> None:
    observer, reader = store
    run_id = observer.on_started(project_start(project))
    values = [1.5, math.nan, math.inf, -math.inf, -0.0, 1e308, 5]
    observer.on_metrics(metrics(run_id, 1, x=values))
    steps, got, stamps = reader.metric_series(run_id, "x")
    assert steps == list(range(7)) and len(stamps) == 7
    assert got[0] == 1.5 and math.isnan(got[1]) and got[2] == math.inf and got[3] == -math.inf
    assert got[4:] == [0.0, 1e308, 5.0]


def test_series_come_back_by_step_with_repeated_steps_in_logged_order(store: Any, project: Path) -> None:
    observer, reader = store
    run_id = observer.on_started(project_start(project))
    batches = [([5, 6, 7], [50.0, 60.0, 70.0]), ([0, 6, 1], [0.0, 61.0, 10.0]), ([6, 2], [62.0, 20.0])]
    for seq, (steps, values) in enumerate(batches, start=1):
        observer.on_metrics(metrics(run_id, seq, loss=series(values, steps=steps, stamp=at(seq).timestamp())))
    steps, values, stamps = reader.metric_series(run_id, "loss")
    assert steps == [0, 1, 2, 5, 6, 6, 6, 7]
    assert values == [0.0, 10.0, 20.0, 50.0, 60.0, 61.0, 62.0, 70.0]
    assert stamps == [at(n).timestamp() for n in (2, 2, 3, 1, 1, 2, 3, 1)]


def test_sources_and_experiments_are_stored_once(store: Any, project: Path) -> None:
    import sqlalchemy as sa

    from gnomon.observers.sql.schema import blobs, experiments

    observer, reader = store
    first = observer.on_started(project_start(project))
    second = observer.on_started(project_start(project, command="other"))
    assert (first, second) == ("1", "2")
    (project / "exp.py").write_text("print('changed')\n")
    third = observer.on_started(project_start(project, command="third"))
    with reader.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(experiments)).scalar() == 2
        assert conn.execute(sa.select(sa.func.count()).select_from(blobs)).scalar() == 3
    assert reader.run(first)["experiment"] == reader.run(second)["experiment"]
    assert reader.run(third)["experiment"] != reader.run(first)["experiment"]


def test_replays_store_nothing_twice_and_resume_in_a_new_observer(db_url: str, project: Path, tmp_path: Path) -> None:
    snapshot = tmp_path / "snap"
    snapshot.write_bytes(b"model")
    start = project_start(project)
    first = SqlObserver(db_url)
    run_id = first.on_started(start)
    events = [
        output(run_id, 1, "one\n", 0),
        metrics(run_id, 2, loss=[3.0, 2.0]),
        output(run_id, 3, "two\n", 4),
        resource(run_id, 4, str(snapshot), get_digest(snapshot)),
        artifact(run_id, 5, "m", str(snapshot), source="m", digest=get_digest(snapshot), size=5),
        metrics(run_id, 6, loss=[1.0]),
        completed(run_id, 7, result=1),
    ]
    for event in events[:3]:
        first.handle(event)
    first.close()
    # a new process (gnomon sync) delivers everything again, the started event included
    second = SqlObserver(db_url)
    assert second.handle(dataclasses.replace(start, run_id=run_id)) == run_id
    for event in events + events:
        second.handle(event)
    # a heartbeat replayed after the end does not undo it
    second.handle(heartbeat(run_id, 2))
    second.close()
    reader = SqlReader(db_url)
    record = reader.run(run_id)
    assert record["captured_out"] == "one\ntwo\n"
    steps, values, _ = reader.metric_series(run_id, "loss")
    assert sorted(zip(steps, values, strict=False)) == [(0, 1.0), (0, 3.0), (1, 2.0)]
    assert len(record["resources"]) == 1 and len(record["artifacts"]) == 1
    assert record["status"] == "COMPLETED" and record["stop_time"] == at(7) and record["result"] == 1
    assert reader.run_ids() == [run_id]
    reader.close()


def test_overlapping_output_is_trimmed_and_long_output_chunked(store: Any, project: Path) -> None:
    observer, reader = store
    run_id = observer.on_started(project_start(project))
    big = "x" * 2_500_000 + "\n"
    observer.on_output(output(run_id, 1, "abc"))
    observer.on_output(output(run_id, 2, "bcdef", 1))
    observer.on_output(output(run_id, 3, big, 6))
    assert reader.output(run_id) == "abcdef" + big


def test_given_ids_queued_runs_and_id_conflicts(store: Any, project: Path) -> None:
    observer, reader = store
    assert observer.on_started(project_start(project, run_id="custom-7")) == "custom-7"
    assert observer.on_started(project_start(project)) == "2"  # allocated ids follow the key
    queued_id = observer.on_queued(queued(**run_fields(project)))
    assert reader.run(queued_id)["status"] == "QUEUED" and reader.run(queued_id)["queue_time"] == T0
    assert observer.on_started(project_start(project, run_id=queued_id)) == queued_id
    assert reader.run(queued_id)["status"] == "RUNNING"
    with pytest.raises(ObserverError, match="already holds another run"):
        observer.on_started(project_start(project, run_id="custom-7", command="different"))
    with pytest.raises(ObserverError, match="never stored"):
        observer.on_output(output("nope", 1, "x"))


def test_artifact_of_50_mb(store: Any, project: Path, tmp_path: Path) -> None:
    observer, reader = store
    run_id = observer.on_started(project_start(project))
    payload = os.urandom(1 << 20) * 50
    snapshot = tmp_path / "big.bin"
    snapshot.write_bytes(payload)
    digest = hashlib.sha256(payload).hexdigest()
    event = artifact(run_id, 1, "big.bin", str(snapshot), source="big.bin", digest=digest, size=len(payload))
    observer.on_artifact(event)
    observer.on_artifact(event)  # a replay stores nothing again
    assert reader.artifact(run_id, "big.bin") == payload
    assert reader.run(run_id)["artifacts"][0]["digest"] == digest


def test_password_is_never_stored_or_logged(caplog: pytest.LogCaptureFixture, spool_dir: Path) -> None:
    from gnomon.settings import SETTINGS
    from gnomon.spool import Spool

    SETTINGS.START_TIMEOUT = 0.2
    SETTINGS.DRAIN_TIMEOUT = 0.2
    url = "postgresql://alice:hunter2@127.0.0.1:1/nowhere?password=hunter2&application_name=x"
    observer = SqlObserver(url)
    assert "hunter2" not in observer.to_url() and "hunter2" not in repr(observer)
    assert observer.to_url() == "postgresql+psycopg://alice@127.0.0.1:1/nowhere?application_name=x"
    caplog.set_level(logging.DEBUG)
    run = Run(config={}, main_function=lambda: print("x"), observers=[observer])
    run.capture_mode = "sys"
    run()
    spool = Spool(spool_dir)
    (pending,) = spool.pending()
    assert pending[2] == observer.to_url()
    assert b"hunter2" not in spool.path.read_bytes()
    assert "hunter2" not in caplog.text
    observer.close()


def test_from_url_and_unknown_schemes() -> None:
    observer = SqlObserver.from_url("sqlite:///relative.db")
    assert observer.to_url() == f"sqlite:///{os.path.abspath('relative.db')}"
    assert SqlObserver.from_url("mysql://root@h/db").to_url().startswith("mysql+pymysql://root@h/db")
    assert observer.priority == 40
    with pytest.raises(ObserverError, match="needs a database URL"):
        SqlObserver()
