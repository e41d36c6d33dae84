"""Reading runs back from MongoDB the way gnomon stored them.

Omniboard, Incense and pymongo read the ``runs`` and ``metrics`` collections
directly. :class:`MongoReader` gives the same run back as gnomon knows it: keys
unescaped, values that went to GridFS put back, tagged values decoded, the whole
captured output (not the head and tail in ``captured_out``) and every point of
every metric, whatever number of documents they were stored in.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC
from typing import Any

from gnomon import serialize
from gnomon.observers.mongo.documents import from_bson
from gnomon.observers.mongo.files import FileStore
from gnomon.observers.mongo.metrics import to_posix
from gnomon.observers.mongo.output import read_output
from gnomon.observers.mongo.url import parse_mongo_url

__all__ = ["MongoReader"]

_DATES = ("start_time", "stop_time", "heartbeat")


class MongoReader:
    """Read runs from a database: ``MongoReader(db)`` or ``MongoReader.from_url(url)``."""

    def __init__(self, db: Any, collection_prefix: str = "", collection: str | None = None) -> None:
        prefix = f"{collection_prefix}_" if collection_prefix else ""
        self.db = db
        self.runs = db[collection or f"{prefix}runs"]
        self.metrics_collection = db[f"{prefix}metrics"]
        self.files = FileStore(db, self.runs.name)

    @classmethod
    def from_url(cls, url: str, **client_kwargs: Any) -> MongoReader:
        """Open the database an observer URL names (same URL grammar as the observer)."""
        import pymongo

        target = parse_mongo_url(url)
        client = pymongo.MongoClient(target.client_url, **client_kwargs)
        return cls(client[target.db_name], target.collection_prefix)

    def run_ids(self, query: dict[str, Any] | None = None) -> Iterator[Any]:
        """Ids of the stored runs (matching a pymongo ``query``), in id order."""
        for doc in self.runs.find(query or {}, {"_id": 1}).sort("_id", 1):
            yield doc["_id"]

    def _restore(self, value: Any) -> Any:
        return serialize.decode(from_bson(value, self.files.load_value))

    def run(self, run_id: Any) -> dict[str, Any]:
        """The run document as gnomon stored it, restored; ``captured_out`` is the whole output."""
        doc = self.runs.find_one({"_id": run_id})
        if doc is None:
            raise KeyError(f"no run with _id {run_id!r} in {self.db.name}.{self.runs.name}")
        run: dict[str, Any] = {}
        for key, value in doc.items():
            if key in ("config", "info", "result", "meta", "host", "experiment"):
                value = self._restore(value)
            elif key in _DATES and value is not None:
                value = value.replace(tzinfo=UTC)
            run[key] = value
        info = run.get("info") or {}
        info.pop("metrics", None)
        if "metrics_" in info:
            info["metrics"] = info.pop("metrics_")
        run["captured_out"] = self.output(run_id, doc)
        return run

    def output(self, run_id: Any, doc: dict[str, Any] | None = None) -> str:
        """The run's whole captured output, as far as it was committed.

        A run whose writer or server died mid-write reads back up to the last
        complete chunk plus the committed tail, never a ``CorruptGridFile``.
        """
        doc = doc or self.runs.find_one({"_id": run_id}, {"gnomon": 1, "captured_out": 1}) or {}
        file_id = (doc.get("gnomon") or {}).get("output_file")
        if file_id is None:  # stored by Sacred: the run document holds it all
            return str(doc.get("captured_out") or "")
        return read_output(self.db, "fs", file_id)

    def metrics(self, run_id: Any) -> dict[str, dict[str, list[Any]]]:
        """``{name: {"steps", "values", "timestamps"}}`` with every point; timestamps in POSIX seconds."""
        series: dict[str, dict[str, list[Any]]] = {}
        docs = self.metrics_collection.find({"run_id": run_id}).sort([("name", 1), ("part", 1)])
        for doc in docs:
            entry = series.setdefault(doc["name"], {"steps": [], "values": [], "timestamps": []})
            entry["steps"].extend(doc.get("steps", ()))
            entry["values"].extend(doc.get("values", ()))
            entry["timestamps"].extend(to_posix(t) for t in doc.get("timestamps", ()))
        return series

    def artifact(self, run_id: Any, name: str) -> bytes:
        """The content of a run's artifact (the last one stored under that name)."""
        doc = self.runs.find_one({"_id": run_id}, {"artifacts": 1}) or {}
        matches = [a for a in doc.get("artifacts") or () if a.get("name") == name]
        if not matches:
            raise KeyError(f"run {run_id!r} has no artifact named {name!r}")
        return bytes(self.files.fs.get(matches[-1]["file_id"]).read())
