"""The one copy of config values a run owns.

What a config scope or dict produces may share objects with the user's code (a
module-level list, a dict from a library); the run must own what it records. A
:func:`snapshot` is taken once, where a scope's or dict's values enter the
resolution, and everything after it moves those objects instead of copying them
again: a 10 MB list costs one copy, not one per step.

The snapshot is also where a value that cannot be config is met first, so its
errors name the entry: an open file, a lock or a socket cannot be copied, and a
config nested past :data:`~gnomon.serialize.MAX_DEPTH` levels cannot be stored.
"""

from __future__ import annotations

import copy
import io
import sys
from collections.abc import Mapping
from typing import Any

from ..errors import ConfigError
from ..serialize import MAX_DEPTH, has_only_scalars

__all__ = ["copy_value", "describe_callable", "snapshot"]

_SCALARS = (str, int, float, bool, type(None))


def snapshot(value: Any, where: str, origin: str = "") -> Any:
    """A private, normalised copy of a config value.

    ``where`` names the entry in errors (``opts['lr']``) and ``origin`` where it
    was defined (``config scope 'cfg'``).

    Dicts and lists are rebuilt (tuples become lists and numpy scalars Python
    numbers, as Sacred normalised them); lists of plain numbers and strings are
    copied in one step; other values are deep-copied. Raises :class:`ConfigError`
    naming the entry for a value that cannot be copied or is nested too deeply.
    """
    try:
        return _snapshot(value, where, 1)
    except _NotConfig as problem:
        at = f" (from {origin})" if origin else ""
        raise ConfigError(str(problem).replace("\0", at, 1)) from None


def copy_value(value: Any) -> Any:
    """A deep copy of config data that copies lists of plain numbers and strings in one step.

    ``copy.deepcopy`` visits every item of a million-number list one Python call at a
    time; config data is dicts, lists and scalars, so those are rebuilt directly and
    only other values are deep-copied.
    """
    if isinstance(value, _SCALARS):
        return value
    if type(value) is dict:
        return {k: copy_value(v) for k, v in value.items()}
    if type(value) is list:
        return list(value) if has_only_scalars(value) else [copy_value(v) for v in value]
    return copy.deepcopy(value)


class _NotConfig(Exception):
    """A value that cannot be config; the message holds NUL where the origin goes."""


def _snapshot(value: Any, where: str, level: int) -> Any:
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, Mapping | list | tuple) and level > MAX_DEPTH:
        raise _NotConfig(_too_deep(where))
    if isinstance(value, Mapping):
        return {k: _snapshot(v, f"{where}.{k}" if where else str(k), level + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        if has_only_scalars(value):
            return list(value)
        return [_snapshot(v, f"{where}[{i}]", level + 1) for i, v in enumerate(value)]
    if type(value).__module__ == "numpy" and getattr(value, "ndim", 1) == 0 and hasattr(value, "item"):
        return value.item()
    try:
        return copy.deepcopy(value)
    except RecursionError:
        raise _NotConfig(_too_deep(where)) from None
    except Exception as error:  # noqa: BLE001 - copying runs the value's own code, which may raise anything
        raise _NotConfig(_not_data(value, where, error)) from None


def _too_deep(where: str) -> str:
    shown = where if len(where) <= 60 else where[:57] + "..."
    return (
        f"Config entry {shown!r}\0 is nested deeper than {MAX_DEPTH} levels of dicts and lists, "
        "the most every store keeps. Flatten it, e.g. with dotted names ('a.b.c') or a list "
        "of pairs, or store it as an artifact."
    )


def _not_data(value: Any, where: str, error: Exception) -> str:
    kind = f"{type(value).__module__}.{type(value).__qualname__}".removeprefix("builtins.")
    if isinstance(value, io.IOBase):
        name = getattr(value, "name", None)
        fix = f"store its path ({name!r})" if isinstance(name, str) else "store its path"
        return (
            f"Config entry {where!r}\0 holds an open file ({kind}), which cannot be config: "
            f"{fix} and open it in the function that reads it."
        )
    socket = sys.modules.get("socket")  # a socket exists only once its module was imported
    if socket is not None and isinstance(value, socket.socket):
        return (
            f"Config entry {where!r}\0 holds a socket ({kind}), which cannot be config: store the "
            "address and connect in the function that uses it."
        )
    return (
        f"Config entry {where!r}\0 holds a {kind}, which cannot be copied into the config ({error}). "
        "Config values must be data (numbers, strings, lists, dicts, numpy arrays): create "
        "the object in the function that uses it and keep only its settings in the config."
    )


def describe_callable(value: Any) -> str:
    """What kind of helper a scope local holds: 'a lambda', 'the function f', 'the class C'."""
    import inspect

    if inspect.ismodule(value):
        return f"the module {value.__name__}"
    if inspect.isclass(value):
        return f"the class {value.__qualname__}"
    name = getattr(value, "__name__", None)
    if name == "<lambda>":
        return "a lambda"
    if name:
        return f"the function {name}"
    return f"a callable {type(value).__qualname__}"
