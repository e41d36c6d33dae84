"""``@record``: a dataclass whose methods are shared closures, not compiled source text.

``@dataclass`` writes ``__init__``, ``__repr__``, ``__eq__`` (and, frozen,
``__setattr__``, ``__delattr__``, ``__hash__``) for each class as source text and
compiles it: 0.1-0.7 ms per class, paid at import. Two dozen classes are built by
every run's start (events, sources, options, run state), which made dataclasses a
sixteenth of a hello-world run. :func:`record` asks :mod:`dataclasses` for the fields
only (so ``fields``, ``replace``, ``asdict`` and ``is_dataclass`` work) and attaches
methods that read a plan made once per class.

What a record keeps of ``@dataclass``: positional and keyword-only fields, defaults
and default factories, ``field(init=False, repr=False, compare=False, hash=...)``,
``__post_init__``, equality and hashing by field (frozen records are hashable, mutable
ones with ``eq`` are not), the same ``TypeError`` for missing or unexpected arguments,
``FrozenInstanceError`` on assignment to a frozen record, and copy/pickle of frozen
slotted records. Not offered: ``order``, ``unsafe_hash``, ``InitVar``.
Type checkers see a dataclass (``dataclass_transform``), so constructor calls and
assignments to frozen records are checked statically too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import MISSING, FrozenInstanceError
from typing import Any, TypeVar, dataclass_transform, overload

__all__ = ["record"]

_T = TypeVar("_T", bound=type)


@overload
def record(cls: _T, /) -> _T: ...


@overload
def record(
    *, frozen: bool = False, eq: bool = True, repr: bool = True, slots: bool = False, kw_only: bool = False
) -> Callable[[_T], _T]: ...


@dataclass_transform(field_specifiers=(dataclasses.field, dataclasses.Field))
def record(
    cls: _T | None = None,
    /,
    *,
    frozen: bool = False,
    eq: bool = True,
    repr: bool = True,  # noqa: A002 - the dataclass parameter's name
    slots: bool = False,
    kw_only: bool = False,
) -> _T | Callable[[_T], _T]:
    """Make ``cls`` a dataclass like ``@dataclass(...)`` with the same arguments would."""

    def build(cls: _T) -> _T:
        made: _T = dataclasses.dataclass(  # type: ignore[assignment]
            cls, init=False, repr=False, eq=False, slots=slots, kw_only=kw_only
        )
        _attach(made, frozen=frozen, eq=eq, repr=repr, slots=slots)
        return made

    return build if cls is None else build(cls)


def _attach(cls: type, *, frozen: bool, eq: bool, repr: bool, slots: bool) -> None:  # noqa: A002
    fields = dataclasses.fields(cls)
    own = vars(cls)
    cls.__init__ = _initializer(cls, fields)  # type: ignore[misc]
    if repr and "__repr__" not in own:
        shown = tuple(f.name for f in fields if f.repr)
        cls.__repr__ = _representer(shown)  # type: ignore[assignment]
    if eq and "__eq__" not in own:
        compared = tuple(f.name for f in fields if f.compare)
        cls.__eq__ = _comparer(compared)  # type: ignore[assignment]
        if "__hash__" not in own:  # as @dataclass: hashable when frozen, else not hashable
            hashed = tuple(f.name for f in fields if (f.compare if f.hash is None else f.hash))
            cls.__hash__ = _hasher(hashed) if frozen else None  # type: ignore[assignment]
    if frozen:
        cls.__setattr__ = _refuse_assignment  # type: ignore[assignment]
        cls.__delattr__ = _refuse_deletion  # type: ignore[assignment]
        if slots:  # no __dict__ for pickle to fill: state goes through object.__setattr__
            names = tuple(f.name for f in fields)
            cls.__getstate__ = _state_getter(names)  # type: ignore[method-assign, assignment]
            cls.__setstate__ = _state_setter(names)  # type: ignore[attr-defined]


def _initializer(cls: type, fields: tuple[dataclasses.Field[Any], ...]) -> Callable[..., None]:
    name = cls.__qualname__
    positional = tuple(f.name for f in fields if f.init and not f.kw_only)
    accepted = frozenset(f.name for f in fields if f.init)
    plan = tuple((f.name, f.init, f.default, f.default_factory) for f in fields)
    post_init = getattr(cls, "__post_init__", None) is not None
    fewest = 1 + sum(1 for f in fields if f.init and not f.kw_only and f.default is f.default_factory is MISSING)
    most = 1 + len(positional)
    takes = _count(most, "positional argument") if fewest == most else f"from {fewest} to {most} positional arguments"
    set_field = object.__setattr__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        if len(args) > len(positional):
            raise TypeError(f"{name}.__init__() takes {takes} but {len(args) + 1} were given")
        for key in kwargs:
            if key not in accepted:
                raise TypeError(f"{name}.__init__() got an unexpected keyword argument {key!r}")
        given = dict(zip(positional, args, strict=False))
        for key in kwargs:
            if key in given:
                raise TypeError(f"{name}.__init__() got multiple values for argument {key!r}")
        given.update(kwargs)
        missing: list[str] = []
        for field_name, init, default, factory in plan:
            if init and field_name in given:
                value = given[field_name]
            elif default is not MISSING:
                value = default
            elif factory is not MISSING:
                value = factory()
            elif init:
                missing.append(field_name)
                continue
            else:
                continue  # init=False and no default: left unset, as @dataclass leaves it
            set_field(self, field_name, value)
        if missing:
            raise TypeError(_missing_message(name, missing, positional))
        if post_init:
            self.__post_init__()

    __init__.__qualname__ = f"{name}.__init__"
    return __init__


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _missing_message(name: str, missing: list[str], positional: tuple[str, ...]) -> str:
    """Python's own wording: the positional ones first, else the keyword-only ones."""
    names = [n for n in missing if n in positional] or missing
    kind = "positional argument" if names[0] in positional else "keyword-only argument"
    quoted = [repr(n) for n in names]
    listed = quoted[0]
    if len(quoted) > 1:
        listed = f"{', '.join(quoted[:-1])}{',' if len(quoted) > 2 else ''} and {quoted[-1]}"
    return f"{name}.__init__() missing {_count(len(names), 'required ' + kind)}: {listed}"


def _representer(shown: tuple[str, ...]) -> Callable[[Any], str]:
    def __repr__(self: Any) -> str:
        values = ", ".join(f"{n}={getattr(self, n)!r}" for n in shown)
        return f"{self.__class__.__qualname__}({values})"

    return __repr__


def _comparer(compared: tuple[str, ...]) -> Callable[[Any, object], bool]:
    def __eq__(self: Any, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return tuple(getattr(self, n) for n in compared) == tuple(getattr(other, n) for n in compared)

    return __eq__


def _hasher(hashed: tuple[str, ...]) -> Callable[[Any], int]:
    def __hash__(self: Any) -> int:
        return hash(tuple(getattr(self, n) for n in hashed))

    return __hash__


def _refuse_assignment(self: Any, name: str, value: Any) -> None:
    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def _refuse_deletion(self: Any, name: str) -> None:
    raise FrozenInstanceError(f"cannot delete field {name!r}")


def _state_getter(names: tuple[str, ...]) -> Callable[[Any], list[Any]]:
    def __getstate__(self: Any) -> list[Any]:
        return [getattr(self, n) for n in names]

    return __getstate__


def _state_setter(names: tuple[str, ...]) -> Callable[[Any, list[Any]], None]:
    def __setstate__(self: Any, state: list[Any]) -> None:
        for name, value in zip(names, state, strict=True):
            object.__setattr__(self, name, value)

    return __setstate__
