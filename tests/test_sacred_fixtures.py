"""The Sacred 0.8.7 fixture stores load whole, and really are Sacred's data, the same runs in both stores."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import pytest

# mongo_server first: it skips this module where pymongo or SecantusDB is missing.
from mongo_server import db, db_name, mongo_server  # noqa: F401 - fixtures, injected by name

# isort: split
import gridfs
from bson import json_util

from sacred_fixtures import (
    FILE_STORE,
    FIXTURE_DIR,
    RUN_STATUSES,
    file_store_copy,
    load_mongo_dump,
    mongo_dump,
)

pytestmark = pytest.mark.compat

# Every key Sacred 0.8.7's FileStorageObserver writes into run.json (QUEUED runs have fewer).
SACRED_RUN_KEYS = {
    "artifacts",
    "command",
    "experiment",
    "fail_trace",
    "heartbeat",
    "host",
    "meta",
    "resources",
    "result",
    "start_time",
    "status",
    "stop_time",
}
SACRED_META_KEYS = {"command", "options", "named_configs", "config_updates", "comment", "queue_time"}


def _run_json(store: Path, run_id: str) -> dict:
    return json.loads((store / run_id / "run.json").read_text())


def _same(a: object, b: object) -> bool:
    """Equality that takes NaN as equal to NaN, for comparing the two stores' values."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b


def test_dump_restores_every_collection_document_and_index(db) -> None:
    dumped = mongo_dump()["collections"]
    assert set(dumped) == {"runs", "metrics", "fs.files", "fs.chunks"}
    load_mongo_dump(db)
    assert sorted(db.list_collection_names()) == sorted(dumped)
    for name, collection in dumped.items():
        assert db[name].count_documents({}) == len(collection["documents"]) > 0, name
        names = {index["name"] for index in db[name].list_indexes()}
        assert names >= {index["name"] for index in collection["indexes"]}, name
    assert db["fs.chunks"].index_information()["files_id_1_n_1"].get("unique") is True
    assert db.runs.count_documents({}) == len(RUN_STATUSES)


def test_restored_documents_keep_their_bson_types(db) -> None:
    load_mongo_dump(db)
    dumped = mongo_dump()["collections"]
    for name, collection in dumped.items():
        order = [("files_id", 1), ("n", 1)] if name == "fs.chunks" else [("_id", 1)]
        restored = list(db[name].find().sort(order))
        options = json_util.CANONICAL_JSON_OPTIONS
        assert json_util.dumps(restored, json_options=options) == json_util.dumps(
            collection["documents"], json_options=options
        ), name
    assert db.runs.count_documents({"_id": {"$type": "int"}}) == len(RUN_STATUSES)
    assert db.runs.count_documents({"start_time": {"$type": "date"}}) == len(RUN_STATUSES) - 1  # QUEUED has none
    assert db.runs.count_documents({"config.dataset.size": {"$type": "long"}}) == len(RUN_STATUSES)
    [val_loss] = db.metrics.find({"run_id": 1, "name": "val/loss"})
    assert math.isnan(val_loss["values"][7]) and len(val_loss["values"]) == 20
    assert db.runs.find_one({"_id": 1})["info"]["ratio"] == math.inf


def test_gridfs_artifacts_equal_the_file_store_copies(db) -> None:
    load_mongo_dump(db)
    fs = gridfs.GridFS(db)
    for run_id in ("1", "5"):
        artifacts = db.runs.find_one({"_id": int(run_id)})["artifacts"]
        assert [a["name"] for a in artifacts] == _run_json(FILE_STORE, run_id)["artifacts"]
        for artifact in artifacts:
            assert fs.get(artifact["file_id"]).read() == (FILE_STORE / run_id / artifact["name"]).read_bytes()
    [source_path, source_id] = db.runs.find_one({"_id": 1})["experiment"]["sources"][0]
    stored = _run_json(FILE_STORE, "1")["experiment"]["sources"][0]
    assert stored[0] == source_path == "experiment.py"
    assert fs.get(source_id).read() == (FILE_STORE / stored[1]).read_bytes()


def test_file_store_copy_has_every_run_folder(tmp_path) -> None:
    store = file_store_copy(tmp_path)
    assert store.parent == tmp_path
    assert {p.name for p in store.iterdir()} == set(RUN_STATUSES) | {"_resources", "_sources"}
    for run_id, status in RUN_STATUSES.items():
        assert _run_json(store, run_id)["status"] == status
        assert (store / run_id / "config.json").is_file()
    (store / "_gnomon").mkdir()  # a reader's index goes into the copy, never into the fixture
    assert not (FILE_STORE / "_gnomon").exists()


