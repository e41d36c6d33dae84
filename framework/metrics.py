"""The in-memory buffer behind ``log_scalar``.

``log_scalar`` is called from training loops millions of times, so the caller's
thread does the least possible: check that the value is a number, take the time,
and extend a list by the point's four items (atomic, so no lock is needed). The
heartbeat drains the deque, assigns implicit steps and ships the points as one
:class:`~gnomon.events.MetricsEvent`. Nothing is encoded or written on the
caller's thread.
"""

from __future__ import annotations

import time
from numbers import Number
from typing import Any

from gnomon.events import MetricSeries

__all__ = ["MetricsBuffer"]


def _as_number(name: Any, value: Any) -> float | int:
    """Python numbers pass; numpy scalars and 0-d arrays become Python numbers."""
    if type(name) is not str:
        raise TypeError(f"log_scalar: the metric name must be a str, not {name!r}")
    item = getattr(value, "item", None)
    if item is not None and getattr(value, "ndim", 0) == 0:
        value = item()
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return value
    if isinstance(value, Number):
        return float(value)  # type: ignore[arg-type]
    raise TypeError(f"log_scalar({name!r}, ...): {value!r} is not a number; metrics hold scalars only")


class MetricsBuffer:
    """Points logged since the last drain, and the next implicit step of each metric.

    Each point is appended to a list as four flat items in one ``extend`` call,
    which no other thread can interleave with; no per-point object survives, so
    millions of points cost the garbage collector nothing. A list rather than a
    deque: a drain takes its columns out with four strided slices (C loops), where
    a deque would be copied item by item first.
    """

    __slots__ = ("_next_step", "_points", "log_scalar")

    def __init__(self) -> None:
        points: list[Any] = []
        extend = points.extend
        now = time.time
        self._points = points
        self._next_step: dict[str, Any] = {}

        def log_scalar(name: str, value: Any, step: Any = None) -> None:
            """Add one point; ``step`` defaults to the metric's last step plus one (from 0)."""
            kind = value.__class__
            if (kind is not float and kind is not int) or name.__class__ is not str:
                value = _as_number(name, value)
            if step is not None and step.__class__ is not int:
                step = _as_number(name, step)
            extend((name, value, step, now()))

        self.log_scalar = log_scalar

    def __len__(self) -> int:
        """Points waiting to be drained."""
        return len(self._points) // 4

    def drain(self, *, final: bool = False) -> dict[str, MetricSeries]:
        """Take every buffered point out, by metric name (empty when none).

        Safe while other threads add points: only the whole points present when
        the drain starts are taken (each was added by one ``extend``), and points
        added meanwhile join the end of the list and wait for the next drain.
        ``final`` (the run has ended) changes nothing and is kept for callers.
        """
        points = self._points
        end = len(points) // 4 * 4
        if not end:
            return {}
        names, values, steps, stamps = points[0:end:4], points[1:end:4], points[2:end:4], points[3:end:4]
        del points[:end]
        first = names[0]
        count = len(names)
        # One metric logged with implicit steps is the common case: then every name
        # is usually the same str object and every step is None, which count()
        # confirms by identity before comparing, at the speed of a C loop.
        if names.count(first) == count and steps.count(None) == count:
            start = self._next_step.get(first, 0)
            self._next_step[first] = start + count
            steps = list(range(start, start + count))
            return {first: MetricSeries(steps, values, stamps)}
        return self._group(names, values, steps, stamps)

    def _group(
        self, names: list[str], values: list[Any], steps: list[Any], stamps: list[float]
    ) -> dict[str, MetricSeries]:
        series: dict[str, tuple[list[Any], list[Any], list[float]]] = {}
        next_step = self._next_step
        for name, value, step, stamp in zip(names, values, steps, stamps, strict=True):
            lists = series.get(name)
            if lists is None:
                lists = series[name] = ([], [], [])
            if step is None:
                step = next_step.get(name, 0)
            next_step[name] = step + 1
            lists[0].append(step)
            lists[1].append(value)
            lists[2].append(stamp)
        return {name: MetricSeries(*lists) for name, lists in series.items()}
