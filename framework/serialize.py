"""Safe, strict JSON for config, info and results.

Everything gnomon stores is plain JSON that any reader parses: no bare ``NaN``
tokens and no pickles. Values JSON cannot express (NaN and infinities, numpy
arrays and scalars, pandas objects, datetimes, paths, tuples, sets, bytes, dicts
with non-string keys) become small tagged objects ``{"__type__": ..., ...}`` that
:func:`decode` (:mod:`gnomon.decoding`) turns back into the original values.
"""

from __future__ import annotations

import binascii
import contextlib
import datetime as dt
import logging
import math
from collections.abc import Callable, Mapping
from pathlib import PurePath
from typing import Any

import orjson

from gnomon.decoding import SCALAR_TYPES, TYPE_KEY, decode, has_only_scalars
from gnomon.errors import SerializationError

__all__ = [
    "MAX_DEPTH",
    "TYPE_KEY",
    "decode",
    "depth_problem",
    "describe",
    "dumps",
    "encode",
    "encode_lenient",
    "has_only_scalars",
    "loads",
    "normalize_config_value",
    "too_deep_message",
]

_PLAIN = (str, int, bool, type(None))
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _float(value: float) -> Any:
    if math.isfinite(value):
        return value
    text = "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return {TYPE_KEY: "float", "value": text}


#: The deepest nesting of dicts and lists gnomon stores, counted on the stored
#: (encoded) form with the top-level container as level 1. Every backend holds it:
#: MariaDB refuses JSON documents 32 levels deep, MongoDB documents 100, orjson
#: (file storage, the spool) 254, and Python's recursion ends near 1000.
MAX_DEPTH = 30

_SHOWN_KEYS = 6  # keys of a long key path that messages show at each end


def _path(where: str, key: Any) -> str:
    return f"{where}[{key!r}]"


class _TooDeep(Exception):
    """Raised inside :func:`encode` when a container would sit deeper than :data:`MAX_DEPTH`."""

    def __init__(self, where: str) -> None:
        super().__init__(where)
        self.where = where


def _short_path(where: str) -> str:
    """A key path cut in the middle when it is long: ``info['a']['x']…['x'] (301 keys)``."""
    parts = where.split("][")
    if len(parts) <= 2 * _SHOWN_KEYS:
        return where
    return "][".join(parts[:_SHOWN_KEYS]) + "]…[" + "][".join(parts[-_SHOWN_KEYS:]) + f" ({len(parts)} keys)"


def too_deep_message(where: str) -> str:
    """The message for a value nested deeper than :data:`MAX_DEPTH` at key path ``where``."""
    return (
        f"{_short_path(where)}: nested deeper than {MAX_DEPTH} levels of dicts and lists, "
        f"the most every store keeps (MariaDB's JSON stops at 32). Flatten it, e.g. with "
        "dotted names ('a.b.c') or a list of pairs, or store it as an artifact."
    )


def encode(
    value: Any, *, where: str = "value", fallback: Callable[[Any], Any] | None = None
) -> Any:
    """Turn ``value`` into plain JSON-compatible data, tagging what JSON cannot hold.

    Raises :class:`SerializationError` naming ``where`` and the key path of the first
    value that cannot be stored, or that is nested deeper than :data:`MAX_DEPTH`,
    unless ``fallback`` is given: then that value is replaced by ``fallback(value)``
    (info and results use :func:`describe`, so an odd object, or a part nested too
    deeply, is kept as readable text instead of failing the run).
    """
    try:
        return _encode(value, where, fallback, fallback, 1)
    except _TooDeep as error:
        raise SerializationError(too_deep_message(error.where)) from None


def depth_problem(value: Any, *, where: str = "value") -> str | None:
    """Why ``value`` is nested too deeply to store (see :data:`MAX_DEPTH`), or None.

    Only the nesting is checked: values of other types count as the tagged
    objects they are stored as, and are not otherwise judged.
    """
    try:
        _encode(value, where, lambda _: None, None, 1)
    except _TooDeep as error:
        return too_deep_message(error.where)
    except RecursionError:
        return too_deep_message(where)
    return None


def _container(level: int, where: str) -> None:
    if level > MAX_DEPTH:
        raise _TooDeep(where)


