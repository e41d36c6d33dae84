"""Captured functions: parameters filled from the config of the running experiment.

``@ex.capture`` wraps a function so that parameters it is not given are looked up,
by name, in its ingredient's config (below ``prefix`` when one is set), and the
special parameters ``_config``, ``_run``, ``_log``, ``_seed`` and ``_rnd`` are
provided. Explicit arguments always win; config values win over Python defaults.

Nothing about a run is stored on the function. The running experiment sets a
:class:`RunContext` in a :class:`contextvars.ContextVar`; a captured function reads
it from there, so two runs in two threads each see their own config. Threads the
user starts do not inherit context variables; for them the function falls back to
the most recent run that uses its ingredient.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
import logging
import threading
import types
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import field
from typing import Any, Protocol

from .config.dicts import get_by_path, join_path
from .config.nesting import IngredientNode, ingredient_view
from .config.readonly import make_read_only, plain
from .errors import MissingConfigError, SignatureError
from .randomness import SeedStream, create_rnd, derive_seed, new_seed
from .records import record
from .spelling import close_matches, did_you_mean

__all__ = ["SPECIAL_ARGS", "CapturedFunction", "Owner", "RunContext", "activate", "current_context"]


class Owner(IngredientNode, Protocol):
    """The ingredient (or experiment) a captured function belongs to, with the runs now using it."""

    _active_contexts: list[RunContext]


SPECIAL_ARGS = frozenset({"_config", "_run", "_log", "_seed", "_rnd"})

_CURRENT: contextvars.ContextVar[RunContext | None] = contextvars.ContextVar(
    "gnomon_run_context", default=None
)


@record(eq=False)
class RunContext:
    """What captured functions of one run need: its config, Run, logger and seed streams."""

    config: dict[str, Any]
    paths: dict[int, str]
    root_logger: logging.Logger
    run: Any = None
    read_only: bool = True
    _read_only_config: Any = field(default=None, repr=False)
    _views: dict[int, Any] = field(default_factory=dict, repr=False)
    _streams: dict[tuple[int, str], SeedStream] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def uses(self, ingredient: Owner) -> bool:
        """Whether ``ingredient`` is part of this run."""
        return id(ingredient) in self.paths

    def config_for(self, ingredient: Owner, prefix: str = "") -> Any:
        """The config below ``prefix`` of ``ingredient``: read-only, or a private copy.

        An ingredient that includes others also sees their configs (see
        :mod:`gnomon.config.nesting`).
        """
        own = self.paths.get(id(ingredient), ingredient.path)
        if own and ingredient.ingredients:
            # Sacred's nested-ingredient rule: sub-ingredients' configs are part of the view.
            with self._lock:
                view = self._views.get(id(ingredient))
                if view is None:
                    view = ingredient_view(self.config, ingredient, self.paths)
                    if self.read_only:
                        view = make_read_only(view, own)
                    self._views[id(ingredient)] = view
            if not self.read_only:
                return plain(get_by_path(view, prefix, {}))
            return get_by_path(view, prefix, make_read_only({}, join_path(own, prefix)))
        path = join_path(own, prefix)
        if not self.read_only:
            return plain(get_by_path(self.config, path, {}))
        with self._lock:
            if self._read_only_config is None:
                self._read_only_config = make_read_only(self.config)
        return get_by_path(self._read_only_config, path, make_read_only({}, path))

    def ingredient_seed(self, ingredient: Owner) -> int:
        """The ingredient's own ``seed`` entry, else one derived from the root seed and its path."""
        path = self.paths.get(id(ingredient), ingredient.path)
        root_seed = int(self.config.get("seed", 0))
        if not path:
            return root_seed
        own = get_by_path(self.config, join_path(path, "seed"))
        if isinstance(own, int) and not isinstance(own, bool):
            return own
        return derive_seed(root_seed, "ingredient", path)

    def next_seed(self, ingredient: Owner, identity: str) -> int:
        """The next seed of the stream of the function ``identity`` of ``ingredient``."""
        key = (id(ingredient), identity)
        with self._lock:
            stream = self._streams.get(key)
            if stream is None:
                stream = self._streams[key] = SeedStream(
                    derive_seed(self.ingredient_seed(ingredient), identity)
                )
        return stream.next()


def current_context(ingredient: Owner | None = None) -> RunContext | None:
    """The context of the run this code runs in (for ``ingredient``, when given)."""
    context = _CURRENT.get()
    if context is not None and (ingredient is None or context.uses(ingredient)):
        return context
    if ingredient is not None:
        active = ingredient._active_contexts
        if active:
            return active[-1]
    return None


@contextlib.contextmanager
def activate(context: RunContext, ingredients: Iterable[Owner]) -> Iterator[RunContext]:
    """Make ``context`` the current run context here, and the fallback of its ingredients."""
    members = list(ingredients)
    token = _CURRENT.set(context)
    for ingredient in members:
        ingredient._active_contexts.append(context)
    try:
        yield context
    finally:
        for ingredient in members:
            for index in range(len(ingredient._active_contexts) - 1, -1, -1):
                if ingredient._active_contexts[index] is context:
                    del ingredient._active_contexts[index]
                    break
        _CURRENT.reset(token)


