"""Config as nested dicts: key rules, dotted paths, merging, and dict-based config entries.

Configs are plain nested dicts of JSON-friendly values. Keys must survive every
backend (MongoDB rejects ``.`` and a leading ``$``; ``=`` would break the
``with key=value`` grammar), so they are checked here, with messages naming the key
and where it sits.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from ..errors import ConfigError
from ..serialize import has_only_scalars
from .snapshot import copy_value

__all__ = [
    "ConfigDict",
    "assert_valid_key",
    "expand_dotted",
    "flatten_paths",
    "get_by_path",
    "join_path",
    "merge_owned",
    "normalize_config",
    "recursive_update",
    "set_by_path",
    "validate_keys",
]

# Tags jsonpickle (and so Sacred-era readers) would interpret instead of keeping as data.
_JSONPICKLE_TAGS = frozenset(
    {
        "py/b64", "py/b85", "py/bytes", "py/function", "py/id", "py/initargs", "py/iterator",
        "py/mod", "py/newargs", "py/newargsex", "py/newobj", "py/object", "py/property",
        "py/reduce", "py/ref",
        "py/repr", "py/seq", "py/set", "py/state", "py/tuple", "py/type",
    }
)  # fmt: skip


def join_path(*parts: str) -> str:
    """Dotted path of the non-empty ``parts``: ``join_path("", "a", "b") == "a.b"``."""
    return ".".join(p for p in parts if p)


def _describe(where: str) -> str:
    return f" at {where!r}" if where else ""


def assert_valid_key(key: Any, where: str = "") -> None:
    """Raise :class:`ConfigError` when ``key`` breaks a rule enabled in ``SETTINGS.CONFIG``."""
    from ..settings import SETTINGS

    rules = SETTINGS.CONFIG
    if rules.ENFORCE_STRING_KEYS and not isinstance(key, str):
        raise ConfigError(f"Invalid config key {key!r}{_describe(where)}: keys must be strings.")
    if not isinstance(key, str):
        return
    if rules.ENFORCE_KEYS_MONGO_COMPATIBLE and ("." in key or key.startswith("$")):
        raise ConfigError(
            f"Invalid config key {key!r}{_describe(where)}: keys may not contain '.' "
            "or start with '$' (MongoDB cannot store them). Nest dicts instead of dotted keys."
        )
    if rules.ENFORCE_KEYS_JSONPICKLE_COMPATIBLE and (
        key in _JSONPICKLE_TAGS or key.startswith("json://")
    ):
        raise ConfigError(
            f"Invalid config key {key!r}{_describe(where)}: it is a reserved serialization tag."
        )
    if rules.ENFORCE_KEYS_NO_EQUALS and "=" in key:
        raise ConfigError(
            f"Invalid config key {key!r}{_describe(where)}: keys may not contain '=' "
            "(it separates key and value in 'with key=value')."
        )
    if rules.ENFORCE_VALID_PYTHON_IDENTIFIER_KEYS and not key.isidentifier():
        raise ConfigError(
            f"Invalid config key {key!r}{_describe(where)}: keys must be valid Python identifiers."
        )


def validate_keys(config: Any, where: str = "") -> None:
    """Check every key of a nested config with :func:`assert_valid_key`."""
    if isinstance(config, Mapping):
        for key, value in config.items():
            assert_valid_key(key, where)
            validate_keys(value, join_path(where, str(key)))
    elif isinstance(config, list | tuple) and not has_only_scalars(config):
        for index, value in enumerate(config):
            validate_keys(value, f"{where}[{index}]")


def normalize_config(value: Any, origin: str = "") -> Any:
    """Plain copy of a config value: numpy scalars as Python scalars, tuples as lists.

    ``origin`` says where the value came from in the error raised when part of it
    cannot be copied or is nested too deeply.
    """
    from .snapshot import snapshot

    return snapshot(value, "", origin)


def recursive_update(target: dict[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``update`` into ``target`` in place and return it; nested dicts merge."""
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(target.get(key), dict):
            recursive_update(target[key], value)
        else:
            target[key] = copy_value(value) if isinstance(value, dict | list) else value
    return target


