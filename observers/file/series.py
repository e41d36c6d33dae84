"""Metric points of a run folder read back: summaries kept up to date from new bytes only, and whole series.

``metrics.jsonl`` is append-only, so the index remembers the byte offset after
the last complete line it read and the running summaries (count, last,
last_step, min, max); refreshing a run that is still logging reads only what was
appended. A line without its newline yet (being written, or torn by a crash) is
left for the next refresh. A batch whose ``seq`` was already read is a replay
written by a second process and is counted once, as the writer does.

Runs written by Sacred have only ``metrics.json``, rewritten whole by Sacred:
it is summarised again whenever it changes.

Values JSON cannot hold: gnomon's writer stores a NaN or an infinite value as
``null`` in ``metrics.jsonl`` and names it in the line's ``specials``
(``{"<index>": "Infinity"}``), so it reads back exactly; a ``null`` without one
(``metrics.json``, Sacred-shaped) is NaN. The strings ``"NaN"``, ``"Infinity"``
and ``"-Infinity"`` and Sacred's bare tokens are read as the floats they name.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from gnomon.observers.file.records import load_json

__all__ = ["MetricSummaries", "batches", "floats", "series_points"]

_SPECIALS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _float(value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        return _SPECIALS.get(value, math.nan)
    if isinstance(value, Mapping):  # gnomon's tagged float
        return _SPECIALS.get(value.get("value"), math.nan)  # type: ignore[arg-type]
    return math.nan


def floats(values: Sequence[Any]) -> list[float]:
    """Stored metric values as floats; ``null`` (a NaN or infinity the writer could not keep) is NaN."""
    try:
        return list(map(float, values))  # numbers, and "NaN"/"Infinity" strings
    except (TypeError, ValueError):
        return [_float(v) for v in values]


def _stored(value: float | None) -> Any:
    """A float as the index's JSON can hold it (NaN and infinities as strings)."""
    if value is None or math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


class MetricSummaries:
    """Running summaries of every metric of one run, updated batch by batch.

    ``last`` is the value at the greatest step (the later-logged one on ties);
    ``min``/``max`` skip NaN and stay None while every value is NaN.
    """

    __slots__ = ("by_name",)

    def __init__(self, by_name: dict[str, list[Any]] | None = None) -> None:
        # name -> [count, last, last_step, min, max]
        self.by_name: dict[str, list[Any]] = by_name or {}

    @classmethod
    def from_blob(cls, blob: bytes | None) -> MetricSummaries:
        """Resume from what :meth:`to_blob` stored."""
        if not blob:
            return cls()
        stored = orjson.loads(blob)
        return cls(
            {
                name: [
                    s["count"],
                    _float(s["last"]),
                    s["last_step"],
                    None if s["min"] is None else _float(s["min"]),
                    None if s["max"] is None else _float(s["max"]),
                ]
                for name, s in stored.items()
            }
        )

    def to_blob(self) -> bytes:
        """The canonical summaries as JSON, NaN and infinities as strings."""
        return orjson.dumps(
            {
                name: {
                    "last": _stored(s[1]),
                    "min": _stored(s[3]),
                    "max": _stored(s[4]),
                    "count": s[0],
                    "last_step": s[2],
                }
                for name, s in self.by_name.items()
            }
        )

    def add(self, name: str, steps: Sequence[int], values: list[float]) -> None:
        """Take one batch of points of ``name`` in logged order; a batch with steps that are not integers is skipped."""
        n = min(len(steps), len(values))
        if n == 0:
            return
        if n < len(steps) or n < len(values):
            steps, values = steps[:n], values[:n]
        try:
            top = max(steps)
        except TypeError:  # a damaged line: steps of mixed types
            return
        if type(top) is not int:
            return
        at = n - 1 - list(reversed(steps)).index(top) if steps[-1] != top else n - 1
        summary = self.by_name.get(name)
        if summary is None:
            summary = self.by_name[name] = [0, math.nan, top, None, None]
        summary[0] += n
        if top >= summary[2]:
            summary[1], summary[2] = values[at], top
        if any(map(math.isnan, values)):
            values = [v for v in values if not math.isnan(v)]
            if not values:
                return
        low, high = min(values), max(values)
        if summary[3] is None or low < summary[3]:
            summary[3] = low
        if summary[4] is None or high > summary[4]:
            summary[4] = high

    @classmethod
    def from_columns(cls, columns: Mapping[str, Sequence[Any]]) -> MetricSummaries:
        """The summaries of whole series held as numpy columns ``(steps, values, times)``, as :meth:`add` makes them."""
        import numpy as np

        by_name: dict[str, list[Any]] = {}
        for name, (steps, values, _times) in columns.items():
            n = len(steps)
            if n == 0:
                continue
            top = int(steps.max())
            at = n - 1 - int(np.argmax(steps[::-1] == top))  # the later-logged point at the greatest step
            finite = values[~np.isnan(values)]
            low = float(finite.min()) if len(finite) else None
            high = float(finite.max()) if len(finite) else None
            by_name[name] = [n, float(values[at]), top, low, high]
        return cls(by_name)

    def add_metrics_json(self, data: Mapping[str, Any]) -> None:
        """Take every point of Sacred's ``{name: {steps, values, timestamps}}``."""
        for name, column in data.items():
            if isinstance(column, Mapping):
                steps = column.get("steps") or []
                if all(isinstance(s, int) for s in steps):
                    self.add(str(name), steps, floats(column.get("values") or []))


