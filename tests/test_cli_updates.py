"""``with UPDATE...``: values, paths, named configs and the errors for malformed input."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gnomon.cli.updates import parse_update_value, parse_updates
from gnomon.errors import ConfigError, ConfigUpdateSyntaxError
from gnomon.settings import SETTINGS


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", 1),
        ("-3", -3),
        ("1e-3", 0.001),
        ("1_000", 1000),
        ("0.5", 0.5),
        ("[1, 2]", [1, 2]),
        ("(1, 2)", (1, 2)),
        ("{'a': 1}", {"a": 1}),
        ("True", True),
        ("None", None),
        ("'text'", "text"),
        ('"0.1.2"', "0.1.2"),
        ("adam", "adam"),
        ("resnet-50", "resnet-50"),
        ("data/train.csv", "data/train.csv"),
        ("s3://bucket/key", "s3://bucket/key"),
        ("a+b", "a+b"),
        ("inf", math.inf),
        ("-inf", -math.inf),
        ("+inf", math.inf),
        ("Infinity", math.inf),
    ],
)
def test_values(text, expected):
    value = parse_update_value(text, key="x")
    assert value == expected
    assert type(value) is type(expected)


def test_nan_is_a_float():
    value = parse_update_value("nan", key="x")
    assert isinstance(value, float)
    assert math.isnan(value)


def test_backslashes_in_a_quoted_string_stay_as_written():
    assert parse_update_value(r"'C:\data'", key="p") == "C:\\data"


def test_nested_paths_and_named_configs():
    updates, named = parse_updates(
        [
            "lr=0.1",
            "model.depth=50",
            "model.act=relu",
            "big",
            "ing.small",
            "params.yaml",
            "a.b.c=[1]",
        ]
    )
    assert updates == {"lr": 0.1, "model": {"depth": 50, "act": "relu"}, "a": {"b": {"c": [1]}}}
    assert named == ["big", "ing.small", "params.yaml"]


def test_value_may_contain_equals_signs():
    updates, _ = parse_updates(["expr='a=b'", "word=x=y"])
    assert updates == {"expr": "a=b", "word": "x=y"}


def test_later_update_wins_and_dicts_merge():
    updates, _ = parse_updates(["a=1", "a=2", "d={'x': 1}", "d.y=2"])
    assert updates == {"a": 2, "d": {"x": 1, "y": 2}}


def test_value_then_subkey_conflicts():
    with pytest.raises(ConfigUpdateSyntaxError, match=r"'a=1' and 'a.b=2' conflict"):
        parse_updates(["a=1", "a.b=2"])


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("message=Ciao world!", "Ciao world!"),  # Sacred's README: with message="Ciao world!"
        ("x=a b", "a b"),
        ("x=hello, world", "hello, world"),
        ("x=__import__('os')", "__import__('os')"),
        ("x=it's", "it's"),
        ("x=  padded  ", "padded"),
    ],
)
def test_text_that_is_not_a_literal_is_a_string_without_warning(token, expected, caplog):
    with caplog.at_level("WARNING", logger="gnomon.config"):
        updates, _ = parse_updates([token])
    assert updates == {token.split("=", 1)[0]: expected}
    assert caplog.records == []


@pytest.mark.parametrize(
    ("token", "expected", "problem"),
    [
        ("lr=0.1.2", "0.1.2", "'0.1.2' looks like a number but is not one"),
        ("lr=1e-3e", "1e-3e", "looks like a number"),
        ("x=1 + ", "1 +", "looks like a number"),
        ("x=[1, 2", "[1, 2", "looks like a Python literal but does not parse"),
        ("x={'a': 1", "{'a': 1", "looks like a Python literal"),
        ("x=(1, 2", "(1, 2", "looks like a Python literal"),
        ("x='open", "'open", "looks like a Python literal"),
        ("lr=", "", "the value after '=' is empty"),
    ],
)
def test_broken_literal_is_a_string_with_one_warning(token, expected, problem, caplog):
    with caplog.at_level("WARNING", logger="gnomon.config"):
        updates, _ = parse_updates([token])
    assert updates == {token.split("=", 1)[0]: expected}
    (record,) = caplog.records
    message = record.getMessage()
    assert "\n" not in message
    assert problem in message
    assert f"taken as the string {expected!r}" in message


def test_number_typo_warning_names_the_quoting_fix(caplog):
    with caplog.at_level("WARNING", logger="gnomon.config"):
        parse_updates(["lr=0.1.2"])
    assert caplog.records[0].getMessage() == (
        "Config update 'lr=0.1.2': '0.1.2' looks like a number but is not one, so it is taken "
        "as the string '0.1.2'. Fix it if you meant a number; quote it to pass a string "
        "without this warning: lr='\"0.1.2\"'"
    )
    # The suggested quoting is silent and gives the same string.
    caplog.clear()
    assert parse_updates(['lr="0.1.2"'])[0] == {"lr": "0.1.2"}
    assert caplog.records == []


def test_a_value_split_by_the_shell_is_refused_with_the_fix():
    with pytest.raises(ConfigUpdateSyntaxError) as info:
        parse_updates(["message=Ciao", "world!"])
    assert str(info.value).endswith(
        "If 'world!' belongs to the value of 'message', the shell split it at a space; "
        "quote the whole update: 'message=Ciao world!'"
    )
    assert isinstance(info.value, ConfigError)
    assert isinstance(info.value, ValueError)
    assert info.value.print_usage


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("=3", "the key before '=' is empty"),
        ("a..b=1", "the path 'a..b' has an empty part"),
        (".a=1", "has an empty part"),
        ("a b=1", "'a b' is not a config key"),
        ("'a'=1", "is not a config key"),
        ("a b", "expected path=value"),
        ("2", "expected path=value"),
    ],
)
def test_malformed_updates(token, message):
    with pytest.raises(
        ConfigUpdateSyntaxError, match=message.replace("[", r"\[").replace("+", r"\+")
    ):
        parse_updates([token])


def test_quoting_hint_for_text_with_single_quotes():
    SETTINGS.COMMAND_LINE.STRICT_PARSING = True
    with pytest.raises(ConfigUpdateSyntaxError, match="Quote it to pass a string") as info:
        parse_updates(["x=it's"])
    # The suggested shell text must give back the string when the shell and the parser read it.
    import shlex

    hint = str(info.value).rsplit("Quote it to pass a string: ", 1)[1]
    (token,) = shlex.split(hint)
    assert parse_updates([token])[0] == {"x": "it's"}


def test_strict_parsing_setting_refuses_bare_words():
    SETTINGS.COMMAND_LINE.STRICT_PARSING = True
    with pytest.raises(ConfigUpdateSyntaxError, match="STRICT_PARSING"):
        parse_updates(["optimizer=adam"])
    with pytest.raises(ConfigUpdateSyntaxError, match=r"'0\.1\.2' is not a Python literal"):
        parse_updates(["lr=0.1.2"])
    with pytest.raises(ConfigUpdateSyntaxError, match="the value after '=' is empty"):
        parse_updates(["lr="])
    assert parse_updates(["optimizer='adam'", "x=inf"])[0] == {"optimizer": "adam", "x": math.inf}
    assert parse_updates(["optimizer=adam"], strict=False)[0] == {"optimizer": "adam"}


def test_strict_argument_overrides_setting():
    with pytest.raises(ConfigUpdateSyntaxError):
        parse_updates(["optimizer=adam"], strict=True)


# ---------------------------------------------------------------- round trip --

_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
    | st.binary()
    | st.complex_numbers(allow_nan=False, allow_infinity=False)
)
_literals = st.recursive(
    _scalars,
    lambda children: (
        st.lists(children)
        | st.tuples(children, children)
        | st.dictionaries(st.text() | st.integers(), children)
        | st.sets(st.integers() | st.text())
    ),
    max_leaves=12,
)


def _same(left, right) -> bool:
    if isinstance(left, float) and isinstance(right, float) and math.isnan(left):
        return math.isnan(right)
    return type(left) is type(right) and left == right


@given(_literals)
def test_repr_of_a_literal_parses_back(value):
    updates, named = parse_updates([f"key={value!r}"])
    assert named == []
    assert _same(updates["key"], value)


@given(st.floats())
def test_repr_of_any_float_parses_back(value):
    assert _same(parse_updates([f"nested.key={value!r}"])[0]["nested"]["key"], value)


@given(st.from_regex(r"[A-Za-z_][A-Za-z0-9_\-/:+]*", fullmatch=True))
def test_bare_words_become_strings(word):
    value = parse_update_value(word, key="k")
    if word in ("True", "False", "None") or word.lower() in ("inf", "infinity", "nan"):
        return
    assert value == word
