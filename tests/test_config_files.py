"""Config files: JSON, YAML, TOML in; clear errors for bad files; loading never runs code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gnomon import Experiment
from gnomon.config.dicts import ConfigDict, expand_dotted, validate_keys
from gnomon.config.files import dump_toml, load_config_file, save_config_file
from gnomon.errors import ConfigError
from gnomon.settings import SETTINGS


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("c.json", '{"a": 1, "b": {"c": [1, 2]}}'),
        ("c.yaml", "a: 1\nb:\n  c: [1, 2]\n"),
        ("c.yml", "a: 1\nb:\n  c: [1, 2]\n"),
        ("c.toml", "a = 1\n[b]\nc = [1, 2]\n"),
    ],
)
def test_load_each_format(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    assert load_config_file(path) == {"a": 1, "b": {"c": [1, 2]}}


def test_add_config_from_files(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text("a: 1\n")
    (tmp_path / "n.toml").write_text("a = 2\n")
    ex = Experiment("files", save_git_info=False)
    ex.add_config(str(tmp_path / "c.yaml"))
    ex.add_named_config("two", tmp_path / "n.toml")

    @ex.main
    def main(a):
        return a

    assert ex.run().result == 1
    assert ex.run(named_configs=["two"]).result == 2


@pytest.mark.parametrize(
    ("name", "text", "problem"),
    [
        ("missing.json", None, "does not exist"),
        ("c.ini", "a=1", "unknown extension"),
        ("c.json", "{not json", "not valid JSON"),
        ("c.yaml", "a: [1, 2", "not valid YAML"),
        ("c.toml", "a = = 1", "not valid TOML"),
        ("c.json", "[1, 2]", "must hold a mapping"),
    ],
)
def test_bad_files_name_the_file_and_problem(
    tmp_path: Path, name: str, text: str | None, problem: str
) -> None:
    path = tmp_path / name
    if text is not None:
        path.write_text(text)
    with pytest.raises(ConfigError, match=problem) as info:
        load_config_file(path)
    assert name in str(info.value)
    ex = Experiment("bad", save_git_info=False)
    with pytest.raises(ConfigError, match=problem):
        ex.add_config(str(path))


def test_jsonpickle_reduce_entry_stays_data(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    crafted = {
        "a": {"py/reduce": [{"py/function": "builtins.open"}, {"py/tuple": [str(marker), "w"]}]},
        "b": {"py/object": "os.system", "cmd": "touch " + str(marker)},
    }
    path = tmp_path / "evil.json"
    path.write_text(json.dumps(crafted))
    loaded = load_config_file(path)
    assert loaded == crafted
    assert not marker.exists()


def test_yaml_tags_are_not_executed(tmp_path: Path) -> None:
    path = tmp_path / "evil.yaml"
    path.write_text("a: !!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config_file(path)


@pytest.mark.parametrize("name", ["out.json", "out.yaml", "out.toml"])
def test_save_and_load_round_trip(tmp_path: Path, name: str) -> None:
    config = {
        "a": 1,
        "b": {"c": [1, 2], "d": "x y"},
        "e": 0.5,
        "f": True,
        "g": {"h": {"i": "deep"}},
    }
    save_config_file(config, tmp_path / name)
    assert load_config_file(tmp_path / name) == config


def test_toml_refuses_none() -> None:
    with pytest.raises(ConfigError, match="'a'"):
        dump_toml({"a": None})


@pytest.mark.parametrize("key", ["a.b", "$set", "a=b"])
def test_invalid_keys_are_named(key: str) -> None:
    with pytest.raises(ConfigError, match=repr(key).replace("$", r"\$")):
        validate_keys({"outer": {key: 1}})
    with pytest.raises(ConfigError, match="outer"):
        ConfigDict({"outer": {key: 1}})


def test_key_rules_follow_settings() -> None:
    SETTINGS.CONFIG.ENFORCE_KEYS_NO_EQUALS = False
    validate_keys({"a=b": 1})
    SETTINGS.CONFIG.ENFORCE_VALID_PYTHON_IDENTIFIER_KEYS = True
    with pytest.raises(ConfigError, match="identifier"):
        validate_keys({"not valid": 1})


def test_expand_dotted_updates() -> None:
    assert expand_dotted({"a.b": 1, "a": {"c": 2}, "d": 3}) == {"a": {"b": 1, "c": 2}, "d": 3}
    with pytest.raises(ConfigError, match=r"'a\.\.b'"):
        expand_dotted({"a..b": 1})


def test_config_dict_normalizes_numpy_and_tuples() -> None:
    np = pytest.importorskip("numpy")
    entry = ConfigDict({"a": np.float32(1.5), "b": (1, 2), "c": {"d": np.int64(3)}})
    values = entry.values
    assert values == {"a": 1.5, "b": [1, 2], "c": {"d": 3}}
    assert type(values["a"]) is float
    assert type(values["c"]["d"]) is int


def test_add_config_rejects_dict_and_keywords_together() -> None:
    ex = Experiment("both", save_git_info=False)
    with pytest.raises(ConfigError, match="not both"):
        ex.add_config({"a": 1}, b=2)
