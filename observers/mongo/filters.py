"""The query API's filter tree as MongoDB query documents, exactly as :mod:`gnomon.query.predicate` evaluates it.

Every atom compiles to a pair of queries, ``(sure, maybe)``: ``sure`` matches only
runs where the atom holds, ``maybe`` every run where it may hold. They are the same
document wherever the stored form decides the answer; they differ where the
record the query API sees is not what MongoDB sees:

* inside ``config``, ``info``, ``meta``, ``host`` and ``result`` a value may be a
  tagged object (a numpy scalar, a datetime) or a GridFS stand-in for a large value,
  which the record holds decoded: runs with a tagged value on the path are "maybe";
* a run stored by Sacred itself has no metric summaries in its document: for
  metric atoms such runs are "maybe".

``Not`` swaps the two (``sure(not x) = not maybe(x)``), so the pair stays a lower and
an upper bound through any tree; :class:`~gnomon.observers.mongo.store.MongoRunStore`
settles the "maybe" runs by evaluating the tree on their records.

MongoDB's own rules are guarded where they differ from the tree's: a path that
crosses or ends in an array never matches a comparison (MongoDB would look inside
the array), NaN never equals or orders with anything (MongoDB says NaN == NaN), and
inside documents infinities are not numbers. Datetimes are stored to the
millisecond, so a bound with microseconds is moved to the millisecond grid.
Regular expressions (``matches``) are not compiled: MongoDB's PCRE is not Python's ``re``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gnomon.observers.mongo.documents import escape_key
from gnomon.observers.mongo.metrics import SUMMARY_FIELD
from gnomon.query.predicate import decimal_id
from gnomon.query.tree import (
    METRIC_SUMMARIES,
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

__all__ = ["FALSE", "TRUE", "compile_filter", "field_of", "supports"]

#: Queries matching every run and no run.
TRUE: dict[str, Any] = {}
FALSE: dict[str, Any] = {"_id": {"$in": []}}

_INT64 = 2**63
_DOCUMENTS = ("config", "info", "meta", "host", "result")
_SCALARS = {
    "experiment": "experiment.name",
    "command": "command",
    "recorded_status": "status",
    "hostname": "host.hostname",
    "comment": "meta.comment",
}
_TIMES = {
    "start_time": "start_time", "stop_time": "stop_time", "heartbeat": "heartbeat", "queue_time": "meta.queue_time",
}
_GIT = {"commit", "dirty"}
#: Runs whose metric summaries are not in their document (written by Sacred): their metrics are listed only.
LEGACY_METRICS: dict[str, Any] = {SUMMARY_FIELD: {"$exists": False}, "info.metrics.0": {"$exists": True}}
_NOT_ARRAY = {"$not": {"$type": "array"}}


@dataclass(frozen=True)
class Field:
    """Where a tree path lives in a run document, and what makes a run's answer uncertain."""

    path: str  # the dotted MongoDB path
    guards: tuple[str, ...] = ()  # prefixes that must not be arrays (the tree never looks into lists)
    uncertain: dict[str, Any] | None = None  # runs whose record may differ from the stored form here
    kind: str = "value"  # "value" | "time" | "id" | "metric" | "document"


def field_of(path: Path) -> Field | None:
    """The stored place of a tree path; None where the tree means something MongoDB cannot see."""
    root = path[0]
    if root in _DOCUMENTS:
        segments = list(path)
        if root == "info" and len(path) > 1:
            if path[1] == "metrics_":
                return None  # shown as info.metrics; this key cannot be reached
            if path[1] == "metrics":
                segments[1] = "metrics_"  # info.metrics holds the metric documents' list
        if root != "result" and len(path) == 1:
            return None
        stored = [segments[0], *(escape_key(s) for s in segments[1:])]
        prefixes = [".".join(stored[:i]) for i in range(1 if root == "result" else 2, len(stored) + 1)]
        uncertain = _any([{f"{p}.__type__": {"$exists": True}} for p in prefixes])
        return Field(".".join(stored), tuple(prefixes[:-1]), uncertain, "document")
    if len(path) == 1 and root in _SCALARS:
        return Field(_SCALARS[root])
    if len(path) == 1 and root in _TIMES:
        return Field(_TIMES[root], kind="time")
    if len(path) == 1 and root == "id":
        return Field("_id", kind="id")
    if root == "git" and len(path) == 2 and path[1] in _GIT:
        return Field(f"experiment.repositories.0.{path[1]}")
    if root == "metrics" and len(path) == 3 and path[2] in METRIC_SUMMARIES and path[1]:
        return Field(f"{SUMMARY_FIELD}.{escape_key(path[1])}.{path[2]}", uncertain=LEGACY_METRICS, kind="metric")
    return None


