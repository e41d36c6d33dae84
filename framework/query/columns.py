"""Runs as rows of named columns: full dotted paths, the same names in every store.

Columns are ``config.model.depth`` and ``metrics.val/loss.min``: never renamed to
their last element (``optim.lr`` and ``sched.lr`` would collide). Config keys
cannot hold ``.`` (Sacred forbids it), so a config column name is unambiguous;
metric names may hold ``.`` and ``/``, so a metric column is read from the right
(its last part is the summary).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from gnomon.query.tree import METRIC_SUMMARIES
from gnomon.spelling import close_matches

__all__ = [
    "BLOCKS",
    "FIXED_COLUMNS",
    "ColumnInfo",
    "blocks_for",
    "column_infos",
    "column_kind",
    "columns_of",
    "flatten",
    "most_frequent",
    "row_of",
    "select_columns",
    "unknown_columns_message",
    "varying_columns",
]

#: Column groups read from the store only when a column of theirs (or a filter) needs them.
BLOCKS = ("info", "meta", "host")
_MISSING = object()

#: The columns every listing has, in this order, before config and metrics.
FIXED_COLUMNS = (
    "experiment", "command", "status", "recorded_status", "start_time", "stop_time", "heartbeat", "duration",
    "host", "git.commit", "git.dirty", "comment", "tags", "notes", "result",
)
#: Blocks shown only when asked for (``columns=["info.*"]``); ``host`` alone is the hostname.
_ON_REQUEST = ("info", "meta", "host")


@dataclass(frozen=True, slots=True)
class ColumnInfo:
    """A column of a run set: its name, the kind of its values and how many distinct values it has."""

    path: str
    kind: str
    n_distinct: int


def _is_tagged(value: Mapping[str, Any]) -> bool:
    return "__type__" in value


def flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    """Nested dicts as ``prefix.key.sub`` entries; anything else (lists included) is one value."""
    if type(value) is not dict or not value or "__type__" in value:
        if isinstance(value, Mapping) and value and not _is_tagged(value):  # a Mapping that is not a dict
            value = dict(value)
        else:
            out[prefix] = value
            return
    # An explicit stack: records are plain dicts, and this runs for every run listed.
    stack = [(prefix, value)]
    while stack:
        head, current = stack.pop()
        for key, item in current.items():
            name = f"{head}.{key}"
            if type(item) is dict and item and "__type__" not in item:
                stack.append((name, item))
            else:
                out[name] = item


@lru_cache(maxsize=4096)
def _metric_columns(name: str) -> tuple[tuple[str, str], ...]:
    """``metrics.<name>.<summary>`` column names, made once per metric name rather than once per run."""
    return tuple((f"metrics.{name}.{agg}", agg) for agg in METRIC_SUMMARIES)


def row_of(record: Mapping[str, Any], *, blocks: Iterable[str] = ()) -> dict[str, Any]:
    """Every column of one record: the fixed ones, ``config.*``, ``metrics.*`` and the asked-for blocks."""
    start, stop = record.get("start_time"), record.get("stop_time")
    git = record.get("git") or {}
    row: dict[str, Any] = {
        "experiment": record.get("experiment"),
        "command": record.get("command"),
        "status": record.get("status"),
        "recorded_status": record.get("recorded_status"),
        "start_time": start,
        "stop_time": stop,
        "heartbeat": record.get("heartbeat"),
        "duration": stop - start if isinstance(start, datetime) and isinstance(stop, datetime) else None,
        "host": record.get("hostname"),
        "git.commit": git.get("commit"),
        "git.dirty": git.get("dirty"),
        "comment": record.get("comment"),
        "tags": tuple(record.get("tags") or ()),
        "notes": record.get("notes"),
        "result": record.get("result"),
    }
    flatten("config", record.get("config") or {}, row)
    row.pop("config", None)  # an empty config has no columns
    for name, summary in (record.get("metrics") or {}).items():
        for column, agg in _metric_columns(name):
            row[column] = summary.get(agg)
    for block in blocks:
        if isinstance(record.get(block), Mapping):
            extra: dict[str, Any] = {}
            flatten(block, record[block], extra)
            extra.pop(block, None)
            row.update(extra)
    return row


def columns_of(records: Sequence[Mapping[str, Any]], *, blocks: Iterable[str] = ()) -> dict[str, list[Any]]:
    """The same data as :func:`row_of` for every record, column by column (for DataFrames).

    Each value is written once, straight into its column: building a dict per run and
    then reading every column back out of every dict costs twice as much.
    """
    n = len(records)
    columns: dict[str, list[Any]] = {}
    blocks = tuple(blocks)
    for i, record in enumerate(records):
        for name, value in row_of(record, blocks=blocks).items():
            column = columns.get(name)
            if column is None:
                column = columns[name] = [None] * n
            column[i] = value
    return columns


def column_kind(values: Iterable[Any]) -> str:
    """``number``, ``string``, ``bool``, ``time``, ``duration``, ``list``, ``mixed`` or ``empty``."""
    kinds = set()
    for value in values:
        if value is None:
            continue
        if isinstance(value, bool):
            kinds.add("bool")
        elif isinstance(value, int | float):
            kinds.add("number")
        elif isinstance(value, str):
            kinds.add("string")
        elif isinstance(value, datetime):
            kinds.add("time")
        elif isinstance(value, timedelta):
            kinds.add("duration")
        elif isinstance(value, list | tuple):
            kinds.add("list")
        else:
            kinds.add("object")
    if not kinds:
        return "empty"
    return kinds.pop() if len(kinds) == 1 else "mixed"


def _order(name: str) -> tuple[int, str]:
    if name in FIXED_COLUMNS:
        return (0, f"{FIXED_COLUMNS.index(name):03d}")
    rank = {"config": 1, "metrics": 2}.get(name.split(".", 1)[0], 3)
    return (rank, name)


def select_columns(available: Iterable[str], wanted: Sequence[str] | None) -> list[str]:
    """The columns to show: all known ones in canonical order, or those ``wanted`` names (globs allowed)."""
    known = sorted(set(available) | set(FIXED_COLUMNS), key=_order)
    if wanted is None:
        return [c for c in known if not c.startswith(tuple(f"{b}." for b in _ON_REQUEST))]
    chosen: list[str] = []
    for pattern in wanted:
        if any(ch in pattern for ch in "*?["):
            chosen.extend(c for c in known if fnmatch.fnmatchcase(c, pattern) and c not in chosen)
        elif pattern not in chosen:
            chosen.append(pattern)
    return chosen


def blocks_for(columns: Sequence[str] | None) -> list[str]:
    """The column groups (``info``, ``meta``, ``host``) the wanted columns need read."""
    if columns is None:
        return []
    return [b for b in BLOCKS if any(c == f"{b}.*" or c.startswith(f"{b}.") for c in columns)]


def unknown_columns_message(unknown: list[str], available: set[str]) -> str:
    """One line naming the unknown columns, each with the closest known one."""
    hints = []
    for name in unknown:
        close = close_matches(name, sorted(available))
        hints.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    return f"unknown column {', '.join(hints)}; list the columns with .columns() or `gnomon ls -c ?`"


def column_infos(rows: Sequence[Mapping[str, Any]]) -> list[ColumnInfo]:
    """Every column of these rows with its kind and number of distinct values."""
    names = select_columns({n for r in rows for n in r} - {"run_id"}, None)
    return [
        ColumnInfo(name, column_kind(r.get(name) for r in rows), len({_hashable(r.get(name)) for r in rows}))
        for name in names
    ]


def varying_columns(rows: Sequence[Mapping[str, Any]], prefix: str) -> list[str]:
    """The columns under ``prefix`` whose values differ between rows (a missing value counts)."""
    names = sorted({n for r in rows for n in r if n.startswith(prefix)})
    return [n for n in names if len({_hashable(r.get(n, _MISSING)) for r in rows}) > 1]


def most_frequent(rows: Sequence[Mapping[str, Any]], path: str, limit: int) -> list[tuple[Any, int]]:
    """A column's most frequent values and their counts, most frequent first (each tag counts for ``tags``)."""
    counts: dict[Any, tuple[Any, int]] = {}
    for row in rows:
        value = row.get(path)
        values: Iterable[Any] = (value or ()) if path == "tags" else (value,)
        for item in values:
            key = _hashable(item)
            counts[key] = (item, counts.get(key, (item, 0))[1] + 1)
    ranked = sorted(counts.values(), key=lambda vc: (-vc[1], str(vc[0])))
    return ranked[:limit]



def _hashable(value: Any) -> Any:
    try:
        hash(value)
    except TypeError:
        return repr(value)
    if isinstance(value, float) and value != value:
        return "nan"
    return value
