"""The one error tree of gnomon.

Every error a user can meet subclasses :class:`GnomonError` and also the built-in
exception a caller would naturally catch, so ``except ValueError`` around a bad
config update keeps working::

    GnomonError (Exception)
    ├── ConfigError (ValueError)                 a config value, key, file or update is wrong
    │   ├── InvalidConfigError                   raised by user code to report a bad combination
    │   ├── ConfigAddedError (KeyError)          an update adds a key nothing consumes (use -f)
    │   ├── MissingConfigError (TypeError)       a captured function lacks a value it needs
    │   ├── NamedConfigNotFoundError (KeyError)  ``with NAME`` names no named config or file
    │   ├── ConfigUpdateSyntaxError              ``with a..b=1``: the update cannot be read
    │   ├── ConfigTypeError (TypeError)          ``add_config(42)``: neither a dict nor a file
    │   ├── ConfigFileNotFoundError (FileNotFoundError, so OSError)  no such config file
    │   ├── DuplicateNameError (KeyError)        a named config or host info name is taken
    │   └── SettingError (KeyError, AttributeError)  ``SETTINGS.NO_SUCH_KEY``
    ├── SignatureError (TypeError)               a captured function was called wrongly
    │   └── HookSignatureError (ValueError, KeyError)  a hook has the wrong parameters
    ├── CircularDependencyError (ValueError)     ingredients include each other
    ├── CommandNotFoundError (KeyError)          ``python exp.py NAME`` names no command
    ├── ReadOnlyConfigError (TypeError)          a captured function tried to change the config
    ├── ObserverError (RuntimeError)             an observer cannot be built or used
    │   ├── UnknownObserverError (ValueError)    ``-O scheme://`` names no installed observer
    │   └── ServerUnreachable                    an observer's server refuses, is unknown or is silent
    ├── SerializationError (TypeError)           a value cannot be stored as JSON
    ├── SpoolError (OSError)                     the local spool cannot be read or written
    ├── StoreError (OSError)                     a store cannot be opened or read (gnomon.open)
    │   └── RunNotFoundError (KeyError)          no run has that id in the store
    ├── FilterError (ValueError)                 a query filter is not valid; names the position
    └── GnomonInterrupt (KeyboardInterrupt)      ends a run with a custom status
        └── TimeoutInterrupt                     ends a run with status TIMEOUT

Sacred's names (``SacredError``, ``SacredInterrupt``) are aliases, so code written
for Sacred catches and raises the same things. Where Sacred raises a built-in type
(``ValueError`` for an empty config, ``TypeError`` for a config that is not a dict,
``OSError`` for a missing config file, ``KeyError`` for a taken name or an option
hook without ``options``, ``ValueError`` for a config hook's wrong signature), the
error here is an instance of that type too.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence


class GnomonError(Exception):
    """Base of every error gnomon raises on purpose.

    ``print_traceback`` and ``print_usage`` tell the command line how to report the
    error: user mistakes are shown as one line (plus usage), not as a traceback.
    """

    def __init__(
        self,
        message: str = "",
        *,
        print_traceback: bool = False,
        print_usage: bool = False,
        filter_traceback: str = "default",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.print_traceback = print_traceback
        self.print_usage = print_usage
        self.filter_traceback = filter_traceback

    def __str__(self) -> str:
        return self.message


class ConfigError(GnomonError, ValueError):
    """A config value, key, file or update cannot be used; the message names it."""

    def __init__(
        self,
        message: str = "",
        *,
        conflicting_configs: Sequence[str] = (),
        print_usage: bool = False,
        print_traceback: bool = False,
    ) -> None:
        super().__init__(message, print_usage=print_usage, print_traceback=print_traceback)
        self.conflicting_configs = tuple(conflicting_configs)


class InvalidConfigError(ConfigError):
    """Raised by user code (a config hook, a captured function) to reject a config."""


class ConfigAddedError(ConfigError, KeyError):
    """An update adds keys that no captured function can consume; ``-f`` forces it."""

    def __init__(self, conflicting_configs: Iterable[str], message: str | None = None) -> None:
        keys = sorted(conflicting_configs)
        text = message or (
            "Added new config entr{} {} that {} not used anywhere. Did you mistype a key? "
            "Use -f/--force to add {} anyway.".format(
                "y" if len(keys) == 1 else "ies",
                ", ".join(repr(k) for k in keys),
                "is" if len(keys) == 1 else "are",
                "it" if len(keys) == 1 else "them",
            )
        )
        super().__init__(text, conflicting_configs=keys, print_usage=True)

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return self.message


class MissingConfigError(ConfigError, TypeError):
    """A captured function was called without values for some of its parameters."""

    def __init__(
        self, message: str, missing_configs: Sequence[str] = (), func_name: str = ""
    ) -> None:
        super().__init__(message, conflicting_configs=missing_configs, print_usage=True)
        self.missing_configs = tuple(missing_configs)
        self.func_name = func_name


class NamedConfigNotFoundError(ConfigError, KeyError):
    """``with NAME`` names neither a named config nor an existing config file."""

    def __init__(
        self, named_config: str, available: Iterable[str] = (), message: str | None = None
    ) -> None:
        self.named_config = named_config
        self.available = sorted(available)
        super().__init__(message or f"Named config not found: {named_config!r}", print_usage=True)

    def __str__(self) -> str:
        return self.message


class ConfigUpdateSyntaxError(ConfigError):
    """A ``with`` update is not ``path=value`` with a readable value."""

    def __init__(self, message: str) -> None:
        super().__init__(message, print_usage=True)


class ConfigTypeError(ConfigError, TypeError):
    """A config was given as something other than a dict or the path of a config file."""


class ConfigFileNotFoundError(ConfigError, FileNotFoundError):
    """A config file named in code or on the command line does not exist."""

    def __str__(self) -> str:  # OSError would otherwise format its own text
        return self.message


class DuplicateNameError(ConfigError, KeyError):
    """A name that must be unique (named config, host info key) is already taken."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return self.message


