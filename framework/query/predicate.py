"""The filter tree evaluated in memory, on canonical records: the reference every backend must agree with.

File storage filters this way, every backend falls back to it for what it cannot
compile, and the differential tests compare each backend's compiled queries with
it. The rules are those of :mod:`gnomon.query.tree`; the one subtlety is what
counts as a JSON value: records hold decoded values, but a backend sees the
stored form, where NaN, infinities, integers beyond 64 bits, tuples, datetimes
and the like are tagged objects. So inside ``config``, ``info``, ``meta``,
``host`` and ``result`` such values match nothing but ``exists``, exactly as
their stored form would. Metric summaries are plain numbers in every backend:
there infinities compare as numbers and NaN matches nothing.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any

from gnomon.query.tree import (
    TIME_FIELDS,
    And,
    Cmp,
    Const,
    Contains,
    EndsWith,
    Exists,
    In,
    LastSeenBefore,
    Matches,
    Node,
    Not,
    Or,
    Path,
    StartsWith,
)

__all__ = ["MISSING", "decimal_id", "evaluate", "natural_key", "resolve", "sort_key"]

_INT64 = 2**63


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


#: What :func:`resolve` gives for a path that is not there.
MISSING: Any = _Missing()
_DOCUMENT_ROOTS = {"config", "info", "meta", "host", "result"}


def resolve(record: Mapping[str, Any], path: Path) -> Any:
    """The value at ``path`` in a canonical record, or :data:`MISSING`."""
    root = path[0]
    if root == "id":
        return record.get("run_id", MISSING)
    if root == "duration":
        start, stop = record.get("start_time"), record.get("stop_time")
        if start is None or stop is None:
            return MISSING
        return (stop - start).total_seconds()
    if root == "metrics":
        summary = (record.get("metrics") or {}).get(path[1])
        if summary is None or path[2] not in summary:
            return MISSING
        return summary[path[2]]
    if root not in record:
        return MISSING
    value = record[root]
    for key in path[1:]:
        if not isinstance(value, Mapping) or key not in value:
            return MISSING
        value = value[key]
    return value


def _json_number(value: Any) -> bool:
    """A number as JSON stores it: no bool, no NaN or infinity, no integer beyond 64 bits."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return -_INT64 <= value < _INT64
    return isinstance(value, float) and math.isfinite(value)


def _comparable(value: Any, in_document: bool) -> str | None:
    """The family a value compares within, or None when it compares with nothing.

    In documents only the plain JSON types count: a decoded numpy scalar (a float
    subclass), a datetime or a tuple was a tagged object in the store.
    """
    kind = type(value)
    if kind is bool:
        return "bool"
    if kind is int or kind is float:
        if kind is float and math.isnan(value):
            return None
        if in_document and not _json_number(value):
            return None
        return "number"
    if kind is str:
        return "str"
    if in_document:
        return None
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return None if isinstance(value, float) and math.isnan(value) else "number"
    if isinstance(value, str):
        return "str"
    if isinstance(value, datetime):
        return "time"
    return None


def _equal(found: Any, wanted: Any, in_document: bool) -> bool:
    if wanted is None:
        return found is MISSING or found is None
    family = _comparable(wanted, False)
    if family is None or _comparable(found, in_document) != family:
        return False
    return bool(found == wanted)


def _compare(found: Any, op: str, wanted: Any, in_document: bool) -> bool:
    if op == "eq":
        return _equal(found, wanted, in_document)
    family = _comparable(wanted, False)
    if family is None or family == "bool" or _comparable(found, in_document) != family:
        return False
    if op == "lt":
        return bool(found < wanted)
    if op == "le":
        return bool(found <= wanted)
    if op == "gt":
        return bool(found > wanted)
    return bool(found >= wanted)


@lru_cache(maxsize=256)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def evaluate(node: Node | None, record: Mapping[str, Any], *, now: datetime | None = None) -> bool:
    """Whether a canonical record matches the tree (``None`` matches everything).

    ``record["status"]`` must hold the effective status (``DIED`` derived) when the
    tree asks for ``status``; :class:`LastSeenBefore` needs no clock (it carries its time).
    """
    if node is None:
        return True
    if isinstance(node, And):
        return all(evaluate(item, record) for item in node.items)
    if isinstance(node, Or):
        return any(evaluate(item, record) for item in node.items)
    if isinstance(node, Not):
        return not evaluate(node.item, record)
    if isinstance(node, Const):
        return node.value
    if isinstance(node, LastSeenBefore):
        seen = record.get("heartbeat") or record.get("start_time")
        return seen is not None and seen < node.time
    found = resolve(record, node.path)
    in_document = node.path[0] in _DOCUMENT_ROOTS
    if isinstance(node, Exists):
        return found is not MISSING
    if isinstance(node, Cmp):
        if node.path[0] in TIME_FIELDS and found is None:
            found = MISSING
        return _compare(found, node.op, node.value, in_document)
    if isinstance(node, In):
        return any(_equal(found, value, in_document) for value in node.values)
    if isinstance(node, Contains):
        return isinstance(found, list) and any(_equal(item, node.value, in_document) for item in found)
    if not isinstance(found, str):
        return False
    if isinstance(node, StartsWith):
        return found.startswith(node.prefix)
    if isinstance(node, EndsWith):
        return found.endswith(node.suffix)
    assert isinstance(node, Matches)
    return _regex(node.pattern).search(found) is not None


_RANKS = {"number": 0, "time": 1, "str": 2, "bool": 3}


def sort_key(value: Any) -> tuple[int, Any]:
    """A key that orders values of mixed types: numbers (and times), strings, booleans, then the rest.

    Missing values and None are not given a key: callers put them last in either direction.
    Times and numbers never meet in one comparison.
    """
    family = _comparable(value, False)
    if family is None:
        return (4, repr(value))
    if family == "bool":
        return (3, int(value))
    return (_RANKS[family], value)


def decimal_id(run_id: str) -> bool:
    """Whether a run id is a plain decimal number (``"12"``; not ``"012"``, ``"²"`` or ``"١"``).

    Stores that keep such ids as integers (MongoDB, as Sacred does) must not take
    ``"012"`` for run 12.
    """
    return run_id.isascii() and run_id.isdigit() and (run_id == "0" or not run_id.startswith("0"))


def natural_key(run_id: str) -> tuple[int, int, str]:
    """Run ids in natural order: decimal ids by value (``"2"`` before ``"10"``), then the others by text."""
    if run_id.isascii() and run_id.isdigit():
        return (0, int(run_id), "")
    return (1, 0, run_id)