def _encode(
    value: Any,
    where: str,
    fallback: Callable[[Any], Any] | None,
    deep: Callable[[Any], Any] | None,
    level: int,
) -> Any:
    """:func:`encode` at nesting ``level``: a container made here sits at that level.

    A container whose children would sit too deep becomes ``deep(container)`` when
    ``deep`` is given (at a level that still fits); otherwise :class:`_TooDeep`
    names the first key path that does not fit.
    """
    if isinstance(value, _PLAIN):
        if type(value) is int and not _INT64_MIN <= value <= _INT64_MAX:
            _container(level, where)
            return {TYPE_KEY: "int", "value": str(value)}  # JSON readers and BSON stop at 64 bits
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            _container(level, where)
        return _float(value)
    try:
        return _encode_container(value, where, fallback, deep, level)
    except _TooDeep:
        if deep is None or level > MAX_DEPTH:
            raise
        return deep(value)


def _encode_container(
    value: Any,
    where: str,
    fallback: Callable[[Any], Any] | None,
    deep: Callable[[Any], Any] | None,
    level: int,
) -> Any:
    below = level + 1
    if isinstance(value, Mapping):
        _container(level, where)
        if all(type(k) is str for k in value) and TYPE_KEY not in value:
            return {k: _encode(v, _path(where, k), fallback, deep, below) for k, v in value.items()}
        _container(level + 2, where)  # the pairs: {"items": [[key, value], ...]}
        return {
            TYPE_KEY: "dict",
            "items": [
                [
                    _encode(k, where, fallback, deep, level + 3),
                    _encode(v, _path(where, k), fallback, deep, level + 3),
                ]
                for k, v in value.items()
            ],
        }
    if isinstance(value, list):
        _container(level, where)
        if _stores_unchanged(value):
            return list(value)
        return [_encode(v, _path(where, i), fallback, deep, below) for i, v in enumerate(value)]
    if isinstance(value, tuple):
        _container(below, where)
        return {
            TYPE_KEY: "tuple",
            "values": [_encode(v, _path(where, i), fallback, deep, level + 2) for i, v in enumerate(value)],
        }
    if isinstance(value, set | frozenset):
        _container(below, where)
        items = [_encode(v, where, fallback, deep, level + 2) for v in value]
        with contextlib.suppress(TypeError):
            items.sort()
        return {TYPE_KEY: "frozenset" if isinstance(value, frozenset) else "set", "values": items}
    if isinstance(value, dt.datetime | dt.date | dt.time | dt.timedelta | PurePath | bytes | bytearray):
        _container(level, where)
    if isinstance(value, dt.datetime):
        return {TYPE_KEY: "datetime", "value": value.isoformat()}
    if isinstance(value, dt.date):
        return {TYPE_KEY: "date", "value": value.isoformat()}
    if isinstance(value, dt.time):
        return {TYPE_KEY: "time", "value": value.isoformat()}
    if isinstance(value, dt.timedelta):
        return {TYPE_KEY: "timedelta", "seconds": value.total_seconds()}
    if isinstance(value, PurePath):
        return {TYPE_KEY: "path", "value": str(value)}
    if isinstance(value, bytes | bytearray):
        return {TYPE_KEY: "bytes", "value": binascii.b2a_base64(value, newline=False).decode("ascii")}
    encoded = _encode_library_value(value, where)
    if encoded is not _UNKNOWN:
        if level + _depth_of(encoded) - 1 > MAX_DEPTH:
            raise _TooDeep(where)
        return encoded
    if fallback is not None:
        _container(level, where)  # the stand-in is a dict too
        return fallback(value)
    raise SerializationError(
        f"{where}: cannot store a value of type {type(value).__module__}.{type(value).__qualname__} "
        f"({_short_repr(value)}). Store plain data (numbers, strings, lists, dicts, numpy arrays) instead."
    )


def _stores_unchanged(items: list[Any]) -> bool:
    """Whether a list of scalars is its own JSON form: ints within 64 bits, floats finite."""
    kinds = set(map(type, items))
    if not kinds <= SCALAR_TYPES:
        return False
    if int in kinds:
        ints = items if kinds == {int} else [v for v in items if type(v) is int]
        if min(ints) < _INT64_MIN or max(ints) > _INT64_MAX:
            return False
    if float in kinds:
        floats = items if kinds == {float} else [v for v in items if type(v) is float]
        if not all(map(math.isfinite, floats)):
            return False
    return True


def _depth_of(data: Any) -> int:
    """Levels of dicts and lists in encoded data (0 for a scalar)."""
    if isinstance(data, dict):
        return 1 + max(map(_depth_of, data.values()), default=0)
    if isinstance(data, list):
        return 1 + max(map(_depth_of, data), default=0)
    return 0


