"""Resolving a run's config: precedence, added keys, type changes, hooks, ingredients."""

# Config scopes define config by assigning locals that are never read again.

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from gnomon import Experiment, Ingredient
from gnomon.config.resolve import resolve_config
from gnomon.errors import (
    CircularDependencyError,
    ConfigAddedError,
    ConfigError,
    NamedConfigNotFoundError,
    SignatureError,
)


def _experiment() -> Experiment:
    ex = Experiment("prec", save_git_info=False)

    @ex.config
    def cfg():
        a = 1
        b = a * 10
        c = "scope"

    @ex.named_config
    def first():
        a = 2
        c = "first"

    @ex.named_config
    def second():
        a = 3

    @ex.main
    def main(a, b, c):
        return a, b, c

    return ex


def test_scopes_alone() -> None:
    config, _ = resolve_config(_experiment())
    assert (config["a"], config["b"], config["c"]) == (1, 10, "scope")


def test_named_config_beats_scope_and_derived_values_follow() -> None:
    config, summary = resolve_config(_experiment(), named_configs=["first"])
    assert (config["a"], config["b"], config["c"]) == (2, 20, "first")
    assert {"a", "c"} <= summary.modified


def test_later_named_config_beats_earlier() -> None:
    config, _ = resolve_config(_experiment(), named_configs=["first", "second"])
    assert (config["a"], config["b"], config["c"]) == (3, 30, "first")
    config, _ = resolve_config(_experiment(), named_configs=["second", "first"])
    assert (config["a"], config["b"]) == (2, 20)


def test_updates_beat_named_configs() -> None:
    config, _ = resolve_config(
        _experiment(), config_updates={"a": 7}, named_configs=["first", "second"]
    )
    assert (config["a"], config["b"], config["c"]) == (7, 70, "first")


def test_precedence_through_run() -> None:
    run = _experiment().run(config_updates={"c": "update"}, named_configs=["first", "second"])
    assert run.result == (3, 30, "update")


def test_named_config_sees_updates_and_earlier_named_configs() -> None:
    ex = Experiment("named", save_git_info=False)

    @ex.config
    def cfg():
        a = 1
        b = 0

    @ex.named_config
    def base():
        a = 5

    @ex.named_config
    def derived(a):
        b = a + 1

    @ex.main
    def main(a, b):
        return a, b

    assert ex.run(named_configs=["base", "derived"]).result == (5, 6)
    assert ex.run(config_updates={"a": 9}, named_configs=["derived"]).result == (9, 10)


def test_added_key_nobody_uses_raises_unless_forced() -> None:
    ex = _experiment()
    with pytest.raises(ConfigAddedError, match="'typo'") as info:
        ex.run(config_updates={"typo": 1})
    assert "--force" in str(info.value)
    assert info.value.conflicting_configs == ("typo",)
    run = ex.run(config_updates={"typo": 1}, options={"--force": True})
    assert run.config["typo"] == 1
    assert "typo" in run.config_modifications.added


def test_added_key_a_captured_function_takes_is_allowed(caplog: pytest.LogCaptureFixture) -> None:
    ex = _experiment()

    @ex.capture
    def helper(extra=3):
        return extra

    @ex.capture(prefix="group")
    def grouped(x):
        return x

    with caplog.at_level(logging.WARNING):
        config, summary = resolve_config(ex, config_updates={"extra": 4, "group.x": 1})
    assert config["extra"] == 4
    assert config["group"] == {"x": 1}
    assert summary.added == {"extra", "group.x"}
    assert 'Added new config entry: "extra"' in caplog.text
    with pytest.raises(ConfigAddedError, match=r"group\.y"):
        resolve_config(ex, config_updates={"group.y": 1})


def test_new_key_inside_existing_dict_counts_as_added() -> None:
    ex = Experiment("nested", save_git_info=False)

    @ex.config
    def cfg():
        opt = {"lr": 0.1}

    @ex.main
    def main(opt):
        return opt

    config, summary = resolve_config(ex, config_updates={"opt.lr": 0.2, "opt.momentum": 0.9})
    assert config["opt"] == {"lr": 0.2, "momentum": 0.9}
    assert summary.added == {"opt.momentum"}
    assert summary.modified == {"opt.lr"}


def test_type_change_warns_but_int_float_does_not(caplog: pytest.LogCaptureFixture) -> None:
    ex = _experiment()
    with caplog.at_level(logging.WARNING):
        config, summary = resolve_config(ex, config_updates={"a": 1.5})
    assert config["b"] == 15.0
    assert not summary.typechanged
    assert "Changed type" not in caplog.text
    with caplog.at_level(logging.WARNING):
        _, summary = resolve_config(ex, config_updates={"c": 3})
    assert summary.typechanged == {"c": (str, int)}
    assert 'Changed type of config entry "c" from str to int' in caplog.text


def test_seed_is_added_with_doc_unless_set() -> None:
    ex = _experiment()
    config, summary = resolve_config(ex)
    assert 1 <= config["seed"] < 10**9
    assert summary.docs["seed"] == "the random seed for this experiment"
    assert resolve_config(ex, config_updates={"seed": 42})[0]["seed"] == 42


