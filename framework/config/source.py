"""Reading a config scope's source: where it is, the names it binds and its comments.

:class:`~gnomon.config.scope.ConfigScope` needs the function's syntax tree (to
recompile it with tracing), the local names its statements bind and read, and the
comments around its assignments, which become the documentation of config entries.
"""

from __future__ import annotations

import ast
import inspect
import linecache
import re
from collections.abc import Callable, Iterable
from typing import Any

from ..errors import ConfigError

__all__ = [
    "bound_by",
    "check_body",
    "extract_docs",
    "function_node",
    "scope_names",
    "scope_nodes",
    "target_names",
]

_NESTED_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)


def function_node(func: Callable[..., Any]) -> tuple[ast.FunctionDef, str, list[str]]:
    """The ``def`` node of ``func`` in its file, the file name and the file's lines."""
    code = func.__code__
    filename = inspect.getsourcefile(func) or code.co_filename
    lines = linecache.getlines(filename, func.__globals__)
    where = f"{func.__qualname__!r} ({code.co_filename}:{code.co_firstlineno})"
    if not lines:
        raise ConfigError(
            f"Cannot read the source of config scope {where}: a config scope needs its "
            "source code, which functions typed at the interactive prompt do not have. "
            "Use ex.add_config({...}) instead."
        )
    try:
        tree = ast.parse("".join(lines), filename)
    except SyntaxError as error:
        raise ConfigError(f"Cannot parse the source of config scope {where}: {error}") from None
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == func.__name__:
            first = min([d.lineno for d in node.decorator_list] + [node.lineno])
            if first == code.co_firstlineno:
                return node, filename, lines
    raise ConfigError(
        f"Cannot find the source of config scope {where}; "
        "was the file changed after it was imported? "
        "(async functions cannot be config scopes)"
    )


_OWN_SCOPES = (*_NESTED_SCOPES, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def scope_nodes(node: ast.AST) -> Iterable[ast.AST]:
    """``node`` and every node below it that runs in the same scope.

    Nested functions, classes, lambdas and comprehensions are yielded but not entered.
    """
    yield node
    if not isinstance(node, _OWN_SCOPES):
        for child in ast.iter_child_nodes(node):
            yield from scope_nodes(child)


def check_body(body: list[ast.stmt], where: str) -> None:
    """Reject ``return``, ``yield`` and ``await`` in the scope's own body."""
    for stmt in body:
        for node in scope_nodes(stmt):
            if isinstance(node, ast.Return | ast.Yield | ast.YieldFrom | ast.Await):
                kind = {ast.Return: "return", ast.Yield: "yield", ast.YieldFrom: "yield from"}.get(
                    type(node), "await"
                )
                raise ConfigError(
                    f"Config scope {where} uses '{kind}' (line {node.lineno}); "
                    "a config scope's local variables are the config, "
                    "so it must not return or yield."
                )


def target_names(target: ast.AST) -> list[str]:
    """Local names an assignment target binds (``a, (b, *c)`` -> a, b, c)."""
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, ast.Tuple | ast.List):
        return [n for element in target.elts for n in target_names(element)]
    if isinstance(target, ast.Starred):
        return target_names(target.value)
    return []  # subscripts and attributes bind no local name


def bound_by(stmt: ast.stmt) -> list[str]:
    """Local names a simple statement binds."""
    if isinstance(stmt, ast.Assign):
        return [n for target in stmt.targets for n in target_names(target)]
    if isinstance(stmt, ast.AugAssign):
        return target_names(stmt.target)
    if isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
        return target_names(stmt.target)
    if isinstance(stmt, ast.Import | ast.ImportFrom):
        return [(a.asname or a.name).split(".")[0] for a in stmt.names if a.name != "*"]
    return []


def scope_names(body: list[ast.stmt], params: Iterable[str]) -> tuple[set[str], set[str]]:
    """(names bound in the function's scope, names read anywhere inside it)."""
    bound: set[str] = set(params)
    loaded: set[str] = set()
    for stmt in body:
        for node in scope_nodes(stmt):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
                bound.add(node.id)
            elif isinstance(
                node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.ExceptHandler
            ):
                if node.name:
                    bound.add(node.name)
            elif isinstance(node, ast.stmt):
                bound.update(bound_by(node))
        loaded.update(
            n.id for n in ast.walk(stmt) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)
        )
    return bound, loaded


def _one_literal(lines: list[str], leaf: ast.expr) -> bool:
    """Whether a literal spanning lines is one triple-quoted string (not "a" "b" joined)."""
    end_line = leaf.end_lineno or leaf.lineno
    pieces = [lines[n - 1].encode("utf-8") for n in range(leaf.lineno, end_line + 1)]
    pieces[-1] = pieces[-1][: leaf.end_col_offset]
    pieces[0] = pieces[0][leaf.col_offset :]
    text = b"".join(pieces).lstrip(b"rRbBuUfF")
    quote = text[:3]
    return quote in (b'"""', b"'''") and text.endswith(quote) and quote not in text[3:-3]


