"""Config scopes: a function whose local variables are the config.

::

    @ex.config
    def cfg():
        a = 1          # the doc shown by print_config
        b = a * 10     # follows 'a' when the user sets it: with a=2 -> b == 20

How it works: the function's source is parsed once (with :mod:`ast`) and compiled
into a twin function in which every statement that binds a local name is followed
by ``name = tracer("name", name)``. The tracer returns the user's fixed value when
there is one, so later lines compute from it. The twin runs as a real function
with the original globals, so comprehensions, lambdas and nested functions see the
config locals as usual, and closures of the original function are honoured. When
it returns, the traced locals that hold data are the config: modules, functions,
classes and other callables are helpers, not config. Comments on an assignment's
line, or on the lines right above it, become its documentation.

Limitation: the source code must be available, as it is for functions defined in
files and notebook cells. A scope typed at the plain Python prompt has none; use
``ex.add_config({...})`` there instead.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import inspect
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ..errors import ConfigError
from .dicts import recursive_update
from .snapshot import copy_value, describe_callable
from .source import bound_by, check_body, extract_docs, function_node, scope_names, target_names
from .tracer import ScopeResult, Tracer

__all__ = ["ConfigScope", "is_config_value"]

_HOOK = "__gnomon_trace__"
_LOCALS = "__gnomon_locals__"
_TWIN = "__gnomon_config_scope__"


def is_config_value(value: Any) -> bool:
    """Whether a scope local is config: modules, classes and callables are helpers, not data."""
    return not (inspect.ismodule(value) or callable(value))


def _trace_statements(names: Iterable[str], at: ast.stmt) -> list[ast.stmt]:
    out: list[ast.stmt] = []
    for name in dict.fromkeys(names):
        call = ast.Call(
            ast.Name(_HOOK, ast.Load()), [ast.Constant(name), ast.Name(name, ast.Load())], []
        )
        out.append(ast.copy_location(ast.Assign([ast.Name(name, ast.Store())], call), at))
    return out


def _instrument(body: list[ast.stmt]) -> list[ast.stmt]:
    """``body`` with a tracer call after every statement that binds a local name."""
    out: list[ast.stmt] = []
    for stmt in body:
        if isinstance(stmt, ast.For | ast.AsyncFor):
            stmt.body = _trace_statements(target_names(stmt.target), stmt) + _instrument(stmt.body)
            stmt.orelse = _instrument(stmt.orelse)
        elif isinstance(stmt, ast.While | ast.If):
            stmt.body, stmt.orelse = _instrument(stmt.body), _instrument(stmt.orelse)
        elif isinstance(stmt, ast.With | ast.AsyncWith):
            names = [
                n
                for item in stmt.items
                if item.optional_vars is not None
                for n in target_names(item.optional_vars)
            ]
            stmt.body = _trace_statements(names, stmt) + _instrument(stmt.body)
        elif isinstance(stmt, ast.Try | ast.TryStar):
            stmt.body, stmt.orelse, stmt.finalbody = map(
                _instrument, (stmt.body, stmt.orelse, stmt.finalbody)
            )
            for handler in stmt.handlers:
                handler.body = _instrument(handler.body)
        elif isinstance(stmt, ast.Match):
            for case in stmt.cases:
                case.body = _instrument(case.body)
        out.append(stmt)
        out.extend(_trace_statements(bound_by(stmt), stmt))
    return out


# ------------------------------------------------------------------------ scope


class ConfigScope:
    """A function whose local variables define (part of) the config; see the module doc.

    Call it with ``fixed`` (values that win), ``preset`` (config so far) and
    ``fallback`` (read-only values such as sub-ingredient configs, and the logger
    ``_log``) to get a :class:`~.tracer.ScopeResult`. Parameters of the function name
    preset, fixed or fallback entries it wants to read.
    """

    def __init__(self, func: Callable[..., Any]) -> None:
        self._func = func
        self.__name__ = func.__name__
        self.__qualname__ = func.__qualname__
        self.__module__ = func.__module__
        self.__doc__ = func.__doc__
        self.__wrapped__ = func
        where = f"{func.__qualname__!r}"
        if not inspect.isfunction(func):
            raise ConfigError(
                f"A config scope must be a plain function, not {type(func).__name__}."
            )
        self.arg_names: list[str] = []
        for param in inspect.signature(func).parameters.values():
            if (
                param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD)
                or param.default is not param.empty
            ):
                raise ConfigError(
                    f"Config scope {where} has parameter {param}: parameters of a config "
                    "scope name config entries to read and take no defaults, *args or **kwargs."
                )
            self.arg_names.append(param.name)
        node, self._filename, lines = function_node(func)
        body = node.body
        if (
            body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            body = body[1:]
        check_body(body, where)
        self.docs = extract_docs(lines, node, body)
        bound, loaded = scope_names(body, self.arg_names)
        self._free = loaded - bound
        self._node = node
        self._body = body
        self._twins: dict[frozenset[str], Callable[..., dict[str, Any]]] = {}

    @property
    def keys(self) -> set[str]:
        """Names the scope assigns, read from its source without running it.

        Helpers (imports, functions) are among them; the command line uses this to
        tell a forgotten ``=`` (``with lr``) from an unknown named config.
        """
        bound, _ = scope_names(self._body, ())
        return bound

    def _twin(self, injected: frozenset[str]) -> Callable[..., dict[str, Any]]:
        twin = self._twins.get(injected)
        if twin is None:
            params = [_HOOK, _LOCALS, *self.arg_names, *sorted(injected)]
            arguments = ast.arguments(
                posonlyargs=[], args=[ast.arg(p) for p in params], vararg=None,
                kwonlyargs=[], kw_defaults=[], kwarg=None, defaults=[],
            )  # fmt: skip
            body = _instrument(copy.deepcopy(self._body)) or [ast.Pass()]
            ret = ast.copy_location(
                ast.Return(ast.Call(ast.Name(_LOCALS, ast.Load()), [], [])), self._node
            )
            function = ast.FunctionDef(
                name=_TWIN, args=arguments, body=[*body, ret], decorator_list=[], returns=None
            )
            if "type_params" in ast.FunctionDef._fields:  # Python 3.12+
                setattr(function, "type_params", [])  # noqa: B010
            module = ast.Module(body=[ast.copy_location(function, self._node)], type_ignores=[])
            code = compile(ast.fix_missing_locations(module), self._filename, "exec")
            namespace: dict[str, Any] = {}
            exec(
                code, self._func.__globals__, namespace
            )  # the user's own function, recompiled with tracing
            twin = self._twins[injected] = namespace[_TWIN]
        return twin

    def _closure(self) -> dict[str, Any]:
        cells = dict(
            zip(self._func.__code__.co_freevars, self._func.__closure__ or (), strict=True)
        )
        values = {}
        for name, cell in cells.items():
            with contextlib.suppress(ValueError):  # a closure variable not yet assigned
                values[name] = cell.cell_contents
        return values

    def __call__(
        self,
        fixed: Mapping[str, Any] | None = None,
        preset: Mapping[str, Any] | None = None,
        fallback: Mapping[str, Any] | None = None,
    ) -> ScopeResult:
        """Evaluate the scope; fixed values win over its assignments."""
        fixed = dict(fixed or {})
        available: dict[str, Any] = {}
        for layer in (fallback, preset, fixed):
            recursive_update(
                available, {k: v for k, v in (layer or {}).items() if k in self.arg_names}
            )
        kwargs = {}
        for name in self.arg_names:
            if name not in available:
                known = (
                    ", ".join(sorted(map(str, {**(fallback or {}), **(preset or {}), **fixed})))
                    or "none"
                )
                raise ConfigError(
                    f"Config scope {self.__qualname__!r} takes parameter {name!r}, but no "
                    "config entry, update, ingredient config or '_log' has that name "
                    f"(available: {known}). Define it in an earlier config scope or remove "
                    "the parameter."
                )
            value = available[name]
            # A logger (``_log``) is a tool handed to the scope, not config data to copy.
            kwargs[name] = value if isinstance(value, logging.Logger) else copy_value(value)
        injected = {n: v for n, v in self._closure().items() if n in self._free}
        injected.update({n: copy_value(fixed[n]) for n in self._free if n in fixed})
        tracer = Tracer(fixed)
        local_values = self._twin(frozenset(injected))(tracer, locals, **kwargs, **injected)
        values: dict[str, Any] = {}
        helpers: dict[str, str] = {}
        for name in tracer.seen:
            if name not in local_values or name.startswith("__"):
                continue
            if is_config_value(local_values[name]):
                values[name] = local_values[name]
            else:
                helpers[name] = describe_callable(local_values[name])
        return tracer.result(
            values, self.docs, where=f"config scope {self.__qualname__!r}", helpers=helpers
        )

    def __repr__(self) -> str:
        return f"<ConfigScope {self.__qualname__}>"
