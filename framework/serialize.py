"""Safe, strict JSON for config, info and results.

Everything gnomon stores is plain JSON that any reader parses: no bare ``NaN``
tokens and no pickles. Values JSON cannot express (NaN and infinities, numpy
arrays and scalars, pandas objects, datetimes, paths, tuples, sets, bytes, dicts
with non-string keys) become small tagged objects ``{"__type__": ..., ...}`` that
:func:`decode` turns back into the original values. Decoding only recognises that
fixed list of tags and never imports or calls anything named in the data, so a
crafted config file or stored run is data, never code (Sacred's jsonpickle decoding
executes ``py/reduce`` entries).
"""

from __future__ import annotations

import base64
import datetime as dt
import math
from collections.abc import Callable, Mapping
from pathlib import PurePath
from typing import Any

import orjson

from gnomon.errors import SerializationError
import contextlib

__all__ = ["TYPE_KEY", "decode", "describe", "dumps", "encode", "loads", "normalize_config_value"]

TYPE_KEY = "__type__"
_PLAIN = (str, int, bool, type(None))
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_SPECIAL_FLOATS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _float(value: float) -> Any:
    if math.isfinite(value):
        return value
    text = "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return {TYPE_KEY: "float", "value": text}


def _path(where: str, key: Any) -> str:
    return f"{where}[{key!r}]"


def encode(
    value: Any, *, where: str = "value", fallback: Callable[[Any], Any] | None = None
) -> Any:
    """Turn ``value`` into plain JSON-compatible data, tagging what JSON cannot hold.

    Raises :class:`SerializationError` naming ``where`` and the key path of the first
    value that cannot be stored, unless ``fallback`` is given: then that value is
    replaced by ``fallback(value)`` (info and results use :func:`describe`, so an odd
    object in them is kept as readable text instead of failing the run).
    """
    if isinstance(value, _PLAIN):
        if type(value) is int and not _INT64_MIN <= value <= _INT64_MAX:
            return {TYPE_KEY: "int", "value": str(value)}  # JSON readers and BSON stop at 64 bits
        return value
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, Mapping):
        if all(type(k) is str for k in value) and TYPE_KEY not in value:
            return {
                k: encode(v, where=_path(where, k), fallback=fallback) for k, v in value.items()
            }
        return {
            TYPE_KEY: "dict",
            "items": [
                [
                    encode(k, where=where, fallback=fallback),
                    encode(v, where=_path(where, k), fallback=fallback),
                ]
                for k, v in value.items()
            ],
        }
    if isinstance(value, list):
        return [encode(v, where=_path(where, i), fallback=fallback) for i, v in enumerate(value)]
    if isinstance(value, tuple):
        return {
            TYPE_KEY: "tuple",
            "values": [
                encode(v, where=_path(where, i), fallback=fallback) for i, v in enumerate(value)
            ],
        }
    if isinstance(value, set | frozenset):
        items = [encode(v, where=where, fallback=fallback) for v in value]
        with contextlib.suppress(TypeError):
            items.sort()
        return {TYPE_KEY: "frozenset" if isinstance(value, frozenset) else "set", "values": items}
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
        return {TYPE_KEY: "bytes", "value": base64.b64encode(bytes(value)).decode("ascii")}
    encoded = _encode_library_value(value, where)
    if encoded is not _UNKNOWN:
        return encoded
    if fallback is not None:
        return fallback(value)
    raise SerializationError(
        f"{where}: cannot store a value of type {type(value).__module__}.{type(value).__qualname__} "
        f"({_short_repr(value)}). Store plain data (numbers, strings, lists, dicts, numpy arrays) instead."
    )


_UNKNOWN = object()


def describe(value: Any) -> dict[str, Any]:
    """A readable stand-in for a value that has no JSON form: its type and repr."""
    kind = type(value)
    return {TYPE_KEY: "repr", "type": f"{kind.__module__}.{kind.__qualname__}", "repr": repr(value)}


