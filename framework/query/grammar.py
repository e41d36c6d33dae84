"""The filter grammar: text such as ``config.lr < 1e-2 and status == "COMPLETED"`` parsed into a tree.

The text is parsed with :func:`ast.parse` and then walked with a whitelist; it is
never evaluated, compiled to code or looked up as attributes, so a filter can do
nothing but describe runs. Anything outside the grammar (calls to other names,
lambdas, comprehensions, attribute names starting with ``_``, f-strings, walrus,
arithmetic) is a :class:`~gnomon.errors.FilterError` that names the position.
Input is capped in length and nesting before the parser sees it, because the
parser's recursion is the only cost a hostile filter could impose.

The grammar (read-side.md §3.2)::

    expr  := or ; or := and ("or" and)* ; and := not ("and" not)* ; not := "not" not | cmp
    cmp   := term (("=="|"!="|"<"|"<="|">"|">="|"in"|"not in") term)+   # chains: 1e-4 < config.lr < 1e-2
    term  := path | literal | "[" literal, ... "]" | call
    path  := root ("." name | "[" string "]")*
    call  := exists(path) | startswith(path, str) | endswith(path, str) | matches(path, str) | ago(str)

A bare path means ``path == true``. ``"x" in tags`` asks whether a list holds a
value; ``config.opt in ["adam", "sgd"]`` whether a value is one of a list.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from gnomon.errors import FilterError
from gnomon.query.tree import (
    METRIC_SUMMARIES,
    ROOTS,
    TIME_FIELDS,
    And,
    Cmp,
    Contains,
    EndsWith,
    Exists,
    In,
    Matches,
    Node,
    Not,
    Op,
    Or,
    Path,
    StartsWith,
)

__all__ = ["MAX_DEPTH", "MAX_LENGTH", "from_keywords", "parse", "parse_duration", "path_from_text"]

MAX_LENGTH = 4000
MAX_DEPTH = 50
MAX_PATTERN = 256

_NESTED_ROOTS = {"config", "info", "meta", "host", "result", "git", "metrics"}
_CALLS = {"exists", "startswith", "endswith", "matches", "ago"}
_LITERAL_NAMES = {"true": True, "false": False, "null": None}
_FLIP: dict[str, Op] = {"lt": "gt", "le": "ge", "gt": "lt", "ge": "le", "eq": "eq"}
_OPS: dict[type[ast.cmpop], str] = {
    ast.Eq: "eq", ast.NotEq: "ne", ast.Lt: "lt", ast.LtE: "le", ast.Gt: "gt", ast.GtE: "ge",
    ast.In: "in", ast.NotIn: "not in",
}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d|w)?\s*$", re.IGNORECASE)
_UNITS = {None: 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}


class _Path:
    """A path met while walking the tree (kept apart from literal values)."""

    __slots__ = ("path", "position")

    def __init__(self, path: Path, position: int) -> None:
        self.path = path
        self.position = position


def parse_duration(text: str) -> timedelta:
    """``"90s"``, ``"15m"``, ``"2h"``, ``"3d"``, ``"1w"`` (a bare number is seconds)."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(
            f"{text!r} is not a duration: write a number and a unit, e.g. '90s', '15m', '2h', '3d' or '1w'"
        )
    unit = match.group(2).lower() if match.group(2) else None
    return timedelta(seconds=float(match.group(1)) * _UNITS[unit])


def _check_size(text: str) -> None:
    if len(text) > MAX_LENGTH:
        raise FilterError(
            f"the filter is {len(text)} characters long; at most {MAX_LENGTH} are accepted",
            text=text[:80], position=None,
        )
    depth = 0
    for position, char in enumerate(text):
        if char in "([{":
            depth += 1
            if depth > MAX_DEPTH:
                raise FilterError(
                    f"the filter nests brackets more than {MAX_DEPTH} deep", text=text, position=position
                )
        elif char in ")]}":
            depth -= 1


