"""Reading a run's metric points for the query API: binary copies first, the log otherwise, numpy when installed.

:class:`PointReader` serves :meth:`.store.FileRunStore.series` and
``series_arrays``: every point of the wanted metrics of each run, sorted by step
(ties in logged order), as numpy arrays when numpy is installed and as lists
otherwise. With numpy, and a writable place for them, the points come from the
binary copies of :mod:`.series_files`; else the log is parsed as
:func:`.series.series_points` reads it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any

from gnomon.observers.file.series import series_points
from gnomon.observers.file.series_files import SeriesFiles

__all__ = ["PointReader"]


class PointReader:
    """The metric points of a storage folder's runs; ``copies`` is where binary copies go (None: none kept)."""

    def __init__(self, basedir: Path, copies: Path | None) -> None:
        self.basedir = basedir
        self.numpy = _has_numpy()
        self.copies = SeriesFiles(copies) if self.numpy and copies is not None else None
        self._lock = threading.Lock()

    def read(
        self, run_ids: Sequence[str], names: Sequence[str] | None, steps: tuple[int, int] | None
    ) -> Iterator[tuple[str, str, tuple[Any, Any, Any]]]:
        """``(run, metric, (steps, values, times))`` sorted by step: numpy arrays when numpy is there, else lists."""
        for run_id in run_ids:
            name = str(run_id)
            if not name or name[0] in "_." or "/" in name:
                continue
            points = self._run_points(name, names)
            for metric in list(dict.fromkeys(names)) if names is not None else sorted(points):
                if metric in points:
                    yield name, metric, _ordered(points[metric], steps)

    def _run_points(self, name: str, names: Sequence[str] | None) -> dict[str, tuple[Any, Any, Any]]:
        """One run's points per metric in logged order, from the binary copies when possible.

        One run is read at a time: plots asked for at once then parse a log once, and
        never hold several logs' worth of Python floats together (parsing holds the
        interpreter lock anyway, so nothing is slower).
        """
        folder = self.basedir / name
        with self._lock:
            if self.copies is not None:
                found = self.copies.read(folder, name, names)
                if found is not None:
                    return found
            log = _read(folder / "metrics.jsonl")
            points = series_points(log, None if log is not None else _read(folder / "metrics.json"), names)
        if not self.numpy:
            return points  # type: ignore[return-value]
        import numpy as np

        arrays: dict[str, tuple[Any, Any, Any]] = {}
        for metric, (xs, values, times) in points.items():
            try:
                steps = np.asarray(xs, dtype=np.int64)
            except (OverflowError, TypeError, ValueError):
                return points  # type: ignore[return-value] # steps numpy cannot hold: kept as read
            if any(type(x) is not int for x in xs):
                return points  # type: ignore[return-value]
            arrays[metric] = (steps, np.asarray(values, dtype=np.float64), np.asarray(times, dtype=np.float64))
        return arrays


def _ordered(points: tuple[Any, Any, Any], steps: tuple[int, int] | None) -> tuple[Any, Any, Any]:
    """A metric's points within ``steps`` (inclusive), sorted by step, ties in logged order."""
    xs, values, times = points
    if isinstance(xs, list):  # no numpy
        order: Sequence[int] = range(len(xs))
        if steps is not None:
            order = [i for i in order if steps[0] <= xs[i] <= steps[1]]
        if any(a > b for a, b in pairwise(xs)):
            order = sorted(order, key=xs.__getitem__)
        return [xs[i] for i in order], [values[i] for i in order], [times[i] for i in order]
    import numpy as np

    if steps is not None:
        keep = (xs >= steps[0]) & (xs <= steps[1])
        xs, values, times = xs[keep], values[keep], times[keep]
    if len(xs) > 1 and bool(np.any(xs[1:] < xs[:-1])):
        by_step = np.argsort(xs, kind="stable")
        xs, values, times = xs[by_step], values[by_step], times[by_step]
    return xs, values, times


def _has_numpy() -> bool:
    """Whether numpy can be imported (the ``query`` extra); without it series stay lists, parsed from the log."""
    import importlib.util

    return importlib.util.find_spec("numpy") is not None


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return None
