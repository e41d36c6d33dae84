"""Metric summaries kept on each ``metrics`` row: count, last value and step, min and max.

Listing runs must never read series, so every batch of points the observer stores
also folds into its metric's summary, in the same transaction. The rules are the
query API's (:mod:`gnomon.query.protocol`): ``count`` counts every point; ``last``
is the value at the greatest step, the later-logged one on ties; ``min`` and
``max`` skip NaN and are None when every value is NaN.

A float is stored as two columns, like a metric point: the value when finite,
else NULL plus a marker ``'nan'``, ``'inf'`` or ``'-inf'`` (SQLite reads NaN back
as NULL and MariaDB refuses NaN and infinities), so a summary round-trips exactly.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

__all__ = [
    "SUMMARY_COLUMNS",
    "MetricSummary",
    "from_columns",
    "join_float",
    "load_json",
    "split_float",
    "summarize",
    "summary_records",
    "unpack_row",
]

#: The summary columns of ``metrics``, in the order :meth:`MetricSummary.columns` gives them.
SUMMARY_COLUMNS = (
    "point_count",
    "last_step",
    "last_value",
    "last_special",
    "min_value",
    "min_special",
    "max_value",
    "max_special",
)
_SPECIAL = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def split_float(value: float | None) -> tuple[float | None, str | None]:
    """``(value, special)`` columns of a float: ``(1.5, None)``, ``(None, 'inf')``; None is ``(None, None)``."""
    if value is None or math.isfinite(value):
        return value, None
    if math.isnan(value):
        return None, "nan"
    return None, ("inf" if value > 0 else "-inf")


def join_float(value: float | None, special: str | None) -> float | None:
    """The float two columns hold (the inverse of :func:`split_float`)."""
    if special is not None:
        return _SPECIAL[special]
    return None if value is None else float(value)


@dataclass(slots=True)
class MetricSummary:
    """What a metric's points add up to so far (``count == 0``: no points yet)."""

    count: int = 0
    last_step: int | None = None
    last: float | None = None
    min: float | None = None
    max: float | None = None

    def add(self, steps: Sequence[int], values: Sequence[float]) -> None:
        """Fold points logged after every point folded so far (so they win ties of ``last``)."""
        if not steps:
            return
        top = max(steps)
        if self.last_step is None or top >= self.last_step:
            index = len(steps) - 1 - steps[::-1].index(top) if steps[-1] != top else len(steps) - 1
            self.last_step, self.last = int(top), float(values[index])
        self.count += len(steps)
        numbers = [v for v in values if v == v]  # NaN is the one value unequal to itself
        if numbers:
            low, high = min(numbers), max(numbers)
            self.min = low if self.min is None or low < self.min else self.min
            self.max = high if self.max is None or high > self.max else self.max

    def merge(self, later: MetricSummary) -> None:
        """Fold in the summary of points logged after every point folded so far."""
        self.count += later.count
        if later.last_step is not None and (self.last_step is None or later.last_step >= self.last_step):
            self.last_step, self.last = later.last_step, later.last
        for value in (later.min, later.max):
            if value is not None:
                self.min = value if self.min is None or value < self.min else self.min
                self.max = value if self.max is None or value > self.max else self.max

    def columns(self) -> dict[str, Any]:
        """The summary as ``metrics`` column values."""
        last_value, last_special = split_float(self.last)
        min_value, min_special = split_float(self.min)
        max_value, max_special = split_float(self.max)
        return {
            "point_count": self.count,
            "last_step": self.last_step,
            "last_value": last_value,
            "last_special": last_special,
            "min_value": min_value,
            "min_special": min_special,
            "max_value": max_value,
            "max_special": max_special,
        }

    def record(self) -> dict[str, Any]:
        """The canonical summary of the query protocol: ``{"last", "min", "max", "count", "last_step"}``."""
        return {"last": self.last, "min": self.min, "max": self.max, "count": self.count, "last_step": self.last_step}


def from_columns(row: Sequence[Any]) -> MetricSummary:
    """A summary from the :data:`SUMMARY_COLUMNS` of a row, in that order."""
    count, last_step, last_value, last_special, min_value, min_special, max_value, max_special = row
    return MetricSummary(
        count=int(count or 0),
        last_step=None if last_step is None else int(last_step),
        last=join_float(last_value, last_special),
        min=join_float(min_value, min_special),
        max=join_float(max_value, max_special),
    )


