"""How the read commands fail: one line naming the problem and the fix, never a traceback.

A user mistake (a bad filter, an unknown run or column, a store that cannot be
opened, a missing driver) is a :class:`ReadError`, printed by click as
``Error: ...`` on stderr. Anything unexpected is reported the same way, with the
hint that ``GNOMON_DEBUG=1`` shows the traceback. Passwords found in store URLs
are replaced by ``***`` in every message.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

__all__ = ["ReadError", "hide_secret", "redact", "reported"]

F = TypeVar("F", bound=Callable[..., Any])

_SECRETS: set[str] = set()
_USERINFO = re.compile(r"(//[^/@:\s]*:)[^/@\s]*@")
_DRIVERS = ("sqlalchemy", "pymongo", "psycopg", "psycopg2", "pymysql", "MySQLdb", "sqlite3", "bson")


class ReadError(click.ClickException):
    """A problem the user can fix; ``exit_code`` is 2 for bad filters and columns, else 1."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(redact(message))
        self.exit_code = exit_code  # type: ignore[misc]  # click reads it from the instance


def hide_secret(url: str) -> None:
    """Remember the password in ``url`` so no message ever shows it."""
    match = re.search(r"//[^/@:\s]*:([^/@\s]+)@", url)
    if match:
        _SECRETS.add(match.group(1))


def redact(text: str) -> str:
    """``text`` with URL passwords replaced by ``***``."""
    text = _USERINFO.sub(r"\1***@", text)
    for secret in _SECRETS:
        text = text.replace(secret, "***")
    return text


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]


def _translate(error: Exception) -> ReadError:
    from gnomon.errors import FilterError, GnomonError

    if isinstance(error, FilterError):
        return ReadError(error.caret(), exit_code=2)
    if isinstance(error, GnomonError):  # StoreError, RunNotFoundError, ...
        return ReadError(str(error))
    if isinstance(error, ImportError):
        name = error.name or "a driver"
        extra = "query" if name in ("pandas", "numpy") else "all"
        return ReadError(f"{name} is needed for this command: install it with pip install 'gnomon[{extra}]'")
    module = type(error).__module__.split(".")[0]
    if module in _DRIVERS:
        return ReadError(
            f"cannot read the store: {_first_line(error)}. Check that the server is running and that "
            "the URL given with -S/--store (or $GNOMON_STORE) is right"
        )
    if isinstance(error, ValueError | KeyError):
        return ReadError(_first_line(error) if not isinstance(error, KeyError) else str(error.args[0]))
    return ReadError(f"{type(error).__name__}: {_first_line(error)} (run with GNOMON_DEBUG=1 to see the traceback)")


def reported(function: F) -> F:
    """Run a command body, turning every error into a one-line :class:`ReadError` (exit status 1 or 2)."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except (click.ClickException, click.exceptions.Exit, click.Abort, SystemExit):
            raise
        except BrokenPipeError:  # `gnomon ls | head`: the reader left, which is not an error
            with contextlib.suppress(OSError, ValueError):  # not a real descriptor (a test runner's stream)
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise SystemExit(0) from None
        except KeyboardInterrupt:
            raise SystemExit(130) from None
        except Exception as error:
            if os.environ.get("GNOMON_DEBUG"):
                raise
            raise _translate(error) from None

    return wrapper  # type: ignore[return-value]
