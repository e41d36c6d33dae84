"""Fixed values that win over assignments, with a record of what changed.

When a config scope or config dict is evaluated, values fixed by the user (``with``
updates, named configs) must win over what the scope assigns, while later lines of
the scope still compute from the winner (``b = a * 10`` sees the updated ``a``). A
:class:`Tracer` is handed every assignment; it answers with the value to keep and
records which paths the scope defined, which fixed values changed a default and
which changed its type. Nested dicts merge key by key through :class:`FixedDict`.
"""

from __future__ import annotations

import copy
import numbers
from collections.abc import Mapping
from typing import Any

from .snapshot import copy_value, snapshot

__all__ = ["FixedDict", "ScopeResult", "Tracer", "kind_of", "type_changed"]

_NOT_FIXED = object()


def kind_of(value: Any) -> Any:
    """The type a value counts as for type-change checks (ints and floats are both numbers)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return bool
    if isinstance(value, numbers.Number):
        return numbers.Number
    if isinstance(value, Mapping):
        return dict
    if isinstance(value, list | tuple):
        return list
    return type(value)


def type_changed(old: Any, new: Any) -> bool:
    """True when ``new`` replaces ``old`` with a value of another kind.

    int <-> float is not a change, and None on either side is a placeholder, not a type.
    """
    old_kind, new_kind = kind_of(old), kind_of(new)
    return old_kind is not None and new_kind is not None and old_kind is not new_kind


def _differs(old: Any, new: Any) -> bool:
    try:
        return bool(old != new)
    except Exception:  # noqa: BLE001 - numpy arrays and other values without a plain truth value
        return True


class ScopeResult(dict):  # type: ignore[type-arg]
    """The config a scope or dict produced, with what evaluating it revealed.

    ``assigned``: dotted paths the scope itself defined; ``modified``: paths whose
    assigned value a fixed value replaced by a different one; ``typechanges``: path ->
    (old type, new type); ``docs``: path -> comment text; ``helpers``: locals left
    out because they hold a module, class or function -> what they held.
    """

    def __init__(
        self,
        values: dict[str, Any],
        *,
        docs: dict[str, str],
        assigned: set[str],
        modified: set[str],
        typechanges: dict[str, tuple[type, type]],
        helpers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(values)
        self.docs = docs
        self.assigned = assigned
        self.modified = modified
        self.typechanges = typechanges
        self.helpers = dict(helpers or {})


class Tracer:
    """Called with each assigned (name, value); returns the value that wins."""

    def __init__(self, fixed: Mapping[str, Any]) -> None:
        self.fixed = fixed
        self.seen: dict[str, None] = {}  # names in order of first assignment
        self.assigned: set[str] = set()
        self.modified: set[str] = set()
        self.typechanges: dict[str, tuple[type, type]] = {}

    def __call__(self, name: str, value: Any) -> Any:
        """The value to keep when the scope assigns ``value`` to the local ``name``."""
        self.seen.setdefault(name)
        return self.assign(name, value, self.fixed.get(name, _NOT_FIXED))

    def record(self, path: str, value: Any) -> None:
        """Note that the scope defined ``path`` (and everything inside a dict value)."""
        self.assigned.add(path)
        if isinstance(value, Mapping):
            for key, sub in value.items():
                self.record(f"{path}.{key}", sub)

    def assign(self, path: str, value: Any, fixed: Any = _NOT_FIXED) -> Any:
        """The value to keep for ``path`` when the scope assigns ``value``."""
        self.record(path, value)
        if fixed is _NOT_FIXED:
            return value
        if isinstance(fixed, Mapping) and isinstance(value, Mapping):
            return FixedDict(self, path, value, fixed)
        if type_changed(value, fixed):
            self.typechanges[path] = (type(value), type(fixed))
        if _differs(value, fixed):
            self.modified.add(path)
        return copy_value(fixed)

    def result(
        self,
        values: dict[str, Any],
        docs: dict[str, str],
        *,
        where: str = "",
        helpers: dict[str, str] | None = None,
    ) -> ScopeResult:
        """The scope's config: its values, then fixed entries it never assigned.

        This is where the resolution takes its one copy of the values (see
        :mod:`.snapshot`); ``where`` names the scope in the errors it may raise.
        """
        out = {name: snapshot(value, name, where) for name, value in values.items()}
        for name, value in self.fixed.items():
            if name not in out:
                out[name] = snapshot(value, name, where)
        return ScopeResult(
            out,
            docs=dict(docs),
            assigned=set(self.assigned),
            modified=set(self.modified),
            typechanges=dict(self.typechanges),
            helpers=helpers,
        )


class FixedDict(dict):  # type: ignore[type-arg]
    """A dict assigned in a scope whose keys may be fixed: fixed keys keep their fixed value."""

    def __init__(
        self, tracer: Tracer, path: str, value: Mapping[str, Any], fixed: Mapping[str, Any]
    ) -> None:
        super().__init__()
        self._tracer = tracer
        self._path = path
        self._fixed = fixed
        for key, item in value.items():
            self[key] = item
        for key, item in fixed.items():
            if key not in self:
                dict.__setitem__(self, key, copy_value(item))

    def __setitem__(self, key: Any, value: Any) -> None:
        path = f"{self._path}.{key}"
        if key in self._fixed:
            value = self._tracer.assign(path, value, self._fixed[key])
        else:
            self._tracer.record(path, value)
        dict.__setitem__(self, key, value)

    def __delitem__(self, key: Any) -> None:
        if key not in self._fixed:  # a fixed value cannot be removed by the scope
            dict.__delitem__(self, key)

    def update(self, *args: Any, **kwargs: Any) -> None:
        """Set each item as ``self[key] = value`` would (fixed keys keep their value)."""
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def setdefault(self, key: Any, default: Any = None) -> Any:
        """``dict.setdefault`` through ``__setitem__``."""
        if key not in self:
            self[key] = default
        return self[key]

    def __copy__(self) -> dict[Any, Any]:
        return dict(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[Any, Any]:
        return {key: copy.deepcopy(value, memo) for key, value in self.items()}
