"""``gnomon metrics RUN… [NAME…]``: metric series in long format, downsampled, or as sparklines.

Series are read with one backend call for all the runs (the store's ``series``
primitive), so this command needs no pandas, and numpy only for ``--points``.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

from gnomon.cli.read.failures import ReadError, reported
from gnomon.cli.read.output import emit, format_options
from gnomon.cli.read.references import is_reference, resolve
from gnomon.cli.read.stores import opened, store_option

if TYPE_CHECKING:
    from gnomon.query.protocol import Series
    from gnomon.query.store import Store

__all__ = ["metrics", "series_rows", "sparkline"]

_BARS = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float | None], width: int = 32) -> str:
    """Values as a line of block characters: each character one bucket's mean, NaN and infinities skipped."""
    finite: list[float] = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return ""
    buckets = min(width, len(values))
    means = []
    for b in range(buckets):
        chunk: list[float] = [
            v
            for v in values[b * len(values) // buckets : (b + 1) * len(values) // buckets]
            if v is not None and math.isfinite(v)
        ]
        means.append(sum(chunk) / len(chunk) if chunk else None)
    low, high = min(finite), max(finite)
    span = high - low
    return "".join(" " if m is None else _BARS[0 if span == 0 else min(7, int((m - low) / span * 8))] for m in means)


def _split(store: Store, arguments: Sequence[str]) -> tuple[list[str], list[str]]:
    """Leading run references, then metric names (a non-reference that is a run id counts as a run)."""
    refs = [arguments[0]]
    rest = list(arguments[1:])
    while rest and is_reference(rest[0]):
        refs.append(rest.pop(0))
    return resolve(store, refs), rest


def _names_of(store: Store, ids: list[str]) -> dict[str, list[str]]:
    runs: dict[str, list[str]] = {}
    for row in store.runs(ids=ids, order_by=None).rows():
        runs[row["run_id"]] = sorted({n[len("metrics.") :].rsplit(".", 1)[0] for n in row if n.startswith("metrics.")})
    return runs


def _time(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


@click.command("metrics")
@click.argument("runs_and_names", metavar="RUN… [NAME…]", nargs=-1, required=True)
@store_option
@click.option(
    "--x",
    "x",
    type=click.Choice(["step", "time", "elapsed"]),
    default="step",
    show_default=True,
    help="The x axis for --points and --spark; 'elapsed' adds seconds since the run started.",
)
@click.option(
    "--points",
    metavar="N",
    type=click.IntRange(min=4),
    help="Downsample each series to at most N points "
    "keeping each bucket's first, last, min and max (adds min and max columns).",
)
@click.option("--every", metavar="K", type=click.IntRange(min=1), help="Keep every K-th point (and the last).")
@click.option("--spark", is_flag=True, help="One line per series: a sparkline with first, last, min and max.")
@format_options
@reported
def metrics(
    runs_and_names: tuple[str, ...],
    store_url: str | None,
    x: str,
    points: int | None,
    every: int | None,
    spark: bool,
    fmt: str | None,
) -> None:
    """Print metric series as rows of run_id, name, step, value, time.

    RUN is an id, latest, latest~N, a range or a comma list; NAME picks metrics (default: all).
    """
    with opened(store_url) as store:
        ids, names = _split(store, runs_and_names)
        available = _names_of(store, ids)
        known = sorted({n for ns in available.values() for n in ns})
        for name in names:
            if name not in known:
                close = difflib.get_close_matches(name, known, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else f"; they have {', '.join(known) or 'none'}"
                raise ReadError(f"no metric {name!r} in run{'s' if len(ids) > 1 else ''} {', '.join(ids)}{hint}")
        starts = {r["run_id"]: r.get("start_time") for r in store.runs(ids=ids, order_by=None).rows(["start_time"])}
        series = sorted(
            store.backend.series(ids, names or None),
            key=lambda s: (ids.index(str(s.run_id)) if str(s.run_id) in ids else len(ids), s.name),
        )
    rows, columns = series_rows(series, starts, x=x, points=points, every=every, spark=spark)
    emit(rows, columns, fmt)


def series_rows(
    series: Iterable[Series],
    starts: dict[str, Any],
    *,
    x: str = "step",
    points: int | None = None,
    every: int | None = None,
    spark: bool = False,
) -> tuple[list[dict[str, Any]], list[str]]:
    """Long rows (``run_id, name, step, value, time`` [, ``elapsed``] [, ``min, max``]) and their columns.

    ``starts`` maps run ids to start times (for ``x="elapsed"``); with ``spark`` one summary row per series.
    """
    rows: list[dict[str, Any]] = []
    columns = ["run_id", "name", "step", "value", "time"] + (["elapsed"] if x == "elapsed" else [])
    if points is not None and not spark:
        columns += ["min", "max"]
    for item in series:
        run_id = str(item.run_id)
        stored: Sequence[Any] = item.values  # a backend may hold None for a point it could not keep
        steps, times = list(item.steps), list(item.times)
        values = [math.nan if v is None else float(v) for v in stored]
        start = starts.get(run_id)
        origin = start.timestamp() if isinstance(start, datetime) else (times[0] if times else 0.0)
        if spark:
            finite = [v for v in values if math.isfinite(v)]
            rows.append(
                {
                    "run_id": run_id,
                    "name": item.name,
                    "points": len(values),
                    "first": values[0] if values else None,
                    "last": values[-1] if values else None,
                    "min": min(finite) if finite else None,
                    "max": max(finite) if finite else None,
                    "spark": sparkline(_ordered(values, times, x)),
                }
            )
            continue
        keep = list(range(len(steps)))
        lows: list[float] | None = None
        highs: list[float] | None = None
        if every is not None:
            keep = keep[::every] + ([keep[-1]] if keep and (len(keep) - 1) % every else [])
        if x != "step":
            keep.sort(key=lambda i: times[i])
        if points is not None and len(keep) > 0:
            import numpy as np

            from gnomon.query.series import downsample

            chosen = np.asarray(keep)
            xs = np.asarray(steps, dtype=np.float64)[chosen] if x == "step" else np.asarray(times)[chosen]
            kept, low, high = downsample(xs, np.asarray(values, dtype=np.float64)[chosen], points)
            keep, lows, highs = [keep[i] for i in kept], list(map(float, low)), list(map(float, high))
        for position, i in enumerate(keep):
            row = {
                "run_id": run_id,
                "name": item.name,
                "step": int(steps[i]),
                "value": values[i],
                "time": _time(times[i]),
            }
            if x == "elapsed":
                row["elapsed"] = times[i] - origin
            if lows is not None and highs is not None:
                row["min"], row["max"] = lows[position], highs[position]
            rows.append(row)
    if spark:
        columns = ["run_id", "name", "points", "first", "last", "min", "max", "spark"]
    return rows, columns


def _ordered(values: list[float], times: list[float], x: str) -> list[float]:
    if x == "step":
        return values
    return [v for _, v in sorted(zip(times, values, strict=True), key=lambda tv: tv[0])]
