"""The filter tree: what a parsed filter means, independent of any backend.

A filter text (``config.lr < 1e-2 and status == "COMPLETED"``) or keyword sugar
(``config__lr__lt=1e-2``) becomes a small tree of the nodes below. Each backend
compiles the tree to its own query (SQL, a Mongo query document) or evaluates it
in memory (:mod:`gnomon.query.predicate`); the semantics every backend must
reproduce are written once, here.

Paths are tuples of strings: ``("config", "model", "depth")``,
``("metrics", "val/loss", "min")``, ``("start_time",)``. A metric path always has
three parts: the name (which may hold ``.`` or ``/``) and the summary
(:data:`METRIC_SUMMARIES`).

Semantics (each one is a conformance test):

* ``Cmp`` with ``lt le gt ge eq`` is **false** when the path is missing or holds a
  value of another type; so is ``In``, ``Contains``, ``StartsWith``, ``EndsWith``,
  ``Matches``. ``Not`` is the exact negation of its operand, so ``!=`` and
  ``not in`` (parsed as ``Not(...)``) are true for a missing path.
* ``eq`` with ``None`` matches a missing path and a JSON ``null`` (Mongo's rule).
* Numbers compare across int and float; booleans are not numbers (``true`` never
  equals ``1``); strings never cast to numbers; strings order by code point.
  NaN equals nothing and orders with nothing.
* The time fields (``start_time``, ``stop_time``, ``heartbeat``, ``queue_time``)
  compare with tz-aware datetimes (the parser turns ISO strings and ``ago()``
  into them); ``duration`` compares in seconds.
* ``Contains(path, v)``: the value at ``path`` is a list holding an element equal
  to ``v`` under the rules above (``"x" in tags``).
* ``status`` is the *effective* status (``DIED`` included); the query layer
  rewrites it into ``recorded_status`` and :class:`LastSeenBefore` before a
  backend sees the tree, so backends only ever meet ``recorded_status``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypeAlias

__all__ = [
    "FIXED_FIELDS",
    "METRIC_SUMMARIES",
    "ROOTS",
    "TIME_FIELDS",
    "And",
    "Cmp",
    "Const",
    "Contains",
    "EndsWith",
    "Exists",
    "In",
    "LastSeenBefore",
    "Matches",
    "Node",
    "Not",
    "Op",
    "Or",
    "Path",
    "StartsWith",
    "atoms",
    "dotted",
]

Path: TypeAlias = tuple[str, ...]
Op: TypeAlias = Literal["eq", "lt", "le", "gt", "ge"]

#: The summaries kept for every metric of every run.
METRIC_SUMMARIES = ("last", "min", "max", "count", "last_step")

#: Scalar fields of a run, each a path of one element.
TIME_FIELDS = ("start_time", "stop_time", "heartbeat", "queue_time")
FIXED_FIELDS = (
    "id", "experiment", "command", "status", "recorded_status", "start_time", "stop_time", "heartbeat",
    "queue_time", "duration", "hostname", "comment", "notes", "tags", "result",
)
#: Where a path may start. ``config``, ``info``, ``meta``, ``host``, ``result``
#: and ``git`` continue into their nested values; ``metrics`` takes a name and a summary.
ROOTS = (*FIXED_FIELDS, "config", "info", "meta", "host", "metrics", "git")


@dataclass(frozen=True, slots=True)
class Cmp:
    """``path <op> value``; ``value`` is None, bool, int, float, str or an aware datetime."""

    path: Path
    op: Op
    value: Any


@dataclass(frozen=True, slots=True)
class In:
    """The value at ``path`` equals one of ``values`` (each compared as by ``Cmp(eq)``)."""

    path: Path
    values: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Contains:
    """The value at ``path`` is a list with an element equal to ``value``."""

    path: Path
    value: Any


@dataclass(frozen=True, slots=True)
class Exists:
    """``path`` is present (a JSON ``null`` there counts as present)."""

    path: Path


@dataclass(frozen=True, slots=True)
class StartsWith:
    """The value at ``path`` is a string starting with ``prefix``."""

    path: Path
    prefix: str


@dataclass(frozen=True, slots=True)
class EndsWith:
    """The value at ``path`` is a string ending with ``suffix``."""

    path: Path
    suffix: str


@dataclass(frozen=True, slots=True)
class Matches:
    """The value at ``path`` is a string in which the regular expression ``pattern`` is found (``re.search``)."""

    path: Path
    pattern: str


@dataclass(frozen=True, slots=True)
class LastSeenBefore:
    """The run's last sign of life (``heartbeat``, else ``start_time``) is older than ``time``.

    A run with neither time is never "seen before" anything (false).
    """

    time: datetime


@dataclass(frozen=True, slots=True)
class And:
    """All of ``items`` (true when empty)."""

    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    """Any of ``items`` (false when empty)."""

    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not:
    """The exact negation of ``item``."""

    item: Node


@dataclass(frozen=True, slots=True)
class Const:
    """Always ``value``: what an atom a backend cannot compile is relaxed to."""

    value: bool


Node: TypeAlias = (
    Cmp | In | Contains | Exists | StartsWith | EndsWith | Matches | LastSeenBefore | And | Or | Not | Const
)

_ATOMS = (Cmp, In, Contains, Exists, StartsWith, EndsWith, Matches, LastSeenBefore)


def atoms(node: Node) -> list[Node]:
    """Every leaf of the tree, left to right."""
    if isinstance(node, And | Or):
        return [leaf for item in node.items for leaf in atoms(item)]
    if isinstance(node, Not):
        return atoms(node.item)
    if isinstance(node, Const):
        return []
    assert isinstance(node, _ATOMS)
    return [node]


def dotted(path: Path) -> str:
    """The column name of a path: ``config.model.depth``, ``metrics.val/loss.min``."""
    return ".".join(path)
