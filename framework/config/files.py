"""Reading and writing config files: JSON, YAML and TOML.

Loading a config file never runs code: JSON goes through :func:`gnomon.serialize.loads`
(only gnomon's own value tags are decoded; a jsonpickle ``{"py/reduce": ...}`` entry
stays a plain dict), YAML through ``yaml.safe_load`` and TOML through :mod:`tomllib`.
Every failure is a :class:`~gnomon.errors.ConfigError` naming the file and the problem.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

from ..errors import ConfigError

__all__ = ["CONFIG_FILE_SUFFIXES", "dump_toml", "load_config_file", "save_config_file"]

CONFIG_FILE_SUFFIXES = (".json", ".yaml", ".yml", ".toml")


def _suffix(filename: str) -> str:
    suffix = os.path.splitext(filename)[1].lower()
    if suffix not in CONFIG_FILE_SUFFIXES:
        raise ConfigError(
            f"Config file {filename!r} has an unknown extension {suffix or '(none)'!r}; "
            f"use one of {', '.join(CONFIG_FILE_SUFFIXES)}."
        )
    return suffix


def load_config_file(filename: str | os.PathLike[str]) -> dict[str, Any]:
    """The dict stored in a ``.json``, ``.yaml``/``.yml`` or ``.toml`` file."""
    name = os.fspath(filename)
    suffix = _suffix(name)
    try:
        with open(name, "rb") as handle:
            raw = handle.read()
    except FileNotFoundError:
        raise ConfigError(
            f"Config file {name!r} does not exist (looked in {os.getcwd()!r})."
        ) from None
    except OSError as error:
        raise ConfigError(
            f"Config file {name!r} cannot be read: {error.strerror or error}."
        ) from None
    try:
        if suffix == ".json":
            from ..serialize import loads

            data = loads(raw)
        elif suffix == ".toml":
            import tomllib

            data = tomllib.loads(raw.decode("utf-8"))
        else:
            import yaml

            data = yaml.safe_load(raw.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise ConfigError(f"Config file {name!r} is not UTF-8 text: {error}.") from None
    except Exception as error:  # each parser has its own error types; all mean "not readable"
        raise ConfigError(
            f"Config file {name!r} is not valid {suffix[1:].upper()}: {error}"
        ) from None
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"Config file {name!r} holds a {type(data).__name__}, "
            "but a config file must hold a mapping of keys to values."
        )
    return dict(data)


def save_config_file(config: Mapping[str, Any], filename: str | os.PathLike[str]) -> None:
    """Write ``config`` in the format the extension of ``filename`` names."""
    from ..serialize import dumps, encode

    name = os.fspath(filename)
    suffix = _suffix(name)
    if suffix == ".json":
        data = dumps(dict(config), indent=True, where="config")
    elif suffix == ".toml":
        data = dump_toml(encode(dict(config), where="config")).encode("utf-8")
    else:
        import yaml

        data = yaml.safe_dump(encode(dict(config), where="config"), sort_keys=False).encode("utf-8")
    with open(name, "wb") as handle:
        handle.write(data)


# ------------------------------------------------------------------------- TOML


def _toml_key(key: str) -> str:
    if key and all(c.isalnum() or c in "-_" for c in key) and key.isascii():
        return key
    return _toml_string(key)


def _toml_string(text: str) -> str:
    escaped = (
        text.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\t", "\\t")
    )
    escaped = "".join(c if ord(c) >= 0x20 and c != "\x7f" else f"\\u{ord(c):04x}" for c in escaped)
    return f'"{escaped}"'


def _toml_value(value: Any, path: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v, f"{path}[{i}]") for i, v in enumerate(value)) + "]"
    if isinstance(value, Mapping):
        items = ", ".join(
            f"{_toml_key(str(k))} = {_toml_value(v, f'{path}.{k}')}" for k, v in value.items()
        )
        return "{" + items + "}"
    if value is None:
        raise ConfigError(
            f"Config entry {path!r} is None, which TOML cannot store; "
            "save the config as .json or .yaml."
        )
    raise ConfigError(
        f"Config entry {path!r} of type {type(value).__name__} cannot be written to TOML."
    )


def dump_toml(config: Mapping[str, Any], _prefix: str = "") -> str:
    """TOML text for a plain config (scalars first, then one table per nested dict)."""
    lines: list[str] = []
    tables: list[tuple[str, Mapping[str, Any]]] = []
    for key, value in config.items():
        if isinstance(value, Mapping) and value:
            tables.append((key, value))
        else:
            lines.append(f"{_toml_key(str(key))} = {_toml_value(value, f'{_prefix}{key}')}")
    for key, value in tables:
        header = f"{_prefix}{_toml_key(str(key))}"
        lines.append("")
        lines.append(f"[{header}]")
        lines.append(dump_toml(value, header + ".").rstrip("\n"))
    return "\n".join(line for line in lines).lstrip("\n") + "\n"