class _Parser:
    def __init__(self, text: str, now: datetime) -> None:
        self.text = text
        self.now = now
        # Newlines and tabs become spaces (so a filter may span lines and keep its
        # character positions); leading blanks are parsed away and added back.
        flat = text.replace("\r", " ").replace("\n", " ").replace("\t", " ")
        self.source = flat.lstrip()
        self.lead = len(flat) - len(self.source)
        self._encoded = self.source.encode("utf-8")

    def position(self, node: ast.AST) -> int:
        # ast reports columns in UTF-8 bytes; positions are reported in characters.
        col = getattr(node, "col_offset", 0)
        return self.lead + len(self._encoded[:col].decode("utf-8", errors="ignore"))

    def error(self, message: str, node: ast.AST | int) -> FilterError:
        position = node if isinstance(node, int) else self.position(node)
        return FilterError(f"{message} (at character {position + 1})", text=self.text, position=position)

    # ------------------------------------------------------------------ booleans --

    def node(self, tree: ast.AST, depth: int = 0) -> Node:
        if depth > MAX_DEPTH:
            raise self.error(f"the filter nests more than {MAX_DEPTH} deep", tree)
        if isinstance(tree, ast.BoolOp):
            items = tuple(self.node(value, depth + 1) for value in tree.values)
            return And(items) if isinstance(tree.op, ast.And) else Or(items)
        if isinstance(tree, ast.UnaryOp) and isinstance(tree.op, ast.Not):
            return Not(self.node(tree.operand, depth + 1))
        if isinstance(tree, ast.Compare):
            return self.compare(tree)
        if isinstance(tree, ast.Call):
            return self.call(tree)
        term = self.term(tree)
        if isinstance(term, _Path):
            return Cmp(term.path, "eq", True)
        raise self.error("expected a condition such as `config.lr < 0.01`, found a lone value", tree)

    def compare(self, tree: ast.Compare) -> Node:
        parts: list[Node] = []
        left = self.term(tree.left)
        for op_node, right_tree in zip(tree.ops, tree.comparators, strict=True):
            right = self.term(right_tree)
            op = _OPS.get(type(op_node))
            if op is None:  # `is`, `is not`
                raise self.error("use == and != instead of `is` and `is not`", right_tree)
            parts.append(self.atom(left, op, right, right_tree))
            left = right
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def atom(self, left: Any, op: str, right: Any, where: ast.AST) -> Node:
        if op in ("in", "not in"):
            if isinstance(right, _Path) and not isinstance(left, _Path):
                if isinstance(left, list):
                    raise self.error("the left side of `in <path>` must be a single value", where)
                node: Node = Contains(right.path, self.value_for(right.path, left, where))
            elif isinstance(left, _Path) and isinstance(right, list):
                node = In(left.path, tuple(self.value_for(left.path, v, where) for v in right))
            else:
                raise self.error("write `<path> in [values]` or `value in <path>`", where)
            return Not(node) if op == "not in" else node
        if isinstance(left, _Path) == isinstance(right, _Path):
            raise self.error("a comparison needs one path and one value, e.g. `config.lr < 0.01`", where)
        if isinstance(left, list) or isinstance(right, list):
            raise self.error("lists can only follow `in`", where)
        if isinstance(right, _Path):
            left, right = right, left
            op = _FLIP.get(op, op)
        path: Path = left.path
        value = self.value_for(path, right, where)
        if op == "ne":
            return Not(Cmp(path, "eq", value))
        return Cmp(path, op, value)  # type: ignore[arg-type]

    def value_for(self, path: Path, value: Any, where: ast.AST) -> Any:
        """Literal values as the field compares them: times become datetimes, statuses upper case."""
        root = path[0]
        if root in TIME_FIELDS and isinstance(value, str):
            try:
                return _to_utc(datetime.fromisoformat(value))
            except ValueError:
                raise self.error(f"{value!r} is not a date or time: use ISO 8601 or ago('2d')", where) from None
        if root in TIME_FIELDS and value is not None and not isinstance(value, datetime):
            raise self.error(f"{root} compares with dates: use an ISO 8601 string or ago('2d')", where)
        if root == "duration" and isinstance(value, str):
            try:
                return parse_duration(value).total_seconds()
            except ValueError as error:
                raise self.error(str(error), where) from None
        if root in ("status", "recorded_status") and isinstance(value, str):
            return value.upper()
        return value

    def call(self, tree: ast.Call) -> Node:
        name = tree.func.id if isinstance(tree.func, ast.Name) else None
        if name not in _CALLS or tree.keywords:
            raise self.error("the functions a filter may use are exists, startswith, endswith, matches and ago", tree)
        if name == "ago":
            raise self.error("ago('2d') is a value: compare a time with it, e.g. `start_time > ago('2d')`", tree)
        expected = 1 if name == "exists" else 2
        if len(tree.args) != expected:
            raise self.error(f"{name}() takes {expected} argument{'s' if expected > 1 else ''}", tree)
        target = self.term(tree.args[0])
        if not isinstance(target, _Path):
            raise self.error(f"the first argument of {name}() is a path such as config.name", tree.args[0])
        if name == "exists":
            return Exists(target.path)
        argument = self.term(tree.args[1])
        if not isinstance(argument, str):
            raise self.error(f"the second argument of {name}() is a string", tree.args[1])
        if name == "startswith":
            return StartsWith(target.path, argument)
        if name == "endswith":
            return EndsWith(target.path, argument)
        if len(argument) > MAX_PATTERN:
            raise self.error(f"a matches() pattern is at most {MAX_PATTERN} characters", tree.args[1])
        try:
            re.compile(argument)
        except re.error as error:
            raise self.error(f"{argument!r} is not a regular expression: {error}", tree.args[1]) from None
        return Matches(target.path, argument)

    # --------------------------------------------------------------------- terms --

    def term(self, tree: ast.AST) -> Any:
        if isinstance(tree, ast.Constant):
            if isinstance(tree.value, bool | int | float | str) or tree.value is None:
                return tree.value
            raise self.error(f"{type(tree.value).__name__} literals are not values a run holds", tree)
        if isinstance(tree, ast.UnaryOp) and isinstance(tree.op, ast.USub | ast.UAdd):
            operand = tree.operand
            number = operand.value if isinstance(operand, ast.Constant) else None
            if type(number) is int or type(number) is float:
                return -number if isinstance(tree.op, ast.USub) else number
            raise self.error("a sign may only stand before a number", tree)
        if isinstance(tree, ast.List | ast.Tuple):
            values = [self.term(item) for item in tree.elts]
            if any(isinstance(v, _Path | list) for v in values):
                raise self.error("a list holds literal values only", tree)
            return values
        if isinstance(tree, ast.Call) and isinstance(tree.func, ast.Name) and tree.func.id == "ago":
            if len(tree.args) != 1 or tree.keywords or not isinstance(self.term(tree.args[0]), str):
                raise self.error("ago() takes one duration such as '2d'", tree)
            try:
                return self.now - parse_duration(self.term(tree.args[0]))
            except ValueError as error:
                raise self.error(str(error), tree) from None
        if isinstance(tree, ast.Name | ast.Attribute | ast.Subscript):
            return self.path(tree)
        if isinstance(tree, ast.JoinedStr):
            raise self.error("f-strings are not allowed in a filter", tree)
        raise self.error(f"{_describe(tree)} is not allowed in a filter", tree)

    def path(self, tree: ast.AST) -> Any:
        parts: list[str] = []
        node = tree
        while not isinstance(node, ast.Name):
            if isinstance(node, ast.Attribute):
                if node.attr.startswith("_"):
                    end = getattr(node, "end_col_offset", None)
                    at = (self.lead + len(self._encoded[:end].decode("utf-8", errors="ignore")) - len(node.attr)
                          if end is not None else node)
                    raise self.error(f"names starting with '_' are not allowed after a dot; write [{node.attr!r}]", at)
                parts.append(node.attr)
                node = node.value
            elif isinstance(node, ast.Subscript):
                key = node.slice
                if not (isinstance(key, ast.Constant) and isinstance(key.value, str)):
                    raise self.error('a path continues with ["key"] (a string); lists cannot be indexed', node)
                parts.append(key.value)
                node = node.value
            else:
                raise self.error(f"{_describe(node)} is not allowed in a filter", node)
        if node.id in _LITERAL_NAMES and not parts:
            return _LITERAL_NAMES[node.id]
        parts.append(node.id)
        parts.reverse()
        return _Path(self.checked_path(tuple(parts), tree), self.position(tree))

    def checked_path(self, parts: Path, where: ast.AST | int) -> Path:
        root = parts[0]
        if root not in ROOTS:
            close = [r for r in ROOTS if r.startswith(root[:3])] if len(root) >= 3 else []
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise self.error(f"unknown field {root!r}.{hint} A path starts with one of: {', '.join(ROOTS)}", where)
        if root == "metrics":
            if len(parts) < 3 or parts[-1] not in METRIC_SUMMARIES:
                raise self.error(
                    "a metric path names the metric and a summary: metrics.loss.min, metrics['val/loss'].last "
                    f"(summaries: {', '.join(METRIC_SUMMARIES)})",
                    where,
                )
            return ("metrics", ".".join(parts[1:-1]), parts[-1])
        if len(parts) > 1 and root not in _NESTED_ROOTS:
            raise self.error(f"{root!r} has no fields", where)
        if root == "git" and (len(parts) != 2 or parts[1] not in ("commit", "dirty")):
            raise self.error("git paths are git.commit and git.dirty", where)
        return parts


