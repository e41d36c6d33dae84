"""Options dicts: spellings, checked values, defaults, -m translation, and their effect on a Run."""

from __future__ import annotations

import logging

import pytest

from gnomon.cli.options import (
    BUILTIN_OPTIONS,
    CLIOption,
    apply_options,
    cli_option,
    mongo_option_to_url,
    normalize_options,
)
from gnomon.errors import ConfigError, GnomonError, UnknownObserverError
from gnomon.run import Run

SACRED_KEYS = {
    "--beat-interval",
    "--capture",
    "--comment",
    "--debug",
    "--pdb",
    "--enforce_clean",
    "--file_storage",
    "--force",
    "--help",
    "--id",
    "--loglevel",
    "--mongo_db",
    "--name",
    "--print-config",
    "--priority",
    "--queue",
    "--sql",
    "--unobserved",
    "--observer",
}


class _Experiment:
    """The only thing options read from an experiment: its custom flags."""

    def __init__(self, *options: CLIOption) -> None:
        self.additional_cli_options = list(options)


def _run() -> Run:
    return Run(config={"a": 1}, main_function=lambda: None, command="main")


# ------------------------------------------------------------- normalize --


def test_defaults_use_sacreds_keys():
    options = normalize_options(None, None)
    assert set(options) == SACRED_KEYS
    assert options["--observer"] == []
    assert options["--unobserved"] is False
    assert options["--file_storage"] is None


@pytest.mark.parametrize(
    "spelling", ["--file_storage", "--file-storage", "file_storage", "file-storage", "-F"]
)
def test_every_spelling_reaches_the_sacred_key(spelling):
    assert normalize_options({spelling: "runs"}, None)["--file_storage"] == "runs"


def test_values_are_converted():
    options = normalize_options(
        {
            "--beat-interval": "2.5",
            "--priority": "3",
            "--loglevel": "debug",
            "--observer": "file:///x",
            "--id": 7,
            "--enforce-clean": 1,
        },
        None,
    )
    assert options["--beat-interval"] == 2.5
    assert options["--priority"] == 3.0
    assert options["--loglevel"] == "DEBUG"
    assert options["--observer"] == ["file:///x"]
    assert options["--id"] == "7"
    assert options["--enforce_clean"] is True
    assert normalize_options({"--loglevel": "10"}, None)["--loglevel"] == 10


def test_normalizing_twice_changes_nothing():
    once = normalize_options(
        {"-b": "3", "-O": ["a", "b"], "COMMAND": "main", "UPDATE": ["a=1"]}, None
    )
    assert normalize_options(once, None) == once
    assert once["COMMAND"] == "main"
    assert once["UPDATE"] == ["a=1"]


def test_unknown_option_suggests_the_closest():
    with pytest.raises(
        ConfigError, match=r"Unknown option '--unobservd'\. Did you mean '--unobserved'\?"
    ):
        normalize_options({"--unobservd": True}, None)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("--beat-interval", "abc", "'abc' is not a number of seconds"),
        ("--capture", "bogus", "'bogus' is not a capture mode; choose one of no, sys, fd, tee"),
        ("--capture", "fdd", "Did you mean 'fd'"),
        ("--priority", "high", "'high' is not a number"),
        ("--loglevel", "NOPE", "'NOPE' is not a log level"),
        ("--loglevel", "DEBGU", "Did you mean 'DEBUG'"),
        ("--mongo_db", "two words", "is not a MongoDB database"),
    ],
)
def test_bad_values_are_config_errors(key, value, message):
    with pytest.raises(ConfigError, match=message):
        normalize_options({key: value}, None)


def test_custom_options_are_known_with_defaults():
    @cli_option("-w", "--warn", is_flag=True)
    def warn(args, run):
        """Warn."""

    @cli_option("-x", "--extra")
    def extra(args, run):
        """Extra value."""

    options = normalize_options({"--warn": 1}, _Experiment(warn, extra))
    assert options["--warn"] is True
    assert options["--extra"] is None


# --------------------------------------------------------------- cli_option --