_UNKNOWN = object()


def describe(value: Any) -> dict[str, Any]:
    """A readable stand-in for a value that has no JSON form: its type and repr.

    A repr that fails (a broken ``__repr__``, or data nested past Python's
    recursion limit) is replaced by a note saying so: describing never raises.
    """
    kind = type(value)
    try:
        text = repr(value)
    except RecursionError:
        text = f"<{kind.__qualname__} nested too deeply to show>"
    except Exception as error:  # noqa: BLE001 - a user's __repr__ may raise anything
        text = f"<{kind.__qualname__} whose repr() failed: {type(error).__name__}>"
    return {TYPE_KEY: "repr", "type": f"{kind.__module__}.{kind.__qualname__}", "repr": text}


def _short_repr(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _encode_library_value(value: Any, where: str) -> Any:
    """Numpy and pandas values, recognised by module name so neither is imported here."""
    module = type(value).__module__.split(".")[0]
    if module == "numpy":
        import numpy as np

        if isinstance(value, np.ndarray):
            return {
                TYPE_KEY: "ndarray",
                "dtype": "object" if value.dtype == object else value.dtype.str,
                "shape": list(value.shape),
                "values": encode(value.tolist(), where=where),
            }
        if isinstance(value, np.generic):
            return {
                TYPE_KEY: "numpy",
                "dtype": value.dtype.str,
                "value": encode(value.item(), where=where),
            }
    if module == "pandas":
        import pandas as pd

        if isinstance(value, pd.DataFrame):
            split = value.to_dict(orient="split")
            return {
                TYPE_KEY: "DataFrame",
                "columns": encode(list(split["columns"]), where=where),
                "index": encode(list(split["index"]), where=where),
                "data": encode([list(row) for row in split["data"]], where=where),
                "dtypes": [str(t) for t in value.dtypes],
            }
        if isinstance(value, pd.Series):
            return {
                TYPE_KEY: "Series",
                "name": encode(value.name, where=where),
                "index": encode(list(value.index), where=where),
                "values": encode(value.tolist(), where=where),
                "dtype": str(value.dtype),
            }
        if isinstance(value, pd.Timestamp):
            return {TYPE_KEY: "datetime", "value": value.isoformat()}
    return _UNKNOWN


def dumps(
    value: Any, *, indent: bool = False, sort_keys: bool = False, where: str = "value"
) -> bytes:
    """Strict JSON bytes of ``encode(value)``."""
    option = (orjson.OPT_INDENT_2 if indent else 0) | (orjson.OPT_SORT_KEYS if sort_keys else 0)
    return orjson.dumps(encode(value, where=where), option=option)


def encode_lenient(value: Any, where: str, warned: set[str] | None = None) -> Any:
    """Encode info, results and metadata; what cannot be stored becomes readable text rather than failing the run.

    An object of a type JSON cannot hold, or a part nested deeper than
    :data:`MAX_DEPTH`, is kept as its ``repr`` (the ``repr`` tag). With ``warned``
    (the run's set), that is said once per run and ``where``.
    """
    kept_as_text: list[str] = []

    def stand_in(part: Any) -> Any:
        kept_as_text.append(type(part).__qualname__)
        return describe(part)

    encoded = encode(value, where=where, fallback=stand_in)
    if kept_as_text and warned is not None and where not in warned:
        warned.add(where)
        logging.getLogger("gnomon.run").warning(
            "The run's %s holds %d value(s) that cannot be stored as they are (of a type JSON cannot "
            "hold, or nested deeper than %d levels): they are stored as text, their repr().",
            where,
            len(kept_as_text),
            MAX_DEPTH,
        )
    return encoded


def loads(text: str | bytes, *, where: str = "value") -> Any:
    """Parse JSON (strict) and :func:`decode` it; ``where`` names it in errors."""
    return decode(orjson.loads(text), where=where)


def normalize_config_value(value: Any) -> Any:
    """Config values the way Sacred normalised them: numpy scalars become Python scalars, tuples lists."""
    if isinstance(value, Mapping):
        return {k: normalize_config_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        if has_only_scalars(value):
            return list(value)
        return [normalize_config_value(v) for v in value]
    if (
        type(value).__module__ == "numpy"
        and hasattr(value, "item")
        and getattr(value, "ndim", 1) == 0
    ):
        return value.item()
    return value