def _short_repr(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _encode_library_value(value: Any, where: str) -> Any:
    """numpy and pandas values, recognised by module name so neither is imported here."""
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


def decode(data: Any) -> Any:
    """Turn stored data back into Python values; unknown tags stay plain dicts."""
    if isinstance(data, list):
        return [decode(v) for v in data]
    if not isinstance(data, Mapping):
        return data
    tag = data.get(TYPE_KEY)
    if tag is None or not isinstance(tag, str) or tag not in _DECODERS:
        return {k: decode(v) for k, v in data.items()}
    try:
        return _DECODERS[tag](data)
    except (KeyError, TypeError, ValueError):
        return {k: decode(v) for k, v in data.items()}


def _decode_ndarray(data: Mapping[str, Any]) -> Any:
    values = decode(data["values"])
    try:
        import numpy as np
    except ImportError:  # numpy is optional: the values stay readable as lists
        return values
    array = np.array(values, dtype=np.dtype(data["dtype"]) if data["dtype"] != "object" else object)
    return array.reshape(data["shape"])


def _decode_numpy(data: Mapping[str, Any]) -> Any:
    value = decode(data["value"])
    try:
        import numpy as np
    except ImportError:
        return value
    return np.dtype(data["dtype"]).type(value)


def _decode_dataframe(data: Mapping[str, Any]) -> Any:
    import pandas as pd

    frame = pd.DataFrame(
        decode(data["data"]), columns=decode(data["columns"]), index=decode(data["index"])
    )
    for column, dtype in zip(frame.columns, data.get("dtypes", ()), strict=False):
        with contextlib.suppress(TypeError, ValueError):
            frame[column] = frame[column].astype(dtype)
    return frame


def _decode_series(data: Mapping[str, Any]) -> Any:
    import pandas as pd

    series = pd.Series(
        decode(data["values"]), index=decode(data["index"]), name=decode(data["name"])
    )
    try:
        return series.astype(data["dtype"])
    except (TypeError, ValueError):
        return series


_DECODERS: dict[str, Any] = {
    "float": lambda d: _SPECIAL_FLOATS[d["value"]],
    "int": lambda d: int(d["value"]),
    "dict": lambda d: {_hashable(decode(k)): decode(v) for k, v in d["items"]},
    "tuple": lambda d: tuple(decode(d["values"])),
    "set": lambda d: {_hashable(v) for v in decode(d["values"])},
    "frozenset": lambda d: frozenset(_hashable(v) for v in decode(d["values"])),
    "datetime": lambda d: dt.datetime.fromisoformat(d["value"]),
    "date": lambda d: dt.date.fromisoformat(d["value"]),
    "time": lambda d: dt.time.fromisoformat(d["value"]),
    "timedelta": lambda d: dt.timedelta(seconds=d["seconds"]),
    "path": lambda d: __import__("pathlib").Path(d["value"]),
    "bytes": lambda d: base64.b64decode(d["value"]),
    "ndarray": _decode_ndarray,
    "numpy": _decode_numpy,
    "DataFrame": _decode_dataframe,
    "Series": _decode_series,
}


def _hashable(value: Any) -> Any:
    return tuple(_hashable(v) for v in value) if isinstance(value, list) else value


def dumps(
    value: Any, *, indent: bool = False, sort_keys: bool = False, where: str = "value"
) -> bytes:
    """Strict JSON bytes of ``encode(value)``."""
    option = (orjson.OPT_INDENT_2 if indent else 0) | (orjson.OPT_SORT_KEYS if sort_keys else 0)
    return orjson.dumps(encode(value, where=where), option=option)


def loads(text: str | bytes) -> Any:
    """Parse JSON (strict) and :func:`decode` it."""
    return decode(orjson.loads(text))


def normalize_config_value(value: Any) -> Any:
    """Config values the way Sacred normalised them: numpy scalars become Python scalars, tuples lists."""
    if isinstance(value, Mapping):
        return {k: normalize_config_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [normalize_config_value(v) for v in value]
    if (
        type(value).__module__ == "numpy"
        and hasattr(value, "item")
        and getattr(value, "ndim", 1) == 0
    ):
        return value.item()
    return value