def test_cli_option_keeps_sacreds_api():
    @cli_option("-w", "--warn-me", is_flag=True)
    def warn_me(args, run):
        """Print a warning.

        More text."""

    assert isinstance(warn_me, CLIOption)
    assert warn_me.get_flags() == ("-w", "--warn-me")
    assert warn_me.get_flag() == "--warn-me"
    assert warn_me.get_short_flag() == "-w"
    assert warn_me.get_name() == "warn_me"
    assert warn_me.get_description() == "Print a warning."
    assert warn_me.is_flag
    assert warn_me.arg is None
    seen = []
    cli_option("-v", "--value")(lambda args, run: seen.append(args))("x", None)
    assert seen == ["x"]


@pytest.mark.parametrize(
    ("short", "long"), [("w", "--warn"), ("-ww", "--warn"), ("-w", "-warn"), ("-w", "warn")]
)
def test_cli_option_rejects_bad_flags(short, long):
    with pytest.raises(ValueError, match="flag"):
        cli_option(short, long)(lambda args, run: None)


def test_builtin_options_cover_sacreds_keys_and_short_flags():
    assert {o.options_key for o in BUILTIN_OPTIONS} == SACRED_KEYS
    shorts = {o.short_flag for o in BUILTIN_OPTIONS}
    assert shorts == {f"-{letter}" for letter in "FmsOcnipuqPldDCbefh"}


# -------------------------------------------------------------- mongo URL --


@pytest.mark.parametrize(
    ("text", "url"),
    [
        ("my_runs", "mongodb://localhost:27017/my_runs"),
        ("db.example.org:27018:my_runs", "mongodb://db.example.org:27018/my_runs"),
        ("localhost:27017", "mongodb://localhost:27017/sacred"),
        ("my_runs.exp1", "mongodb://localhost:27017/my_runs?collection_prefix=exp1"),
        (
            "my_runs.exp1:42",
            "mongodb://localhost:27017/my_runs?collection_prefix=exp1&overwrite=42",
        ),
        ("my_runs!10", "mongodb://localhost:27017/my_runs?priority=10"),
        ("h:1:db.p!-2", "mongodb://h:1/db?collection_prefix=p&priority=-2"),
        ("we#ird", "mongodb://localhost:27017/we%23ird"),
        ("mongodb://u@h:1/db?tls=true", "mongodb://u@h:1/db?tls=true"),
        ("mongodb+srv://cluster.example.org/db", "mongodb+srv://cluster.example.org/db"),
    ],
)
def test_mongo_option_to_url(text, url):
    assert mongo_option_to_url(text) == url


@pytest.mark.parametrize("text", ["", "two words", "1db", "host:port:db", "db!high", "db.a.b"])
def test_mongo_option_rejects_other_text(text):
    with pytest.raises(ValueError, match=r"\[host:port:\]db_name"):
        mongo_option_to_url(text)


# ---------------------------------------------------------------- apply --


def test_apply_sets_run_attributes():
    run = _run()
    before = run.beat_interval
    apply_options(
        run,
        {
            "-b": "0",
            "-C": "no",
            "-c": "a note",
            "-P": "5",
            "-i": "run-1",
            "-q": True,
            "-d": True,
            "-D": True,
            "-f": True,
        },
        None,
    )
    assert before != 0
    assert run.beat_interval == 0.0
    assert run.capture_mode == "no"
    assert run.meta_info["comment"] == "a note"
    assert run.meta_info["priority"] == 5.0
    assert run._id == "run-1"
    assert (run.queue_only, run.debug, run.pdb, run.force) == (True, True, True, True)


def test_apply_nothing_changes_nothing():
    run = _run()
    apply_options(run, {}, None)
    assert run._id is None
    assert run.capture_mode is None
    assert "comment" not in run.meta_info
    assert run.observers == []
    assert not any((run.queue_only, run.debug, run.pdb, run.force, run.unobserved))


