"""Scripts shaped like Sacred's examples folder run unchanged with ``from gnomon import ...``.

The scripts live in ``tests/fixtures/sacred_examples/``: a config dict, a config scope
that logs with ``_log``, captured functions, commands, named configs (one reading an
earlier value), ingredients that include each other, a custom logger and a modular
layout with ingredients in their own modules. Each runs in a subprocess, the way a
user runs it.

With ``GNOMON_SACRED_PYTHON`` set to a Python that has Sacred 0.8.7 installed, the
last test runs each script under Sacred too (imports renamed) and compares what the
scripts print; without it that test is skipped.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent / "fixtures" / "sacred_examples"


def run_script(name: str, *args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run one example script; fail with its output unless it exits with status 0."""
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, (
        f"{name} {' '.join(args)} exited with {result.returncode}\n"
        f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    )
    return result


def stored_run(basedir: Path, run_id: str = "1") -> dict:
    """What file storage recorded for one run: run.json with config.json beside it."""
    run = json.loads((basedir / run_id / "run.json").read_text(encoding="utf-8"))
    run["config"] = json.loads((basedir / run_id / "config.json").read_text(encoding="utf-8"))
    return run


def test_hello_world(tmp_path, script_env):
    result = run_script("hello_world.py", "-F", "runs", env=script_env, cwd=tmp_path)
    assert result.stdout == "Hello world!\n"
    run = stored_run(tmp_path / "runs")
    assert run["status"] == "COMPLETED"
    assert run["experiment"]["name"] == "hello_world"


def test_config_dict_with_a_message_that_has_a_space(tmp_path, script_env):
    result = run_script(
        "hello_config_dict.py", "with", "message=Ciao world!", "-F", "runs",
        env=script_env, cwd=tmp_path,
    )  # fmt: skip
    assert result.stdout == "Ciao world!\n"
    assert stored_run(tmp_path / "runs")["config"]["message"] == "Ciao world!"
    assert "WARNING" not in result.stderr


def test_config_scope_logs_with_log(tmp_path, script_env):
    result = run_script("hello_config_scope.py", "with", "recipient=you", env=script_env, cwd=tmp_path)
    assert result.stdout == "Hello you!\n"
    assert "INFO - hello_cs - The message is 'Hello you!'" in result.stderr
    printed = run_script("hello_config_scope.py", "print_config", env=script_env, cwd=tmp_path)
    assert "recipient = 'world'" in printed.stdout
    assert "# who is greeted" in printed.stdout
    assert "_log" not in printed.stdout


def test_captured_functions(tmp_path, script_env):
    result = run_script("captured_functions.py", env=script_env, cwd=tmp_path)
    assert result.stdout.splitlines() == [
        "This is printed by function foo.",
        "This is printed by function bar.",
        "Overriding the default message for foo.",
        "> HEYHEY",
    ]
    assert "seed is an int: True" in result.stderr


def test_commands(tmp_path, script_env):
    greet = run_script("my_commands.py", "greet", "with", "name=Jane", env=script_env, cwd=tmp_path)
    assert greet.stdout == "Hello Jane! Nice to greet you!\n"
    shout = run_script("my_commands.py", "shout", env=script_env, cwd=tmp_path)
    assert shout.stdout == "WHAZZZUUUUUUUUUUP!!!????\n"
    main = run_script("my_commands.py", env=script_env, cwd=tmp_path)
    assert main.stdout.startswith("This is just the main command.")


@pytest.mark.parametrize(
    ("updates", "printed"),
    [
        ((), "a = 10 b = 20"),
        (("variant1",), "a = 100 b = 200"),
        (("variant1", "double"), "a = 200 b = 400"),  # as in Sacred
        (("double",), "a = 20 b = 40"),  # the base config's a: Sacred refuses this one
        (("a=1", "double"), "a = 1 b = 2"),  # explicit updates win
    ],
)
def test_named_configs(tmp_path, script_env, updates, printed):
    args = ("with", *updates) if updates else ()
    result = run_script("named_configs.py", *args, env=script_env, cwd=tmp_path)
    assert result.stdout == f"{printed}\n"


