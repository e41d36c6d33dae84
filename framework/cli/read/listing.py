"""``gnomon ls``: list runs, like ``git log`` for experiments."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import click

from gnomon.cli.read.failures import reported
from gnomon.cli.read.output import emit, format_options, on_terminal
from gnomon.cli.read.selection import select, selection_options, split
from gnomon.cli.read.stores import opened, store_option

if TYPE_CHECKING:
    from gnomon.query.store import RunSet

__all__ = ["choose_columns", "ls"]

_TABLE_FIXED = ("experiment", "status", "start_time", "duration")
_EMPTY = (
    "run_id",
    "experiment",
    "command",
    "status",
    "recorded_status",
    "start_time",
    "stop_time",
    "heartbeat",
    "duration",
    "host",
    "git.commit",
    "git.dirty",
    "comment",
    "tags",
    "notes",
    "result",
)


def _key(value: Any) -> Any:
    try:
        hash(value)
    except TypeError:
        return repr(value)
    return "nan" if isinstance(value, float) and value != value else value


def _varying(rows: Sequence[dict[str, Any]], names: Sequence[str]) -> set[str]:
    missing = object()
    return {n for n in names if len({_key(r.get(n, missing)) for r in rows}) > 1}


def choose_columns(rows: Sequence[dict[str, Any]], wanted: bool, varying: bool | None, machine: bool) -> list[str]:
    """The columns to write: what was asked for, everything for machine formats, a readable subset for tables.

    ``varying`` (the default for tables) keeps only the config columns whose values differ.
    """
    if not rows:
        return list(_EMPTY)
    names = list(dict.fromkeys(n for row in rows for n in row))
    config = [n for n in names if n.startswith("config.")]
    if varying is None:
        varying = not wanted and not machine and len(rows) > 1
    if varying:
        keep = _varying(rows, config)
        names = [n for n in names if not n.startswith("config.") or n in keep]
    if wanted or machine:
        return names
    metrics = Counter(
        n.rsplit(".", 1)[0] for row in rows for n, v in row.items() if n.startswith("metrics.") and v is not None
    )
    common = sorted(name for name, _ in metrics.most_common(3))  # "metrics.<name>" prefixes
    shown = ["run_id", *_TABLE_FIXED]
    shown += [n for n in names if n.startswith("config.")]
    shown += [f"{m}.last" for m in common]
    if any(row.get("tags") for row in rows):
        shown.append("tags")
    if any(row.get("result") is not None for row in rows):
        shown.append("result")
    return shown


@click.command("ls")
@click.argument("store", metavar="[STORE]", required=False)
@store_option
@selection_options
@click.option(
    "-c",
    "--columns",
    "columns",
    metavar="PATH,…",
    multiple=True,
    help="Columns to show (globs such as 'config.*' allowed); '?' lists the columns.",
)
@click.option(
    "--varying/--no-varying",
    default=None,
    help="Only config columns whose values differ (the default for tables) / every config column.",
)
@click.option(
    "--facet", "facets", metavar="PATH", multiple=True, help="Count the runs per value of this column instead."
)
@click.option("-q", "--ids", "only_ids", is_flag=True, help="Print only the run ids, one per line.")
@click.option("--watch", is_flag=True, help="Keep the listing up to date until interrupted (Ctrl-C).")
@click.option(
    "--interval",
    metavar="SECONDS",
    type=click.FloatRange(min=0.1),
    default=2.0,
    show_default=True,
    help="How often --watch reads the store again.",
)
@format_options
@reported
def ls(
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
    varying: bool | None,
    facets: tuple[str, ...],
    only_ids: bool,
    watch: bool,
    interval: float,
    fmt: str | None,
) -> None:
    """List runs, newest first.

    STORE (or -S/--store, $GNOMON_STORE, ./runs) is a folder or a database URL.
    """
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
        wanted = split(columns)
        if wanted == ["?"]:
            infos = runs.columns()
            emit(
                [{"column": c.path, "kind": c.kind, "distinct": c.n_distinct} for c in infos],
                ["column", "kind", "distinct"],
                fmt,
            )
            return
        if facets:
            counts = runs.facets(*split(facets))
            emit(
                [{"column": path, "value": value, "count": n} for path, pairs in counts.items() for value, n in pairs],
                ["column", "value", "count"],
                fmt,
            )
            return
        if only_ids:
            out = sys.stdout
            out.write("".join(f"{run_id}\n" for run_id in runs.ids))
            return
        rows = runs.rows(wanted or None)
        names = choose_columns(rows, bool(wanted), varying, fmt is not None)
        emit(rows, names, fmt)
        if watch:
            _watch(runs, wanted, varying, fmt, interval)


def _watch(runs: RunSet, wanted: list[str], varying: bool | None, fmt: str | None, interval: float) -> None:
    """Redraw the table on a terminal; elsewhere write one line per change (JSON objects with a ``change`` key)."""
    try:
        if fmt is None and on_terminal():
            from rich.live import Live

            from gnomon.cli.read.output import rich_table

            def table() -> Any:
                rows = runs.rows(wanted or None)
                return rich_table(rows, choose_columns(rows, bool(wanted), varying, False))

            with Live(table(), auto_refresh=False) as live:
                for _ in runs.watch(interval):
                    live.update(table(), refresh=True)
            return
        from gnomon.cli.read.encoding import dumps

        out = sys.stdout
        for changes in runs.watch(interval):
            rows = {row["run_id"]: row for row in runs.rows(wanted or None)}
            for kind, ids in (("added", changes.added), ("updated", changes.updated), ("removed", changes.removed)):
                for run_id in ids:
                    row = rows.get(run_id, {"run_id": run_id})
                    if fmt in ("json", "nl"):
                        out.write(dumps({"change": kind, **row}) + "\n")
                    else:
                        status = row.get("status") or ""
                        out.write(f"{kind}\t{run_id}\t{status}\n")
            out.flush()
    except KeyboardInterrupt:
        return