def test_apply_name_renames_experiment_and_logger():
    run = _run()
    run.experiment_info["name"] = "orig"
    apply_options(run, {"--name": "renamed"}, None)
    assert run.experiment_info["name"] == "renamed"
    assert run.run_logger.name.endswith(".renamed")


def test_apply_loglevel_sets_the_root_logger():
    run = _run()
    run.root_logger = logging.getLogger("gnomon.test.loglevel")
    apply_options(run, {"--loglevel": "ERROR"}, None)
    assert run.root_logger.level == logging.ERROR
    apply_options(run, {"--loglevel": "10"}, None)
    assert run.root_logger.level == logging.DEBUG


def test_file_storage_and_observer_urls_add_observers(tmp_path):
    from gnomon.observers.file.observer import FileStorageObserver

    run = _run()
    apply_options(run, {"-F": str(tmp_path / "a"), "-O": [f"file://{tmp_path / 'b'}"]}, None)
    assert len(run.observers) == 2
    assert all(isinstance(o, FileStorageObserver) for o in run.observers)


def test_observers_keep_the_ones_given_in_code(tmp_path):
    from gnomon.testing import RecordingObserver

    mine = RecordingObserver()
    shared = [mine]
    run = Run(config={}, main_function=lambda: None, observers=shared)
    apply_options(run, {"-F": str(tmp_path)}, None)
    assert run.observers[0] is mine
    assert len(run.observers) == 2
    assert shared == [mine]


def test_unobserved_drops_every_observer_and_builds_none(tmp_path):
    from gnomon.testing import RecordingObserver

    run = Run(config={}, main_function=lambda: None, observers=[RecordingObserver()])
    apply_options(run, {"-u": True, "-F": str(tmp_path / "never")}, None)
    assert run.unobserved
    assert run.observers == []
    assert not (tmp_path / "never").exists()


def test_unknown_observer_scheme_is_reported():
    with pytest.raises(UnknownObserverError):
        apply_options(_run(), {"-O": ["nosuchscheme://x"]}, None)


def test_mongo_option_goes_through_the_registry():
    try:
        import pymongo  # noqa: F401
    except ImportError:
        with pytest.raises(Exception, match=r"gnomon\[mongo\]"):
            apply_options(_run(), {"-m": "my_runs"}, None)
    else:  # pragma: no cover - depends on the installed extras
        pytest.skip("pymongo installed: building the observer needs a server")


def test_enforce_clean_without_repository():
    run = _run()
    run.experiment_info["repositories"] = []
    with pytest.raises(GnomonError, match="no git repository found"):
        apply_options(run, {"-e": True}, None)


def test_enforce_clean_with_dirty_repository():
    run = _run()
    run.experiment_info["repositories"] = [
        {"url": "/src/clean", "commit": "a" * 40, "dirty": False},
        {"url": "/src/project", "commit": "b" * 40, "dirty": True},
    ]
    with pytest.raises(
        GnomonError, match=r"/src/project \(at commit bbbbbbbbbbbb\) has uncommitted changes"
    ):
        apply_options(run, {"--enforce_clean": True}, None)


def test_enforce_clean_passes_on_clean_repositories():
    run = _run()
    run.experiment_info["repositories"] = [
        {"url": "/src/clean", "commit": "a" * 40, "dirty": False}
    ]
    apply_options(run, {"--enforce-clean": True}, None)


def test_custom_options_are_called_only_when_given():
    calls = []

    @cli_option("-w", "--warn", is_flag=True)
    def warn(args, run):
        """Warn."""
        calls.append(("warn", args, run))

    @cli_option("-x", "--extra")
    def extra(args, run):
        """Extra value."""
        run.info["extra"] = args
        calls.append(("extra", args, run))

    experiment = _Experiment(warn, extra)
    run = _run()
    apply_options(run, {}, experiment)
    assert calls == []
    apply_options(run, {"--extra": "value"}, experiment)
    assert calls == [("extra", "value", run)]
    assert run.info["extra"] == "value"
    apply_options(run, {"-w": True}, experiment)
    assert calls[-1] == ("warn", True, run)
