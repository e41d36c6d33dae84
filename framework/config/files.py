"""Reading and writing config files: JSON, YAML and TOML.

Loading a config file never runs code: JSON goes through :func:`gnomon.serialize.loads`
(only gnomon's own value tags are decoded; a jsonpickle ``{"py/reduce": ...}`` entry
stays a plain dict), YAML through PyYAML's safe loader (reading numbers as YAML 1.2
does: ``1e-3`` is a float, see :mod:`.yaml_numbers`) and TOML through :mod:`tomllib`.
Every failure is a :class:`~gnomon.errors.ConfigError` naming the file and the problem.

A config file is also bounded in what it can cost: YAML aliases may repeat at most
:data:`MAX_ALIAS_EXPANSION` values (a few hundred bytes of nested aliases, "billion
laughs", would otherwise expand to a billion), an alias may not contain itself, and
no file may nest deeper than :data:`gnomon.serialize.MAX_DEPTH` levels, the most a
run's config can have in every store.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

from ..errors import ConfigError, ConfigFileNotFoundError, SerializationError

__all__ = ["CONFIG_FILE_SUFFIXES", "MAX_ALIAS_EXPANSION", "dump_toml", "load_config_file", "save_config_file"]

CONFIG_FILE_SUFFIXES = (".json", ".yaml", ".yml", ".toml")

#: Values YAML aliases may add to a config file beyond those written in it.
MAX_ALIAS_EXPANSION = 100_000


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
        raise ConfigFileNotFoundError(
            f"Config file {name!r} does not exist (looked in {os.getcwd()!r})."
        ) from None
    except OSError as error:
        raise ConfigError(
            f"Config file {name!r} cannot be read: {error.strerror or error}."
        ) from None
    try:
        if suffix == ".json":
            from ..serialize import loads

            data = loads(raw, where="config")
        elif suffix == ".toml":
            import tomllib

            data = tomllib.loads(raw.decode("utf-8"))
        else:
            data = _load_yaml(raw.decode("utf-8"), name)
    except UnicodeDecodeError as error:
        raise ConfigError(f"Config file {name!r} is not UTF-8 text: {error}.") from None
    except ConfigError:
        raise
    except SerializationError as error:  # valid JSON holding a value this Python cannot read
        raise ConfigError(f"Config file {name!r}: {error}.") from None
    except RecursionError:
        raise ConfigError(_too_deep(name)) from None
    except Exception as error:  # noqa: BLE001 - each parser has its own error types; all mean "not readable"
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
    from ..serialize import depth_problem

    if depth_problem(data, where="config") is not None:
        raise ConfigError(_too_deep(name))
    return dict(data)


def _too_deep(name: str) -> str:
    from ..serialize import MAX_DEPTH

    return (
        f"Config file {name!r} is nested deeper than {MAX_DEPTH} levels of dicts and lists, the most "
        "a run's config can have in every store. Flatten it, e.g. with dotted names ('a.b.c')."
    )


def _load_yaml(text: str, name: str) -> Any:
    """``yaml.safe_load``, refusing aliases that expand too far or contain themselves.

    The document is composed into nodes first (aliases there are shared, so this
    is cheap), measured, and only then built into Python values.
    """
    from .yaml_numbers import Loader

    loader = Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        written, expanded = _yaml_size(node, name)
        if expanded - written > MAX_ALIAS_EXPANSION:
            raise ConfigError(
                f"Config file {name!r} uses YAML aliases (*name) that repeat at least "
                f"{expanded - written:,} values; at most {MAX_ALIAS_EXPANSION:,} are allowed. Write the "
                "values out, or repeat fewer of them."
            )
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _yaml_size(root: Any, name: str) -> tuple[int, int]:
    """(nodes written, nodes after expanding every alias) of a composed YAML document.

    Sizes are computed once per node, without recursion; counting stops as soon
    as the expansion is over the limit, so a billion-laugh file costs microseconds.
    """
    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[Any, bool]] = [(root, False)]
    limit = 1 << 62
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            on_path.discard(key)
            total = 1 + sum(sizes[id(child)] for child in _yaml_children(node))
            sizes[key] = min(total, limit)
            if len(sizes) + MAX_ALIAS_EXPANSION < total:  # over the limit already
                return len(sizes), total
            continue
        if key in sizes:
            continue
        if key in on_path:
            raise ConfigError(
                f"Config file {name!r} has a YAML alias (*name) inside the value it names; "
                "a config must be a tree of values, not refer to itself."
            )
        on_path.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _yaml_children(node) if id(child) not in sizes)
    return len(sizes), sizes[id(root)]


def _yaml_children(node: Any) -> list[Any]:
    import yaml

    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


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

        from .yaml_numbers import Dumper

        data = yaml.dump(
            encode(dict(config), where="config"), Dumper=Dumper, sort_keys=False
        ).encode("utf-8")
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