def test_unstorable_values_name_key_and_type() -> None:
    ex = Experiment("unstorable", save_git_info=False)

    class Thing:
        pass

    ex.add_config(opt={"thing": Thing()})
    with pytest.raises(ConfigError, match=r"config\['opt'\]\['thing'\].*Thing"):
        resolve_config(ex)


def test_config_hook_updates_and_explicit_updates_still_win() -> None:
    ex = _experiment()
    seen = {}

    @ex.config_hook
    def hook(config, command_name, logger):
        seen["config"] = dict(config)
        seen["command"] = command_name
        return {"c": "hooked", "b": 99}

    config, _ = resolve_config(ex, command_name="main", config_updates={"b": 5})
    assert config["c"] == "hooked"
    assert config["b"] == 5
    assert seen["config"]["a"] == 1
    assert seen["command"] == "main"


def test_config_hook_signature_and_return_value_are_checked() -> None:
    ex = _experiment()
    with pytest.raises(SignatureError, match="config, command_name, logger"):

        @ex.config_hook
        def wrong(config):
            return {}

    @ex.config_hook
    def bad(config, command_name, logger):
        return [1]

    with pytest.raises(ConfigError, match="returned list"):
        resolve_config(ex)


def _ingredients() -> tuple[Experiment, Ingredient, Ingredient]:
    loader = Ingredient("data.loader")

    @loader.config
    def loader_cfg():
        workers = 2

    @loader.capture
    def load(workers, _config):
        return workers, dict(_config)

    data = Ingredient("data", ingredients=[loader])

    @data.config
    def data_cfg():
        size = 10  # dataset size

    @data.named_config
    def small():
        """A small dataset."""
        size = 1

    @data.command
    def stats(size, _config):
        return size

    ex = Experiment("ing", ingredients=[data], save_git_info=False)

    @ex.config
    def cfg(data):
        total = data["size"] * 2

    @ex.main
    def main(total):
        return total, load()

    return ex, data, loader


def test_ingredient_config_lives_under_its_path_and_parent_reads_it() -> None:
    ex, _, _ = _ingredients()
    config, summary = resolve_config(ex)
    assert config["data"]["size"] == 10
    assert config["data"]["loader"] == {"workers": 2}
    assert config["total"] == 20
    assert summary.docs["data.size"] == "dataset size"
    run = ex.run(config_updates={"data.size": 3, "data.loader.workers": 5})
    assert run.result == (6, (5, {"workers": 5}))


def test_ingredient_named_configs_and_commands() -> None:
    ex, _, _ = _ingredients()
    assert "data.small" in dict(ex.gather_named_configs())
    commands = dict(ex.gather_commands())
    assert {"main", "print_config", "data.stats"} <= set(commands)
    assert ex.run(named_configs=["data.small"]).result[0] == 2
    assert ex.run("data.stats", config_updates={"data.size": 4}).result == 4


def test_ingredient_added_keys_are_checked_against_its_own_functions() -> None:
    ex, _, _ = _ingredients()
    with pytest.raises(ConfigAddedError, match=r"'data\.unknown'"):
        resolve_config(ex, config_updates={"data.unknown": 1})
    with pytest.raises(ConfigAddedError, match="'total2'"):
        resolve_config(ex, config_updates={"total2": 1})


def test_circular_ingredients() -> None:
    a = Ingredient("a")
    b = Ingredient("b", ingredients=[a])
    a.ingredients.append(b)
    ex = Experiment("circle", ingredients=[a], save_git_info=False)
    with pytest.raises(CircularDependencyError, match="a -> b -> a"):
        list(ex.traverse_ingredients())
    with pytest.raises(CircularDependencyError):
        resolve_config(ex)


def test_duplicate_ingredient_paths_are_rejected() -> None:
    ex = Experiment("dup", ingredients=[Ingredient("x"), Ingredient("x")], save_git_info=False)
    with pytest.raises(ConfigError, match="'x'"):
        resolve_config(ex)


def test_named_config_file_and_unknown_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("fast.json").write_text(json.dumps({"a": 4}))
    config, _ = resolve_config(_experiment(), named_configs=["fast.json"])
    assert (config["a"], config["b"]) == (4, 40)
    with pytest.raises(NamedConfigNotFoundError, match="Did you mean 'first'"):
        resolve_config(_experiment(), named_configs=["frist"])


def test_duplicate_named_config_is_rejected() -> None:
    ex = _experiment()
    with pytest.raises(ConfigError, match="'first'"):
        ex.add_named_config("first", a=1)


def test_added_key_error_suggests_existing_entries() -> None:
    with pytest.raises(ConfigAddedError, match="Did you mean 'c' instead of 'cc'"):
        resolve_config(_experiment(), config_updates={"cc": 1})


def test_seed_must_be_an_integer_and_ingredient_paths_are_checked() -> None:
    with pytest.raises(ConfigError, match="'seed' must be an integer"):
        resolve_config(_experiment(), config_updates={"seed": "abc"})
    for bad in ("", "a..b", "a=b", "$a"):
        with pytest.raises(ConfigError, match="Invalid ingredient path"):
            Ingredient(bad)