def batches(data: bytes, seqs: set[int] | None) -> Iterator[tuple[str, list[int], list[Any], list[Any]]]:
    """``(name, steps, values, timestamps)`` of each new batch in complete log lines.

    ``seqs`` (updated here) holds the batches already read; a line that does not
    parse, or a batch seen before, is skipped.
    """
    for raw in data.splitlines():
        try:
            line = orjson.loads(raw)
        except orjson.JSONDecodeError:
            continue
        if not isinstance(line, dict) or not isinstance(line.get("series"), dict):
            continue
        if seqs is not None:
            seq = line.get("seq")
            if isinstance(seq, int):
                if seq in seqs:
                    continue
                seqs.add(seq)
        for name, column in line["series"].items():
            if not isinstance(column, dict):
                continue
            steps = column.get("steps")
            if type(steps) is list:  # integers as written; a damaged column fails in the caller's TypeError guard
                values = column.get("values") or []
                specials = column.get("specials")
                if isinstance(specials, dict) and specials:  # the NaN/infinities written as null
                    values = list(values)
                    for index, name_of_value in specials.items():
                        if str(index).isdigit() and int(index) < len(values) and name_of_value in _SPECIALS:
                            values[int(index)] = name_of_value
                yield name, steps, values, column.get("timestamps") or []


def seqs_from_blob(blob: bytes | None) -> set[int]:
    """The batch numbers read so far, from the index."""
    return set(array("q", blob)) if blob else set()


def seqs_to_blob(seqs: set[int]) -> bytes:
    """The batch numbers read so far, for the index."""
    return array("q", sorted(seqs)).tobytes()


def _posix(stamp: Any) -> float:
    if isinstance(stamp, int | float) and not isinstance(stamp, bool):
        return float(stamp)
    if isinstance(stamp, str):
        try:
            time = datetime.fromisoformat(stamp)
        except ValueError:
            return math.nan
        return (time.replace(tzinfo=UTC) if time.tzinfo is None else time).timestamp()
    return math.nan


def series_points(
    log: bytes | None, metrics_json: bytes | None, names: Sequence[str] | None
) -> dict[str, tuple[list[int], list[float], list[float]]]:
    """Every point per metric, in logged order: from the log when there is one, else metrics.json."""
    wanted = None if names is None else set(names)
    out: dict[str, tuple[list[int], list[float], list[float]]] = {}

    def take(name: str, steps: list[int], values: list[Any], stamps: list[Any], iso: bool) -> None:
        if wanted is not None and name not in wanted:
            return
        n = min(len(steps), len(values), len(stamps))
        column = out.setdefault(name, ([], [], []))
        column[0].extend(steps[:n])
        column[1].extend(floats(values[:n]))
        column[2].extend(map(_posix, stamps[:n]) if iso else floats(stamps[:n]))

    if log is not None:
        end = log.rfind(b"\n") + 1
        for name, steps, values, stamps in batches(log[:end], set()):
            take(name, steps, values, stamps, False)
    elif metrics_json is not None:
        data, _ = load_json(metrics_json, "metrics.json")
        for name, column in (data if isinstance(data, dict) else {}).items():
            if isinstance(column, dict):
                steps = column.get("steps") or []
                if all(isinstance(s, int) for s in steps):
                    take(str(name), steps, column.get("values") or [], column.get("timestamps") or [], True)
    return out
