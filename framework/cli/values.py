"""Checking and converting the values of command-line flags, and Sacred's ``-m`` form.

Each converter raises ValueError with a message that names the bad value and the
fix; the click layer and :func:`~gnomon.cli.options.normalize_options` both use
them, so a bad value reads the same from the shell and from ``ex.run(options=...)``.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, urlencode

from gnomon.events import MAX_RUN_ID_LENGTH, is_usable_run_id
from gnomon.spelling import did_you_mean

__all__ = [
    "CAPTURE_MODES",
    "capture_mode",
    "did_you_mean",
    "log_level",
    "mongo_database",
    "mongo_option_to_url",
    "priority",
    "seconds",
    "sql_url",
    "text",
]

#: Output capture modes ``-C/--capture`` accepts.
CAPTURE_MODES = ("no", "sys", "fd", "tee")

_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def text(value: Any) -> str:
    """Any value as text (paths, ids, comments)."""
    return str(value)


def run_id(value: Any) -> str:
    """A run id every storage can use: it names a folder in file storage."""
    text = str(value)
    if not is_usable_run_id(text):
        shown = text if len(text) <= 80 else text[:77] + "..."
        raise ValueError(
            f"{shown!r} cannot be a run id: use a non-empty name of at most {MAX_RUN_ID_LENGTH} "
            f"characters (this one has {len(text)}) without '/', '\\' or a leading '_'"
        )
    return text


def seconds(value: Any) -> float:
    """A number of seconds for ``-b``."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ValueError(
            f"{value!r} is not a number of seconds (e.g. -b 10; -b 0 turns heartbeats off)"
        ) from None
    if seconds != seconds:
        raise ValueError("nan is not a number of seconds (e.g. -b 10; -b 0 turns heartbeats off)")
    return seconds


def priority(value: Any) -> float:
    """A queue priority for ``-P``."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(
            f"{value!r} is not a number (e.g. -P 10; queued runs with higher priority go first)"
        ) from None
    if number != number:
        raise ValueError("nan is not a priority (e.g. -P 10)")
    return number


def capture_mode(value: Any) -> str:
    """One of :data:`CAPTURE_MODES` for ``-C``."""
    text = str(value)
    if text not in CAPTURE_MODES:
        raise ValueError(
            f"{text!r} is not a capture mode; choose one of {', '.join(CAPTURE_MODES)}."
            f"{did_you_mean(text, CAPTURE_MODES)}"
        )
    return text


def log_level(value: Any) -> int | str:
    """A log level for ``-l``: a number, or a level name in upper case."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = str(value).strip()
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    name = text.upper()
    if name in ("WARN", "FATAL") or name in _LOG_LEVELS or name == "NOTSET":
        return name
    raise ValueError(
        f"{text!r} is not a log level; use a number or one of {', '.join(_LOG_LEVELS)}."
        f"{did_you_mean(name, _LOG_LEVELS)}"
    )


# Pattern strings: compiled (and cached by re) when -s or -m is used, not by every run.
_URL_SCHEME = r"^[A-Za-z][A-Za-z0-9+.\-]*://"
_SQLITE_MALFORMED = r"(?i)^sqlite:/*(?P<path>.*)$"


def sql_url(value: Any) -> str:
    """A database URL for ``-s`` (``sqlite:///runs.db``, ``postgresql://user@host/db``).

    A plain path is refused rather than read as a folder for file storage (Sacred's
    ``-s`` took database URLs only), and ``sqlite:`` with the wrong number of
    slashes gets the spelling it most likely meant.
    """
    text = str(value).strip()
    malformed = re.match(_SQLITE_MALFORMED, text)
    if re.match(_URL_SCHEME, text) and not (malformed and not text.lower().startswith("sqlite:///")):
        return text
    if malformed:
        # 'sqlite://runs.db' would be an in-memory database (SQLAlchemy reads runs.db as
        # a host and ignores it): every run recorded there would be lost.
        guess = f"sqlite:///{malformed['path'] or 'runs.db'}"
        problem = "is not a SQLite database URL: write 'sqlite:///' and then the file's path"
    elif ":" in text.split("/")[0] and not re.match(r"^[A-Za-z]:[\\/]", text):
        scheme = text.split(":", 1)[0]
        guess = f"{scheme}://{text.split(':', 1)[1].lstrip('/')}"
        problem = "is not a database URL: the scheme must be followed by '://'"
    else:
        guess = f"sqlite:///{text}" if text else "sqlite:///runs.db"
        problem = "is not a database URL (-s takes one; -F DIR takes a folder)"
    raise ValueError(f"{text!r} {problem}. Did you mean {guess}?")


def mongo_database(value: Any) -> str:
    """Sacred's ``-m`` text, checked (kept as written)."""
    text = str(value)
    mongo_option_to_url(text)  # raises ValueError when it cannot be read
    return text


# Sacred's -m grammar: [host:port:]db_name[.collection_prefix[:run_id]][!priority]
_NAME = r"[_A-Za-z][0-9A-Za-z#%&'()+\-;=@\[\]^_{}]{0,63}"
_HOST = r"[0-9A-Za-z](?:[0-9A-Za-z\-]*[0-9A-Za-z])?(?:\.[0-9A-Za-z](?:[0-9A-Za-z\-]*[0-9A-Za-z])?)*"
_MONGO_HOST_ONLY = rf"^(?P<host>{_HOST}):(?P<port>\d{{1,5}})$"
_MONGO_FULL = (
    rf"^(?:(?P<host>{_HOST}):(?P<port>\d{{1,5}}):)?(?P<db>{_NAME})"
    rf"(?:\.(?P<prefix>{_NAME})(?::(?P<overwrite>\d{{1,12}}))?)?"
    r"(?:!(?P<priority>-?\d+))?$"
)


def mongo_option_to_url(text: str) -> str:
    """Translate Sacred's ``-m [host:port:]db_name[.prefix[:id]][!priority]`` into a URL.

    ``-m runs`` gives ``mongodb://localhost:27017/runs``; the prefix, the run id to
    overwrite and the priority become the query parameters ``collection_prefix``,
    ``overwrite`` and ``priority``. ``host:port`` alone means Sacred's default
    database ``sacred``. Full ``mongodb://`` and ``mongodb+srv://`` URLs pass
    through unchanged. Raises ValueError for anything else.
    """
    if text.startswith(("mongodb://", "mongodb+srv://")):
        return text
    host_only = re.match(_MONGO_HOST_ONLY, text)
    if host_only:
        return f"mongodb://{host_only['host']}:{host_only['port']}/sacred"
    match = re.match(_MONGO_FULL, text)
    if not match:
        raise ValueError(
            f"{text!r} is not a MongoDB database: expected [host:port:]db_name[.prefix][!priority] "
            "(e.g. -m my_runs or -m db.example.org:27017:my_runs) or a mongodb:// URL"
        )
    host = match["host"] or "localhost"
    port = match["port"] or "27017"
    query = {
        key: match[group]
        for key, group in (
            ("collection_prefix", "prefix"),
            ("overwrite", "overwrite"),
            ("priority", "priority"),
        )
        if match[group] is not None
    }
    url = f"mongodb://{host}:{port}/{quote(match['db'], safe='')}"
    return f"{url}?{urlencode(query)}" if query else url
