"""The experiment-script command line, driven through click's CliRunner and run_commandline.

The experiment here is a small stand-in that records what the command line asks it
to run: these tests cover the parsing layer; tests/test_cli_end_to_end.py runs real
experiment scripts.
"""

from __future__ import annotations

import sys

import pytest
from click.testing import CliRunner

from gnomon.cli.options import cli_option
from gnomon.cli.script import build_command, format_filtered_traceback, run_commandline
from gnomon.errors import ConfigUpdateSyntaxError, GnomonError, InvalidConfigError


def main(a, b=2):
    """Train the model.

    Second paragraph that is not in the command list."""


def evaluate(checkpoint: str = "last") -> float:
    """Evaluate a checkpoint."""
    return 0.0


@cli_option("-w", "--warn", is_flag=True)
def warn(args, run):
    """Print a warning first."""


@cli_option("-x", "--extra")
def extra(args, run):
    """Pass an extra value."""


class StandIn:
    """A tiny experiment for command-line tests.

    It records each run instead of running anything."""

    def __init__(self, *, default_command="main", fail_with=None, options=(warn, extra)):
        self.doc = type(self).__doc__
        self.default_command = default_command
        self.additional_cli_options = list(options)
        self.calls = []
        self.fail_with = fail_with

    def gather_commands(self):
        yield "main", main
        yield "evaluate", evaluate
        yield "ing.prepare", evaluate

    def gather_named_configs(self):
        yield "big", None
        yield "ing.small", None

    def run(
        self,
        command_name=None,
        config_updates=None,
        named_configs=(),
        info=None,
        meta_info=None,
        options=None,
    ):
        self.calls.append(
            {
                "command": command_name,
                "updates": config_updates,
                "named": list(named_configs),
                "options": options,
            }
        )
        if self.fail_with is not None:
            raise self.fail_with
        return f"run of {command_name}"


def invoke(experiment, args):
    return CliRunner().invoke(build_command(experiment, "exp.py"), args)


# -------------------------------------------------------------- parsing --


def test_updates_named_configs_and_flags_reach_run():
    ex = StandIn()
    result = invoke(
        ex, ["with", "lr=0.1", "optimizer=adam", "model.depth=50", "big", "-F", "runs", "-u"]
    )
    assert result.exit_code == 0, result.output
    assert result.return_value == "run of main"
    (call,) = ex.calls
    assert call["command"] == "main"
    assert call["updates"] == {"lr": 0.1, "optimizer": "adam", "model": {"depth": 50}}
    assert call["named"] == ["big"]
    options = call["options"]
    assert options["--file_storage"] == "runs"
    assert options["--unobserved"] is True
    assert options["COMMAND"] is None
    assert options["UPDATE"] == ["lr=0.1", "optimizer=adam", "model.depth=50", "big"]
    assert options["with"] is True


def test_command_and_ingredient_command():
    ex = StandIn()
    assert invoke(ex, ["evaluate", "with", "checkpoint=best"]).exit_code == 0
    assert invoke(ex, ["ing.prepare"]).exit_code == 0
    assert [c["command"] for c in ex.calls] == ["evaluate", "ing.prepare"]
    assert ex.calls[0]["updates"] == {"checkpoint": "best"}
    assert ex.calls[1]["options"]["with"] is False


def test_flags_may_come_anywhere():
    ex = StandIn()
    result = invoke(ex, ["-c", "note", "evaluate", "with", "a=1", "-q", "b=2"])
    assert result.exit_code == 0, result.output
    (call,) = ex.calls
    assert call["updates"] == {"a": 1, "b": 2}
    assert call["options"]["--comment"] == "note"
    assert call["options"]["--queue"] is True


