"""Every script in examples/ runs as its docstring and the docs say, and records what they promise.

Each example runs in a subprocess from the repository root, the way a user runs it,
and the test reads what landed on disk.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def run_example(
    name: str, *args: str, env: dict[str, str], cwd: Path = ROOT, expect_rc: int = 0
) -> subprocess.CompletedProcess[str]:
    """Run ``examples/<name>`` with ``args``; fail with its output when the exit status differs."""
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == expect_rc, (
        f"{name} {' '.join(args)} exited with {result.returncode}\n"
        f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    )
    return result


def load(path: Path) -> object:
    return json.loads(path.read_text(encoding="utf-8"))


def run_json(run_dir: Path) -> dict:
    entry = load(run_dir / "run.json")
    assert isinstance(entry, dict)
    return entry


# ------------------------------------------------------------------ hello_world --


def test_hello_world_records_a_completed_run(tmp_path, script_env):
    runs = tmp_path / "runs"
    result = run_example("hello_world.py", "-F", str(runs), env=script_env)

    assert "Hello, world!" in result.stdout
    entry = run_json(runs / "1")
    assert entry["status"] == "COMPLETED"
    assert entry["command"] == "main"
    assert entry["experiment"]["name"] == "hello_world"
    assert entry["result"] == "greeted world 1 time(s)"
    assert entry["start_time"] <= entry["stop_time"]
    config = load(runs / "1" / "config.json")
    assert config["recipient"] == "world"
    assert config["repeat"] == 1
    assert isinstance(config["seed"], int)
    assert "Hello, world!" in (runs / "1" / "cout.txt").read_text(encoding="utf-8")
    # The source is stored once, content-addressed, and run.json points at it.
    [[relpath, stored]] = entry["experiment"]["sources"]
    assert relpath == "hello_world.py"
    assert (runs / stored).read_bytes() == (EXAMPLES / "hello_world.py").read_bytes()


def test_hello_world_with_updates_and_a_second_run(tmp_path, script_env):
    runs = tmp_path / "runs"
    run_example("hello_world.py", "-F", str(runs), env=script_env)
    run_example(
        "hello_world.py", "-F", str(runs), "with", "recipient=gnomon", "repeat=3", env=script_env
    )

    assert run_json(runs / "2")["status"] == "COMPLETED"
    config = load(runs / "2" / "config.json")
    assert config["recipient"] == "gnomon"
    assert config["repeat"] == 3
    assert (runs / "2" / "cout.txt").read_text(encoding="utf-8").count("Hello, gnomon!") == 3
    metrics = load(runs / "2" / "metrics.json")
    assert metrics["greetings"]["steps"] == [0, 1, 2]
    assert metrics["greetings"]["values"] == [1, 2, 3]
    assert len(metrics["greetings"]["timestamps"]) == 3
    assert run_json(runs / "2")["meta"]["config_updates"] == {"recipient": "gnomon", "repeat": 3}


def test_readme_set_up_command_runs_hello_world(tmp_path, script_env):
    """The README's first set-up command ends with an example invocation; it must work."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"python (examples/\S+\.py)([^&\n`]*)", readme)
    assert match, "README.md no longer runs an example in its set-up command"
    script, args = match.group(1), match.group(2).split()
    assert script == "examples/hello_world.py"
    result = subprocess.run(
        [sys.executable, str(ROOT / script), *args],
        cwd=tmp_path,
        env=script_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert args == ["-F", "runs"]
    assert run_json(tmp_path / "runs" / "1")["status"] == "COMPLETED"


# ---------------------------------------------------------------- config_scopes --


def test_config_scopes_defaults_leave_helpers_out(tmp_path, script_env):
    runs = tmp_path / "runs"
    result = run_example("config_scopes.py", "-F", str(runs), env=script_env)

    config = load(runs / "1" / "config.json")
    assert config == {
        "optimizer": "sgd",
        "lr": 0.1,
        "epochs": 10,
        "warmup": 2,
        "layers": [64, 32],
        "model": {"depth": 2, "activation": "relu"},
        "final_lr": 0.0368,
        "log_every": 2,
        "seed": config["seed"],
    }
    assert "sgd at lr=0.1 for a 2-layer relu network" in result.stdout
    assert run_json(runs / "1")["result"] == sorted(config)


def test_config_scopes_named_configs_and_precedence(tmp_path, script_env):
    runs = tmp_path / "runs"
    run_example("config_scopes.py", "-F", str(runs), "with", "fast", "adam", "lr=0.3", env=script_env)

    config = load(runs / "1" / "config.json")
    assert config["epochs"] == 2  # from 'fast'
    assert config["warmup"] == 0  # derived from the new epochs
    assert config["optimizer"] == "adam"  # from 'adam'
    assert config["lr"] == 0.3  # explicit updates beat every named config
    assert config["final_lr"] == round(0.3 * 0.36787944117144233, 4)
    meta = run_json(runs / "1")["meta"]
    assert meta["named_configs"] == ["fast", "adam"]


def test_config_scopes_config_file_and_print_config(tmp_path, script_env):
    settings = tmp_path / "long.yaml"
    settings.write_text("epochs: 25\nmodel:\n  activation: tanh\n", encoding="utf-8")
    runs = tmp_path / "runs"
    run_example("config_scopes.py", "-F", str(runs), "with", str(settings), env=script_env)
    config = load(runs / "1" / "config.json")
    assert config["epochs"] == 25
    assert config["warmup"] == 5
    assert config["model"] == {"depth": 2, "activation": "tanh"}

    shown = run_example("config_scopes.py", "print_config", "with", "fast", env=script_env)
    assert re.search(r"lr = 0\.5 +# learning rate", shown.stdout)
    assert "warmup = 0" in shown.stdout
    assert "math" not in shown.stdout and "decayed" not in shown.stdout


# ------------------------------------------------------------------- ingredients --


def test_ingredients_config_named_config_and_scope_parameter(tmp_path, script_env):
    runs = tmp_path / "runs"
    result = run_example("ingredients.py", "-F", str(runs), "with", "dataset.small", env=script_env)

    config = load(runs / "1" / "config.json")
    assert config["dataset"] == {"size": 10, "noise": 0.1}
    assert config["batch_size"] == 2  # read from the ingredient's config
    assert run_json(runs / "1")["result"] == 5
    assert "5 batches of up to 2 samples" in result.stdout


def test_ingredients_command_and_dotted_update(tmp_path, script_env):
    runs = tmp_path / "runs"
    result = run_example(
        "ingredients.py", "-F", str(runs), "dataset.describe", "with", "dataset.size=50", env=script_env
    )
    assert "50 samples, noise 0.1" in result.stdout
    entry = run_json(runs / "1")
    assert entry["command"] == "dataset.describe"
    assert entry["status"] == "COMPLETED"
    assert load(runs / "1" / "config.json")["batch_size"] == 10


# ------------------------------------------------------------- metrics_artifacts --


def test_metrics_artifacts_records_metrics_info_artifact_and_resource(tmp_path, script_env):
    runs = tmp_path / "runs"
    result = run_example("metrics_artifacts.py", "-F", str(runs), "with", "epochs=4", env=script_env)
    run_dir = runs / "1"
    entry = run_json(run_dir)
    assert entry["status"] == "COMPLETED"

    metrics = load(run_dir / "metrics.json")
    assert metrics["loss"]["steps"] == [0, 1, 2, 3]
    assert metrics["w"]["steps"] == [0, 1, 2, 3]
    losses = metrics["loss"]["values"]
    assert losses == sorted(losses, reverse=True)
    assert entry["result"] == round(losses[-1], 6)
    assert "epoch 3: loss" in result.stdout
    assert "epoch 3: loss" in (run_dir / "cout.txt").read_text(encoding="utf-8")

    weight = load(run_dir / "info.json")["weight"]
    assert weight == metrics["w"]["values"][-1]
    assert entry["artifacts"] == ["model.json"]
    assert load(run_dir / "model.json") == {"w": weight}

    [[source, stored]] = entry["resources"]
    assert Path(source).resolve() == (EXAMPLES / "data" / "points.csv").resolve()
    assert Path(stored).parent.resolve() == (runs / "_resources").resolve()
    assert Path(stored).read_bytes() == Path(source).read_bytes()


# --------------------------------------------------------------- custom_observer --


def test_custom_observer_reports_the_end_of_the_run(tmp_path, script_env):
    runs = tmp_path / "runs"
    result = run_example("custom_observer.py", "-F", str(runs), env=script_env)
    # The file storage (priority 20) picks the id; the custom observer sees the same id.
    assert "run 1 COMPLETED: result done, last loss 0.3333333333333333" in result.stderr
    assert run_json(runs / "1")["status"] == "COMPLETED"
    assert load(runs / "1" / "metrics.json")["loss"]["values"] == [1.0, 0.5, 1 / 3]


def test_custom_observer_alone_and_short(script_env):
    result = run_example("custom_observer.py", env=script_env)
    assert "run None COMPLETED: result done" in result.stderr

    tree = ast.parse((EXAMPLES / "custom_observer.py").read_text(encoding="utf-8"))
    [observer] = [node for node in tree.body if isinstance(node, ast.ClassDef)]
    assert observer.end_lineno - observer.lineno + 1 < 30


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.py")))
def test_every_example_has_a_docstring_and_help(name, script_env):
    """Each example explains itself: a module docstring, shown by --help."""
    tree = ast.parse((EXAMPLES / name).read_text(encoding="utf-8"))
    doc = ast.get_docstring(tree)
    assert doc, f"examples/{name} has no module docstring"
    result = run_example(name, "--help", env=script_env)
    assert doc.splitlines()[0] in result.stdout
