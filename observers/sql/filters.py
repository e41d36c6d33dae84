"""The filter tree (:mod:`gnomon.query.tree`) compiled to SQLAlchemy Core, exactly, per dialect.

An atom compiles only where SQL can give the tree's answer for every stored
value; otherwise :meth:`FilterCompiler.compile_atom` returns None, the store
reports it unsupported, and the query layer filters those records in memory.
Correctness beats pushdown.

How the rules of ``tree.py`` are kept:

* Two-valued logic: every atom is ``COALESCE(condition, FALSE)``, so SQL's NULL
  (a missing path, a NULL column) never leaks into ``NOT``: ``not`` over a
  missing path is true, as in Python.
* Types come from the JSON type functions (SQLite ``json_type``, PostgreSQL
  ``jsonb_typeof``, MariaDB ``JSON_TYPE``), never from a value's look: SQLite's
  ``json_extract`` gives 1 for ``true``, but ``true`` is no number, and ``"1"``
  is no number either.
* Numbers compare as doubles, which is exact when the literal's magnitude is below
  2**53 (larger literals are unsupported): a stored integer beyond 2**53 rounds,
  but monotonically, to a double whose magnitude already exceeds the literal's.
  Values gnomon stores tagged (``{"__type__": "float", "value": "Infinity"}``,
  integers beyond 64 bits) are the numbers they decode to. NaN equals nothing.
* Strings compare by code point: ``COLLATE "C"`` on PostgreSQL, binary strings on
  MariaDB (whose ``_bin`` collations ignore trailing spaces), SQLite's default.
  Prefixes and suffixes compare substrings, so ``%`` and ``_`` are plain text.
* A path segment names an object key only; segments that look like list
  indices, or hold a quote or a backslash, are left to the query layer.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from gnomon.observers.sql.documents import document_value
from gnomon.observers.sql.schema import experiment_repositories, experiments, metrics, runs
from gnomon.query.tree import (
    METRIC_SUMMARIES,
    TIME_FIELDS,
    And,
    Cmp,
    Const,
    Contains,
    EndsWith,
    Exists,
    In,
    LastSeenBefore,
    Node,
    Not,
    Or,
    Path,
    StartsWith,
)

__all__ = ["FilterCompiler"]

Expr = ColumnElement[Any]
_EXACT = 2.0**53
_JSON_ROOTS = ("config", "info", "meta", "host", "result")
_STRING_COLUMNS = {
    "id": runs.c.run_id,
    "experiment": experiments.c.name,
    "command": runs.c.command,
    "recorded_status": runs.c.status,
    "hostname": runs.c.hostname,
    "comment": runs.c.comment,
}
_IN_CHUNK = 1000  # values per IN list
_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "eq": lambda a, b: a == b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _usable_key(key: str) -> bool:
    return bool(key) and '"' not in key and "\\" not in key and not key.lstrip("-").isdigit()


class FilterCompiler:
    """Compiles trees for one dialect (``sqlite``, ``postgresql``, ``mysql``/``mariadb``).

    The expressions refer to ``runs``, ``experiments`` (outer-joined on the run's
    experiment) and ``experiment_repositories`` (outer-joined on position 0): the
    store's query joins them.
    """

    def __init__(self, dialect: str) -> None:
        self.dialect = "mysql" if dialect in ("mysql", "mariadb") else dialect
        if self.dialect not in ("sqlite", "postgresql", "mysql"):
            raise ValueError(f"no filter compiler for the {dialect!r} dialect")

    # ------------------------------------------------------------ the tree
    def compile(self, node: Node) -> Expr:
        """The WHERE condition of a tree whose atoms are all supported (else ``ValueError``)."""
        if isinstance(node, And):
            return sa.and_(sa.true(), *(self.compile(item) for item in node.items))
        if isinstance(node, Or):
            return sa.or_(sa.false(), *(self.compile(item) for item in node.items))
        if isinstance(node, Not):
            return sa.not_(self.compile(node.item))
        if isinstance(node, Const):
            return sa.true() if node.value else sa.false()
        condition = self.compile_atom(node)
        if condition is None:
            raise ValueError(f"{node!r} cannot be evaluated by SQL; relax it and filter in memory")
        return condition

    def compile_atom(self, atom: Node) -> Expr | None:
        """``COALESCE(condition, FALSE)`` for one leaf, or None when SQL cannot answer it exactly."""
        condition = self._atom(atom)
        if condition is None:
            return None
        if isinstance(condition, bool):
            return sa.true() if condition else sa.false()
        return sa.func.coalesce(condition, sa.false())

    def _atom(self, atom: Node) -> Any:
        if isinstance(atom, LastSeenBefore):
            if atom.time.tzinfo is None:
                return None
            return sa.func.coalesce(runs.c.heartbeat, runs.c.start_time) < sa.literal(atom.time, runs.c.heartbeat.type)
        if isinstance(atom, In):
            column = _STRING_COLUMNS.get(atom.path[0]) if len(atom.path) == 1 else None
            if column is not None and atom.values and all(type(v) is str for v in atom.values):
                # One IN list per chunk of values: an OR per value nests too deep for
                # SQLite past ~1,000 ids (``gnomon show 1-5000``) and is slow elsewhere.
                values = list(dict.fromkeys(atom.values))
                return sa.or_(*(column.in_(values[i : i + _IN_CHUNK]) for i in range(0, len(values), _IN_CHUNK)))
            parts = [self._atom(Cmp(atom.path, "eq", value)) for value in atom.values]
            if any(p is None for p in parts):
                return None
            return self._any(parts)
        path = getattr(atom, "path", None)
        if not path:
            return None
        root, rest = path[0], path[1:]
        if root in _STRING_COLUMNS and not rest:
            return self._scalar(atom, _STRING_COLUMNS[root], "string")
        if root in TIME_FIELDS and not rest:
            return self._scalar(atom, runs.c[root], "time")
        if root == "git" and rest in (("commit",), ("dirty",)):
            if isinstance(atom, Exists):  # present when the experiment has a repository
                return experiment_repositories.c.experiment_id.is_not(None)
            column = experiment_repositories.c[rest[0]]
            return self._scalar(atom, column, "string" if rest == ("commit",) else "bool")
        if root == "metrics" and len(rest) == 2 and rest[1] in METRIC_SUMMARIES:
            return self._metric(atom, rest[0], rest[1])
        if root in _JSON_ROOTS and (rest or root == "result") and all(map(_usable_key, rest)):
            if isinstance(atom, Exists) and not rest:
                return True  # every record has a result, None included
            return self._json(atom, runs.c[root], rest)
        return None

    @staticmethod
    def _any(parts: list[Any]) -> Any:
        if any(p is True for p in parts):
            return True
        exprs = [p for p in parts if not isinstance(p, bool)]
        return sa.or_(*exprs) if exprs else False

    # ------------------------------------------------------------ scalar columns
    def _scalar(self, atom: Node, column: Any, kind: str) -> Any:
        """Atoms on a column holding a string, a time or a boolean (NULL: the value is None)."""
        if isinstance(atom, Exists):
            return True  # every record has these fields, None included
        if isinstance(atom, Contains):
            return False  # not a list
        if isinstance(atom, StartsWith | EndsWith):
            if kind != "string":
                return False
            return self._affix(column, atom)
        if not isinstance(atom, Cmp):
            return None
        value, op = atom.value, atom.op
        if value is None:
            return column.is_(None) if op == "eq" else False
        if kind == "string":
            return self._string_cmp(column, op, value) if isinstance(value, str) else False
        if kind == "time":
            if isinstance(value, datetime):
                return _OPS[op](column, sa.literal(value, column.type)) if value.tzinfo else None
            return False
        if isinstance(value, bool):  # kind == "bool"
            return column == sa.literal(value, sa.Boolean) if op == "eq" else False  # booleans do not order
        return False

    def _string_cmp(self, expr: Any, op: str, value: str) -> Any:
        if self.dialect == "mysql":
            return _OPS[op](sa.cast(expr, sa.LargeBinary), sa.cast(sa.literal(value, sa.Text), sa.LargeBinary))
        if self.dialect == "postgresql" and op != "eq":
            return _OPS[op](sa.collate(expr, "C"), sa.literal(value, sa.Text))
        return _OPS[op](expr, sa.literal(value, sa.Text))

    def _affix(self, expr: Any, atom: StartsWith | EndsWith) -> Any:
        text = atom.prefix if isinstance(atom, StartsWith) else atom.suffix
        if not text:
            return expr.is_not(None)
        n = len(text)
        if self.dialect == "sqlite":
            part = sa.func.substr(expr, 1, n) if isinstance(atom, StartsWith) else sa.func.substr(expr, -n)
            # substr(x, -n) of a shorter x is all of x, which then differs from the n characters wanted
        else:
            part = sa.func.left(expr, n) if isinstance(atom, StartsWith) else sa.func.right(expr, n)
        return self._string_cmp(part, "eq", text)

    # ------------------------------------------------------------ metric summaries
    def _metric(self, atom: Node, name: str, summary: str) -> Any:
        m = metrics.alias("mf")
        owned = sa.and_(m.c.run == runs.c.id, m.c.name == sa.literal(name, sa.String))
        if summary in ("count", "last_step"):
            value_col, special_col = m.c["point_count" if summary == "count" else summary], None
        else:
            value_col, special_col = m.c[f"{summary}_value"], m.c[f"{summary}_special"]

        def where(condition: Any) -> Expr:
            return sa.exists(sa.select(sa.literal(1)).select_from(m).where(owned, condition))

        if isinstance(atom, Exists):
            return where(sa.true())
        if isinstance(atom, Contains | StartsWith | EndsWith):
            return False
        if not isinstance(atom, Cmp):
            return None
        value, op = atom.value, atom.op
        if value is None:
            if op != "eq":
                return False
            present: sa.ColumnElement[bool] = value_col.is_not(None)
            if special_col is not None:
                present = sa.or_(present, special_col.is_not(None))
            return sa.not_(where(present))
        if not _is_number(value):
            return False
        if math.isnan(value):
            return False
        if abs(value) >= _EXACT:
            return None
        parts: list[Any] = [_OPS[op](value_col, sa.literal(value))]
        if special_col is not None:
            parts[0] = sa.and_(special_col.is_(None), parts[0])
            parts += [
                special_col == marker
                for marker, inf in (("inf", math.inf), ("-inf", -math.inf))
                if _OPS[op](inf, value)
            ]
        return where(sa.or_(*parts))

    # ------------------------------------------------------------ JSON documents
    def _json(self, atom: Node, column: Any, keys: Path) -> Any:
        j = document_value(self.dialect, column, keys)
        if isinstance(atom, Exists):
            return j.exists()
        if isinstance(atom, StartsWith | EndsWith):
            return self._affix(j.string(), atom)
        if isinstance(atom, Contains):
            value = atom.value
            if value is not None and not isinstance(value, bool | str) and not _is_number(value):
                return None
            if _is_number(value) and (math.isnan(value) or abs(value) >= _EXACT):
                return False if math.isnan(value) else None
            return j.contains(value)
        if not isinstance(atom, Cmp):
            return None
        value, op = atom.value, atom.op
        if value is None:
            return sa.or_(sa.not_(j.exists()), j.is_null()) if op == "eq" else False
        if isinstance(value, bool):
            return j.is_bool(value) if op == "eq" else False  # booleans do not order
        if isinstance(value, str):
            return self._string_cmp(j.string(), op, value)
        if not _is_number(value):
            return None
        if math.isnan(value):
            return False
        if abs(value) >= _EXACT:
            return None
        return _OPS[op](j.number(), sa.literal(value))

    # ------------------------------------------------------------ ordering
    def order(self, path: Path, descending: bool) -> list[Any] | None:
        """ORDER BY terms sorting by ``path`` with missing and None (and NaN) last; None if unsupported."""
        root, rest = path[0] if path else "", path[1:]
        if root in _STRING_COLUMNS and not rest:
            return self._order_terms(self._sortable(_STRING_COLUMNS[root]), descending)
        if root in TIME_FIELDS and not rest:
            return self._order_terms(runs.c[root], descending)
        if root == "git" and rest == ("commit",):
            return self._order_terms(self._sortable(experiment_repositories.c.commit), descending)
        if root == "metrics" and len(rest) == 2 and rest[1] in METRIC_SUMMARIES:
            name, summary = rest
            m = metrics.alias("mo")
            owned = sa.and_(m.c.run == runs.c.id, m.c.name == sa.literal(name, sa.String))

            def scalar(expr: Any) -> Any:
                return sa.select(expr).where(owned).scalar_subquery()

            if summary in ("count", "last_step"):
                return self._order_terms(scalar(m.c["point_count" if summary == "count" else summary]), descending)
            # As the query layer sorts: numbers (infinities included), then NaN, in the
            # direction asked (so NaN comes first when descending); None and missing last.
            special, value = m.c[f"{summary}_special"], m.c[f"{summary}_value"]
            nan_group = 0 if descending else 1
            group = scalar(
                sa.case(
                    (special == "nan", nan_group),
                    (sa.and_(special.is_(None), value.is_(None)), 2),
                    else_=1 - nan_group,
                )
            )
            rank = scalar(sa.case((special == "inf", 1), (special == "-inf", -1), else_=0))
            direction = sa.desc if descending else sa.asc
            return [sa.func.coalesce(group, 2).asc(), direction(sa.func.coalesce(rank, 0)), direction(scalar(value))]
        return None

    def tiebreak(self) -> list[Any]:
        """The last ORDER BY terms: run ids in natural order (all-digit ids by number first, then by code point)."""
        run_id = runs.c.run_id
        if self.dialect == "sqlite":
            digits = sa.and_(run_id != "", sa.not_(run_id.op("GLOB", is_comparison=True)("*[^0-9]*")))
            trimmed = sa.func.ltrim(run_id, "0")
        elif self.dialect == "postgresql":
            digits = run_id.op("~", is_comparison=True)("^[0-9]+$")
            trimmed = sa.func.ltrim(run_id, "0")
        else:
            digits = run_id.op("REGEXP", is_comparison=True)("^[0-9]+$")
            trimmed = sa.func.REGEXP_REPLACE(run_id, "^0+", "")
        return [
            sa.case((digits, 0), else_=1).asc(),
            sa.case((digits, sa.func.length(trimmed)), else_=0).asc(),
            sa.case((digits, self._sortable(trimmed)), else_=None).asc(),
            self._sortable(run_id).asc(),
        ]

    def _sortable(self, column: Any) -> Any:
        if self.dialect == "postgresql":
            return sa.collate(column, "C")
        if self.dialect == "mysql":
            return sa.cast(column, sa.LargeBinary)
        return column

    @staticmethod
    def _order_terms(expr: Any, descending: bool) -> list[Any]:
        nulls = sa.case((expr.is_(None), 1), else_=0)
        return [nulls.asc(), expr.desc() if descending else expr.asc()]