def _describe(tree: ast.AST) -> str:
    names = {
        ast.Lambda: "a lambda", ast.ListComp: "a comprehension", ast.SetComp: "a comprehension",
        ast.DictComp: "a comprehension", ast.GeneratorExp: "a generator", ast.NamedExpr: "the walrus operator",
        ast.BinOp: "arithmetic", ast.Call: "this call", ast.Dict: "a dict", ast.Set: "a set",
        ast.IfExp: "a conditional expression", ast.Starred: "a starred expression", ast.Await: "await",
    }
    return names.get(type(tree), f"a {type(tree).__name__} expression")


def _to_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def parse(text: str, *, now: datetime | None = None) -> Node:
    """Parse a filter text into a tree; raises :class:`FilterError` with the position of the problem."""
    if not isinstance(text, str):
        raise FilterError(f"a filter is a string, not {type(text).__name__}")
    _check_size(text)
    parser = _Parser(text, now or datetime.now(UTC))
    if not parser.source.strip():
        raise FilterError("the filter is empty", text=text, position=0)
    try:
        tree = ast.parse(parser.source, mode="eval")
    except SyntaxError as error:
        # An expression cut short is reported at offset 0: point at its end instead.
        offset = (error.offset or 0) - 1 if error.offset else len(parser.source)
        position = min(parser.lead + max(offset, 0), len(text))
        raise FilterError(
            f"the filter is not valid: {error.msg} (at character {position + 1})", text=text, position=position
        ) from None
    except (RecursionError, MemoryError, ValueError) as error:
        raise FilterError(f"the filter cannot be parsed: {type(error).__name__}", text=text) from None
    return parser.node(tree.body)


