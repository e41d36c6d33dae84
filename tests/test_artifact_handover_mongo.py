"""MongoDB stores hash an artifact themselves: the run's event carries no digest."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

# mongo_server first: it skips this module where pymongo or SecantusDB is missing.
from mongo_server import MongoServer, db, db_name, mongo_server  # noqa: F401 - fixtures, injected by name

# isort: split

from gnomon import Experiment
from gnomon.observers import MongoObserver
from gnomon.observers.mongo.reader import MongoReader


def test_two_mongo_stores_keep_the_sha256_of_an_artifact_the_run_did_not_hash(
    mongo_server: MongoServer, db: Any, db_name: str, tmp_path: Path
) -> None:
    source = tmp_path / "model.bin"
    content = os.urandom(2_500_000)
    source.write_bytes(content)
    ex = Experiment("mongo_artifacts")
    ex.observers.append(MongoObserver(mongo_server.url(db_name)))
    ex.observers.append(MongoObserver(mongo_server.url(db_name, collection_prefix="other")))

    @ex.main
    def main(_run: Any) -> None:
        _run.add_artifact(str(source), name="model.bin", metadata={"epoch": 3})
        _run.add_artifact(str(source), name="model.bin")  # the same content again: stored once

    run = ex.run()

    assert run.status == "COMPLETED"
    expected = hashlib.sha256(content).hexdigest()
    stored = list(db["fs.files"].find({"filename": {"$regex": "^artifact://"}}))
    assert sorted(f["filename"].split("/")[2] for f in stored) == ["other_runs", "runs"]
    assert all(f["sha256"] == expected and f["length"] == len(content) for f in stored)
    (run_id,) = list(MongoReader(db).run_ids())
    assert MongoReader(db).artifact(run_id, "model.bin") == content
