"""The command line of experiment scripts: ``python exp.py [COMMAND] [with UPDATE...] [options]``.

:func:`run_commandline` reads Sacred's grammar with click, runs the command through
``experiment.run`` and returns the :class:`~gnomon.run.Run`. User mistakes (a bad
flag value, ``with lr=0.1.2``, an unknown command or named config) print one line
and the usage and exit with status 2 (1 for config errors found later), before any
run starts; ``-d/--debug`` re-raises them with the full traceback instead. An
exception from the experiment's own code is recorded by the run as FAILED, printed
with gnomon's frames left out, and exits with status 1.

:func:`build_command` returns the click command itself, so tests can drive it with
``click.testing.CliRunner``; its ``main`` never calls ``sys.exit`` on success.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NoReturn

import click

from gnomon.cli.options import BUILTIN_OPTIONS, CLIOption, custom_options, normalize_options
from gnomon.cli.updates import is_config_file_name, parse_updates
from gnomon.errors import (
    CommandNotFoundError,
    ConfigError,
    ConfigUpdateSyntaxError,
    GnomonError,
    NamedConfigNotFoundError,
)
from gnomon.spelling import did_you_mean

if TYPE_CHECKING:
    from gnomon.run import Run

__all__ = ["ExperimentCommand", "build_command", "format_filtered_traceback", "run_commandline"]

# Errors in how the command line is written: exit status 2, like click's usage errors.
_USAGE_ERRORS = (ConfigUpdateSyntaxError, CommandNotFoundError)


class _ValueType(click.ParamType):  # type: ignore[type-arg]  # generic from click 8.3 on
    """A click type that checks values with the option's own converter (one set of messages)."""

    def __init__(self, option: CLIOption) -> None:
        self.option = option
        self.name = (option.metavar or "value").lower()

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if self.option.convert is None:
            return value
        try:
            return self.option.convert(value)
        except ValueError as error:
            self.fail(str(error), param, ctx)


class _Option(click.Option):
    """A click option whose error messages name only its short and primary long flag."""

    def __init__(self, option: CLIOption, param_name: str) -> None:
        decls = [d for d in (option.short_flag, option.long_flag, *option.aliases) if d]
        kwargs: dict[str, Any] = {"help": option.description}
        if option.is_flag:
            kwargs.update(is_flag=True, default=False)
        else:
            kwargs.update(
                type=_ValueType(option),
                default=None,
                multiple=option.multiple or option.repeatable,
                metavar=option.arg,
            )
        super().__init__([*decls, param_name], **kwargs)
        self.cli_option = option

    def get_error_hint(self, ctx: click.Context | None) -> str:
        names = [n for n in (self.cli_option.short_flag, self.cli_option.long_flag) if n]
        return " / ".join(f"'{n}'" for n in names)


def _check_custom_options(custom: Sequence[CLIOption]) -> None:
    taken = {}
    for option in BUILTIN_OPTIONS:
        for flag in (option.short_flag, option.long_flag, *option.aliases):
            if flag:
                taken[flag] = option.long_flag
    for option in custom:
        if not isinstance(option, CLIOption):
            raise GnomonError(
                f"additional_cli_options holds {option!r}, which is not a cli_option; "
                "decorate the function with @cli_option(short, long)."
            )
        for flag in (option.short_flag, option.long_flag):
            if flag and flag in taken:
                raise GnomonError(
                    f"The option {flag} of {option.get_name()} is already used by {taken[flag]}; "
                    "choose another flag in @cli_option."
                )
            if flag:
                taken[flag] = option.long_flag


