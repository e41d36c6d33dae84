"""Config scopes: locals become config, fixed values win, comments become docs."""

# Config scopes define config by assigning locals that are never read again.

from __future__ import annotations

import math
import os

import pytest

from gnomon.config.scope import ConfigScope
from gnomon.errors import ConfigError

OUTER = 5


def test_locals_become_config_and_derived_values_follow_fixed() -> None:
    def cfg():
        a = 1
        b = a * 10
        c = [a * i for i in range(3)]
        d = {"x": a, "y": OUTER}

    scope = ConfigScope(cfg)
    assert dict(scope()) == {"a": 1, "b": 10, "c": [0, 1, 2], "d": {"x": 1, "y": 5}}
    result = scope(fixed={"a": 3})
    assert dict(result) == {"a": 3, "b": 30, "c": [0, 3, 6], "d": {"x": 3, "y": 5}}
    assert result.modified == {"a"}


def test_modules_functions_classes_and_callables_are_not_config() -> None:
    def cfg():
        import json  # noqa: F401 - a module in a scope is not config

        m = math
        f = lambda x: x * 2  # noqa: E731
        g = f(21)

        def helper():
            return 1

        class Thing:
            pass

        h = helper() + g
        i = os.path.join("a", "b")

    result = ConfigScope(cfg)()
    assert dict(result) == {"g": 42, "h": 43, "i": os.path.join("a", "b")}


def test_comments_become_docs() -> None:
    def cfg():
        a = 1  # the a
        # the b, explained
        # over two lines
        b = 2
        c = 3

        # pylint: disable=foo
        d = 4
        opt = {
            "lr": 0.1,  # learning rate
            "mom": 0.9,
        }

    docs = ConfigScope(cfg).docs
    assert docs == {"a": "the a", "b": "the b, explained over two lines", "opt.lr": "learning rate"}


def test_a_hash_inside_a_string_is_not_a_comment() -> None:
    def cfg():
        url = "http://host/#anchor"  # where it lives
        note = """
        # not a comment, a line of the string
        """
        tag = f"#{url}"  # ünïcødé before: the tag
        raw = b"#"
        # the pattern, above
        pattern = r"[#]"  # noinspection SpellCheck
        empty = ""  # the empty one

    docs = ConfigScope(cfg).docs
    assert docs == {"url": "where it lives", "tag": "ünïcødé before: the tag", "pattern": "the pattern, above",
                    "empty": "the empty one"}


def test_a_comment_between_the_parts_of_a_joined_string_is_found() -> None:
    def cfg():
        joined = ("first part "  # the joined one
                  "second part #not a comment")
        after = 1  # after it

    assert ConfigScope(cfg).docs == {"joined": "the joined one", "after": "after it"}


def test_comments_are_found_where_the_tokenizer_finds_them() -> None:
    """Every file of the examples and the config tests: the same comments as Python's tokenizer."""
    import ast
    import io
    import pathlib
    import tokenize

    from gnomon.config.source import _comment_map

    root = pathlib.Path(__file__).parent.parent
    files = [*sorted((root / "examples").rglob("*.py")), *sorted(root.glob("tests/test_config*.py"))]
    assert len(files) > 5
    for path in files:
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines(keepends=True)
        expected, alone = {}, set()
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type == tokenize.COMMENT:
                expected[token.start[0]] = token.string.lstrip("#").strip()
                if not token.line[: token.start[1]].strip():
                    alone.add(token.start[0])
        assert _comment_map(lines, ast.parse(text)) == (expected, alone), path


def test_nested_dicts_merge_with_fixed_values_and_later_item_writes() -> None:
    def cfg():
        opt = {"lr": 0.1, "mom": 0.9}
        opt["lr"] = 0.2
        opt["extra"] = opt["lr"] * 2

    result = ConfigScope(cfg)(fixed={"opt": {"lr": 0.5, "new": 1}})
    assert result["opt"] == {"lr": 0.5, "mom": 0.9, "extra": 1.0, "new": 1}
    assert {"opt", "opt.lr", "opt.mom", "opt.extra"} <= result.assigned
    assert "opt.new" not in result.assigned


def test_augmented_assignment_loops_unpacking_and_closures() -> None:
    k = 7

    def cfg():
        total = 0
        for i in range(3):
            total += i
        first, (second, third) = 1, (2, 3)
        closed = k + 1
        total += 100

    assert dict(ConfigScope(cfg)()) == {
        "total": 103,
        "i": 2,
        "first": 1,
        "second": 2,
        "third": 3,
        "closed": 8,
    }
    assert ConfigScope(cfg)(fixed={"total": -1})["total"] == -1


def test_type_changes_are_recorded_except_int_float_and_none() -> None:
    def cfg():
        a = 1
        b = 1
        c = "x"
        d = None

    result = ConfigScope(cfg)(fixed={"a": 2.5, "b": "s", "c": 3, "d": "path"})
    assert result.typechanges == {"b": (int, str), "c": (str, int)}


def test_fixed_names_are_readable_without_assignment_and_parameters_read_presets() -> None:
    def cfg(base):
        doubled = base * 2
        tripled = unset * 3  # noqa: F821 - provided as a fixed value

    result = ConfigScope(cfg)(fixed={"unset": 2}, preset={"base": 4})
    assert result["doubled"] == 8
    assert result["tripled"] == 6
    assert "base" not in result  # a parameter is read, not defined


def test_missing_parameter_names_itself() -> None:
    def cfg(nothere):
        a = nothere

    with pytest.raises(ConfigError, match="'nothere'"):
        ConfigScope(cfg)()


def test_return_and_bad_signatures_are_rejected() -> None:
    def returns():
        a = 1
        return a

    def defaults(a=1):
        b = a

    with pytest.raises(ConfigError, match="return"):
        ConfigScope(returns)
    with pytest.raises(ConfigError, match="parameter"):
        ConfigScope(defaults)


def test_function_without_source_gives_a_clear_error() -> None:
    namespace: dict[str, object] = {}
    exec(compile("def cfg():\n    a = 1\n", "<prompt>", "exec"), namespace)
    with pytest.raises(ConfigError, match="source"):
        ConfigScope(namespace["cfg"])  # type: ignore[arg-type]


def test_errors_in_scope_point_at_the_scope_line() -> None:
    def cfg():
        a = 1
        b = 1 / 0

    with pytest.raises(ZeroDivisionError) as info:
        ConfigScope(cfg)()
    assert any(
        str(entry.path) == __file__ and "b = 1 / 0" in str(entry.statement)
        for entry in info.traceback
    )


def test_deleted_locals_are_not_config() -> None:
    def cfg():
        tmp = 3
        a = tmp + 1
        del tmp

    assert dict(ConfigScope(cfg)()) == {"a": 4}
