"""Settings: one registry, layered defaults < ``GNOMON_*`` environment < code.

Sacred exposes a global ``SETTINGS`` object; scripts that change
``SETTINGS.CAPTURE_MODE`` or ``SETTINGS.HOST_INFO.CAPTURED_ENV`` keep working here.
Unknown keys are rejected with :class:`SettingError` (a typo must not silently do
nothing), and
:func:`reset` restores the defaults so tests never leak state into each other.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping
from typing import Any

from .errors import ConfigError, SettingError
from .spelling import close_matches

__all__ = ["SETTINGS", "SettingError", "SettingsGroup", "reset"]

_DEFAULTS: dict[str, Any] = {
    "CONFIG": {
        "ENFORCE_KEYS_MONGO_COMPATIBLE": True,
        "ENFORCE_KEYS_JSONPICKLE_COMPATIBLE": True,
        "ENFORCE_VALID_PYTHON_IDENTIFIER_KEYS": False,
        "ENFORCE_STRING_KEYS": False,
        "ENFORCE_KEYS_NO_EQUALS": True,
        "READ_ONLY_CONFIG": True,
        "IGNORED_COMMENTS": ["^pylint:", "^noinspection", "^type:", "^noqa"],
        "NUMPY_RANDOM_LEGACY_API": False,
    },
    "HOST_INFO": {
        "INCLUDE_GPU_INFO": True,
        "INCLUDE_CPU_INFO": True,
        "CAPTURED_ENV": [],
    },
    "COMMAND_LINE": {
        "STRICT_PARSING": False,
        "SHOW_DISABLED_OPTIONS": True,
    },
    "CAPTURE_MODE": "sys" if sys.platform.startswith("win") else "tee",
    "DISCOVER_DEPENDENCIES": "imported",
    "DISCOVER_SOURCES": "imported",
    "DEFAULT_BEAT_INTERVAL": 10.0,
    # Seconds a run waits in all for its observers to reach their servers and record its start.
    "START_TIMEOUT": 10.0,
    # Seconds an observer's server may take to answer a connection before the run
    # goes on without it (its events go to the spool); a refusal is not waited for.
    "CONNECT_TIMEOUT": 3.0,
    # Seconds the observer queues may take to drain at run end before spooling.
    "DRAIN_TIMEOUT": 10.0,
    # Events one observer may hold in memory before the rest go to the spool.
    "QUEUE_SIZE": 10000,
    # Where undelivered events are kept for ``gnomon sync``; None: the user data dir.
    "SPOOL_DIR": None,
    # Move the objects alive when the first run starts out of the cycle collector's
    # reach (gnomon.collector): faster runs and exit; False keeps every object collectable.
    "FREEZE_STARTUP_OBJECTS": True,
}

# Settings that the environment may set, with their types.
_ENVIRONMENT = {
    "GNOMON_CAPTURE_MODE": ("CAPTURE_MODE", str),
    "GNOMON_BEAT_INTERVAL": ("DEFAULT_BEAT_INTERVAL", float),
    "GNOMON_START_TIMEOUT": ("START_TIMEOUT", float),
    "GNOMON_CONNECT_TIMEOUT": ("CONNECT_TIMEOUT", float),
    "GNOMON_DRAIN_TIMEOUT": ("DRAIN_TIMEOUT", float),
    "GNOMON_QUEUE_SIZE": ("QUEUE_SIZE", int),
    "GNOMON_SPOOL_DIR": ("SPOOL_DIR", str),
}


class SettingsGroup(Mapping[str, Any]):
    """A group of settings with attribute and item access and a fixed set of keys.

    It reads like Sacred's ``SETTINGS`` (a key-frozen Munch): ``SETTINGS.CAPTURE_MODE``
    and ``SETTINGS["CAPTURE_MODE"]`` both work, it is a read-only mapping (``keys()``,
    ``items()``, ``in``, ``dict(...)``), an unknown key raises :class:`SettingError`
    naming the closest one, and ``copy.deepcopy`` gives a detached copy.
    """

    __slots__ = ("_name", "_values")

    def __init__(self, name: str, values: Mapping[str, Any]) -> None:
        object.__setattr__(self, "_name", name)
        object.__setattr__(
            self,
            "_values",
            {
                k: SettingsGroup(f"{name}.{k}", v)
                if isinstance(v, Mapping) and not isinstance(v, SettingsGroup)
                else v
                for k, v in values.items()
            },
        )

    def __getattr__(self, key: str) -> Any:
        if key.startswith("__") or key in SettingsGroup.__slots__:
            # Protocol look-ups (copy, pickle) on a half-built object: not a setting.
            raise AttributeError(key)
        try:
            return self._values[key]
        except KeyError:
            raise SettingError(self._unknown(key)) from None

    def __setattr__(self, key: str, value: Any) -> None:
        if key not in self._values:
            raise SettingError(self._unknown(key))
        if isinstance(self._values[key], SettingsGroup):
            raise SettingError(
                f"Cannot replace the settings group {self._name}.{key}; set its entries instead."
            )
        self._values[key] = value

    def __getitem__(self, key: str) -> Any:
        try:
            return self._values[key]
        except KeyError:
            raise SettingError(self._unknown(str(key))) from None

    __setitem__ = __setattr__

    def __contains__(self, key: object) -> bool:
        return key in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def _unknown(self, key: str) -> str:
        close = close_matches(key, list(self._values))
        hint = f"Did you mean {close[0]!r}?" if close else f"Known: {', '.join(self._values)}."
        return f"Unknown setting {self._name}.{key}. {hint}"

    def to_dict(self) -> dict[str, Any]:
        """A plain copy, for printing and for tests."""
        return {
            k: v.to_dict() if isinstance(v, SettingsGroup) else v for k, v in self._values.items()
        }

    def __copy__(self) -> SettingsGroup:
        return SettingsGroup(self._name, self.to_dict())

    def __deepcopy__(self, memo: dict[int, Any]) -> SettingsGroup:
        import copy

        return SettingsGroup(self._name, copy.deepcopy(self.to_dict(), memo))

    def __reduce__(self) -> tuple[Any, ...]:
        return (SettingsGroup, (self._name, self.to_dict()))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, SettingsGroup):
            return self.to_dict() == other.to_dict()
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable, like a dict

    def __repr__(self) -> str:
        return f"SettingsGroup({self._name}, {self.to_dict()!r})"


def _build() -> dict[str, Any]:
    import copy

    values = copy.deepcopy(_DEFAULTS)
    for variable, (key, kind) in _ENVIRONMENT.items():
        text = os.environ.get(variable)
        if text is not None:
            try:
                values[key] = kind(text)
            except ValueError:
                raise ConfigError(
                    f"Environment variable {variable}={text!r} is not a valid {kind.__name__}."
                ) from None
    return values


SETTINGS = SettingsGroup("SETTINGS", _build())


def reset() -> None:
    """Restore every setting to its default (and environment) value."""
    fresh = SettingsGroup("SETTINGS", _build())
    object.__setattr__(SETTINGS, "_values", fresh._values)
