"""Built-in commands: print_config, save_config, print_named_configs, print_dependencies."""

# Config scopes define config by assigning locals that are never read again.

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from gnomon import Experiment
from gnomon.commands import STYLES, format_config, format_named_configs, render_config
from gnomon.config.files import load_config_file
from gnomon.config.summary import ConfigSummary
from gnomon.testing import RecordingObserver


def _experiment() -> Experiment:
    ex = Experiment("cmds", save_git_info=False)

    @ex.config
    def cfg():
        a = 1  # the a value
        name = "x"
        opt = {"lr": 0.1}

    @ex.named_config
    def fast():
        """Train fast.

        Longer explanation.
        """
        a = 2

    @ex.named_config
    def plain():
        a = 3

    @ex.main
    def main(a):
        return a

    return ex


def test_print_config_output(capsys: pytest.CaptureFixture[str]) -> None:
    ex = _experiment()
    run = ex.run(
        "print_config",
        config_updates={"a": 5, "name": 3, "opt.wd": 0.1, "seed": 7},
        options={"--force": True},
    )
    assert run.status == "COMPLETED"
    out = capsys.readouterr().out
    assert out == format_config(run.config, run.config_modifications)
    lines = out.splitlines()
    assert lines[0] == "Configuration (modified, added, typechanged, doc):"
    assert lines[1].startswith("  a = 5")
    assert lines[1].endswith("# the a value")
    assert lines[2] == "  name = 3"
    assert lines[3:6] == ["  opt:", "    lr = 0.1", "    wd = 0.1"]
    assert lines[6].startswith("  seed = 7")
    assert lines[6].endswith("# the random seed for this experiment")


def test_rich_rendering_colours_added_modified_typechanged_and_docs() -> None:
    summary = ConfigSummary(
        added={"new"}, modified={"a"}, typechanged={"t": (int, str)}, docs={"a": "doc of a"}
    )
    text = render_config({"a": 2, "new": 1, "t": "s", "same": 0}, summary)
    styled = {text.plain[span.start : span.end].strip(): str(span.style) for span in text.spans}
    assert styled["a = 2"] == STYLES["modified"] == "blue"
    assert styled["new = 1"] == STYLES["added"] == "green"
    assert styled["t = 's'"] == STYLES["typechanged"] == "red"
    assert styled["# doc of a"] == STYLES["doc"] == "dim"
    assert "same = 0" not in styled


def test_print_config_flag_prints_before_running(capsys: pytest.CaptureFixture[str]) -> None:
    ex = _experiment()
    run = ex.run(options={"--print-config": True})
    assert run.result == 1
    assert "Configuration (modified, added, typechanged, doc):" in capsys.readouterr().out


@pytest.mark.parametrize("name", ["config.json", "conf.yaml", "conf.toml"])
def test_save_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.chdir(tmp_path)
    ex = _experiment()
    updates = {"seed": 3} if name == "config.json" else {"seed": 3, "config_filename": name}
    run = ex.run("save_config", config_updates=updates)
    assert run.status == "COMPLETED"
    saved = load_config_file(tmp_path / name)
    assert saved == {"a": 1, "name": "x", "opt": {"lr": 0.1}, "seed": 3}
    if name.endswith(".json"):
        json.loads((tmp_path / name).read_text())  # strict JSON


def test_print_named_configs(capsys: pytest.CaptureFixture[str]) -> None:
    _experiment().run("print_named_configs")
    out = capsys.readouterr().out
    assert out.splitlines() == ["Named Configurations (doc):", "  fast   # Train fast.", "  plain"]
    assert format_named_configs({}) == "Named Configurations (doc):\n  No named configs\n"


def test_print_dependencies(capsys: pytest.CaptureFixture[str]) -> None:
    ex = _experiment()
    ex.add_package_dependency("somepackage", "1.2.3")
    ex.run("print_dependencies")
    out = capsys.readouterr().out
    assert "Dependencies:" in out
    assert "Sources:" in out
    assert "Version Control:" in out
    assert "  somepackage          == 1.2.3" in out
    source_line = next(line for line in out.splitlines() if os.path.basename(__file__) in line)
    from gnomon.provenance import get_digest

    assert source_line.split()[-1] == get_digest(__file__)


def test_builtin_commands_are_unobserved() -> None:
    ex = _experiment()
    observer = RecordingObserver()
    ex.observers.append(observer)
    ex.run("print_named_configs")
    assert observer.events == []
    ex.run(options={"--beat-interval": 0})
    assert observer.kinds[0] == "started"
    assert observer.kinds[-1] == "completed"
