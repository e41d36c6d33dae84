"""Metric points in Sacred's ``metrics`` collection, in documents of bounded size.

Each document is Sacred's ``{run_id, name, steps, values, timestamps}`` plus a
``part`` number; a metric gets a new document once the current one holds
:data:`POINTS_PER_DOCUMENT` points, so no document nears MongoDB's 16 MB limit,
whatever the run logs. Every document of a run is listed in the run's
``info.metrics`` as ``{name, id}`` (Omniboard joins on it; Incense reads it).

New points are appended with ``$push``/``$each``: a batch costs what it holds.
Replays are recognised by the batch's event ``seq``: each document remembers the
last batch it took (``gnomon_seq``) and how many of that batch's points had been
stored once it took its share (``gnomon_end``), so a batch delivered again, even one
that was cut off between two documents, stores each point exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from gnomon.events import MetricSeries

__all__ = ["POINTS_PER_DOCUMENT", "MetricsWriter"]

#: Points per metrics document (about 4.5 MB of BSON at most).
POINTS_PER_DOCUMENT = 100_000

_EPOCH = datetime(1970, 1, 1)


@dataclass
class _Tail:
    """The document a metric's next points go to."""

    doc_id: Any
    part: int
    count: int
    seq: int
    end: int


def _dates(timestamps: list[float]) -> list[Any]:
    """POSIX seconds as BSON dates, cheaply (no datetime objects)."""
    from bson.datetime_ms import DatetimeMS

    return [DatetimeMS(int(t * 1000)) for t in timestamps]


class MetricsWriter:
    """Writes one run's metric batches; state per metric resumes from the database."""

    def __init__(self, metrics: Any, runs: Any, run_id: Any, *, limit: int = POINTS_PER_DOCUMENT) -> None:
        self.metrics = metrics
        self.runs = runs
        self.run_id = run_id
        self.limit = limit
        self.tails: dict[str, _Tail] = {}

    @classmethod
    def resume(cls, metrics: Any, runs: Any, run_id: Any, *, limit: int = POINTS_PER_DOCUMENT) -> MetricsWriter:
        """Pick up a run's metrics documents (written by this or another process)."""
        writer = cls(metrics, runs, run_id, limit=limit)
        fields = {"name": 1, "part": 1, "gnomon_seq": 1, "gnomon_end": 1, "gnomon_count": 1}
        listed = []
        for doc in metrics.find({"run_id": run_id}, fields):
            name = doc["name"]
            listed.append({"name": name, "id": str(doc["_id"])})
            tail = _Tail(
                doc["_id"],
                int(doc.get("part", 0)),
                int(doc.get("gnomon_count", 0)),
                int(doc.get("gnomon_seq", -1)),
                int(doc.get("gnomon_end", 0)),
            )
            if name not in writer.tails or tail.part > writer.tails[name].part:
                writer.tails[name] = tail
        if listed:  # a document created just before a crash may not be listed yet
            runs.update_one({"_id": run_id}, {"$addToSet": {"info.metrics": {"$each": listed}}})
        return writer

    def add(self, seq: int, series: dict[str, MetricSeries] | Any) -> None:
        """Store one batch (a metrics event), skipping points already stored."""
        for name, s in series.items():
            self._add_one(name, seq, s)

    def _add_one(self, name: str, seq: int, series: MetricSeries) -> None:
        tail = self.tails.get(name)
        total = len(series.steps)
        done = 0
        if tail is not None:
            if tail.seq > seq:
                return
            if tail.seq == seq:
                done = tail.end
        while done < total:
            if tail is None or tail.count >= self.limit:
                # A new document is inserted with its first points: one write, no $push.
                stop = min(done + self.limit, total)
                tail = self._new_document(name, 0 if tail is None else tail.part + 1, seq, series, done, stop)
                done = stop
                continue
            take = min(self.limit - tail.count, total - done)
            stop = done + take
            self.metrics.update_one(
                {"_id": tail.doc_id},
                {
                    "$push": {
                        "steps": {"$each": list(series.steps[done:stop])},
                        "values": {"$each": list(series.values[done:stop])},
                        "timestamps": {"$each": _dates(list(series.timestamps[done:stop]))},
                    },
                    "$set": {"gnomon_seq": seq, "gnomon_end": stop},
                    "$inc": {"gnomon_count": take},
                },
            )
            tail.count += take
            tail.seq, tail.end = seq, stop
            done = stop

    def _new_document(self, name: str, part: int, seq: int, series: MetricSeries, start: int, stop: int) -> _Tail:
        from bson import ObjectId

        doc_id = ObjectId()
        self.metrics.insert_one(
            {
                "_id": doc_id,
                "run_id": self.run_id,
                "name": name,
                "part": part,
                "steps": list(series.steps[start:stop]),
                "values": list(series.values[start:stop]),
                "timestamps": _dates(list(series.timestamps[start:stop])),
                "gnomon_seq": seq,
                "gnomon_end": stop,
                "gnomon_count": stop - start,
            }
        )
        self.runs.update_one(
            {"_id": self.run_id}, {"$addToSet": {"info.metrics": {"name": name, "id": str(doc_id)}}}
        )
        tail = _Tail(doc_id, part, stop - start, seq, stop)
        self.tails[name] = tail
        return tail


def to_posix(value: Any) -> float:
    """A stored timestamp (BSON date) as POSIX seconds."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return (value - _EPOCH).total_seconds()
        return value.astimezone(timezone.utc).timestamp()
    return float(value)
