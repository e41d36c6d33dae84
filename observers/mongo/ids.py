r"""Integer run ids, safe when many runs start at once and when the collection holds other ids.

Omniboard and Incense need integer ``_id``\\ s. A counter document per runs
collection (``gnomon_counters``, ``{_id: <runs collection>, seq}``) hands them out
with ``find_one_and_update`` and ``$inc``, which is atomic on the server: two runs
never get the same id, and the cost does not grow with the number of runs. The
counter is seeded (``$max``) from the largest numeric ``_id`` present; when an id
turns out taken (Sacred's observer, which uses max + 1, or a manual insert), the
counter is seeded again and the next id is tried. Non-numeric ids are ignored.
"""

from __future__ import annotations

import contextlib
from typing import Any

from gnomon.errors import ObserverError

__all__ = ["COUNTERS", "insert_with_new_id"]

#: Collection of the run-id counters, one document per runs collection.
COUNTERS = "gnomon_counters"


def _max_numeric_id(runs: Any) -> int:
    docs = list(runs.find({"_id": {"$type": "number"}}, {"_id": 1}).sort("_id", -1).limit(1))
    return int(docs[0]["_id"]) if docs else 0


def _seed(db: Any, runs_name: str) -> None:
    from pymongo.errors import DuplicateKeyError

    with contextlib.suppress(DuplicateKeyError):  # another process created it at the same moment
        db[COUNTERS].update_one(
            {"_id": runs_name}, {"$max": {"seq": _max_numeric_id(db[runs_name])}}, upsert=True
        )


def _next_id(db: Any, runs_name: str) -> int:
    from pymongo import ReturnDocument

    for _ in range(2):
        doc = db[COUNTERS].find_one_and_update(
            {"_id": runs_name}, {"$inc": {"seq": 1}}, return_document=ReturnDocument.AFTER
        )
        if doc is not None:
            return int(doc["seq"])
        _seed(db, runs_name)
    raise ObserverError(f"cannot allocate a run id in {db.name}.{COUNTERS}")


def insert_with_new_id(db: Any, runs_name: str, doc: dict[str, Any]) -> int:
    """Insert ``doc`` into the runs collection under the next free integer id; return it."""
    from pymongo.errors import DuplicateKeyError

    for _ in range(100):
        doc["_id"] = _next_id(db, runs_name)
        try:
            db[runs_name].insert_one(doc)
            return int(doc["_id"])
        except DuplicateKeyError:
            _seed(db, runs_name)  # someone else took ids: jump past them
    raise ObserverError(f"no free run id found in {db.name}.{runs_name} after 100 attempts")
