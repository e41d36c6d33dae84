"""What Incense and Omniboard read, read the way they read it; URLs, -m forms and credentials."""

from __future__ import annotations

import pytest

# mongo_server first: it skips this module where pymongo or SecantusDB is missing.
from mongo_server import db, db_name, mongo_server  # noqa: F401 - fixtures, injected by name

# isort: split

import gridfs
from bson import ObjectId

from gnomon.cli.values import mongo_option_to_url
from gnomon.events import MetricSeries
from gnomon.observers import MongoObserver
from gnomon.observers.mongo.metrics import MetricsWriter
from gnomon.observers.mongo.reader import MongoReader
from gnomon.observers.mongo.url import parse_mongo_url, redact
from gnomon.run import Run


def test_incense_queries_find_config_metrics_and_artifacts(mongo_server, db, db_name, tmp_path) -> None:
    """Incense 0.0.15's loader: runs by integer id, config, metrics via info.metrics, artifacts via GridFS."""
    (tmp_path / "model.txt").write_text("weights")

    def main() -> None:
        for i in range(3):
            run.log_scalar("loss", 1.0 / (i + 1))
        run.add_artifact(tmp_path / "model.txt")

    run = Run(config={"lr": 0.1, "opt": {"name": "sgd"}}, main_function=main,
              observers=[MongoObserver(mongo_server.url(db_name))], experiment_info={"name": "mnist"})
    run.capture_mode = "sys"
    run()
    # ExperimentLoader.find_by_ids / find_by_name / find_by_config_key
    [doc] = list(db.runs.find({"_id": {"$in": [1]}}))
    assert next(iter(db.runs.find({"experiment.name": "mnist"})))["_id"] == 1
    assert next(iter(db.runs.find({"config.opt.name": "sgd"})))["_id"] == 1
    assert doc["config"] == {"lr": 0.1, "opt": {"name": "sgd"}}
    # Experiment._load_metrics: metrics docs by the ids in info.metrics, Series(values, index=steps)
    ids = [ObjectId(m["id"]) for m in doc["info"]["metrics"]]
    [metric] = list(db.metrics.find({"_id": {"$in": ids}}))
    import pandas as pd

    series = pd.Series(metric["values"], index=metric["steps"], name=metric["name"])
    assert series.to_dict() == {0: 1.0, 1: 0.5, 2: 1 / 3}
    # Artifact: gridfs.GridFS(db).get(file_id); content type, else metadata["content-type"]
    [artifact] = doc["artifacts"]
    grid_out = gridfs.GridFS(db).get(artifact["file_id"])
    assert grid_out.read() == b"weights"
    assert db["fs.files"].find_one({"_id": artifact["file_id"]})["contentType"] == "text/plain"
    assert grid_out.metadata["content-type"] == "text/plain"


def test_omniboard_metric_join_by_object_id(mongo_server, db, db_name) -> None:
    """Omniboard joins info.metrics[].id to metrics._id with $toObjectId in an aggregation."""
    run = Run(config={}, main_function=lambda: run.log_scalar("acc", 0.9),
              observers=[MongoObserver(mongo_server.url(db_name))])
    run.capture_mode = "sys"
    run()
    pipeline = [
        {"$match": {"_id": 1}},
        {"$unwind": "$info.metrics"},
        {"$lookup": {"from": "metrics", "let": {"mid": {"$toObjectId": "$info.metrics.id"}},
                     "pipeline": [{"$match": {"$expr": {"$eq": ["$_id", "$$mid"]}}}], "as": "m"}},
    ]
    [row] = list(db.runs.aggregate(pipeline))
    assert row["m"][0]["name"] == "acc" and row["m"][0]["values"] == [0.9]


def test_metric_batches_split_across_documents_are_stored_once(mongo_server, db) -> None:
    db.runs.insert_one({"_id": 1, "info": {}})
    writer = MetricsWriter(db.metrics, db.runs, 1, limit=10)
    batch = MetricSeries(list(range(25)), [float(i) for i in range(25)], [0.0] * 25)
    writer.add(3, {"m": batch})
    writer.add(3, {"m": batch})  # replayed by the same process
    MetricsWriter.resume(db.metrics, db.runs, 1, limit=10).add(3, {"m": batch})  # and by sync
    # a batch cut off after the first document: the rest is stored on replay
    db.metrics.delete_many({"part": {"$gt": 0}})
    MetricsWriter.resume(db.metrics, db.runs, 1, limit=10).add(3, {"m": batch})
    nxt = MetricSeries([25, 26], [25.0, 26.0], [1.0, 1.0])
    MetricsWriter.resume(db.metrics, db.runs, 1, limit=10).add(4, {"m": nxt})
    assert MongoReader(db).metrics(1)["m"]["steps"] == list(range(27))
    assert [d["part"] for d in db.metrics.find().sort("part", 1)] == [0, 1, 2]


@pytest.mark.parametrize(
    ("option", "db", "prefix", "priority"),
    [
        ("runs", "runs", "", 30),
        ("db.example.org:27018:runs", "runs", "", 30),
        ("runs.exp!5", "runs", "exp", 5),
        ("mongodb://u:secret@h:1/mine?authSource=admin", "mine", "", 30),
    ],
)
def test_mongo_option_forms(option: str, db: str, prefix: str, priority: int) -> None:
    observer = MongoObserver.from_url(mongo_option_to_url(option))
    assert (observer.db_name, observer.collection_prefix, observer.priority) == (db, prefix, priority)
    assert "secret" not in (observer.to_url() or "") and "secret" not in repr(observer)


def test_password_is_never_stored_or_returned(mongo_server, db, db_name, monkeypatch) -> None:
    url = f"mongodb://alice:s3cret@127.0.0.1:{mongo_server.port}/{db_name}"
    assert redact(url) == f"mongodb://alice@127.0.0.1:{mongo_server.port}/{db_name}"
    observer = MongoObserver(url)
    assert "s3cret" not in observer.to_url() and "s3cret" not in observer.name
    monkeypatch.setenv("GNOMON_MONGO_PASSWORD", "s3cret")
    assert "alice:s3cret@" in parse_mongo_url(observer.to_url()).client_url  # sync gets it back from the env
    # the command line (in meta) may name the URL: it is stored without the password
    plain = MongoObserver(mongo_server.url(db_name))
    run = Run(config={}, main_function=lambda: None, observers=[plain],
              meta_info={"options": {"--mongo_db": url}})
    run.capture_mode = "sys"
    run()
    stored = repr(list(db.runs.find())) + repr(list(db["fs.files"].find()))
    assert "s3cret" not in stored and "alice@127.0.0.1" in stored