class SettingError(ConfigError, KeyError, AttributeError):
    """``SETTINGS`` has no such key, or a whole group of settings was replaced.

    A KeyError for ``SETTINGS["NO_SUCH"]`` and an AttributeError for
    ``SETTINGS.NO_SUCH``, so ``getattr(SETTINGS, name, default)`` and ``in`` work.
    """

    def __str__(self) -> str:
        return self.message


class SignatureError(GnomonError, TypeError):
    """A captured function was called with arguments that do not fit its signature."""


class HookSignatureError(SignatureError, ValueError, KeyError):
    """A config hook or option hook does not take the parameters gnomon passes it."""

    def __str__(self) -> str:
        return self.message


class CircularDependencyError(GnomonError, ValueError):
    """Ingredients include each other, directly or through others."""


class CommandNotFoundError(GnomonError, KeyError):
    """The command line names a command the experiment does not have."""

    def __str__(self) -> str:
        return self.message


class ReadOnlyConfigError(GnomonError, TypeError):
    """A captured function tried to change the config it was given."""


class ObserverError(GnomonError, RuntimeError):
    """An observer cannot be created or cannot accept an event."""


class UnknownObserverError(ObserverError, ValueError):
    """An observer URL uses a scheme no installed observer registered."""


class ServerUnreachable(ObserverError):
    """An observer's server refused the connection, has a name that does not resolve, or did not answer.

    Raised by an observer's ``connect(timeout)`` before a run starts: the run then
    goes on at once and keeps that observer's events in the spool for ``gnomon sync``,
    instead of waiting on a server that is not there.
    """


class SerializationError(GnomonError, TypeError):
    """A value cannot be stored as plain JSON; the message names where it sits."""


class SpoolError(GnomonError, OSError):
    """The local spool of undelivered events cannot be read or written."""


class StoreError(GnomonError, OSError):
    """A store cannot be opened or read; the message names the URL (password hidden) and the fix."""


class RunNotFoundError(StoreError, KeyError):
    """No run with the asked-for id is in the store."""

    def __str__(self) -> str:  # KeyError would quote the message
        return self.message


class FilterError(GnomonError, ValueError):
    """A query filter cannot be used. ``text`` is the filter and ``position`` the 0-based offset of the problem.

    ``str()`` is one line; :meth:`caret` shows the filter with a caret under the problem.
    """

    def __init__(self, message: str, *, text: str = "", position: int | None = None) -> None:
        super().__init__(message)
        self.text = text
        self.position = position

    def caret(self) -> str:
        """The message, then the filter with ``^`` under the offending character (when known)."""
        if self.position is None or not self.text or "\n" in self.text or len(self.text) > 300:
            return self.message
        return f"{self.message}\n  {self.text}\n  {' ' * self.position}^"


class GnomonInterrupt(KeyboardInterrupt):
    """Raise it (or a subclass with its own ``STATUS``) to stop a run with that status."""

    STATUS = "INTERRUPTED"


class TimeoutInterrupt(GnomonInterrupt):
    """Stops a run that ran out of time; recorded with status ``TIMEOUT``."""

    STATUS = "TIMEOUT"


# Sacred's names, for scripts and observers written against Sacred.
SacredError = GnomonError
SacredInterrupt = GnomonInterrupt

__all__ = [
    "CircularDependencyError",
    "CommandNotFoundError",
    "ConfigAddedError",
    "ConfigError",
    "ConfigFileNotFoundError",
    "ConfigTypeError",
    "ConfigUpdateSyntaxError",
    "DuplicateNameError",
    "FilterError",
    "GnomonError",
    "GnomonInterrupt",
    "HookSignatureError",
    "InvalidConfigError",
    "MissingConfigError",
    "NamedConfigNotFoundError",
    "ObserverError",
    "ReadOnlyConfigError",
    "RunNotFoundError",
    "SacredError",
    "SacredInterrupt",
    "SerializationError",
    "ServerUnreachable",
    "SettingError",
    "SignatureError",
    "SpoolError",
    "StoreError",
    "TimeoutInterrupt",
    "UnknownObserverError",
]
