"""The filter grammar: what parses to what, and that nothing in a filter can run code."""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gnomon.errors import FilterError
from gnomon.query.grammar import MAX_LENGTH, from_keywords, parse
from gnomon.query.tree import And, Cmp, Contains, EndsWith, Exists, In, Matches, Not, Or, StartsWith

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ("config.lr < 1e-2", Cmp(("config", "lr"), "lt", 0.01)),
        ('status == "completed"', Cmp(("status",), "eq", "COMPLETED")),
        ("1e-4 < config.lr <= 1e-2", And((Cmp(("config", "lr"), "gt", 1e-4), Cmp(("config", "lr"), "le", 1e-2)))),
        ("0.5 > config.lr", Cmp(("config", "lr"), "lt", 0.5)),
        ('"x" in tags', Contains(("tags",), "x")),
        ('config.opt in ["adam", "sgd"]', In(("config", "opt"), ("adam", "sgd"))),
        ('config.opt not in ("adam",)', Not(In(("config", "opt"), ("adam",)))),
        ("config.a != null", Not(Cmp(("config", "a"), "eq", None))),
        ("config.a == None", Cmp(("config", "a"), "eq", None)),
        ("config.flag == true and not config.other", And((Cmp(("config", "flag"), "eq", True),
                                                          Not(Cmp(("config", "other"), "eq", True))))),
        ("metrics.val.loss.min < 0.3", Cmp(("metrics", "val.loss", "min"), "lt", 0.3)),
        ('metrics["val/loss"].last >= -1', Cmp(("metrics", "val/loss", "last"), "ge", -1)),
        ('config["odd key"].x == 1', Cmp(("config", "odd key", "x"), "eq", 1)),
        ("exists(info.note) or config.x == 1", Or((Exists(("info", "note")), Cmp(("config", "x"), "eq", 1)))),
        ('startswith(experiment, "mnist_")', StartsWith(("experiment",), "mnist_")),
        ('endswith(host.hostname, ".local")', EndsWith(("host", "hostname"), ".local")),
        ('matches(command, "^tr.*n$")', Matches(("command",), "^tr.*n$")),
        ("start_time > ago('2d')", Cmp(("start_time",), "gt", NOW - timedelta(days=2))),
        ("start_time >= '2026-01-01'", Cmp(("start_time",), "ge", datetime(2026, 1, 1, tzinfo=UTC))),
        ("duration > '1h'", Cmp(("duration",), "gt", 3600.0)),
        ("git.dirty == false", Cmp(("git", "dirty"), "eq", False)),
        ("config.x == 1\n  and config.y == 2", And((Cmp(("config", "x"), "eq", 1), Cmp(("config", "y"), "eq", 2)))),
    ],
)
def test_filters_parse_into_the_tree(text, tree):
    assert parse(text, now=NOW) == tree


def _parse_and_rewrite(text):
    from gnomon.query.liveness import rewrite_status

    rewrite_status(parse(text, now=NOW), NOW, None)


@pytest.mark.parametrize(
    ("text", "position", "words"),
    [
        ("confg.lr < 1", 0, "Did you mean 'config'"),
        ("config.lr ==", 12, "not valid"),
        ("config.lr < config.wd", 12, "one path and one value"),
        ("metrics.loss < 1", 0, "summary"),
        ("config.__dict__", 7, "'_'"),
        ("config.x < 1 or (lambda: 1)", 17, "lambda"),
        ("config.x + 1 > 2", 0, "arithmetic"),
        ("matches(config.name, '(')", 21, "regular expression"),
        ("git.branch == 'x'", 0, "git.commit"),
        ("config.layers[0] == 1", 0, "lists cannot be indexed"),
        ("start_time > 'yesterday'", 13, "ISO 8601"),
    ],
)
def test_bad_filters_name_the_position(text, position, words):
    with pytest.raises(FilterError) as caught:
        _parse_and_rewrite(text)
    assert words in str(caught.value)
    assert caught.value.position == position
    if position is not None:
        caret = caught.value.caret().splitlines()
        assert caret[1].strip() == text.strip().replace("\n", " ") or "\n" in text
        assert caret[2].index("^") - 2 == position


HOSTILE = [
    "__import__('os').system('touch {sentinel}')",
    "().__class__.__bases__[0].__subclasses__()",
    "config.__dict__",
    "config.__class__.__init__.__globals__",
    "(lambda: open('{sentinel}', 'w'))()",
    "[open('{sentinel}', 'w') for _ in [1]]",
    "f\"{{open('{sentinel}', 'w')}}\"",
    "(x := open('{sentinel}', 'w'))",
    "exec('open(\"{sentinel}\", \"w\")')",
    "eval('1')",
    "config.x == open('{sentinel}', 'w')",
    "getattr(config, 'x')",
    "config.x if True else 1",
    "{{'a': 1}}",
    "*config",
    "config.x == b'bytes'",
    "config.x == 1j",
    "config.x == ...",
]


@pytest.mark.parametrize("template", HOSTILE)
def test_hostile_filters_are_refused_and_run_nothing(template, tmp_path: Path):
    sentinel = tmp_path / "sentinel"
    with pytest.raises(FilterError) as caught:
        parse(template.format(sentinel=sentinel), now=NOW)
    assert caught.value.position is not None
    assert not sentinel.exists()


@pytest.mark.parametrize("text", ["(" * 1000 + "1" + ")" * 1000, "not " * 2000 + "config.x", "a" * 100_000,
                                  " or ".join(["config.x == 1"] * 400)])
def test_huge_or_deeply_nested_filters_are_refused_quickly(text):
    import time

    started = time.perf_counter()
    with pytest.raises(FilterError):
        parse(text, now=NOW)
    assert time.perf_counter() - started < 1.0
    assert len(text) > MAX_LENGTH or "(" in text or "not" in text


def test_the_query_package_never_evaluates_or_compiles_code():
    package = Path(__import__("gnomon.query", fromlist=["x"]).__file__).parent
    for module in package.glob("*.py"):
        tree = ast.parse(module.read_text(encoding="utf-8"))
        called = {node.func.id for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
        assert not called & {"eval", "exec", "compile", "__import__"}, module


def test_keyword_filters():
    assert from_keywords(
        {"config__optim__name": "adam", "metrics__loss__min__lt": 0.3, "status__in": ["completed"], "config__x__ne": 1,
         "info__note__exists": True, "tags__contains": "best"}, now=NOW
    ) == [
        Cmp(("config", "optim", "name"), "eq", "adam"),
        Cmp(("metrics", "loss", "min"), "lt", 0.3),
        In(("status",), ("COMPLETED",)),
        Not(Cmp(("config", "x"), "eq", 1)),
        Exists(("info", "note")),
        Contains(("tags",), "best"),
    ]
    with pytest.raises(FilterError, match="confg"):
        from_keywords({"confg__lr": 1})
