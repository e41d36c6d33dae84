"""Read-only views of the config handed to captured functions.

A captured function must not change the config it receives: the stored config
would no longer describe what ran, and a second run of the same experiment would
see the change. :func:`make_read_only` copies the config into :class:`ReadOnlyDict`
and :class:`ReadOnlyList` containers that refuse every mutation, augmented
assignment included (``lst += [x]``, which Sacred's read-only list let through).
Leaf values are copies, so nothing a function does to them leaks back either.
"""

# The mutator overrides below only refuse; the class docstrings say so once for all.
# ruff: noqa: D102

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any, NoReturn, SupportsIndex

from ..errors import ReadOnlyConfigError
from ..serialize import has_only_scalars

__all__ = ["ReadOnlyDict", "ReadOnlyList", "make_read_only", "plain"]

_SCALARS = (str, int, float, bool, type(None))  # immutable: shared, never copied


def _refuse(path: str, operation: str) -> NoReturn:
    where = f" {path!r}" if path else ""
    raise ReadOnlyConfigError(
        # Sacred's sentence first: code and tests written for Sacred match on it.
        "The configuration is read-only in a captured function! "
        f"Cannot {operation} config entry{where}. "
        "Copy the value first (e.g. dict(value) or list(value)) to change a local version, "
        "or change the config with 'with KEY=VALUE' or a config scope."
    )


class ReadOnlyDict(dict):  # type: ignore[type-arg]
    """A dict that raises :class:`ReadOnlyConfigError` on any change."""

    __slots__ = ("_path",)

    def __init__(self, items: Any = (), path: str = "") -> None:
        dict.__init__(self, items)
        self._path = path

    def _sub(self, key: Any) -> str:
        return f"{self._path}.{key}" if self._path else str(key)

    def __setitem__(self, key: Any, value: Any) -> NoReturn:
        _refuse(self._sub(key), "set")

    def __delitem__(self, key: Any) -> NoReturn:
        _refuse(self._sub(key), "delete")

    def __ior__(self, other: Any) -> NoReturn:  # type: ignore[misc]
        _refuse(self._path, "update")

    def clear(self) -> NoReturn:
        _refuse(self._path, "clear")

    def pop(self, key: Any, *default: Any) -> NoReturn:
        _refuse(self._sub(key), "pop")

    def popitem(self) -> NoReturn:
        _refuse(self._path, "pop an item from")

    def setdefault(self, key: Any, default: Any = None) -> NoReturn:
        _refuse(self._sub(key), "set")

    def update(self, *args: Any, **kwargs: Any) -> NoReturn:
        _refuse(self._path, "update")

    def copy(self) -> dict[Any, Any]:
        """A plain, mutable deep copy: the usual way to get a version one may change."""
        return plain(self)  # type: ignore[no-any-return]

    def __copy__(self) -> ReadOnlyDict:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> ReadOnlyDict:
        return ReadOnlyDict({k: copy.deepcopy(v, memo) for k, v in dict.items(self)}, self._path)

    def __reduce__(self) -> tuple[Any, ...]:
        return (ReadOnlyDict, (dict(self), self._path))

    def __repr__(self) -> str:
        return dict.__repr__(self)


class ReadOnlyList(list):  # type: ignore[type-arg]
    """A list that raises :class:`ReadOnlyConfigError` on any change, ``+=`` and ``*=`` included."""

    __slots__ = ("_path",)

    def __init__(self, items: Iterable[Any] = (), path: str = "") -> None:
        list.__init__(self, items)
        self._path = path

    def __setitem__(self, index: Any, value: Any) -> NoReturn:
        _refuse(f"{self._path}[{index}]", "set")

    def __delitem__(self, index: Any) -> NoReturn:
        _refuse(f"{self._path}[{index}]", "delete")

    def __iadd__(self, other: Any) -> NoReturn:  # type: ignore[misc]
        _refuse(self._path, "extend (+=)")

    def __imul__(self, other: Any) -> NoReturn:  # type: ignore[misc]
        _refuse(self._path, "repeat (*=)")

    def append(self, value: Any) -> NoReturn:
        _refuse(self._path, "append to")

    def extend(self, values: Any) -> NoReturn:
        _refuse(self._path, "extend")

    def insert(self, index: SupportsIndex, value: Any) -> NoReturn:
        _refuse(self._path, "insert into")

    def pop(self, index: SupportsIndex = -1) -> NoReturn:
        _refuse(self._path, "pop from")

    def remove(self, value: Any) -> NoReturn:
        _refuse(self._path, "remove from")

    def clear(self) -> NoReturn:
        _refuse(self._path, "clear")

    def sort(self, *args: Any, **kwargs: Any) -> NoReturn:
        _refuse(self._path, "sort")

    def reverse(self) -> NoReturn:
        _refuse(self._path, "reverse")

    def copy(self) -> list[Any]:
        """A plain, mutable deep copy."""
        return plain(self)  # type: ignore[no-any-return]

    def __copy__(self) -> ReadOnlyList:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> ReadOnlyList:
        return ReadOnlyList([copy.deepcopy(v, memo) for v in list.__iter__(self)], self._path)

    def __reduce__(self) -> tuple[Any, ...]:
        return (ReadOnlyList, (list(self), self._path))

    def __repr__(self) -> str:
        return list.__repr__(self)


def make_read_only(value: Any, path: str = "") -> Any:
    """A read-only deep copy of ``value``: dicts and lists wrapped, leaves copied."""
    if isinstance(value, dict):
        return ReadOnlyDict(
            {k: make_read_only(v, f"{path}.{k}" if path else str(k)) for k, v in value.items()},
            path,
        )
    if isinstance(value, list | tuple):
        if has_only_scalars(value):  # a long list of numbers: one step, not one call per item
            return ReadOnlyList(list(value), path)
        return ReadOnlyList([make_read_only(v, f"{path}[{i}]") for i, v in enumerate(value)], path)
    if isinstance(value, _SCALARS):
        return value
    return copy.deepcopy(value)


def plain(value: Any) -> Any:
    """A mutable deep copy with plain dicts and lists (undoes :func:`make_read_only`)."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in dict.items(value)}
    if isinstance(value, list):
        if has_only_scalars(value):
            return list(list.__iter__(value))
        return [plain(v) for v in list.__iter__(value)]
    if isinstance(value, _SCALARS):
        return value
    return copy.deepcopy(value)
