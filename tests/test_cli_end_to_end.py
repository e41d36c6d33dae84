"""Real experiment scripts run as programs: what the user types, sees and gets stored."""

from __future__ import annotations

import json
import subprocess
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    '''
    """Train a tiny model.

    Used by the command-line tests."""
    import sys

    from gnomon import Experiment, cli_option


    @cli_option("-w", "--warn", is_flag=True)
    def warn(args, run):
        """Say that the flag was seen."""
        print("warn flag applied", file=sys.stderr)
        run.info["warned"] = True


    ex = Experiment("demo", additional_cli_options=[warn])


    @ex.config
    def cfg():
        lr = 0.1
        optimizer = "sgd"
        depth = 2
        nested = {"size": 3}


    @ex.named_config
    def big():
        depth = 50


    @ex.command
    def shout(optimizer):
        """Print the optimizer loudly.

        Nothing else."""
        print(optimizer.upper())


    @ex.automain
    def main(lr, optimizer, depth, nested):
        """Train the model."""
        print(f"lr={lr!r} optimizer={optimizer!r} depth={depth!r} size={nested['size']!r}")
        if lr < 0:
            raise ValueError("negative learning rate")
        if lr == 0:
            sys.exit(3)
        return depth
    '''
)


@pytest.fixture
def script(tmp_path):
    path = tmp_path / "exp.py"
    path.write_text(SCRIPT)
    return path