def test_the_data_is_sacreds_own() -> None:
    for run_id in RUN_STATUSES:
        run = _run_json(FILE_STORE, run_id)
        assert set(run) <= SACRED_RUN_KEYS, run_id
        assert set(run["meta"]) <= SACRED_META_KEYS, run_id  # no beat_interval, pid or other gnomon keys
        assert "sacred==0.8.7" in run["experiment"]["dependencies"]
    assert set(_run_json(FILE_STORE, "6")) == {"command", "experiment", "host", "meta", "status"}
    queue_time = _run_json(FILE_STORE, "6")["meta"]["queue_time"]
    assert queue_time["py/object"] == "datetime.datetime"  # jsonpickle's form, as Sacred leaves it
    metrics = json.loads((FILE_STORE / "1" / "metrics.json").read_text())
    assert set(metrics) == {"loss", "val/loss"}
    assert set(metrics["loss"]) == {"steps", "timestamps", "values"}
    assert math.isnan(metrics["val/loss"]["values"][7])
    assert "Traceback" in _run_json(FILE_STORE, "3")["fail_trace"][0]
    runs = mongo_dump()["collections"]["runs"]["documents"]
    assert {doc["format"] for doc in runs if doc["status"] != "QUEUED"} == {"MongoObserver-0.7.0"}
    assert all("beat_interval" not in doc["meta"] for doc in runs)


def test_both_stores_hold_the_same_runs() -> None:
    dump = mongo_dump()["collections"]
    runs = {str(doc["_id"]): doc for doc in dump["runs"]["documents"]}
    assert {run_id: doc["status"] for run_id, doc in runs.items()} == RUN_STATUSES
    metric_docs = {(str(doc["run_id"]), doc["name"]): doc for doc in dump["metrics"]["documents"]}
    for run_id, doc in runs.items():
        stored = _run_json(FILE_STORE, run_id)
        assert json.loads((FILE_STORE / run_id / "config.json").read_text()) == doc["config"], run_id
        assert _same(stored.get("result"), doc.get("result")), run_id
        assert stored["host"] == doc["host"] and stored["meta"]["command"] == doc["meta"]["command"]
        metrics_file = FILE_STORE / run_id / "metrics.json"
        series = json.loads(metrics_file.read_text()) if metrics_file.exists() else {}
        assert {name for (rid, name) in metric_docs if rid == run_id} == set(series), run_id
        for name, points in series.items():
            assert points["steps"] == metric_docs[run_id, name]["steps"]
            assert _same(points["values"], metric_docs[run_id, name]["values"])
    assert runs["5"]["meta"]["named_configs"] == ["fast"] and runs["5"]["config"]["optimizer"]["lr"] == 0.01


def test_run_two_read_run_ones_artifact_as_a_resource() -> None:
    """The lineage edge 1 -> 2, by path and by content, as each store records resources."""
    artifact = (FILE_STORE / "1" / "predictions.csv").read_bytes()
    md5 = hashlib.md5(artifact).hexdigest()
    [[path, stored_path]] = _run_json(FILE_STORE, "2")["resources"]
    assert path == "/home/sacred/project/out/predictions.csv"
    assert stored_path.endswith(f"_resources/predictions_{md5}.csv")
    assert (FILE_STORE / "_resources" / f"predictions_{md5}.csv").read_bytes() == artifact
    [mongo_run] = [doc for doc in mongo_dump()["collections"]["runs"]["documents"] if doc["_id"] == 2]
    assert mongo_run["resources"] == [[path, md5]]


def test_nothing_of_the_generating_machine_is_committed() -> None:
    texts = [p.read_text(encoding="utf-8") for p in FILE_STORE.rglob("*") if p.suffix in {".json", ".txt"}]
    texts.append((FIXTURE_DIR / "mongo_dump.json").read_text(encoding="utf-8"))
    for text in texts:
        assert "/tmp/" not in text and "/work/" not in text and "/root" not in text
    hosts = [_run_json(FILE_STORE, run_id)["host"]["hostname"] for run_id in RUN_STATUSES]
    assert set(hosts) == {"sacred-fixture-host"}
    size = sum(p.stat().st_size for p in FIXTURE_DIR.rglob("*") if p.is_file())
    assert size < 300_000
