"""Stores written by Sacred 0.8.7 itself, for tests that prove gnomon reads Sacred's data.

The data lives in ``tests/fixtures/sacred/`` (how it was made and how to remake it:
README.md there). Six runs, the same in both stores:

====  ==========  ===========  ==================================================
id    command     status       what it holds
====  ==========  ===========  ==================================================
1     train       COMPLETED    nested config, comment, metrics loss and val/loss
                               (one NaN), artifacts predictions.csv and
                               weights.npy, info, result 0.05
2     evaluate    COMPLETED    resource: run 1's predictions.csv (lineage 1 -> 2),
                               metric acc.top1, a dict result
3     train       FAILED       fail_trace, 3 points per metric
4     train       INTERRUPTED  4 points per metric
5     train       COMPLETED    named config ``fast`` (steps 5, optimizer.lr 0.01)
6     train       QUEUED       never started
====  ==========  ===========  ==================================================

Tests load these functions with ``from sacred_fixtures import ...``: tests/ is on
pytest's ``pythonpath`` (pyproject.toml), though it is not a package. pymongo is imported only
by :func:`load_mongo_dump`, so file-store tests need no driver.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

FIXTURE_DIR = Path(__file__).parent / "fixtures" / "sacred"
FILE_STORE = FIXTURE_DIR / "file_store"
MONGO_DUMP = FIXTURE_DIR / "mongo_dump.json"

#: The database name Sacred wrote to; :func:`load_mongo_dump` restores into any database.
SACRED_DB_NAME = "sacred_fixture"

#: Each run's id (as the file store names its folder) and the status Sacred recorded.
RUN_STATUSES = {
    "1": "COMPLETED",
    "2": "COMPLETED",
    "3": "FAILED",
    "4": "INTERRUPTED",
    "5": "COMPLETED",
    "6": "QUEUED",
}


def file_store_copy(tmp_path: Path) -> Path:
    """A private copy of Sacred's file store under ``tmp_path``; tests may write indexes into it.

    The committed folder is never opened directly, so a reader that writes
    (``_gnomon/`` caches) cannot change the fixture.
    """
    target = tmp_path / "sacred_file_store"
    shutil.copytree(FILE_STORE, target)
    return target


def mongo_dump() -> dict[str, Any]:
    """The decoded dump: ``{"collections": {name: {"documents": [...], "indexes": [...]}}, ...}``.

    Canonical extended JSON decodes to the BSON types Sacred stored: int32 as
    ``int``, int64 as ``bson.Int64``, doubles (NaN, infinities) as ``float``,
    dates as ``datetime``, ``ObjectId``, GridFS chunks as ``bytes``.
    """
    from bson import json_util

    return json_util.loads(MONGO_DUMP.read_text(encoding="utf-8"), json_options=json_util.CANONICAL_JSON_OPTIONS)


def load_mongo_dump(db: Any) -> None:
    """Restore Sacred's database into ``db`` (a pymongo ``Database``), GridFS and indexes included.

    Collections are restored as dumped: ``runs``, ``metrics``, ``fs.files`` and
    ``fs.chunks``, with the secondary indexes Sacred and GridFS created.
    """
    for name, collection in mongo_dump()["collections"].items():
        if collection["documents"]:
            db[name].insert_many(collection["documents"], ordered=True)
        elif not collection["indexes"]:
            db.create_collection(name)
        for index in collection["indexes"]:
            db[name].create_index([tuple(pair) for pair in index["key"]], name=index["name"], unique=index["unique"])
