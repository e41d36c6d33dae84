"""Metric series of many runs as one long DataFrame: read, smoothed, windowed and downsampled.

What :meth:`RunSet.metrics <gnomon.query.store.RunSet.metrics>` and
:meth:`StoredRun.metric <gnomon.query.stored_run.StoredRun.metric>` return, and what
the dashboard's plots are drawn from. Series come from the store's cache where still
valid and from the backend otherwise; a backend that reads binary copies (file
storage) is read one run at a time, so a plot of many long runs never holds all of
their points at once.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from gnomon.query.series import Arrays
    from gnomon.query.store import Store

__all__ = ["series_arrays", "series_frame"]


def _each_series(
    store: Store, records: Sequence[Mapping[str, Any]], names: Sequence[str] | None
) -> Iterator[tuple[tuple[str, str], Arrays]]:
    """``((run, metric), arrays)`` in order of run and metric.

    Series read from binary copies come one run at a time, so a plot of many long
    runs holds one run's points at once (it is downsampled before the next is
    read); other backends answer for all runs in one call.
    """
    if getattr(store.backend, "series_from_copies", False):
        ordered = sorted(records, key=lambda r: str(r["run_id"]))
        for record in ordered:
            yield from sorted(series_arrays(store, [record], names).items(), key=lambda kv: kv[0])
    else:
        yield from sorted(series_arrays(store, records, names).items(), key=lambda kv: kv[0])


def series_arrays(
    store: Store, records: Sequence[Mapping[str, Any]], names: Sequence[str] | None
) -> dict[tuple[str, str], Arrays]:
    """The wanted series of these runs, from the cache where still valid, the rest in one backend call."""
    from gnomon.query.series import Arrays

    found: dict[tuple[str, str], Arrays] = {}
    stamps: dict[tuple[str, str], Any] = {}
    missing_runs: set[str] = set()
    missing_names: set[str] = set()
    # Series read from binary copies (file storage) cost a file mapping: memory would only hold them twice.
    cache = None if getattr(store.backend, "series_from_copies", False) else store.series_cache
    for record in records:
        run_id = str(record["run_id"])
        summaries = record.get("metrics") or {}
        for name in (names if names is not None else summaries):
            if name not in summaries:
                continue
            stamp = (summaries[name].get("count"), summaries[name].get("last_step"), record.get("recorded_status"))
            stamps[(run_id, name)] = stamp
            cached = None if cache is None else cache.get(run_id, name, stamp)
            if cached is None:
                missing_runs.add(run_id)
                missing_names.add(name)
            else:
                found[(run_id, name)] = cached
    if missing_runs:
        # A backend that reads numpy arrays itself (file storage's binary copies) skips the lists.
        if getattr(store.backend, "series_as_arrays", False):
            found_series = store.backend.series(sorted(missing_runs), sorted(missing_names), arrays=True)  # type: ignore[call-arg]
            pieces = [(str(s.run_id), s.name, Arrays(s.steps, s.values, s.times)) for s in found_series]  # type: ignore[arg-type]
        else:
            pieces = [
                (str(s.run_id), s.name, Arrays.of(s.steps, s.values, s.times))
                for s in store.backend.series(sorted(missing_runs), sorted(missing_names))
            ]
        for run_id, name, arrays in pieces:
            key = (run_id, name)
            if key not in stamps or key in found:
                continue
            found[key] = arrays
            if cache is not None and stamps[key][0] == len(arrays):  # only what matches the summary read with it
                cache.put(key[0], key[1], stamps[key], arrays)
    return found


def series_frame(
    store: Store,
    records: Sequence[Mapping[str, Any]],
    names: Sequence[str] | None,
    *,
    x: str,
    max_points: int | None,
    smooth: str | None,
    window: tuple[float, float] | None,
) -> pd.DataFrame:
    """Long DataFrame of series (``run_id, name, step, value, time`` [, ``elapsed``] [, ``min, max``])."""
    import numpy as np
    import pandas as pd

    from gnomon.query.series import downsample, parse_smoothing
    from gnomon.query.series import smooth as apply_smoothing

    if x not in ("step", "time", "elapsed"):
        raise ValueError(f"x must be 'step', 'time' or 'elapsed', not {x!r}")
    if max_points is not None and max_points < 4:
        raise ValueError(f"max_points must be at least 4, not {max_points}")
    smoothing = parse_smoothing(smooth)
    starts = {str(r["run_id"]): r.get("start_time") for r in records}
    pieces: list[dict[str, Any]] = []
    for (run_id, name), arrays in _each_series(store, records, names):
        start = starts.get(run_id)
        origin = start.timestamp() if isinstance(start, datetime) else (arrays.times[0] if len(arrays) else 0.0)
        if x == "step":
            xs = arrays.steps.astype(np.float64)
        else:
            order = np.argsort(arrays.times, kind="stable")
            if np.any(order != np.arange(len(order))):
                arrays = type(arrays)(arrays.steps[order], arrays.values[order], arrays.times[order])
            xs = arrays.times - (origin if x == "elapsed" else 0.0)
        # Smoothing runs on the whole series, so a zoomed view shows the same curve.
        values = apply_smoothing(arrays.values, smoothing) if smoothing else arrays.values
        if window is not None:
            lo, hi = window
            if x == "time":
                lo, hi = _posix(lo), _posix(hi)
            first = int(np.searchsorted(xs, lo, side="left"))
            end = int(np.searchsorted(xs, hi, side="right"))
            arrays = type(arrays)(arrays.steps[first:end], values[first:end], arrays.times[first:end])
            values, xs = arrays.values, xs[first:end]
        piece: dict[str, Any] = {"step": arrays.steps, "value": values, "time": arrays.times}
        if x == "elapsed":
            piece["elapsed"] = xs
        if max_points is not None:
            keep, lows, highs = downsample(xs, values, max_points)
            piece = {key: column[keep] for key, column in piece.items()}
            piece["min"], piece["max"] = lows, highs
        piece["run_id"] = np.full(len(piece["step"]), run_id, dtype=object)
        piece["name"] = np.full(len(piece["step"]), name, dtype=object)
        pieces.append(piece)
    columns = ["run_id", "name", "step", "value", "time"]
    if x == "elapsed":
        columns.append("elapsed")
    if max_points is not None:
        columns += ["min", "max"]
    if not pieces:
        return pd.DataFrame({c: pd.Series(dtype=object if c in ("run_id", "name") else float) for c in columns})
    data = {c: np.concatenate([p[c] for p in pieces]) for c in columns}
    frame = pd.DataFrame(data)
    frame["step"] = frame["step"].astype("int64")
    frame["time"] = pd.to_datetime(frame["time"], unit="s", utc=True)
    return frame


def _posix(value: Any) -> float:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    return float(value)
