"""Mistakes in a command line, a config or an observer URL: one clear line, never a traceback or a guess."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest

from gnomon import Experiment
from gnomon.cli.options import normalize_options
from gnomon.cli.values import sql_url
from gnomon.config.files import load_config_file, save_config_file
from gnomon.errors import ConfigError, ObserverError
from gnomon.observers.registry import observer_from_url

SCRIPT = textwrap.dedent(
    '''
    import sys
    import threading

    from gnomon import Experiment

    ex = Experiment("demo")
    WHICH = sys.argv.pop(1) if len(sys.argv) > 1 and sys.argv[1].startswith("case:") else ""


    @ex.config
    def cfg():
        lr = 0.1
        if WHICH == "case:file":
            log = open(__file__)
        if WHICH == "case:lock":
            guard = {"inner": [1, threading.Lock()]}
        if WHICH == "case:deep":
            deep = []
            level = deep
            for _ in range(1000):
                level.append([])
                level = level[0]
        if WHICH == "case:lambda":
            act = lambda x: max(0, x)


    @ex.named_config
    def fast():
        lr = 1.0


    @ex.automain
    def main(lr, _config):
        act = _config.get("act")
        print("lr", repr(lr))
        return lr
    '''
)

LAMBDA_SCRIPT = textwrap.dedent(
    """
    import math

    from gnomon import Experiment

    ex = Experiment("demo")


    @ex.config
    def cfg():
        import os  # noqa: F401
        activation = lambda x: max(0, x)
        def double(n):
            return 2 * n
        width = double(4)
        root = math.sqrt


    @ex.automain
    def main(activation, width):
        return activation(width)
    """
)


@pytest.fixture
def run_script(tmp_path: Path, python: str, script_env: dict[str, str]) -> Any:
    def run(*args: str, source: str = SCRIPT, env: dict[str, str] | None = None) -> Any:
        path = tmp_path / "exp.py"
        path.write_text(source)
        return subprocess.run(
            [python, str(path), *args],
            cwd=tmp_path,
            env={**script_env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )

    return run


def _one_line_error(result: Any, code: int = 1) -> str:
    """The error line of a failed command; fails the test on a traceback."""
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(lines) == 1, result.stderr
    return lines[0]


# ------------------------------------------------------------------ -s / -O URLs


@pytest.mark.parametrize(
    ("given", "meant"),
    [
        ("runs.db", "sqlite:///runs.db"),
        ("sqlite:/runs.db", "sqlite:///runs.db"),
        ("sqlite:runs.db", "sqlite:///runs.db"),
        ("sqlite://runs.db", "sqlite:///runs.db"),  # SQLAlchemy: an in-memory database
        ("/data/runs.db", "sqlite:////data/runs.db"),
        ("postgresql:/user@host/db", "postgresql://user@host/db"),
    ],
)
def test_sql_flag_refuses_what_is_not_a_database_url_and_says_what_was_meant(
    given: str, meant: str
) -> None:
    with pytest.raises(ValueError, match=f"Did you mean {meant}"):
        sql_url(given)


@pytest.mark.parametrize(
    "url", ["sqlite:///runs.db", "sqlite:////abs/runs.db", "postgresql://u@h:5432/db", "mysql+pymysql://root@h/db"]
)
def test_sql_flag_keeps_database_urls(url: str) -> None:
    assert sql_url(url) == url


def test_sql_flag_without_a_scheme_is_a_usage_error_not_file_storage(run_script: Any, tmp_path: Path) -> None:
    line = _one_line_error(run_script("-s", "runs.db"), code=2)
    assert "'runs.db' is not a database URL" in line and "Did you mean sqlite:///runs.db?" in line
    assert not (tmp_path / "runs.db").exists()


def test_malformed_sqlite_url_is_one_line(run_script: Any) -> None:
    line = _one_line_error(run_script("-s", "sqlite:/runs.db"), code=2)
    assert "'sqlite:/runs.db'" in line and "Did you mean sqlite:///runs.db?" in line
    line = _one_line_error(run_script("-O", "sqlite:/runs.db"))
    assert "'sqlite:/runs.db'" in line and "Did you mean sqlite:///runs.db?" in line


def test_url_the_driver_cannot_parse_is_one_line_naming_it(run_script: Any) -> None:
    line = _one_line_error(run_script("-O", "postgresql://user:secret@db.example:port/runs"))
    assert "'postgresql://user@db.example:port/runs'" in line  # named, password left out
    assert "secret" not in line
    assert "postgresql://user@host:5432/db" in line  # what a good one looks like


def test_registry_refuses_an_in_memory_sqlite_observer() -> None:
    with pytest.raises(ObserverError, match=r"Did you mean sqlite:///runs\.db"):
        observer_from_url("sqlite://runs.db")


def _blocked(tmp_path: Path, module: str) -> dict[str, str]:
    """Environment in which ``import module`` fails, as on a machine without it."""
    folder = tmp_path / f"without_{module}"
    folder.mkdir()
    (folder / f"{module}.py").write_text(f"raise ImportError(\"No module named '{module}'\")\n")
    return {"PYTHONPATH": str(folder)}


@pytest.mark.parametrize(
    ("args", "url"),
    [(("-m", "my_runs"), "mongodb://localhost:27017/my_runs"), (("-O", "mongodb://db.example:27017/x"), "mongodb://db.example:27017/x")],
)
def test_mongo_observer_without_pymongo_names_the_extra(
    run_script: Any, tmp_path: Path, args: tuple[str, ...], url: str
) -> None:
    line = _one_line_error(run_script(*args, env=_blocked(tmp_path, "pymongo")))
    assert "pip install 'gnomon[mongo]'" in line and url in line


# ------------------------------------------------------------ repeated flags


def test_every_repeated_observer_flag_is_attached(run_script: Any, tmp_path: Path) -> None:
    result = run_script(
        "-F", "first", "-F", "second", "-s", "sqlite:///one.db", "-s", "sqlite:///two.db"
    )
    assert result.returncode == 0, result.stderr
    for folder in ("first", "second"):
        run = json.loads((tmp_path / folder / "1" / "run.json").read_text())
        assert run["status"] == "COMPLETED"
        assert run["meta"]["options"]["--file_storage"] == ["first", "second"]
        assert run["meta"]["options"]["--sql"] == ["sqlite:///one.db", "sqlite:///two.db"]
    for database in ("one.db", "two.db"):
        with sqlite3.connect(tmp_path / database) as connection:
            assert connection.execute("select count(*) from runs").fetchone() == (1,)


def test_a_flag_given_once_keeps_sacreds_stored_form() -> None:
    options = normalize_options({"--file_storage": "runs", "-s": ["sqlite:///a.db"]})
    assert options["--file_storage"] == "runs"
    assert options["--sql"] == "sqlite:///a.db"
    assert normalize_options({"-F": ("a", "b")})["--file_storage"] == ["a", "b"]
    assert normalize_options({})["--mongo_db"] is None


# ------------------------------------------------------------ config values


def test_open_file_in_the_config_names_the_entry(run_script: Any) -> None:
    line = _one_line_error(run_script("case:file", "-u"))
    assert "Config entry 'log' (from config scope 'cfg') holds an open file" in line
    assert "store its path" in line
    assert "pickle" not in line


def test_lock_deep_in_the_config_names_the_entry(run_script: Any) -> None:
    line = _one_line_error(run_script("case:lock", "-u"))
    assert "Config entry 'guard.inner[1]'" in line and "_thread.lock" in line


def test_config_nested_a_thousand_levels_is_one_line(run_script: Any) -> None:
    line = _one_line_error(run_script("case:deep", "-u"))
    assert "'deep[0][0]" in line and "nested deeper than 30 levels" in line


def test_update_nested_a_thousand_levels_is_one_short_line(run_script: Any) -> None:
    value = "[" * 1000 + "]" * 1000
    line = _one_line_error(run_script("-u", "with", f"lr={value}"), code=2)
    assert "nested too deeply" in line and len(line) < 300


def test_function_a_captured_function_expects_is_refused_at_config_time(
    run_script: Any, tmp_path: Path
) -> None:
    result = run_script("-F", "runs", source=LAMBDA_SCRIPT)
    line = _one_line_error(result)
    assert "Config entry 'activation' holds a lambda" in line
    assert "main() takes 'activation'" in line
    assert not (tmp_path / "runs" / "1").exists()  # refused before any run was recorded


def test_helpers_in_a_scope_stay_out_of_the_config_silently() -> None:
    ex = Experiment("helpers")

    @ex.config
    def cfg() -> None:
        import math

        root = math.sqrt
        shift = lambda x: x + 1  # noqa: E731
        width = shift(3)

    @ex.main
    def main(width: int) -> int:
        return width

    run = ex.run(options={"--unobserved": True})
    assert run.result == 4
    assert set(run.config) == {"width", "seed"}


def test_a_value_given_for_the_helpers_name_wins(run_script: Any) -> None:
    result = run_script("-u", "with", "activation=2", source=LAMBDA_SCRIPT.replace(
        "return activation(width)", "return activation * width"
    ))
    assert result.returncode == 0, result.stderr


# ------------------------------------------------------------ with NAME


def test_forgotten_equals_sign_hints_key_equals_value(run_script: Any) -> None:
    line = _one_line_error(run_script("with", "lr"))
    assert "'lr' is a config entry, not a named config" in line and "lr=VALUE" in line


def test_unknown_named_config_still_suggests_the_closest(run_script: Any) -> None:
    line = _one_line_error(run_script("with", "fst"))
    assert "Named config not found: 'fst'. Did you mean 'fast'?" in line


# ------------------------------------------------------------ config files


def test_dataframe_tag_without_pandas_says_pandas_is_missing(run_script: Any, tmp_path: Path) -> None:
    frame = {"__type__": "DataFrame", "columns": ["a"], "index": [0], "data": [[1]], "dtypes": ["int64"]}
    (tmp_path / "params.json").write_text(json.dumps({"lr": 0.5, "table": frame}))
    line = _one_line_error(run_script("-u", "with", "params.json", env=_blocked(tmp_path, "pandas")))
    assert "Config file 'params.json'" in line
    assert "config['table'] holds a pandas DataFrame" in line and "pip install pandas" in line
    assert "not valid JSON" not in line


YAML_NUMBERS = """\
a: 1e-3
b: 1E3
c: .5
d: -1.5e+10
e: +5
f: 0o17
g: 0x1F
h: 0755
i: .inf
j: -.Inf
quoted: '1e-3'
clock: 1:30
grouped: 1_000
word: abc
flag: true
"""


def test_yaml_numbers_are_read_as_yaml_1_2_reads_them(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text(YAML_NUMBERS)
    config = load_config_file(path)
    assert config["a"] == 0.001 and isinstance(config["a"], float)
    assert config["b"] == 1000.0 and isinstance(config["b"], float)
    assert (config["c"], config["d"], config["e"]) == (0.5, -1.5e10, 5)
    assert (config["f"], config["g"], config["h"]) == (15, 31, 755)
    assert config["i"] == float("inf") and config["j"] == float("-inf")
    assert config["quoted"] == "1e-3" and config["clock"] == "1:30" and config["grouped"] == "1_000"
    assert config["word"] == "abc" and config["flag"] is True


def test_yaml_files_written_read_back_the_same(tmp_path: Path) -> None:
    import yaml

    config = {"s": "1e-3", "clock": "1:30", "octal": "0755", "small": 1e-10, "n": 5, "yes": "yes"}
    path = tmp_path / "out.yaml"
    save_config_file(config, path)
    assert load_config_file(path) == config
    assert yaml.safe_load(path.read_text()) == config  # YAML 1.1 readers agree


def test_yaml_alias_bombs_are_still_refused(tmp_path: Path) -> None:
    lines = ["a: &a [1e-3, 1e-3, 1e-3, 1e-3, 1e-3, 1e-3, 1e-3, 1e-3, 1e-3, 1e-3]"]
    for index, name in enumerate("bcdefghi"):
        previous = "abcdefghi"[index]
        lines.append(f"{name}: &{name} [{', '.join(['*' + previous] * 10)}]")
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigError, match="YAML aliases"):
        load_config_file(path)


# ------------------------------------------------------------ a large config


def test_a_large_config_list_reaches_the_run_intact() -> None:
    ex = Experiment("big")

    @ex.config
    def cfg() -> None:
        big = list(range(200_000))
        mixed = [1, "a", None, 2.5, [3, (4, 5)]]

    @ex.main
    def main(big: list[int], mixed: list[Any]) -> int:
        assert mixed == [1, "a", None, 2.5, [3, [4, 5]]]
        return sum(big)

    run = ex.run(options={"--unobserved": True})
    assert run.result == sum(range(200_000))
    assert run.config["big"][-1] == 199_999


def test_a_scope_value_is_copied_once_and_owned_by_the_run() -> None:
    shared = [1, 2, 3]
    ex = Experiment("owned")

    @ex.config
    def cfg() -> None:
        values = shared

    @ex.main
    def main() -> None:
        pass

    run = ex.run(options={"--unobserved": True})
    shared.append(4)
    assert run.config["values"] == [1, 2, 3]