def summarize(points: Iterable[tuple[int, int, float | None, str | None]]) -> dict[int, MetricSummary]:
    """Summaries of ``(metric, step, value, special)`` rows given in logged order, by metric key.

    Used to fill the summaries of points stored before the summary columns existed.
    """
    grouped: dict[int, tuple[list[int], list[float]]] = {}
    for metric, step, value, special in points:
        steps, values = grouped.setdefault(int(metric), ([], []))
        steps.append(int(step))
        joined = join_float(value, special)
        values.append(math.nan if joined is None else joined)
    out = {}
    for metric, (steps, values) in grouped.items():
        summary = MetricSummary()
        summary.add(steps, values)
        out[metric] = summary
    return out


def load_json(text: Any) -> Any:
    """A JSON document fetched as text (or bytes), decoded only when it holds tagged values."""
    if text is None:
        return None
    if isinstance(text, int | float):  # SQLite's JSON columns have numeric affinity: '3' is stored as 3
        return text
    if isinstance(text, dict | list):  # a driver that parsed it already
        from gnomon.serialize import decode

        return decode(text)
    value = orjson.loads(text)
    if "__type__" in text if isinstance(text, str) else b"__type__" in text:
        from gnomon.serialize import decode

        return decode(value)
    return value


def _as_is(value: Any) -> Any:
    return value


def _number(value: Any, kind: type) -> Any:
    """A number read from meta (text on some backends), or None."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return kind(float(value)) if kind is float else kind(value)
    except (TypeError, ValueError):
        return None


def summary_records(
    rows: Sequence[Any], summary_rows: Sequence[Any], extra: Sequence[str], *, parsed: bool = False
) -> list[dict[str, Any]]:
    """SummaryRecords (:mod:`gnomon.query.protocol`) from the rows the store selected.

    ``rows`` hold the store's listing columns in its order, then the JSON text of
    the ``extra`` blocks (already parsed and decoded when ``parsed``);
    ``summary_rows`` are ``(run key, name, *SUMMARY_COLUMNS)``.
    """
    load = _as_is if parsed else load_json
    by_run: dict[int, dict[str, Any]] = {}
    special = _SPECIAL
    for run, name, count, last_step, last, last_sp, low, low_sp, high, high_sp in summary_rows:
        by_run.setdefault(run, {})[name] = {
            "last": last if last_sp is None else special[last_sp],
            "min": low if low_sp is None else special[low_sp],
            "max": high if high_sp is None else special[high_sp],
            "count": count,
            "last_step": last_step,
        }
    records = []
    for row in rows:
        (
            key,
            run_id,
            experiment,
            command,
            status,
            start,
            stop,
            beat,
            queued,
            hostname,
            comment,
            result,
            config,
            tags,
            notes,
            repo,
            commit,
            dirty,
            beat_interval,
            pid,
            *blocks,
        ) = row
        record = {
            "run_id": run_id,
            "experiment": experiment,
            "command": command,
            "recorded_status": status,
            "start_time": start,
            "stop_time": stop,
            "heartbeat": beat,
            "queue_time": queued,
            "hostname": hostname,
            "comment": comment,
            "result": load(result),
            "config": load(config) or {},
            "tags": load(tags),
            "notes": notes,
            "git": None if repo is None else {"commit": commit, "dirty": None if dirty is None else bool(dirty)},
            "beat_interval": _number(beat_interval, float),
            "pid": _number(pid, int),
            "metrics": by_run.get(key, {}),
        }
        for name, block in zip(extra, blocks, strict=True):
            record[name] = load(block) or {}
        records.append(record)
    return records


def unpack_row(text: str) -> list[Any]:
    """A listing row MariaDB packed as a JSON array: times back to aware datetimes, tagged values decoded."""
    row: list[Any] = orjson.loads(text)
    for i in (5, 6, 7, 8):  # start, stop, heartbeat, queue time: "YYYY-MM-DD HH:MM:SS.ffffff" in UTC
        if row[i] is not None:
            row[i] = datetime.fromisoformat(row[i]).replace(tzinfo=UTC)
    if "__type__" in text:
        from gnomon.serialize import decode

        for i in range(11, len(row)):
            row[i] = decode(row[i])
    return row