def path_from_text(text: str) -> Path:
    """A column or order path such as ``metrics.val/loss.min`` or ``config.model.depth`` as a tuple."""
    parts = tuple(text.split("."))
    if parts and parts[0] == "metrics" and len(parts) >= 3:
        return ("metrics", ".".join(parts[1:-1]), parts[-1])
    return _Parser(text, datetime.now(UTC)).checked_path(parts, 0)


_KEYWORD_OPS = ("eq", "ne", "lt", "le", "gt", "ge", "in", "contains", "startswith", "endswith", "exists")


def from_keywords(path_ops: Mapping[str, Any], *, now: datetime | None = None) -> list[Node]:
    """``config__optim__name="adam"``, ``metrics__loss__min__lt=0.3``: keyword sugar as tree nodes.

    ``__`` separates path segments; a trailing operator name (``eq ne lt le gt ge in
    contains startswith endswith exists``) selects the comparison, ``eq`` by default.
    """
    parser = _Parser("", now or datetime.now(UTC))
    nodes: list[Node] = []
    for key, value in path_ops.items():
        segments = key.split("__")
        op = segments.pop() if len(segments) > 1 and segments[-1] in _KEYWORD_OPS else "eq"
        try:
            path = parser.checked_path(tuple(segments), 0)
        except FilterError as error:
            raise FilterError(f"keyword filter {key}=...: {error.message.split(' (at character')[0]}") from None

        def literal(value: Any, path: Path = path) -> Any:
            return parser.value_for(path, value, ast.Constant(0))

        if op == "exists":
            node: Node = Exists(path) if value else Not(Exists(path))
        elif op == "in":
            node = In(path, tuple(literal(item) for item in value))
        elif op == "contains":
            node = Contains(path, literal(value))
        elif op == "startswith":
            node = StartsWith(path, str(value))
        elif op == "endswith":
            node = EndsWith(path, str(value))
        elif op == "ne":
            node = Not(Cmp(path, "eq", literal(value)))
        else:
            node = Cmp(path, op, literal(value))  # type: ignore[arg-type]
        nodes.append(node)
    return nodes