def _plain(value: Any) -> bool:
    """A filter value with a BSON counterpart that compares as the tree says."""
    if value is None or isinstance(value, bool | str | float):
        return True
    if isinstance(value, int):
        return -_INT64 <= value < _INT64
    return isinstance(value, datetime) and value.tzinfo is not None


def supports(atom: Node) -> bool:
    """Whether :func:`compile_filter` reproduces this atom exactly (after settling "maybe" runs)."""
    if isinstance(atom, LastSeenBefore):
        return atom.time.tzinfo is not None
    if isinstance(atom, Exists):
        return (
            atom.path == ("duration",) or (len(atom.path) == 1 and atom.path[0] in _ALWAYS)
            or field_of(atom.path) is not None
        )
    if isinstance(atom, Matches) or not hasattr(atom, "path"):
        return False
    found = field_of(atom.path)  # type: ignore[attr-defined]
    if found is None:
        return False
    if isinstance(atom, Cmp):
        if found.kind == "id":
            return atom.op == "eq" and _plain(atom.value)
        if found.kind == "document" and isinstance(atom.value, datetime):
            return False  # a datetime in a document is stored tagged or native: the record cannot tell
        return _plain(atom.value)
    if isinstance(atom, In):
        return all(_plain(v) and not (found.kind == "document" and isinstance(v, datetime)) for v in atom.values)
    if isinstance(atom, Contains):
        return found.kind == "document" and _plain(atom.value) and not isinstance(atom.value, datetime)
    if isinstance(atom, StartsWith | EndsWith):
        return found.kind != "id"
    return False


#: Single-element paths every SummaryRecord holds (so ``exists`` is always true there).
_ALWAYS = (
    "id", "experiment", "command", "recorded_status", "start_time", "stop_time", "heartbeat", "queue_time",
    "hostname", "comment", "notes", "tags", "result", "config", "git",
)


# ------------------------------------------------------------------ combinators
def _all(items: list[dict[str, Any]]) -> dict[str, Any]:
    kept = [i for i in items if i != TRUE]
    if any(i == FALSE for i in kept):
        return FALSE
    if not kept:
        return TRUE
    return kept[0] if len(kept) == 1 else {"$and": kept}


def _any(items: list[dict[str, Any]]) -> dict[str, Any]:
    kept = [i for i in items if i != FALSE]
    if any(i == TRUE for i in kept):
        return TRUE
    if not kept:
        return FALSE
    return kept[0] if len(kept) == 1 else {"$or": kept}


def _not(item: dict[str, Any]) -> dict[str, Any]:
    if item == TRUE:
        return FALSE
    if item == FALSE:
        return TRUE
    return {"$nor": [item]}


# ------------------------------------------------------------------ values
def _bson_time(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None)


