"""The benchmarks' experiment templates render to scripts that run, the same experiment wherever it is shared."""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCHMARKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


templates = load("templates")
TEMPLATES = {name: value for name, value in vars(templates).items() if name.isupper() and "{pkg}" in str(value)}


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_every_template_is_a_script_for_either_package(name: str) -> None:
    for package in ("gnomon", "sacred"):
        ast.parse(TEMPLATES[name].replace("{pkg}", package))
    assert "{pkg}" not in templates.for_gnomon(TEMPLATES[name])


def test_output_volume_runs_the_same_experiment_with_or_without_mongodb() -> None:
    def main(text: str) -> str:
        tree = ast.parse(text.replace("{pkg}", "gnomon"))
        functions = [node for node in tree.body if isinstance(node, ast.FunctionDef)]
        return "\n".join(ast.dump(node) for node in functions if node.name in {"main", "config"})

    assert main(templates.OUTPUT_VOLUME).count("FunctionDef(") == 2
    assert main(templates.OUTPUT_VOLUME) == main(templates.MONGO_OUTPUT_VOLUME)


def test_hello_runs_and_greets(tmp_path: Path) -> None:
    script = tmp_path / "hello.py"
    script.write_text(templates.for_gnomon(templates.HELLO))
    done = subprocess.run(
        [sys.executable, str(script), "-u", "with", "recipient=bench"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "Hello, bench!" in done.stdout