class ExperimentCommand(click.Command):
    """The click command of one experiment script (see the module docstring)."""

    def __init__(self, experiment: Any, prog: str) -> None:
        self.experiment = experiment
        self.prog = prog
        custom = custom_options(experiment)
        _check_custom_options(custom)
        self.flag_options = [*BUILTIN_OPTIONS, *custom]
        params: list[click.Parameter] = [
            _Option(option, f"option_{index}") for index, option in enumerate(self.flag_options)
        ]
        params.append(click.Argument(["arguments"], nargs=-1))
        super().__init__(prog, params=params, callback=None, add_help_option=False)
        self.debug = False
        self.pdb = False

    # -- text ---------------------------------------------------------------
    def commands(self) -> list[tuple[str, Any]]:
        """Return the experiment's commands as (dotted name, function)."""
        gather = getattr(self.experiment, "gather_commands", None)
        return list(gather()) if gather else []

    def help_text(self) -> str:
        """Return the ``--help`` text."""
        from gnomon.cli.usage import format_help

        return format_help(
            self.prog,
            getattr(self.experiment, "doc", None),
            self.commands(),
            getattr(self.experiment, "default_command", None),
            self.flag_options[len(BUILTIN_OPTIONS) :],
        )

    def usage_text(self) -> str:
        """Return the usage block printed after a user error."""
        from gnomon.cli.usage import format_usage

        return format_usage(self.prog) + f"Run '{self.prog} -h' for the commands and options.\n"

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Write the experiment's help (click's ``--help`` machinery calls this)."""
        formatter.write(self.help_text())

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Write the usage grammar."""
        from gnomon.cli.usage import format_usage

        formatter.write(format_usage(self.prog))

    # -- running ------------------------------------------------------------
    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Parse ``args`` and run; return the Run (or None); exit only on errors and ``--help``."""
        arguments = list(sys.argv[1:] if args is None else args)
        if prog_name:
            self.prog = prog_name
        try:
            with self.make_context(self.prog, arguments, **extra) as ctx:
                return self.invoke(ctx)
        except click.exceptions.Exit as stop:
            raise SystemExit(stop.exit_code) from None
        except click.Abort:
            click.echo("Aborted!", err=True)
            raise SystemExit(1) from None
        except click.NoSuchOption as error:
            if self.debug:
                raise
            from gnomon.sacred_gaps import MISSING_FLAGS, missing_flag_message

            if error.option_name in MISSING_FLAGS:  # Sacred's flag for an observer gnomon does not have
                self._fail(missing_flag_message(error.option_name), usage=False, code=2)
            self._fail(error.format_message(), usage=True, code=2)
        except click.ClickException as error:
            if self.debug:
                raise
            self._fail(error.format_message(), usage=True, code=2)
        except GnomonError as error:
            if self.debug:
                raise
            if not error.print_traceback:
                usage_error = isinstance(error, _USAGE_ERRORS)
                self._fail(
                    str(error), usage=usage_error or error.print_usage, code=2 if usage_error else 1
                )
            self._report_failure(error)
        except Exception as error:
            if self.debug:
                raise
            self._report_failure(error)
        except KeyboardInterrupt as error:
            # The run already recorded INTERRUPTED (or the interrupt's own status).
            if self.debug:
                raise
            from gnomon.run import Terminated

            status = getattr(error, "STATUS", "INTERRUPTED")
            if isinstance(error, Terminated):
                click.echo(f"Terminated by SIGTERM; the run was recorded as {status}.", err=True)
                raise SystemExit(128 + 15) from None
            click.echo(f"Interrupted; the run was recorded as {status}.", err=True)
            raise SystemExit(128 + 2) from None

    def _fail(self, message: str, *, usage: bool, code: int) -> NoReturn:
        click.echo(f"Error: {message}", err=True)
        if usage:
            click.echo(self.usage_text(), err=True, nl=False)
        raise SystemExit(code)

    def _report_failure(self, error: BaseException) -> NoReturn:
        sys.stderr.write(format_filtered_traceback(error))
        if self.pdb:
            import pdb

            pdb.post_mortem(error.__traceback__)
        raise SystemExit(1)

    def invoke(self, ctx: click.Context) -> Any:
        """Interpret the parsed command line and run the command through ``experiment.run``."""
        params = dict(ctx.params)
        positionals = list(params.pop("arguments"))
        options: dict[str, Any] = {
            option.options_key: params[f"option_{index}"]
            for index, option in enumerate(self.flag_options)
        }
        self.debug = bool(options["--debug"])
        self.pdb = bool(options["--pdb"])
        if options["--help"]:
            click.echo(self.help_text(), nl=False)
            raise SystemExit(0)
        command, updates, with_given = self._split_positionals(positionals)
        if command == "help":
            return self._help_command(updates)
        config_updates, named_configs = parse_updates(updates)
        self._check_named_configs(named_configs)
        options.update(
            {"COMMAND": command, "UPDATE": list(updates), "help": False, "with": with_given}
        )
        try:
            options = normalize_options(options, self.experiment)
        except ConfigError as error:
            raise click.UsageError(str(error)) from None
        command_name = command or getattr(self.experiment, "default_command", None)
        if command_name is None:
            names = ", ".join(name for name, _ in self.commands()) or "none"
            raise CommandNotFoundError(
                "No command given and the experiment has no main function. "
                f"Name a command ({names}) or define one with @ex.main / @ex.automain.",
                print_usage=True,
            )
        run: Run | None = self.experiment.run(
            command_name,
            config_updates=config_updates,
            named_configs=named_configs,
            options=options,
        )
        return run

    def _split_positionals(self, positionals: list[str]) -> tuple[str | None, list[str], bool]:
        """Split ``[COMMAND] [with UPDATE...]`` into command, updates and whether 'with' came."""
        command: str | None = None
        if positionals and positionals[0] != "with":
            first = positionals.pop(0)
            if first == "help":
                if len(positionals) > 1:
                    raise click.UsageError(
                        f"'help' takes one command name, got {' '.join(positionals)!r}."
                    )
                return "help", positionals, False
            if "=" in first:
                raise click.UsageError(
                    f"Unexpected {first!r}: config updates go after 'with', "
                    f"e.g. {self.prog} with {first}"
                )
            command = self._resolve_command(first)
        if not positionals:
            return command, [], False
        if positionals[0] != "with":
            where = f"after the command {command!r}" if command else "here"
            raise click.UsageError(
                f"Unexpected argument {positionals[0]!r} {where}: config updates go after 'with', "
                f"e.g. {self.prog} {command + ' ' if command else ''}with {positionals[0]}"
            )
        updates = positionals[1:]
        if "with" in updates:
            raise click.UsageError(
                "'with' is given twice; list every update after a single 'with'."
            )
        return command, updates, True

    def _resolve_command(self, name: str) -> str:
        names = [command for command, _ in self.commands()]
        if name in names:
            return name
        hint = did_you_mean(name, [*names, "with", "help"])
        raise CommandNotFoundError(
            f"Unknown command {name!r}.{hint} Commands: {', '.join(names) or 'none'}",
            print_usage=True,
        )

    def _help_command(self, names: list[str]) -> None:
        if not names:
            click.echo(self.help_text(), nl=False)
            return None
        name = self._resolve_command(names[0])
        function = dict(self.commands())[name]
        from gnomon.cli.usage import command_help

        click.echo(command_help(name, function), nl=False)
        return None

    def _check_named_configs(self, named_configs: list[str]) -> None:
        gather = getattr(self.experiment, "gather_named_configs", None)
        if gather is None:
            return
        available = [name for name, _ in gather()]
        for name in named_configs:
            if name in available or os.path.isfile(name):
                continue
            if is_config_file_name(name):
                raise NamedConfigNotFoundError(
                    name,
                    available,
                    message=f"Config file not found: {name!r} (looked in {os.getcwd()}).",
                )
            listing = ", ".join(available) if available else "the experiment has none"
            if name in _config_keys(self.experiment):
                raise NamedConfigNotFoundError(
                    name,
                    available,
                    message=f"{name!r} is a config entry, not a named config: to set it, "
                    f"write {name}=VALUE (e.g. with {name}=0.1). Named configs: {listing}.",
                )
            hint = did_you_mean(name, available)
            raise NamedConfigNotFoundError(
                name,
                available,
                message=f"Named config not found: {name!r}.{hint} Named configs: {listing}.",
            )


def _config_keys(experiment: Any) -> set[str]:
    """Dotted paths of the config entries the experiment's scopes and dicts define.

    Read from the scopes' source without running them, so it is cheap and has no
    side effects; used only to explain an error.
    """
    from gnomon.config.dicts import ConfigDict, flatten_paths, join_path
    from gnomon.config.resolve import config_path, ingredient_order
    from gnomon.config.scope import ConfigScope

    keys: set[str] = set()
    try:
        order = ingredient_order(experiment)
    except Exception:  # noqa: BLE001 - a broken ingredient graph is reported by the run itself
        return keys
    for ingredient in order:
        path = config_path(ingredient, experiment)
        for configuration in getattr(ingredient, "configurations", ()):
            if isinstance(configuration, ConfigScope):
                names = configuration.keys
            elif isinstance(configuration, ConfigDict):
                names = {p for p, _ in flatten_paths(configuration.values)}
                names |= {p.rsplit(".", 1)[0] for p in names if "." in p}
            else:
                continue
            keys.update(join_path(path, name) for name in names)
    return keys


def build_command(experiment: Any, prog: str = "experiment") -> ExperimentCommand:
    """Build the click command for ``experiment`` (drive it with ``click.testing.CliRunner``)."""
    return ExperimentCommand(experiment, prog)


def run_commandline(experiment: Any, argv: Sequence[str] | str | None = None) -> Run | None:
    """Run ``experiment`` as its command line asks and return the Run.

    ``argv`` defaults to ``sys.argv``; a string is split like a shell would; the first
    element is the program name, as in Sacred. Returns None for ``help``; exits with
    status 0 after ``--help``, 2 after a usage error, 1 after a config error or a
    failing run.
    """
    if argv is None:
        argv = sys.argv
    elif isinstance(argv, str):
        import shlex  # only for a command line given as one string

        argv = shlex.split(argv)
    argv = list(argv)
    prog = os.path.basename(argv[0]) if argv and argv[0] else "experiment"
    command = build_command(experiment, prog)
    result: Run | None = command.main(argv[1:], prog_name=prog)
    return result


def format_filtered_traceback(error: BaseException) -> str:
    """Format ``error``'s traceback without gnomon's and click's frames.

    When every frame is internal (a bug in gnomon itself), all of them are kept.
    """
    from gnomon.tracebacks import filtered_traceback

    text, filtered = filtered_traceback(error, extra_dirs=(os.path.dirname(os.path.abspath(click.__file__)),))
    if not filtered:
        return text
    return text.replace(
        "Traceback (most recent call last):",
        "Traceback (most recent call last; gnomon's frames left out):",
    )
