"""Stored JSON back into Python values: the tagged objects of :mod:`gnomon.serialize` undone.

Decoding only recognises a fixed list of tags and never imports or calls anything
named in the data, so a crafted config file or stored run is data, never code
(Sacred's jsonpickle decoding executes ``py/reduce`` entries). A tag it does not
know, or one whose fields do not fit, stays the plain dict it is.
"""

from __future__ import annotations

import binascii
import contextlib
import datetime as dt
import math
from collections.abc import Mapping
from typing import Any

from gnomon.errors import SerializationError

__all__ = ["DECODED_TAGS", "SCALAR_TYPES", "TYPE_KEY", "decode", "has_only_scalars"]

#: The key that marks a tagged value: ``{"__type__": "ndarray", ...}``.
TYPE_KEY = "__type__"
_SPECIAL_FLOATS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


#: The types a list may hold to be copied and stored as it is.
SCALAR_TYPES = frozenset({str, int, float, bool, type(None)})


def has_only_scalars(items: list[Any] | tuple[Any, ...]) -> bool:
    """Whether a list holds only str, int, float, bool and None (checked at C speed).

    Config lists of a million numbers take this path: copied, checked and encoded
    in one step instead of one Python call per item.
    """
    return set(map(type, items)) <= SCALAR_TYPES



class _NeedsLibrary(Exception):
    """A tagged value whose type comes from a library that is not installed."""

    def __init__(self, tag: str, library: str) -> None:
        super().__init__(tag)
        self.tag = tag
        self.library = library
        self.keys: list[str] = []


def decode(data: Any, *, where: str = "value") -> Any:
    """Turn stored data back into Python values; unknown tags stay plain dicts.

    A pandas value read where pandas is not installed raises
    :class:`~gnomon.errors.SerializationError` naming ``where``'s key path and the
    fix, rather than an ImportError from deep inside.
    """
    try:
        return _decode(data)
    except _NeedsLibrary as missing:
        path = where + "".join(missing.keys)
        raise SerializationError(
            f"{path} holds a {missing.library} {missing.tag} (a {{{TYPE_KEY!r}: {missing.tag!r}}} "
            f"entry), and {missing.library} is not installed: pip install {missing.library}"
        ) from None


def _decode(data: Any) -> Any:
    if isinstance(data, list):
        if has_only_scalars(data):
            return list(data)
        out = []
        for index, value in enumerate(data):
            try:
                out.append(_decode(value))
            except _NeedsLibrary as missing:
                missing.keys.insert(0, f"[{index}]")
                raise
        return out
    if not isinstance(data, Mapping):
        return data
    tag = data.get(TYPE_KEY)
    if tag is None or not isinstance(tag, str) or tag not in _DECODERS:
        return _decode_items(data)
    try:
        return _DECODERS[tag](data)
    except (KeyError, TypeError, ValueError):
        return _decode_items(data)


def _decode_items(data: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in data.items():
        try:
            out[key] = _decode(value)
        except _NeedsLibrary as missing:
            missing.keys.insert(0, f"[{key!r}]")
            raise
    return out


def _pandas(tag: str) -> Any:
    try:
        import pandas
    except ImportError:
        raise _NeedsLibrary(tag, "pandas") from None
    return pandas


def _decode_ndarray(data: Mapping[str, Any]) -> Any:
    values = _decode(data["values"])
    try:
        import numpy as np
    except ImportError:  # numpy is optional: the values stay readable as lists
        return values
    array = np.array(values, dtype=np.dtype(data["dtype"]) if data["dtype"] != "object" else object)
    return array.reshape(data["shape"])


def _decode_numpy(data: Mapping[str, Any]) -> Any:
    value = _decode(data["value"])
    try:
        import numpy as np
    except ImportError:
        return value
    return np.dtype(data["dtype"]).type(value)


def _decode_dataframe(data: Mapping[str, Any]) -> Any:
    pd = _pandas("DataFrame")

    frame = pd.DataFrame(
        _decode(data["data"]), columns=_decode(data["columns"]), index=_decode(data["index"])
    )
    for column, dtype in zip(frame.columns, data.get("dtypes", ()), strict=False):
        with contextlib.suppress(TypeError, ValueError):
            frame[column] = frame[column].astype(dtype)
    return frame


def _decode_series(data: Mapping[str, Any]) -> Any:
    pd = _pandas("Series")

    series = pd.Series(
        _decode(data["values"]), index=_decode(data["index"]), name=_decode(data["name"])
    )
    try:
        return series.astype(data["dtype"])
    except (TypeError, ValueError):
        return series


_DECODERS: dict[str, Any] = {
    "float": lambda d: _SPECIAL_FLOATS[d["value"]],
    "int": lambda d: int(d["value"]),
    "dict": lambda d: {_hashable(_decode(k)): _decode(v) for k, v in d["items"]},
    "tuple": lambda d: tuple(_decode(d["values"])),
    "set": lambda d: {_hashable(v) for v in _decode(d["values"])},
    "frozenset": lambda d: frozenset(_hashable(v) for v in _decode(d["values"])),
    "datetime": lambda d: dt.datetime.fromisoformat(d["value"]),
    "date": lambda d: dt.date.fromisoformat(d["value"]),
    "time": lambda d: dt.time.fromisoformat(d["value"]),
    "timedelta": lambda d: dt.timedelta(seconds=d["seconds"]),
    "path": lambda d: __import__("pathlib").Path(d["value"]),
    "bytes": lambda d: binascii.a2b_base64(d["value"]),
    "ndarray": _decode_ndarray,
    "numpy": _decode_numpy,
    "DataFrame": _decode_dataframe,
    "Series": _decode_series,
}


def _hashable(value: Any) -> Any:
    return tuple(_hashable(v) for v in value) if isinstance(value, list) else value

#: The tags :func:`decode` turns into values JSON cannot hold; any other tag stays a plain dict.
DECODED_TAGS = frozenset(_DECODERS)
