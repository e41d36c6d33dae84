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

Each batch also sets the metric's summary in the run document,
``gnomon.metrics.<escaped name>`` = ``{last, min, max, count, last_step, seq}``, so
listing runs never reads series. The summary is computed here, from the previous
one kept in memory (read back from the run document on resume), and written whole:
the write is idempotent, and ``seq`` (the last batch folded in) makes a replayed
batch leave it alone, whether or not its points had been stored before.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gnomon.events import MetricSeries
from gnomon.observers.mongo.documents import escape_key, unescape_key

__all__ = ["POINTS_PER_DOCUMENT", "SUMMARY_FIELD", "MetricsWriter", "fold_summary"]

#: Where a run document keeps its metric summaries (a sub-document per escaped metric name).
SUMMARY_FIELD = "gnomon.metrics"

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


def fold_summary(
    summary: dict[str, Any] | None, steps: Sequence[int], values: Sequence[float]
) -> dict[str, Any] | None:
    """The summary of a metric after ``steps``/``values`` (logged after what ``summary`` covers).

    ``count`` counts every point; ``last`` is the value at the greatest step, the
    later-logged one on ties; ``min``/``max`` skip NaN (None while every value was
    NaN). Built-in reductions only: a batch of 100k points costs a few milliseconds.
    """
    if not values:
        return summary
    total = sum(values)
    if math.isnan(total):  # a NaN (or inf - inf) is in there: skip NaN the slow way
        finite = [v for v in values if not math.isnan(v)]
        low, high = (float(min(finite)), float(max(finite))) if finite else (None, None)
    else:
        low, high = float(min(values)), float(max(values))
    top = max(steps)
    at = len(steps) - 1 if steps[-1] == top else len(steps) - 1 - list(reversed(steps)).index(top)
    if summary is None:
        return {"last": float(values[at]), "min": low, "max": high, "count": len(values), "last_step": int(top)}
    old_low, old_high = summary.get("min"), summary.get("max")
    new = dict(summary)
    new["count"] = int(summary.get("count", 0)) + len(values)
    new["min"] = low if old_low is None else (old_low if low is None else min(old_low, low))
    new["max"] = high if old_high is None else (old_high if high is None else max(old_high, high))
    if summary.get("last_step") is None or top >= summary["last_step"]:
        new["last"], new["last_step"] = float(values[at]), int(top)
    return new


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
        self.summaries: dict[str, dict[str, Any]] = {}

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
            doc = runs.find_one({"_id": run_id}, {SUMMARY_FIELD: 1}) or {}
            stored = (doc.get("gnomon") or {}).get("metrics") or {}
            writer.summaries = {unescape_key(k): dict(v) for k, v in stored.items() if isinstance(v, dict)}
        return writer

    def add(self, seq: int, series: dict[str, MetricSeries] | Any) -> None:
        """Store one batch (a metrics event), skipping points already stored; then its summaries."""
        for name, s in series.items():
            self._add_one(name, seq, s)
        changed: dict[str, Any] = {}
        for name, s in series.items():
            summary = self.summaries.get(name)
            if summary is not None and summary.get("seq", -1) >= seq:
                continue  # a replay: already folded in
            folded = fold_summary(summary, s.steps, s.values)
            if folded is None:
                continue
            folded["seq"] = seq
            changed[name] = folded
        if changed:
            self.runs.update_one(
                {"_id": self.run_id}, {"$set": {f"{SUMMARY_FIELD}.{escape_key(n)}": v for n, v in changed.items()}}
            )
            self.summaries.update(changed)

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
        return value.astimezone(UTC).timestamp()
    return float(value)