class CapturedFunction:
    """A function whose missing arguments come from the config; see the module doc."""

    __wrapped__: Callable[..., Any]

    def __init__(
        self, func: Callable[..., Any], ingredient: Owner, prefix: str | None = None
    ) -> None:
        if isinstance(func, CapturedFunction):
            func = func.__wrapped__
        if not callable(func):
            raise SignatureError(f"Only functions can be captured, not {type(func).__name__}.")
        functools.update_wrapper(self, func)
        self.__wrapped__ = func
        self.ingredient = ingredient
        self.prefix = prefix or ""
        self.unobserved = False
        self.signature = inspect.signature(func)
        params = list(self.signature.parameters.values())
        self._params = [p for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        self._positional = [
            p for p in self._params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        self._by_name = {p.name: p for p in self._params}
        self._varargs = any(p.kind == p.VAR_POSITIONAL for p in params)
        self._varkw = any(p.kind == p.VAR_KEYWORD for p in params)
        self.arg_names = [p.name for p in self._params]
        self.config_arg_names = frozenset(self.arg_names) - SPECIAL_ARGS
        self.uses_randomness = bool({"_seed", "_rnd"} & set(self.arg_names))
        self.identity = (
            f"{getattr(func, '__module__', '')}.{getattr(func, '__qualname__', repr(func))}"
        )

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        return self if instance is None else types.MethodType(self, instance)

    def __repr__(self) -> str:
        return f"<captured function {self.identity}>"

    def _name(self) -> str:
        return getattr(self.__wrapped__, "__qualname__", repr(self.__wrapped__))

    def _bind_explicit(
        self, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[dict[str, Any], list[Any], dict[str, Any]]:
        if len(args) > len(self._positional) and not self._varargs:
            raise SignatureError(
                f"{self._name()}() takes {len(self._positional)} positional argument(s) "
                f"but {len(args)} were given."
            )
        given = {p.name: value for p, value in zip(self._positional, args, strict=False)}
        extra_args = list(args[len(self._positional) :])
        extra_kwargs: dict[str, Any] = {}
        for key, value in kwargs.items():
            if key in given:
                raise SignatureError(f"{self._name()}() got multiple values for argument {key!r}.")
            param = self._by_name.get(key)
            if param is None or param.kind == param.POSITIONAL_ONLY:
                if self._varkw:
                    extra_kwargs[key] = value
                    continue
                hint = did_you_mean(key, self.arg_names)
                raise SignatureError(
                    f"{self._name()}() got an unexpected keyword argument {key!r}.{hint}"
                )
            given[key] = value
        return given, extra_args, extra_kwargs

    def _special(self, name: str, context: RunContext | None, seed: list[int]) -> Any:
        if name == "_config":
            return (
                context.config_for(self.ingredient, self.prefix) if context else make_read_only({})
            )
        if name == "_run":
            return context.run if context else None
        if name == "_log":
            root = context.root_logger if context else logging.getLogger()
            return root.getChild(getattr(self.__wrapped__, "__name__", "captured"))
        if not seed:
            seed.append(
                context.next_seed(self.ingredient, self.identity) if context else new_seed()
            )
        return seed[0] if name == "_seed" else create_rnd(seed[0])

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the function, filling arguments not given from the current run's config."""
        context = current_context(self.ingredient)
        given, extra_args, extra_kwargs = self._bind_explicit(args, kwargs)
        config: Any = None
        seed: list[int] = []
        missing = []
        for param in self._params:
            name = param.name
            if name in given:
                continue
            if name in SPECIAL_ARGS:
                given[name] = self._special(name, context, seed)
                continue
            if config is None:
                config = context.config_for(self.ingredient, self.prefix) if context else {}
                if not isinstance(config, Mapping):
                    config = {}
            if name in config:
                given[name] = config[name]
            elif param.default is param.empty:
                missing.append(name)
        if missing:
            raise self._missing(missing, context, config)
        call_args: list[Any] = []
        call_kwargs: dict[str, Any] = dict(extra_kwargs)
        for param in self._params:
            if param.name not in given:
                if extra_args and param.kind != param.KEYWORD_ONLY:
                    call_args.append(param.default)
                continue
            if param.kind == param.POSITIONAL_ONLY or (
                extra_args and param.kind == param.POSITIONAL_OR_KEYWORD
            ):
                call_args.append(given[param.name])
            else:
                call_kwargs[param.name] = given[param.name]
        return self.__wrapped__(*call_args, *extra_args, **call_kwargs)

    def _missing(
        self, missing: list[str], context: RunContext | None, config: Mapping[str, Any]
    ) -> MissingConfigError:
        where = f" under {self.prefix!r}" if self.prefix else ""
        names = ", ".join(repr(m) for m in missing)
        hint = "" if context else " No run is active, so no config values were available."
        for name in missing:
            close = close_matches(name, [str(k) for k in config])
            if close:
                hint += f" The config has {close[0]!r}: did you mean that instead of {name!r}?"
        return MissingConfigError(
            f"{self._name()}() is missing value(s) for {names}: add them to the config{where} "
            f"(e.g. 'with {join_path(self.prefix, missing[0])}=...') "
            f"or pass them as arguments.{hint}",
            missing,
            self._name(),
        )