def merge_owned(target: dict[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """Like :func:`recursive_update`, but moves ``update``'s values instead of copying them.

    Only for an ``update`` nothing else holds (a scope's fresh snapshot): a large
    config is then copied once, when the snapshot is taken, not at every merge.
    """
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(target.get(key), dict):
            merge_owned(target[key], value)
        else:
            target[key] = value
    return target


def get_by_path(config: Mapping[str, Any], path: str, default: Any = None) -> Any:
    """The value at dotted ``path`` (``""`` is the whole config), or ``default``."""
    current: Any = config
    for part in path.split(".") if path else ():
        if not isinstance(current, Mapping) or part not in current:
            return default
        current = current[part]
    return current


def set_by_path(config: dict[str, Any], path: str, value: Any) -> None:
    """Set dotted ``path`` in ``config``, creating (or replacing non-dict) parents."""
    parts = path.split(".")
    current = config
    for part in parts[:-1]:
        if not isinstance(current.get(part), dict):
            current[part] = {}
        current = current[part]
    current[parts[-1]] = value


def expand_dotted(updates: Mapping[str, Any] | None) -> dict[str, Any]:
    """Nested dict from updates with dotted keys: ``{"a.b": 1}`` -> ``{"a": {"b": 1}}``."""
    result: dict[str, Any] = {}
    for key, value in (updates or {}).items():
        if not isinstance(key, str):
            raise ConfigError(
                f"Config update key {key!r} must be a string (a dotted path such as 'a.b')."
            )
        if isinstance(value, Mapping):
            value = expand_dotted(value)
        if key == "" or any(part == "" for part in key.split(".")):
            raise ConfigError(f"Config update key {key!r} is not a valid dotted path.")
        existing = get_by_path(result, key)
        if isinstance(existing, dict) and isinstance(value, dict):
            recursive_update(existing, value)
        else:
            set_by_path(result, key, copy_value(value))
    return result


def flatten_paths(config: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted path, value) of every leaf; an empty dict counts as a leaf."""
    for key, value in config.items():
        path = join_path(prefix, str(key))
        if isinstance(value, Mapping) and value:
            yield from flatten_paths(value, path)
        else:
            yield path, value


class ConfigDict:
    """A config entry given as a dict, keywords or a file (``ex.add_config``).

    Validated and normalised once, when added; evaluating it yields a copy with the
    fixed values (updates, named configs) applied, like a config scope does.
    """

    def __init__(self, values: Mapping[str, Any], source: str = "dict") -> None:
        if not isinstance(values, Mapping):
            raise ConfigError(
                f"A config must be a dict, not {type(values).__name__} (from {source})."
            )
        from ..serialize import depth_problem

        too_deep = depth_problem(values, where=f"config ({source})")
        if too_deep is not None:  # checked first: the checks below recurse level by level
            raise ConfigError(too_deep)
        validate_keys(values)
        self._values = normalize_config(dict(values), origin=f"config {source}")
        self.source = source
        self.__doc__ = None

    def __call__(
        self,
        fixed: Mapping[str, Any] | None = None,
        preset: Mapping[str, Any] | None = None,
        fallback: Mapping[str, Any] | None = None,
    ) -> Any:
        """Evaluate against ``fixed`` values (which win); see :class:`~.scope.ConfigScope`."""
        from .tracer import Tracer

        tracer = Tracer(fixed or {})
        # The tracer's result is the one copy: these values are not handed out before it.
        values = {name: tracer(name, value) for name, value in self._values.items()}
        return tracer.result(values, docs={}, where=f"config ({self.source})")

    @property
    def values(self) -> dict[str, Any]:
        """A copy of the dict this entry adds."""
        values: dict[str, Any] = copy_value(self._values)
        return values

    def __repr__(self) -> str:
        return f"ConfigDict({self._values!r})"