def test_ingredients(tmp_path, script_env):
    result = run_script(
        "ingredients.py", "with", "dataset.normalize=False", "-F", "runs",
        env=script_env, cwd=tmp_path,
    )  # fmt: skip
    assert result.stdout.splitlines() == [
        "loading dataset from my_dataset.npy",
        "model of width 8 for my_dataset.npy",
        "a = 10 sum = 60",
    ]
    run = stored_run(tmp_path / "runs")
    assert run["result"] == 60
    assert run["config"]["dataset"] == {"filename": "my_dataset.npy", "normalize": False}
    assert run["config"]["model"] == {"width": 8}
    stats = run_script("ingredients.py", "dataset.stats", env=script_env, cwd=tmp_path)
    assert stats.stdout == "Statistics for dataset my_dataset.npy: 3 items\n"


def test_custom_logger(tmp_path, script_env):
    result = run_script("log_example.py", "with", "got_gizmo=True", env=script_env, cwd=tmp_path)
    assert "[I] mylogger.main >> Attempting to transmogrify 2..." in result.stderr
    assert "[I] mylogger.main >> Transmogrification complete: 84" in result.stderr
    without = run_script("log_example.py", env=script_env, cwd=tmp_path)
    assert "[W] mylogger.transmogrify >> No gizmo. Can't transmogrify!" in without.stderr


def test_modular_layout(tmp_path, script_env):
    result = run_script(
        "modular/train.py", "with", "model.big", "dataset.size=3", "-F", "runs",
        env=script_env, cwd=tmp_path,
    )  # fmt: skip
    assert result.stdout == "predictions: [0, 30, 60] model sees: ['dataset', 'scale']\n"
    run = stored_run(tmp_path / "runs")
    assert run["config"]["model"] == {"scale": 30}
    assert run["config"]["dataset"] == {"size": 3}
    assert run["result"] == 90
    sources = {Path(name).name for name, _digest in run["experiment"]["sources"]}
    assert {"train.py", "model.py", "dataset.py"} <= sources
    metrics = json.loads((tmp_path / "runs" / "1" / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["total"]["values"] == [90]


_SACRED_RUNS = [
    ("hello_world.py",),
    ("hello_config_dict.py", "with", "message=Ciao world!"),
    ("hello_config_scope.py", "with", "recipient=you"),
    ("captured_functions.py",),
    ("my_commands.py", "greet", "with", "name=Jane"),
    ("named_configs.py", "with", "variant1", "double"),
    ("ingredients.py", "with", "dataset.normalize=False"),
    ("ingredients.py", "dataset.stats"),
    ("log_example.py", "with", "got_gizmo=True"),
    ("modular/train.py", "with", "model.big"),
]


@pytest.mark.compat
@pytest.mark.parametrize("argv", _SACRED_RUNS, ids=" ".join)
def test_sacred_prints_the_same(tmp_path, script_env, argv):
    sacred_python = os.environ.get("GNOMON_SACRED_PYTHON")
    if not sacred_python:
        pytest.skip("set GNOMON_SACRED_PYTHON to a Python with sacred==0.8.7 to compare")
    copy = tmp_path / "sacred_examples"
    shutil.copytree(EXAMPLES, copy)
    for script in copy.rglob("*.py"):
        text = script.read_text(encoding="utf-8")
        script.write_text(text.replace("from gnomon import", "from sacred import"))
    name, *args = argv
    theirs = subprocess.run(
        [sacred_python, str(copy / name), *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert theirs.returncode == 0, theirs.stderr
    ours = run_script(name, *args, env=script_env, cwd=tmp_path)
    assert ours.stdout == theirs.stdout
