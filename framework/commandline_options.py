"""Custom command-line flags, where Sacred users import them from (``sacred.commandline_options``).

Two forms, as in Sacred. The decorator (preferred)::

    from gnomon.commandline_options import cli_option

    @cli_option("-w", "--warn", is_flag=True)
    def warn(args, run):
        '''Warn when the run starts.'''
        run.info["warned"] = True

    ex = Experiment("demo", additional_cli_options=[warn])

and Sacred's older subclass form, kept so old scripts run unchanged::

    class WarnOption(CommandLineOption):
        '''Warn when the run starts.'''
        short_flag = "w"

        @classmethod
        def apply(cls, args, run):
            run.info["warned"] = True

A subclass names its flag after the class (``WarnOption`` -> ``--warn``, first
letter as the short flag unless ``short_flag`` is set) and takes a value when
``arg`` names one. Sacred picked up every subclass in the process; gnomon takes the
subclasses defined in the experiment's own file and those listed in
``additional_cli_options``, so flags of one experiment never appear in another.
"""

from __future__ import annotations

import os
import re
import sys
from typing import TYPE_CHECKING, Any

from gnomon.cli.options import CLIOption, cli_option

if TYPE_CHECKING:
    from gnomon.run import Run

__all__ = ["CLIOption", "CommandLineOption", "cli_option", "option_of", "options_defined_with"]


def _snake_case(name: str) -> str:
    """``FooBar`` -> ``foo_bar``: Sacred's flag name for a class name."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])|(?<=[A-Z])([A-Z])(?=[a-z])", r"_\1\2", name).lower()


class CommandLineOption:
    """Sacred's base class for a custom flag (the older form; :func:`cli_option` is simpler).

    Set ``short_flag`` (one letter), ``arg`` (the value's name, for a flag that
    takes one) and ``arg_description``; write the help as the class docstring and
    the effect in the ``apply(args, run)`` classmethod, called after the run is
    built and before it starts. ``_enabled = False`` hides the flag.
    """

    _enabled = True
    short_flag: str | None = None
    arg: str | None = None
    arg_description: str | None = None

    @classmethod
    def get_flag(cls) -> str:
        """The long flag, from the class name without an ``Option`` suffix (``--foo_bar``)."""
        name = cls.__name__
        if name.endswith("Option"):
            name = name[: -len("Option")]
        return "--" + _snake_case(name)

    @classmethod
    def get_short_flag(cls) -> str:
        """``-`` and ``short_flag``, else the long flag's first letter."""
        return "-" + (cls.short_flag if cls.short_flag is not None else cls.get_flag()[2])

    @classmethod
    def get_flags(cls) -> tuple[str, str]:
        """The short and the long flag."""
        return cls.get_short_flag(), cls.get_flag()

    @classmethod
    def apply(cls, args: Any, run: Run) -> None:
        """Change the run according to the flag: ``args`` is True for a flag, else the value given."""


_CONVERTED: dict[type[CommandLineOption], CLIOption] = {}


def option_of(option: Any) -> Any:
    """A :class:`CLIOption` for a ``CommandLineOption`` subclass; anything else is returned as it is."""
    if not (isinstance(option, type) and issubclass(option, CommandLineOption)):
        return option
    converted = _CONVERTED.get(option)
    if converted is None:
        subclass = option

        def apply(args: Any, run: Run) -> Any:
            return subclass.apply(args, run)

        apply.__name__ = apply.__qualname__ = subclass.__name__
        apply.__doc__ = subclass.__doc__
        short, long = subclass.get_flags()
        converted = CLIOption(
            apply, short, long, is_flag=subclass.arg is None, metavar=subclass.arg,
            help_text=subclass.__doc__ or subclass.arg_description,
        )
        _CONVERTED[subclass] = converted
    return converted


def _subclasses(cls: type) -> list[type]:
    found: list[type] = []
    direct: list[type] = cls.__subclasses__()
    for sub in direct:
        found.append(sub)
        found.extend(_subclasses(sub))
    return found


def options_defined_with(experiment: Any) -> list[CLIOption]:
    """The enabled ``CommandLineOption`` subclasses defined in the experiment's own file, as flags."""
    module_name = (getattr(experiment, "_caller_globals", None) or {}).get("__name__")
    mainfile = getattr(experiment, "mainfile", None)
    options = []
    for sub in _subclasses(CommandLineOption):
        if not getattr(sub, "_enabled", True):
            continue
        module_file = getattr(sys.modules.get(sub.__module__), "__file__", None)
        if (module_name is not None and sub.__module__ == module_name) or (
            mainfile and module_file and os.path.abspath(module_file) == mainfile
        ):
            options.append(option_of(sub))
    return options
