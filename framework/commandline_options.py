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
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gnomon.records import record

if TYPE_CHECKING:
    from gnomon.run import Run

__all__ = ["CLIOption", "CommandLineOption", "cli_option", "option_of", "options_defined_with"]


@record(frozen=True, eq=False)
class CLIOption:
    """One command-line flag: how it is spelled, what it takes, and what it does to a run.

    Custom flags come from :func:`cli_option`; their ``apply_function(value, run)`` is
    called after the run is built and before it starts, when the flag was given.
    Built-in flags (:data:`BUILTIN_OPTIONS`) have no apply function: their effects are
    applied by :func:`apply_options` in a fixed order. A ``multiple`` flag always
    holds a list; a ``repeatable`` one (``-F``, ``-m``, ``-s``) holds its value as
    Sacred stored it, a string, when given once, and a list when given several times.
    """

    apply_function: Callable[[Any, Run], Any] | None
    short_flag: str | None
    long_flag: str
    is_flag: bool = False
    aliases: tuple[str, ...] = ()
    metavar: str | None = None
    help_text: str | None = None
    convert: Callable[[Any], Any] | None = None
    multiple: bool = False
    key: str | None = None
    repeatable: bool = False

    def __post_init__(self) -> None:
        if self.short_flag is not None and not re.fullmatch(r"-[A-Za-z0-9]", self.short_flag):
            raise ValueError(
                f"Short flag {self.short_flag!r} must be '-' and one letter, e.g. '-w'."
            )
        if not re.fullmatch(r"--[A-Za-z0-9][A-Za-z0-9_\-]*", self.long_flag):
            raise ValueError(f"Long flag {self.long_flag!r} must start with '--', e.g. '--warn'.")

    @property
    def options_key(self) -> str:
        """The key of this flag in an options dict (Sacred's spelling for built-ins)."""
        return self.key or self.long_flag

    @property
    def name(self) -> str:
        """The flag's name without dashes, as a Python identifier."""
        return self.long_flag.lstrip("-").replace("-", "_")

    @property
    def arg(self) -> str | None:
        """The placeholder of the flag's value in usage text, None for a flag."""
        if self.is_flag:
            return None
        return self.metavar or self.name.upper()

    @property
    def description(self) -> str:
        """First line of the help text (or of the apply function's docstring)."""
        text = self.help_text
        if text is None and self.apply_function is not None:
            text = self.apply_function.__doc__
        return (text or "").strip().splitlines()[0].strip() if (text or "").strip() else ""

    def default(self) -> Any:
        """Return the value the flag has when it is not given."""
        if self.multiple:
            return []
        return False if self.is_flag else None

    def normalize(self, value: Any) -> Any:
        """Check and convert a value given for this flag; ValueError says what is wrong."""
        if value is None:
            return self.default()
        if self.is_flag:
            return bool(value)
        if self.multiple or self.repeatable:
            given = [value] if isinstance(value, str) else list(value)
            converted = [self.convert(v) if self.convert else v for v in given]
            if self.multiple:
                return converted
            return converted[0] if len(converted) == 1 else (converted or None)
        return self.convert(value) if self.convert else value

    # Sacred's CLIOption API, for code written against it.
    def get_flag(self) -> str:
        """Return the long flag (Sacred's name for it)."""
        return self.long_flag

    def get_short_flag(self) -> str | None:
        """Return the short flag, e.g. ``-w``."""
        return self.short_flag

    def get_flags(self) -> tuple[str | None, str]:
        """Return the short and the long flag."""
        return self.short_flag, self.long_flag

    def get_name(self) -> str:
        """Return the apply function's name (the flag's name for built-ins)."""
        return getattr(self.apply_function, "__name__", self.name)

    def get_description(self) -> str:
        """Return the first line of the help text."""
        return self.description

    def apply(self, args: Any, run: Run) -> Any:
        """Apply the flag's value to the run (custom flags only)."""
        if self.apply_function is None:
            raise TypeError(f"{self.long_flag} is a built-in option; use apply_options().")
        return self.apply_function(args, run)

    def __call__(self, args: Any, run: Run) -> Any:
        """Apply the flag, like :meth:`apply`."""
        return self.apply(args, run)


def cli_option(
    short: str | None, long: str, is_flag: bool = False
) -> Callable[[Callable[[Any, Run], Any]], CLIOption]:
    """Turn ``f(args, run)`` into a command-line flag (Sacred's decorator).

    ``args`` is True for an ``is_flag`` option and the text given otherwise; the
    function's docstring is the flag's help. Pass the result to
    ``Experiment(additional_cli_options=[...])``.
    """

    def wrapper(function: Callable[[Any, Run], Any]) -> CLIOption:
        return CLIOption(function, short, long, is_flag)

    return wrapper


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
