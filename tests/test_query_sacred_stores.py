"""Stores written by Sacred 0.8.7 itself open with gnomon.open and read back what Sacred recorded."""

from __future__ import annotations

import math

import pytest

import gnomon
from mongo_server import db, db_name, mongo_server  # noqa: F401 - fixtures, injected by name
from sacred_fixtures import FIXTURE_DIR, RUN_STATUSES, file_store_copy, load_mongo_dump

pytestmark = pytest.mark.compat


@pytest.fixture(params=["file", "mongodb"])
def sacred_store(request, tmp_path):
    if request.param == "file":
        url = str(file_store_copy(tmp_path))
    else:
        database = request.getfixturevalue("db")
        load_mongo_dump(database)
        url = request.getfixturevalue("mongo_server").url(request.getfixturevalue("db_name"))
    store = gnomon.open(url, died_after=60)
    yield store
    store.close()


def test_runs_statuses_and_configs(sacred_store):
    rows = {r["run_id"]: r for r in sacred_store.runs(order_by=None).rows()}
    assert {i: r["status"] for i, r in rows.items()} == RUN_STATUSES
    assert rows["1"]["command"] == "train" and rows["2"]["command"] == "evaluate"
    assert rows["1"]["experiment"] == rows["2"]["experiment"]
    assert rows["6"]["start_time"] is None  # queued, never started
    assert rows["1"]["comment"] is not None
    assert rows["1"]["metrics.loss.count"] > 0
    assert rows["5"]["config.optimizer.lr"] == 0.01
    assert rows["1"]["recorded_status"] == "COMPLETED"


def test_metrics_and_nan_points(sacred_store):
    run = sacred_store.run("1")
    loss = run.metrics["val/loss"]
    assert loss.index.name == "step"
    assert any(math.isnan(v) for v in loss.tolist())
    frame = sacred_store.runs(ids=["1", "2"]).metrics()
    assert set(frame["name"]) >= {"loss", "val/loss", "acc.top1"}
    summary = sacred_store.runs(ids=["1"]).rows(["metrics.loss.last", "metrics.loss.count"])[0]
    assert summary["metrics.loss.last"] == pytest.approx(run.metrics["loss"].iloc[-1])
    assert summary["metrics.loss.count"] == len(run.metrics["loss"])


def test_artifacts_failures_and_lineage(sacred_store, request):
    run = sacred_store.run("1")
    assert {"predictions.csv", "weights.npy"} <= set(run.artifacts)
    assert run.artifacts["predictions.csv"].read_bytes().startswith(b"")
    assert sacred_store.run("3").fail_trace
    assert sacred_store.runs('status == "FAILED"').ids == ["3"]
    graph = sacred_store.run("2").lineage(direction="up")
    if request.node.callspec.params["sacred_store"] == "file":
        # Run 2 opened run 1's artifact inside the store's folder: linked by path.
        assert [(e.source, e.target) for e in graph.edges] == [("1", "2")]
    else:
        # Sacred's MongoObserver keeps an MD5 of each resource but no digest of its artifacts
        # (pymongo 4 stopped computing one in GridFS): nothing to link them by.
        assert graph.edges == []


def test_filters_on_sacred_data(sacred_store):
    assert sacred_store.runs("metrics.loss.min < 100", order_by="start_time").ids == [
        i for i in ("1", "3", "4", "5") if i in sacred_store.runs("exists(config)").ids
    ]
    assert sacred_store.runs('command == "evaluate"').ids == ["2"]


def test_sources_read_back_what_sacred_stored(sacred_store):
    """Sacred stored experiment.py with every run: as ``_sources/<stem>_<md5>.py`` or in GridFS."""
    expected = (FIXTURE_DIR / "experiment.py").read_bytes()
    for run_id in ("1", "3", "6"):  # 6 is queued: Sacred's file store pairs the path with an md5 there
        sources = sacred_store.run(run_id).sources
        assert list(sources) == ["experiment.py"]
        assert sources["experiment.py"].read_bytes() == expected
    assert "from sacred import Experiment" in sacred_store.run("2").sources["experiment.py"].read_text()
    with pytest.raises(KeyError, match=r"nope\.py"):
        sacred_store.backend.open_source("1", "nope.py")


def test_a_source_pointing_outside_the_file_store_is_not_read(tmp_path):
    """run.json names where a source's copy is; a copy outside the folder is read only when its digest matches."""
    import json

    folder = file_store_copy(tmp_path)
    secret = tmp_path / "secret.txt"
    secret.write_text("not a source")
    moved = tmp_path / "elsewhere" / "experiment_9187e758dbb5b017da561101a1431ba4.py"
    moved.parent.mkdir()
    moved.write_bytes((FIXTURE_DIR / "experiment.py").read_bytes())
    for run_id, target in (("1", secret), ("3", moved)):
        run_json = folder / run_id / "run.json"
        stored = json.loads(run_json.read_text())
        stored["experiment"]["sources"] = [["experiment.py", f"../{target.relative_to(tmp_path)}"]]
        run_json.write_text(json.dumps(stored))
    with gnomon.open(folder) as store:
        with pytest.raises(KeyError, match="not stored"):
            store.run("1").sources["experiment.py"].read_bytes()
        assert store.run("3").sources["experiment.py"].read_bytes() == moved.read_bytes()
