"""Safe JSON: strict output, lossless round trips, and decoding that never runs code."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gnomon.errors import SerializationError
from gnomon.serialize import decode, dumps, encode, loads, normalize_config_value

json_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4)
    | st.tuples(children, children),
    max_leaves=20,
)


def same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=False))
    return a == b and type(a) is type(b)


@given(json_like)
def test_round_trip_and_strict_json(value) -> None:
    text = dumps(value)
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict token {c}"))
    assert same(loads(text), value)


def test_library_values_round_trip() -> None:
    value = {
        "array": np.arange(6, dtype=np.int32).reshape(2, 3),
        "scalar": np.float32(1.5),
        "frame": pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}),
        "series": pd.Series([1.0, 2.0], name="s"),
        "when": dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        "day": dt.date(2024, 1, 2),
        "span": dt.timedelta(seconds=90),
        "path": Path("/data/x.csv"),
        "raw": b"\x00\xff",
        "set": {3, 1, 2},
        "nan": float("nan"),
        "inf": -math.inf,
        1: "int key",
    }
    back = loads(dumps(value))
    assert back["array"].dtype == np.int32 and back["array"].tolist() == [[0, 1, 2], [3, 4, 5]]
    assert isinstance(back["scalar"], np.float32) and back["scalar"] == 1.5
    pd.testing.assert_frame_equal(back["frame"], value["frame"])
    pd.testing.assert_series_equal(back["series"], value["series"])
    assert back["when"] == value["when"] and back["day"] == value["day"] and back["span"] == value["span"]
    assert back["path"] == Path("/data/x.csv") and back["raw"] == b"\x00\xff" and back["set"] == {1, 2, 3}
    assert math.isnan(back["nan"]) and back["inf"] == -math.inf and back[1] == "int key"


def test_user_dict_with_the_tag_key_stays_a_dict() -> None:
    value = {"__type__": "float", "value": "NaN"}
    assert loads(dumps(value)) == value


def test_decoding_never_executes_code(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    crafted = {
        "py/reduce": [{"py/function": "builtins.open"}, {"py/tuple": [str(marker), "w"]}],
        "obj": {"py/object": "os.system", "py/newargs": ["touch " + str(marker)]},
        "tagged": {"__type__": "callable", "value": "os.system"},
    }
    assert decode(crafted) == crafted
    assert not marker.exists()


def test_unknown_object_is_named_with_its_path() -> None:
    class Model:
        pass

    with pytest.raises(SerializationError, match=r"config\['opt'\]\['model'\]: cannot store a value of type .*Model"):
        encode({"opt": {"model": Model()}}, where="config")


def test_fallback_keeps_odd_objects_readable() -> None:
    from gnomon.serialize import describe

    encoded = encode({"x": object()}, fallback=describe)
    assert encoded["x"]["__type__"] == "repr" and "object" in encoded["x"]["repr"]


def test_normalize_config_value() -> None:
    assert normalize_config_value({"a": (1, np.int64(2)), "b": [np.float64(0.5)]}) == {"a": [1, 2], "b": [0.5]}
    assert type(normalize_config_value(np.int64(2))) is int