def _string_spans(lines: list[str], node: ast.AST) -> dict[int, list[tuple[int, int]]] | None:
    """Line -> (first, past-last) UTF-8 byte columns of the string literals on it.

    None when a literal spans lines in a way the columns cannot tell apart from a
    comment between its parts (implicit concatenation over lines).
    """
    spans: dict[int, list[tuple[int, int]]] = {}
    for leaf in ast.walk(node):
        if isinstance(leaf, ast.JoinedStr) or (
            isinstance(leaf, ast.Constant) and isinstance(leaf.value, str | bytes)
        ):
            end_line = leaf.end_lineno or leaf.lineno
            if end_line > leaf.lineno and not _one_literal(lines, leaf):
                return None
            for line in range(leaf.lineno, end_line + 1):
                first = leaf.col_offset if line == leaf.lineno else 0
                last = (leaf.end_col_offset or 0) if line == end_line else 1 << 30
                spans.setdefault(line, []).append((first, last))
    return spans


def _comment_map(lines: list[str], node: ast.AST) -> tuple[dict[int, str], set[int]]:
    """(line -> comment text, lines holding nothing but a comment) within ``node``.

    A ``#`` outside every string literal starts a comment: Python gives ``#`` no other
    meaning. The parsed tree already says where the literals are, so the comments are
    found without the tokenizer, whose first use compiles its patterns (3 ms); only a
    string literal joined over several lines needs it.
    """
    first_line = getattr(node, "lineno", 1)
    last_line = min(getattr(node, "end_lineno", None) or len(lines), len(lines))
    spans = _string_spans(lines, node)
    if spans is None:
        return _comment_map_by_tokens(lines[first_line - 1 : last_line], first_line)
    comments: dict[int, str] = {}
    alone: set[int] = set()
    for number in range(first_line, last_line + 1):
        text = lines[number - 1]
        column = text.find("#")
        while column >= 0:
            offset = len(text[:column].encode("utf-8"))
            if not any(first <= offset < last for first, last in spans.get(number, ())):
                comments[number] = text[column + 1 :].lstrip("#").strip()
                if not text[:column].strip():
                    alone.add(number)
                break
            column = text.find("#", column + 1)
    return comments, alone


def _comment_map_by_tokens(lines: list[str], first_line: int) -> tuple[dict[int, str], set[int]]:
    """:func:`_comment_map` by Python's tokenizer, for ``lines`` starting at ``first_line``."""
    import io
    import tokenize

    comments: dict[int, str] = {}
    alone: set[int] = set()
    try:
        for token in tokenize.generate_tokens(io.StringIO("".join(lines)).readline):
            if token.type == tokenize.COMMENT:
                number = token.start[0] + first_line - 1
                comments[number] = token.string.lstrip("#").strip()
                if not token.line[: token.start[1]].strip():
                    alone.add(number)
    except (tokenize.TokenError, SyntaxError):
        pass
    return comments, alone


class _DocFinder:
    def __init__(self, lines: list[str], node: ast.AST) -> None:
        from ..settings import SETTINGS

        self.comments, self.alone = _comment_map(lines, node)
        self.ignored = [re.compile(p) for p in SETTINGS.CONFIG.IGNORED_COMMENTS]

    def _usable(self, text: str | None) -> str | None:
        if not text or any(p.search(text) for p in self.ignored):
            return None
        return text

    def doc_for(self, first: int, last: int) -> str | None:
        """A trailing comment on the first or last line, else the comment lines right above."""
        for line in (first, last):
            text = self._usable(self.comments.get(line))
            if text:
                return text
        above: list[str] = []
        line = first - 1
        while line in self.alone:
            above.insert(0, self.comments[line])
            line -= 1
        return self._usable(" ".join(t for t in above if t)) if above else None


def extract_docs(lines: list[str], node: ast.AST, body: list[ast.stmt]) -> dict[str, str]:
    """Dotted name -> comment text for the assignments of a scope body (and dict-literal keys).

    ``lines`` are the source file's, ``node`` the scope's ``def`` in them.
    """
    scope_lines = lines[getattr(node, "lineno", 1) - 1 : getattr(node, "end_lineno", None) or len(lines)]
    if not any("#" in line for line in scope_lines):
        return {}  # no comment to find: spare the walk for string literals and the ignore patterns
    finder = _DocFinder(lines, node)
    docs: dict[str, str] = {}
    for stmt in body:
        end = stmt.end_lineno or stmt.lineno
        for name in bound_by(stmt):
            doc = finder.doc_for(stmt.lineno, end)
            if doc:
                docs[name] = doc
        if (
            isinstance(stmt, ast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], ast.Name)
            and isinstance(stmt.value, ast.Dict)
            and end > stmt.lineno
        ):
            for key, value in zip(stmt.value.keys, stmt.value.values, strict=True):
                if (
                    isinstance(key, ast.Constant)
                    and isinstance(key.value, str)
                    and key.lineno != stmt.lineno
                ):
                    doc = finder.doc_for(key.lineno, value.end_lineno or key.lineno)
                    if doc:
                        docs[f"{stmt.targets[0].id}.{key.value}"] = doc
    return docs
