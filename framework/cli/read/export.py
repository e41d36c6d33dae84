"""``gnomon export``: the runs ``ls`` selects, all their columns, to a file or stdout.

CSV, TSV, JSON and JSON lines are written without pandas, row by row; Parquet
(``--to runs.parquet``) needs pandas and pyarrow. ``--metrics`` exports metric
series in long format instead of one row per run.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from gnomon.cli.read.failures import ReadError, reported
from gnomon.cli.read.output import format_options, write_rows
from gnomon.cli.read.selection import select, selection_options, split
from gnomon.cli.read.stores import opened, store_option

__all__ = ["export", "write_parquet"]

_SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".jsonl": "nl", ".ndjson": "nl", ".json": "json", ".parquet": "parquet"}


def write_parquet(rows: list[dict[str, Any]], columns: list[str], path: Path) -> None:
    """Rows to a Parquet file; columns mixing types (or holding lists and mappings) become JSON text."""
    import pandas as pd

    from gnomon.cli.read.encoding import plain

    data: dict[str, list[Any]] = {}
    for name in columns:
        values = [row.get(name) for row in rows]
        kinds = {type(v) for v in values if v is not None}
        if (kinds and (len(kinds) > 1 and not kinds <= {int, float})) or kinds & {list, tuple, dict}:
            values = [None if v is None else json.dumps(plain(v), ensure_ascii=False) for v in values]
        data[name] = values
    frame = pd.DataFrame(data, columns=columns)
    for name in ("start_time", "stop_time", "heartbeat", "time"):
        if name in frame:
            frame[name] = pd.to_datetime(frame[name], utc=True)
    if "duration" in frame:
        frame["duration"] = pd.to_timedelta(frame["duration"]).dt.total_seconds()
    try:
        frame.to_parquet(path, index=False)
    except ImportError as error:
        raise ReadError(f"writing Parquet needs pyarrow: pip install pyarrow ({error})") from None


@click.command("export")
@click.argument("store", metavar="[STORE]", required=False)
@store_option
@selection_options
@click.option("-c", "--columns", "columns", metavar="PATH,…", multiple=True, help="Only these columns (globs allowed).")
@click.option(
    "--to",
    "target",
    metavar="FILE",
    help="Write to FILE: .csv, .tsv, .json, .jsonl or .parquet (default: JSON lines on stdout).",
)
@click.option(
    "--metrics",
    "metric_names",
    metavar="NAME,…",
    multiple=True,
    help="Export these metrics' series (run_id, name, step, value, time) instead of the runs.",
)
@click.option("--points", metavar="N", type=click.IntRange(min=4), help="With --metrics: at most N points per series.")
@format_options
@reported
def export(
    store: str | None,
    store_url: str | None,
    where: str | None,
    experiment: str | None,
    status: str | None,
    tags: tuple[str, ...],
    since: str | None,
    until: str | None,
    limit: int | None,
    sort: str,
    columns: tuple[str, ...],
    target: str | None,
    metric_names: tuple[str, ...],
    points: int | None,
    fmt: str | None,
) -> None:
    """Export the selected runs (the same options as ls) with every column.

    STORE (or -S/--store, $GNOMON_STORE, ./runs) is a folder or a database URL.
    """
    kind = fmt or "nl"
    if target is not None:
        suffix = Path(target).suffix.lower()
        if suffix not in _SUFFIXES:
            raise ReadError(f"cannot tell the format of {target!r}: name it .csv, .tsv, .json, .jsonl or .parquet", 2)
        kind = _SUFFIXES[suffix]
    with opened(store_url, store) as source:
        runs = select(
            source,
            where=where,
            experiment=experiment,
            status=status,
            tags=tags,
            since=since,
            until=until,
            limit=limit,
            sort=sort,
        )
        names = split(metric_names)
        if names:
            from gnomon.cli.read.metrics import series_rows

            selected = runs.rows(["start_time"])
            starts = {r["run_id"]: r["start_time"] for r in selected}
            order = {run_id: i for i, run_id in enumerate(starts)}
            series = sorted(
                source.backend.series(list(starts), names) if starts else [],
                key=lambda s: (order.get(str(s.run_id), len(order)), s.name),
            )
            rows, names_out = series_rows(series, starts, points=points)
            what = "points"
        else:
            rows = runs.rows(split(columns) or None)
            names_out = list(rows[0]) if rows else ["run_id"]
            what = "runs"
    if kind == "parquet":
        assert target is not None
        write_parquet(rows, names_out, Path(target))
    elif target is None:
        out = sys.stdout
        write_rows(rows, names_out, kind, out)
        out.flush()
        return
    else:
        with open(target, "w", encoding="utf-8", newline="") as out:
            write_rows(rows, names_out, kind, out)
    print(f"wrote {len(rows):,} {what} to {target}", file=sys.stderr)
