"""Command-line options of experiment scripts and their effect on a run.

Options travel as Sacred-style dicts keyed by long flags (``{"--unobserved": True,
"--file_storage": "runs"}``), the form ``ex.run(options=...)`` takes and
``meta_info["options"]`` stores. :func:`normalize_options` accepts kebab-case and
underscore spellings, checks every value and fills defaults, so a bad value fails
before a run exists; :func:`apply_options` then applies the options to a built
:class:`~gnomon.run.Run`. Experiments add their own flags with :func:`cli_option`
(Sacred's decorator)::

    @cli_option("-w", "--warn", is_flag=True)
    def warn(args, run):
        '''Print a warning when the run starts.'''
        run.info["warned"] = True

    ex = Experiment("demo", additional_cli_options=[warn])
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from gnomon.cli import values
from gnomon.cli.observer_options import observers_from_options
from gnomon.cli.values import CAPTURE_MODES, did_you_mean, mongo_option_to_url
from gnomon.commandline_options import CLIOption, cli_option, option_of, options_defined_with
from gnomon.errors import ConfigError, GnomonError

if TYPE_CHECKING:
    from gnomon.run import Run

__all__ = [
    "BUILTIN_OPTIONS",
    "CAPTURE_MODES",
    "CLI_ONLY_KEYS",
    "CLIOption",
    "apply_options",
    "cli_option",
    "custom_options",
    "mongo_option_to_url",
    "normalize_options",
    "observers_from_options",
]

#: Keys Sacred's command line stores in ``meta_info["options"]`` besides the flags.
CLI_ONLY_KEYS = ("COMMAND", "UPDATE", "help", "with")


def _builtin(
    short: str,
    long: str,
    help_text: str,
    *,
    key: str | None = None,
    metavar: str | None = None,
    convert: Callable[[Any], Any] | None = None,
    multiple: bool = False,
    repeatable: bool = False,
) -> CLIOption:
    aliases = (key,) if key and key != long else ()
    return CLIOption(
        None,
        short,
        long,
        is_flag=metavar is None,
        aliases=aliases,
        metavar=metavar,
        help_text=help_text,
        convert=convert,
        multiple=multiple,
        key=key,
        repeatable=repeatable,
    )


#: The built-in flags, in the order ``--help`` lists them.
BUILTIN_OPTIONS: tuple[CLIOption, ...] = (
    _builtin(
        "-F",
        "--file-storage",
        "Add a FileStorageObserver writing runs under DIR; repeatable.",
        key="--file_storage",
        metavar="DIR",
        convert=values.text,
        repeatable=True,
    ),
    _builtin(
        "-m",
        "--mongo-db",
        "Add a MongoObserver: [host:port:]db_name[.prefix][!priority] or a mongodb:// URL; "
        "repeatable.",
        key="--mongo_db",
        metavar="DB",
        convert=values.mongo_database,
        repeatable=True,
    ),
    _builtin(
        "-s",
        "--sql",
        "Add an SqlObserver for the database URL (e.g. sqlite:///runs.db); repeatable.",
        metavar="URL",
        convert=values.sql_url,
        repeatable=True,
    ),
    _builtin(
        "-O",
        "--observer",
        "Add the observer for URL (file://, mongodb://, sqlite://, ...); repeatable.",
        metavar="URL",
        convert=values.text,
        multiple=True,
    ),
    _builtin(
        "-c", "--comment", "Store a comment with the run.", metavar="TEXT", convert=values.text
    ),
    _builtin(
        "-n",
        "--name",
        "Record the run under this experiment name.",
        metavar="NAME",
        convert=values.text,
    ),
    _builtin("-i", "--id", "Use ID as the run's id.", metavar="ID", convert=values.run_id),
    _builtin("-p", "--print-config", "Print the config before running."),
    _builtin("-u", "--unobserved", "Run without any observer: nothing is recorded."),
    _builtin("-q", "--queue", "Only record the run as QUEUED; do not run it."),
    _builtin(
        "-P",
        "--priority",
        "Priority of a queued run (higher runs first).",
        metavar="NUMBER",
        convert=values.priority,
    ),
    _builtin(
        "-l",
        "--loglevel",
        "Root logger level: a number or DEBUG, INFO, WARNING, ERROR, CRITICAL.",
        metavar="LEVEL",
        convert=values.log_level,
    ),
    _builtin(
        "-d", "--debug", "Show full tracebacks, gnomon's frames included, and re-raise errors."
    ),
    _builtin("-D", "--pdb", "Start the Python debugger (post-mortem) when the run fails."),
    _builtin(
        "-C",
        "--capture",
        "How to capture output: no, sys, fd or tee.",
        metavar="MODE",
        convert=values.capture_mode,
    ),
    _builtin(
        "-b",
        "--beat-interval",
        "Seconds between heartbeats; 0 turns periodic heartbeats off.",
        metavar="SECONDS",
        convert=values.seconds,
    ),
    _builtin(
        "-e",
        "--enforce-clean",
        "Refuse to run unless the sources are committed to git.",
        key="--enforce_clean",
    ),
    _builtin("-f", "--force", "Allow config updates that add unused keys or change types."),
    _builtin("-h", "--help", "Show this message and exit."),
)


def _canonical(key: str) -> str:
    return key.lstrip("-").replace("_", "-")


def custom_options(experiment: Any) -> list[CLIOption]:
    """The experiment's own flags, in the order ``--help`` lists them.

    Those in ``additional_cli_options`` (``@cli_option`` functions or Sacred's
    ``CommandLineOption`` subclasses), then the ``CommandLineOption`` subclasses
    defined in the experiment's own file (see :mod:`gnomon.commandline_options`).
    """
    listed = [option_of(o) for o in getattr(experiment, "additional_cli_options", None) or ()]
    return [*listed, *(o for o in options_defined_with(experiment) if o not in listed)]


def _all_options(experiment: Any) -> list[CLIOption]:
    return [*BUILTIN_OPTIONS, *custom_options(experiment)]


def normalize_options(options: Mapping[str, Any] | None, experiment: Any = None) -> dict[str, Any]:
    """Return a complete, checked options dict keyed by Sacred's long flags.

    Accepts ``--file-storage``, ``--file_storage`` or ``file_storage`` alike (and the
    short flag), converts values (``--beat-interval`` and ``--priority`` to float,
    ``--observer`` to a list) and fills every flag not given with its default. Raises
    ConfigError naming an unknown flag (with did-you-mean) or a bad value.
    """
    known = _all_options(experiment)
    by_spelling: dict[str, CLIOption] = {}
    for option in known:
        for spelling in (option.long_flag, *option.aliases, option.options_key):
            by_spelling.setdefault(_canonical(spelling), option)
        if option.short_flag:
            by_spelling.setdefault(option.short_flag, option)
    result: dict[str, Any] = {option.options_key: option.default() for option in known}
    for key, value in (options or {}).items():
        if key in CLI_ONLY_KEYS:
            result[key] = value
            continue
        spelling = key if re.fullmatch(r"-[A-Za-z0-9]", key) else _canonical(key)
        found = by_spelling.get(spelling)
        if found is None:
            names = sorted(o.options_key for o in known)
            raise ConfigError(
                f"Unknown option {key!r}.{did_you_mean(key, names)} "
                f"Known options: {', '.join(names)}",
                print_usage=True,
            )
        try:
            result[found.options_key] = found.normalize(value)
        except ValueError as error:
            raise ConfigError(
                f"Invalid value for {found.long_flag}: {error}", print_usage=True
            ) from None
    return result


def _enforce_clean(run: Run) -> None:
    repositories = (run.experiment_info or {}).get("repositories") or []
    if not repositories:
        raise GnomonError(
            "--enforce-clean: no git repository found for the experiment's sources. "
            "Keep them in a git repository, or run without -e/--enforce-clean."
        )
    for repository in repositories:
        if repository.get("dirty"):
            where = repository.get("path") or repository.get("url") or "?"
            commit = str(repository.get("commit") or "")[:12]
            at = f" (at commit {commit})" if commit else ""
            raise GnomonError(
                f"--enforce-clean: the git repository {where}{at} has uncommitted changes. "
                "Commit them, or run without -e/--enforce-clean."
            )


def apply_options(run: Run, options: Mapping[str, Any], experiment: Any = None) -> None:
    """Apply every option's effect to a run that is built but not started.

    Sets id, name, comment, priority, heartbeat interval, capture mode, log level,
    debug/pdb/force/queue switches; checks ``--enforce_clean``; drops all observers
    for ``--unobserved`` or appends those of ``-F/-m/-s/-O``; then calls each custom
    flag's function ``(value, run)`` for the flags that were given.
    """
    options = normalize_options(options, experiment)
    if options["--id"] is not None:
        run._id = options["--id"]
    if options["--name"] is not None:
        name = options["--name"]
        run.experiment_info["name"] = name
        if run.root_logger is not None:
            run.run_logger = run.root_logger.getChild(name)
    if options["--comment"] is not None:
        run.meta_info["comment"] = options["--comment"]
    if options["--priority"] is not None:
        run.meta_info["priority"] = options["--priority"]
    if options["--beat-interval"] is not None:
        run.beat_interval = options["--beat-interval"]
    if options["--capture"] is not None:
        run.capture_mode = options["--capture"]
    if options["--loglevel"] is not None:
        run.root_logger.setLevel(options["--loglevel"])
    if options["--debug"]:
        run.debug = True
    if options["--pdb"]:
        run.pdb = True
    if options["--force"]:
        run.force = True
    if options["--queue"]:
        run.queue_only = True
    if options["--enforce_clean"]:
        _enforce_clean(run)
    if options["--unobserved"]:
        run.unobserved = True
        run.observers = []
    else:
        run.observers = [*run.observers, *observers_from_options(options)]
    for option in custom_options(experiment):
        value = options.get(option.options_key)
        if value is not None and value is not False and value != []:
            option.apply(value, run)
