"""Custom command-line flags written for Sacred: ``cli_option``, ``CommandLineOption``, option hooks."""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path
from typing import Any

from gnomon import Experiment
from gnomon.commandline_options import CLIOption, CommandLineOption, cli_option, option_of


def test_the_decorator_from_sacreds_module_adds_a_flag_that_changes_the_run() -> None:
    @cli_option("-w", "--warn", is_flag=True)
    def warn(args: Any, run: Any) -> None:
        """Mark the run."""
        run.info["warned"] = args

    @cli_option("-x", "--extra")
    def extra(args: Any, run: Any) -> None:
        run.info["extra"] = args

    ex = Experiment("flags", additional_cli_options=[warn, extra])

    @ex.main
    def main(_run: Any) -> Any:
        return dict(_run.info)

    run = ex.run_commandline(["flags.py", "-w", "--extra", "3", "-u"])
    assert run is not None and run.result == {"warned": True, "extra": "3"}
    assert isinstance(warn, CLIOption) and warn.get_description() == "Mark the run."


def test_a_sacred_option_class_becomes_a_flag_named_after_it() -> None:
    class FooBarOption(CommandLineOption):
        """Set foo."""

        arg = "VALUE"
        short_flag = "z"

        @classmethod
        def apply(cls, args: Any, run: Any) -> None:
            run.info["foo"] = args

    option = option_of(FooBarOption)
    assert option.get_flags() == ("-z", "--foo_bar") and not option.is_flag
    assert option.get_name() == "FooBarOption" and option.get_description() == "Set foo."
    assert option_of(FooBarOption) is option  # one flag per class
    ex = Experiment("classes", additional_cli_options=[FooBarOption])

    @ex.main
    def main(_run: Any) -> Any:
        return _run.info.get("foo")

    run = ex.run_commandline(["classes.py", "--foo_bar", "bar", "-u"])
    assert run is not None and run.result == "bar"


def test_option_hooks_see_and_change_the_options() -> None:
    ex = Experiment("hooked")
    seen: list[Any] = []

    @ex.option_hook
    def hook(options: dict[str, Any]) -> None:
        seen.append(options["--unobserved"])
        options["--comment"] = "from the hook"

    @ex.main
    def main(_run: Any) -> Any:
        return _run.meta_info.get("comment")

    run = ex.run_commandline(["hooked.py", "-u"])
    assert seen == [True] and run is not None and run.result == "from the hook"


SCRIPT = '''
"""A Sacred script with both forms of custom flags, imports renamed."""
from gnomon import Experiment
from gnomon.commandline_options import CommandLineOption, cli_option


@cli_option("-w", "--warn", is_flag=True)
def warn(args, run):
    """Warn when the run starts."""
    run.info["warned"] = True


class LabelOption(CommandLineOption):
    """Label the run."""

    short_flag = "L"
    arg = "TEXT"

    @classmethod
    def apply(cls, args, run):
        run.info["label"] = args


ex = Experiment("script", additional_cli_options=[warn])


@ex.automain
def main(_run):
    print("INFO " + __import__("json").dumps(dict(_run.info), sort_keys=True))
'''


def test_a_script_uses_both_forms_on_its_command_line(tmp_path: Path, python: str, script_env: dict[str, str]) -> None:
    """Sacred found CommandLineOption subclasses without listing them; so do we, in the script's own file."""
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(SCRIPT))
    done = subprocess.run(
        [python, str(script), "-w", "-L", "first", "-u"], capture_output=True, text=True, env=script_env,
        cwd=tmp_path, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    [line] = [line for line in done.stdout.splitlines() if line.startswith("INFO ")]
    assert json.loads(line[5:]) == {"label": "first", "warned": True}
    usage = subprocess.run(
        [python, str(script), "--help"], capture_output=True, text=True, env=script_env, cwd=tmp_path, timeout=60
    )
    assert "--label" in usage.stdout and "Label the run." in usage.stdout and "--warn" in usage.stdout