def _time_bound(op: str, value: datetime) -> tuple[str, datetime] | None:
    """``stored <op> value`` for millisecond-precision stored times; None when it can never hold (eq)."""
    value = _bson_time(value)
    if value.microsecond % 1000 == 0:
        return {"eq": "$eq", "lt": "$lt", "le": "$lte", "gt": "$gt", "ge": "$gte"}[op], value
    floor = value.replace(microsecond=value.microsecond // 1000 * 1000)
    if op == "eq":
        return None
    return ("$lte" if op in ("lt", "le") else "$gt"), floor


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _unequal_numbers(document: bool) -> list[float]:
    """Stored numbers that equal and order with nothing: NaN, and inside documents the infinities."""
    return [math.nan, math.inf, -math.inf] if document else [math.nan]


def _equal_to(found: Field, value: Any) -> dict[str, Any] | None:
    """The condition "equals ``value``" on the field's own value, or None when nothing can equal it."""
    document = found.kind == "document"
    if _is_nan(value) or (document and isinstance(value, float) and math.isinf(value)):
        return None
    if isinstance(value, datetime):
        bound = _time_bound("eq", value)
        return None if bound is None else {"$eq": bound[1]}
    return {"$eq": value}


# ------------------------------------------------------------------ atoms
def _guarded(found: Field, condition: dict[str, Any]) -> dict[str, Any]:
    """``condition`` on the field, neither it nor any prefix being an array."""
    return _all([*({g: _NOT_ARRAY} for g in found.guards), {found.path: {**condition, **_NOT_ARRAY}}])


def _missing(found: Field) -> dict[str, Any]:
    """The path is missing or null (a path through an array is missing to the tree)."""
    return _any([_guarded(found, {"$eq": None}), *({g: {"$type": "array"}} for g in found.guards)])


def _id_values(values: list[Any]) -> list[Any]:
    wanted: list[Any] = []
    for v in values:
        if isinstance(v, str):
            wanted.extend([int(v), v] if decimal_id(v) and len(v) < 19 else [v])
    return wanted


def _in(found: Field, values: list[Any]) -> dict[str, Any]:
    if found.kind == "id":
        wanted = _id_values(values)
        return {"_id": {"$in": wanted}} if wanted else FALSE
    parts: list[dict[str, Any]] = []
    if any(v is None for v in values):
        parts.append(_missing(found))
    equal = [c["$eq"] for c in (_equal_to(found, v) for v in values if v is not None) if c is not None]
    if found.kind == "time":
        equal = [v for v in equal if isinstance(v, datetime)]
    if equal:
        parts.append(_guarded(found, {"$in": equal}))
    return _any(parts)


def _cmp(found: Field, op: str, value: Any) -> dict[str, Any]:
    if op == "eq":
        return _in(found, [value])
    if value is None or isinstance(value, bool) or _is_nan(value):
        return FALSE
    if found.kind == "time" and not isinstance(value, datetime):
        return FALSE
    if isinstance(value, datetime):
        bound = _time_bound(op, value)
        assert bound is not None
        return _guarded(found, {bound[0]: bound[1]})
    if found.kind == "document" and isinstance(value, float) and math.isinf(value):
        # inside documents infinities are not numbers; a bound of +-inf admits every finite number or none
        if (op in ("lt", "le")) == (value > 0):
            return _guarded(found, {"$type": "number", "$nin": _unequal_numbers(True)})
        return FALSE
    condition: dict[str, Any] = {{"lt": "$lt", "le": "$lte", "gt": "$gt", "ge": "$gte"}[op]: value}
    if not isinstance(value, str):
        condition["$nin"] = _unequal_numbers(found.kind == "document")
    return _guarded(found, condition)


def _exists(path: Path) -> dict[str, Any]:
    if path == ("duration",):
        return {"start_time": {"$ne": None}, "stop_time": {"$ne": None}}
    if len(path) == 1 and path[0] in _ALWAYS:
        return TRUE
    if path[0] == "git":
        return {"experiment.repositories.0": {"$exists": True}}
    found = field_of(path)
    assert found is not None
    return _all([*({g: _NOT_ARRAY} for g in found.guards), {found.path: {"$exists": True}}])


def _atom(atom: Node) -> tuple[dict[str, Any], dict[str, Any]]:
    if not supports(atom):
        raise ValueError(f"MongoDB cannot evaluate {atom!r} exactly; relax it first")
    if isinstance(atom, LastSeenBefore):
        op, bound = _time_bound("lt", atom.time)  # type: ignore[misc]
        query = _any([{"heartbeat": {op: bound}}, {"heartbeat": None, "start_time": {op: bound}}])
        return query, query
    path: Path = atom.path  # type: ignore[union-attr]
    found = field_of(path)
    if isinstance(atom, Exists):
        query = _exists(path)
    elif isinstance(atom, Cmp):
        query = _cmp(found, atom.op, atom.value)  # type: ignore[arg-type]
    elif isinstance(atom, In):
        query = _in(found, list(atom.values))  # type: ignore[arg-type]
    elif isinstance(atom, Contains):
        condition = _equal_to(found, atom.value)  # type: ignore[arg-type]
        query = FALSE if condition is None else _all(
            [*({g: _NOT_ARRAY} for g in found.guards), {found.path: {"$elemMatch": condition}}]  # type: ignore[union-attr]
        )
    elif isinstance(atom, StartsWith):
        query = _guarded(found, {"$regex": "^" + re.escape(atom.prefix)})  # type: ignore[arg-type]
    else:
        assert isinstance(atom, EndsWith)
        # "(?!.)" under DOTALL is the very end in PCRE and Python alike ("$" also matches before a final newline)
        query = _guarded(found, {"$regex": "(?s)" + re.escape(atom.suffix) + "(?!.)"})  # type: ignore[arg-type]
    uncertain = None if found is None else found.uncertain
    if uncertain is None or uncertain == FALSE:
        return query, query
    return _all([query, _not(uncertain)]), _any([query, uncertain])


def compile_filter(node: Node | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(sure, maybe)`` queries for a tree; the same object twice when the stored form decides every run.

    Raises ValueError for an atom :func:`supports` rejects (the query layer relaxes those first).
    """
    if node is None:
        return TRUE, TRUE
    if isinstance(node, Const):
        query = TRUE if node.value else FALSE
        return query, query
    if isinstance(node, And | Or):
        pairs = [compile_filter(item) for item in node.items]
        join = _all if isinstance(node, And) else _any
        sure = join([s for s, _ in pairs])
        if all(s is m for s, m in pairs):
            return sure, sure
        return sure, join([m for _, m in pairs])
    if isinstance(node, Not):
        sure, maybe = compile_filter(node.item)
        if sure is maybe:
            negated = _not(sure)
            return negated, negated
        return _not(maybe), _not(sure)
    return _atom(node)