@pytest.fixture
def run_script(script, python, script_env):
    def run(*args, stdin=""):
        return subprocess.run(
            [python, str(script), *args],
            input=stdin,
            cwd=script.parent,
            env=script_env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    return run


def _stored(runs):
    run_dir = runs / "1"
    return (
        json.loads((run_dir / "run.json").read_text()),
        json.loads((run_dir / "config.json").read_text()),
    )


def test_updates_named_config_and_flags_reach_the_stored_run(run_script, script):
    runs = script.parent / "runs"
    result = run_script(
        "with",
        "lr=0.5",
        "optimizer=adam",
        "nested.size=7",
        "big",
        "-F",
        "runs",
        "-c",
        "first try",
        "-w",
    )
    assert result.returncode == 0, result.stderr
    assert "lr=0.5 optimizer='adam' depth=50 size=7" in result.stdout
    assert "warn flag applied" in result.stderr
    run, config = _stored(runs)
    assert run["status"] == "COMPLETED"
    assert run["result"] == 50
    assert config["lr"] == 0.5
    assert config["nested"] == {"size": 7}
    assert run["meta"]["comment"] == "first try"
    assert run["meta"]["options"]["--file_storage"] == "runs"
    assert run["meta"]["options"]["--warn"] is True
    assert run["meta"]["named_configs"] == ["big"]


def test_command_runs(run_script):
    result = run_script("shout", "with", "optimizer=adam")
    assert result.returncode == 0, result.stderr
    assert "ADAM" in result.stdout


@pytest.mark.parametrize(
    ("args", "message", "code"),
    [
        (
            ["with", "message=Ciao", "world!"],
            "Error: Cannot parse config update 'world!': expected path=value (e.g. lr=0.01), "
            "the name of a named config, or a .json/.yaml/.yml/.toml config file. "
            "If 'world!' belongs to the value of 'message', the shell split it at a space; "
            "quote the whole update: 'message=Ciao world!'",
            2,
        ),
        (["with", "=3"], "Error: Cannot parse config update '=3': the key before '=' is empty", 2),
        (["with", "a..b=1"], "the path 'a..b' has an empty part", 2),
        (["with", "a b=1"], "'a b' is not a config key", 2),
        (["with", "bgi"], "Error: Named config not found: 'bgi'. Did you mean 'big'?", 1),
        (["shuot"], "Error: Unknown command 'shuot'. Did you mean 'shout'?", 2),
        (["-b", "abc"], "'abc' is not a number of seconds", 2),
        (["-C", "bogus"], "'bogus' is not a capture mode", 2),
        (["-P", "high"], "'high' is not a number", 2),
        (["-l", "NOPE"], "'NOPE' is not a log level", 2),
    ],
)
def test_malformed_command_lines_start_no_run(run_script, script, args, message, code):
    result = run_script(*args, "-F", "runs")
    assert result.returncode == code, result.stderr
    lines = result.stderr.splitlines()
    assert message in lines[0]
    assert lines[1] == "Usage:"
    assert "Traceback" not in result.stderr
    assert not (script.parent / "runs" / "1").exists()


def test_debug_shows_the_traceback_of_a_user_error(run_script):
    result = run_script("-d", "with", "=3")
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert "ConfigUpdateSyntaxError" in result.stderr


def test_failing_main_is_recorded_and_its_traceback_filtered(run_script, script):
    result = run_script("with", "lr=-1", "-F", "runs")
    assert result.returncode == 1
    err = result.stderr
    assert "ValueError: negative learning rate" in err
    assert "gnomon's frames left out" in err
    assert 'exp.py", line' in err
    assert "/framework/" not in err
    assert "/click/" not in err
    run, _ = _stored(script.parent / "runs")
    assert run["status"] == "FAILED"


def test_debug_keeps_gnomon_frames_in_the_traceback(run_script):
    result = run_script("-d", "with", "lr=-1")
    assert result.returncode == 1
    assert "ValueError: negative learning rate" in result.stderr
    assert "frames left out" not in result.stderr


def test_pdb_opens_the_debugger_where_main_failed(run_script):
    result = run_script("-D", "with", "lr=-1", stdin="p lr\nq\n")
    assert result.returncode == 1
    assert "(Pdb)" in result.stdout
    assert "-> raise ValueError" in result.stdout
    assert "-1" in result.stdout.split("(Pdb)")[1]
    assert "ValueError: negative learning rate" in result.stderr


def test_system_exit_code_passes_through(run_script, script):
    result = run_script("with", "lr=0", "-F", "runs")
    assert result.returncode == 3
    run, _ = _stored(script.parent / "runs")
    assert run["status"] == "FAILED"


def test_unobserved_stores_nothing(run_script, script):
    result = run_script("-u", "-F", "runs")
    assert result.returncode == 0, result.stderr
    assert not (script.parent / "runs" / "1").exists()


def test_help(run_script):
    result = run_script("--help")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("Train a tiny model.")
    assert "exp.py [COMMAND] [with UPDATE...] [options]" in out
    assert "Print the optimizer loudly." in out
    assert "Nothing else." not in out
    assert "(default) Train the model." in out
    assert "print_config" in out
    assert "-w, --warn" in out
    assert "-F, --file-storage DIR" in out


def test_help_command(run_script):
    result = run_script("help", "shout")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("shout(optimizer)")
    assert "Print the optimizer loudly." in result.stdout
    assert "Nothing else." in result.stdout


def test_builtin_print_config(run_script):
    result = run_script("print_config", "with", "lr=0.25")
    assert result.returncode == 0, result.stderr
    assert "0.25" in result.stdout
    assert "optimizer" in result.stdout


def test_enforce_clean_outside_git_fails_before_the_run(run_script, script):
    result = run_script("-e", "-F", "runs")
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (
        "Error: --enforce-clean: no git repository found for the experiment's sources. "
        "Keep them in a git repository, or run without -e/--enforce-clean."
    )
    assert not (script.parent / "runs" / "1").exists()


def test_unknown_observer_url_is_one_line(run_script):
    result = run_script("-O", "nosuch://x")
    assert result.returncode == 1
    assert "Error: no observer is registered for the URL scheme 'nosuch'" in result.stderr
    assert "Traceback" not in result.stderr


def test_mongo_flag_without_the_driver_names_the_extra(run_script):
    try:
        import pymongo  # noqa: F401
    except ImportError:
        result = run_script("-m", "my_runs")
        assert result.returncode == 1
        assert "gnomon[mongo]" in result.stderr
        assert "mongodb://localhost:27017/my_runs" in result.stderr
    else:  # pragma: no cover - depends on the installed extras
        pytest.skip("pymongo is installed: building the observer would need a server")