@pytest.mark.parametrize(
    ("args", "key", "value"),
    [
        (["-F", "d"], "--file_storage", "d"),
        (["--file-storage", "d"], "--file_storage", "d"),
        (["--file_storage", "d"], "--file_storage", "d"),
        (["-m", "db"], "--mongo_db", "db"),
        (["--mongo-db", "db"], "--mongo_db", "db"),
        (["--mongo_db", "db"], "--mongo_db", "db"),
        (["-s", "sqlite:///r.db"], "--sql", "sqlite:///r.db"),
        (["-O", "file:///a", "--observer", "file:///b"], "--observer", ["file:///a", "file:///b"]),
        (["-c", "text"], "--comment", "text"),
        (["-n", "nm"], "--name", "nm"),
        (["-i", "7"], "--id", "7"),
        (["-p"], "--print-config", True),
        (["--print-config"], "--print-config", True),
        (["-u"], "--unobserved", True),
        (["-q"], "--queue", True),
        (["-P", "3"], "--priority", 3.0),
        (["-l", "info"], "--loglevel", "INFO"),
        (["--loglevel", "20"], "--loglevel", 20),
        (["-d"], "--debug", True),
        (["-D"], "--pdb", True),
        (["-C", "fd"], "--capture", "fd"),
        (["-b", "0"], "--beat-interval", 0.0),
        (["--beat-interval", "2.5"], "--beat-interval", 2.5),
        (["-e"], "--enforce_clean", True),
        (["--enforce-clean"], "--enforce_clean", True),
        (["--enforce_clean"], "--enforce_clean", True),
        (["-f"], "--force", True),
        (["-w"], "--warn", True),
        (["--extra", "v"], "--extra", "v"),
    ],
)
def test_flags_and_aliases(args, key, value):
    ex = StandIn()
    result = invoke(ex, args)
    assert result.exit_code == 0, result.output
    assert ex.calls[0]["options"][key] == value


def test_short_flags_cluster():
    ex = StandIn()
    assert invoke(ex, ["-upq"]).exit_code == 0
    options = ex.calls[0]["options"]
    assert [options[k] for k in ("--unobserved", "--print-config", "--queue")] == [True, True, True]


def test_run_commandline_returns_the_run_and_splits_strings():
    ex = StandIn()
    assert (
        run_commandline(ex, "exp.py evaluate with 'name=\"a b\"' -c 'two words'")
        == "run of evaluate"
    )
    assert ex.calls[0]["updates"] == {"name": "a b"}
    assert ex.calls[0]["options"]["--comment"] == "two words"


def test_run_commandline_reads_sys_argv(monkeypatch):
    ex = StandIn()
    monkeypatch.setattr(sys, "argv", ["exp.py", "with", "a=3"])
    assert run_commandline(ex) == "run of main"
    assert ex.calls[0]["updates"] == {"a": 3}


def test_existing_config_file_is_a_named_config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.json").write_text('{"a": 1}')
    ex = StandIn()
    assert invoke(ex, ["with", "params.json", "big"]).exit_code == 0
    assert ex.calls[0]["named"] == ["params.json", "big"]


# ------------------------------------------------------------------ help --


@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_help_lists_doc_commands_and_flags(flag):
    ex = StandIn()
    result = invoke(ex, [flag])
    assert result.exit_code == 0
    out = result.stdout
    assert out.startswith("A tiny experiment for command-line tests.")
    assert "exp.py [COMMAND] [with UPDATE...] [options]" in out
    assert "  main  " in out
    assert "(default) Train the model." in out
    assert "Second paragraph" not in out
    assert "Evaluate a checkpoint." in out
    for text in (
        "-F, --file-storage DIR",
        "-m, --mongo-db DB",
        "-b, --beat-interval SECONDS",
        "-e, --enforce-clean",
        "-O, --observer URL",
        "-w, --warn",
        "Print a warning first.",
        "-x, --extra EXTRA",
    ):
        assert text in out
    assert "--file_storage" not in out  # Sacred's spellings work but are not advertised
    assert ex.calls == []


def test_help_command_prints_signature_and_doc():
    ex = StandIn()
    result = invoke(ex, ["help", "evaluate"])
    assert result.exit_code == 0
    assert result.return_value is None
    assert (
        result.stdout == "evaluate(checkpoint: str = 'last') -> float\n\nEvaluate a checkpoint.\n"
    )
    assert ex.calls == []


def test_help_without_command_prints_the_help():
    result = invoke(StandIn(), ["help"])
    assert result.exit_code == 0
    assert "Commands:" in result.stdout


def test_help_for_unknown_command_suggests():
    result = invoke(StandIn(), ["help", "evalute"])
    assert result.exit_code == 2
    assert "Unknown command 'evalute'. Did you mean 'evaluate'?" in result.stderr


# ---------------------------------------------------------- user errors --


