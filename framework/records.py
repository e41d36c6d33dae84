"""A cheaper frozen dataclass, for the records every run creates at start.

``@dataclass(frozen=True)`` writes ``__setattr__``, ``__delattr__``, ``__eq__``,
``__hash__`` and ``__repr__`` for each class as source text and compiles it: about
0.4 ms per class, paid at import by every run (a dozen event kinds alone cost
5 ms of a 0.1 s hello-world run). :class:`ReadOnly` has them once, for all.
"""

from __future__ import annotations

from dataclasses import FrozenInstanceError, fields
from typing import Any

__all__ = ["ReadOnly"]


class ReadOnly:
    """Read-only fields, equality, hashing and repr by field: ``frozen=True``, once for all.

    Use it as the base of ``@dataclass(slots=True, repr=False, eq=False)``: each
    field can be set once (by the generated ``__init__``) and never changed or
    deleted, and the class stays a dataclass (``fields``, ``replace``, ``asdict``).
    """

    __slots__ = ()

    def __setattr__(self, name: str, value: Any) -> None:
        if hasattr(self, name):  # set already (by __init__), or a class attribute
            raise FrozenInstanceError(f"cannot assign to field {name!r}")
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, f.name) for f in fields(self))  # type: ignore[arg-type]

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()  # type: ignore[attr-defined, no-any-return]

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        shown = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in fields(self))  # type: ignore[arg-type]
        return f"{self.__class__.__qualname__}({shown})"