@pytest.mark.parametrize(
    ("args", "message", "code"),
    [
        (
            ["with", "message=Ciao", "world!"],
            "Cannot parse config update 'world!': expected path=value (e.g. lr=0.01), "
            "the name of a named config, or a .json/.yaml/.yml/.toml config file. "
            "If 'world!' belongs to the value of 'message', the shell split it at a space; "
            "quote the whole update: 'message=Ciao world!'",
            2,
        ),
        (["with", "=3"], "the key before '=' is empty", 2),
        (["with", "a..b=1"], "the path 'a..b' has an empty part", 2),
        (["with", "a b=1"], "'a b' is not a config key", 2),
        (["with", "bgi"], "Named config not found: 'bgi'. Did you mean 'big'?", 1),
        (["with", "missing.yaml"], "Config file not found: 'missing.yaml'", 1),
        (["evalute"], "Unknown command 'evalute'. Did you mean 'evaluate'?", 2),
        (["lr=0.1"], "config updates go after 'with', e.g. exp.py with lr=0.1", 2),
        (["evaluate", "lr=0.1"], "Unexpected argument 'lr=0.1' after the command 'evaluate'", 2),
        (["with", "a=1", "with", "b=2"], "'with' is given twice", 2),
        (
            ["-b", "abc"],
            "Invalid value for '-b' / '--beat-interval': 'abc' is not a number of seconds",
            2,
        ),
        (["-C", "bogus"], "Invalid value for '-C' / '--capture': 'bogus' is not a capture mode", 2),
        (["-P", "high"], "Invalid value for '-P' / '--priority': 'high' is not a number", 2),
        (["-l", "NOPE"], "Invalid value for '-l' / '--loglevel': 'NOPE' is not a log level", 2),
        (["-m", "not a db"], "is not a MongoDB database", 2),
        (["-i", "../elsewhere"], "'../elsewhere' cannot be a run id", 2),
        (["-i", "_sources"], "'_sources' cannot be a run id", 2),
        (["-F"], "Option '-F' requires an argument", 2),
        (["--unobservd"], "No such option '--unobservd'", 2),
    ],
)
def test_user_errors_print_one_line_and_usage(args, message, code):
    ex = StandIn()
    result = invoke(ex, args)
    assert result.exit_code == code, result.output
    lines = result.stderr.splitlines()
    assert lines[0].startswith("Error: ")
    assert message in lines[0]
    assert lines[1] == "Usage:"
    assert "exp.py [COMMAND] [with UPDATE...] [options]" in result.stderr
    assert "Traceback" not in result.output
    assert result.stdout == ""
    assert ex.calls == []


def test_no_command_and_no_main():
    ex = StandIn(default_command=None)
    result = invoke(ex, ["with", "a=1"])
    assert result.exit_code == 2
    assert "No command given and the experiment has no main function" in result.stderr
    assert ex.calls == []


def test_debug_reraises_user_errors():
    ex = StandIn()
    result = invoke(ex, ["-d", "with", "=3"])
    assert isinstance(result.exception, ConfigUpdateSyntaxError)
    assert ex.calls == []


def test_config_error_from_the_experiment_is_one_line():
    ex = StandIn(fail_with=InvalidConfigError("lr and momentum cannot both be 0"))
    result = invoke(ex, ["with", "lr=0"])
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == "Error: lr and momentum cannot both be 0"
    assert "Traceback" not in result.stderr


def test_failure_of_user_code_prints_a_filtered_traceback():
    def user_code():
        raise ValueError("model diverged")

    class Failing(StandIn):
        def run(self, *args, **kwargs):
            super().run(*args, **kwargs)
            user_code()

    ex = Failing()
    result = invoke(ex, [])
    assert result.exit_code == 1
    err = result.stderr
    assert "ValueError: model diverged" in err
    assert "in user_code" in err
    assert "gnomon's frames left out" in err
    assert "cli/script.py" not in err
    assert "click" not in err.replace("click.testing", "")


def test_debug_lets_user_exceptions_through():
    ex = StandIn(fail_with=ValueError("boom"))
    result = invoke(ex, ["-d"])
    assert isinstance(result.exception, ValueError)


def test_system_exit_passes_through_with_its_code():
    ex = StandIn(fail_with=SystemExit(3))
    assert invoke(ex, []).exit_code == 3


def test_filtered_traceback_keeps_everything_when_only_gnomon_frames():
    from gnomon.cli.updates import parse_updates

    try:
        parse_updates(["=3"])
    except ConfigUpdateSyntaxError as error:
        error.__traceback__ = error.__traceback__.tb_next  # drop this test's own frame
        text = format_filtered_traceback(error)
    assert "updates.py" in text
    assert "frames left out" not in text


def test_custom_option_clashing_with_a_builtin_is_refused():
    @cli_option("-F", "--fast", is_flag=True)
    def fast(args, run):
        """Go fast."""

    with pytest.raises(GnomonError, match="-F of fast is already used by --file-storage"):
        build_command(StandIn(options=[fast]))


def test_non_option_in_additional_cli_options_is_refused():
    with pytest.raises(GnomonError, match="not a cli_option"):
        build_command(StandIn(options=[lambda args, run: None]))
