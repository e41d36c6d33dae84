"""The SQLite tables of the file index, their version, and the columns it sorts runs by.

Besides the stored record of each run (one orjson blob, decoded only for the runs
returned), the ``records`` table keeps the fields runs are listed by as plain
columns, so that "the 50 latest runs" is one ``ORDER BY ... LIMIT 50`` (read
off an SQLite index for the start time, the default order of listings):
times as integer microseconds since the epoch (the order of the datetimes the
records hold), strings as text (SQLite compares UTF-8 bytes, which is the order
of code points, Python's), and the run id as :func:`.signatures.natural_text`.
Missing values and None sort last in either direction and ties go by natural id
order, exactly as :mod:`gnomon.query.store` sorts records in memory.

A database of another :data:`VERSION` is dropped and rebuilt when opened: the
index is derived data.
"""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

__all__ = ["LOCK_TIMEOUT", "ORDER_COLUMNS", "VERSION", "cache_location", "connect", "order_clause", "order_values"]

#: Seconds a connection waits for another process's lock before giving up.
LOCK_TIMEOUT = 30.0
#: Bumped whenever a table changes shape or meaning; version 2 added the order columns.
VERSION = "2"

#: Paths runs can be sorted by in SQL, and the ``records`` column holding each.
ORDER_COLUMNS = {
    "id": "id_order",
    "start_time": "start_us",
    "stop_time": "stop_us",
    "heartbeat": "heartbeat_us",
    "queue_time": "queue_us",
    "experiment": "experiment",
    "command": "command",
    "recorded_status": "recorded_status",
    "hostname": "hostname",
    "comment": "comment",
}
_TIMES = ("start_time", "stop_time", "heartbeat", "queue_time")
_TEXTS = ("experiment", "command", "recorded_status", "hostname", "comment")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
#: ``NULLS LAST`` (SQLite 3.30) lets the start-time index serve an ascending order too.
_NULLS_LAST = sqlite3.sqlite_version_info >= (3, 30, 0)

TABLES = ("meta", "state", "records", "details", "outputs", "digests")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS state (
    name TEXT PRIMARY KEY, sig BLOB NOT NULL, racy INTEGER NOT NULL, ok INTEGER NOT NULL, problem TEXT,
    log_offset INTEGER
);
CREATE TABLE IF NOT EXISTS records (
    name TEXT PRIMARY KEY, record BLOB, bits INTEGER, metrics BLOB,
    id_order TEXT NOT NULL, start_us INTEGER, stop_us INTEGER, heartbeat_us INTEGER, queue_us INTEGER,
    experiment TEXT, command TEXT, recorded_status TEXT, hostname TEXT, comment TEXT
);
CREATE INDEX IF NOT EXISTS records_by_start ON records (start_us, id_order, name);
CREATE INDEX IF NOT EXISTS records_by_start_desc ON records (start_us DESC, id_order, name);
CREATE INDEX IF NOT EXISTS records_by_id ON records (id_order, name);
CREATE TABLE IF NOT EXISTS details (name TEXT PRIMARY KEY, roots BLOB, links BLOB, seqs BLOB);
CREATE TABLE IF NOT EXISTS outputs (name TEXT PRIMARY KEY, ino INTEGER, bytes INTEGER, chars INTEGER, marks BLOB);
CREATE TABLE IF NOT EXISTS digests (path TEXT PRIMARY KEY, sig BLOB, sha256 TEXT, md5 TEXT);
"""
#: The columns of ``records`` after ``name, record, bits, metrics, id_order``, in order.
ORDER_VALUE_COLUMNS = ("start_us", "stop_us", "heartbeat_us", "queue_us", *_TEXTS)


def _micros(text: Any) -> int | None:
    if not isinstance(text, str):
        return None
    return (datetime.fromisoformat(text) - _EPOCH) // _MICROSECOND


def order_values(record: dict[str, Any]) -> tuple[Any, ...]:
    """The order columns of a stored record (see :mod:`.records`), in :data:`ORDER_VALUE_COLUMNS` order."""
    times = tuple(_micros(record.get(key)) for key in _TIMES)
    texts = tuple(value if isinstance(value := record.get(key), str) else None for key in _TEXTS)
    return times + texts


def order_clause(order_by: Sequence[tuple[tuple[str, ...], bool]]) -> str:
    """The ``ORDER BY`` terms for ``(path, descending)`` pairs, each path one of :data:`ORDER_COLUMNS`.

    Missing values last in both directions, then natural id order (then the id
    itself, for ids equal as numbers such as ``7`` and ``007``).
    """
    terms: list[str] = []
    for path, descending in order_by:
        column = ORDER_COLUMNS[path[0]]
        if descending or column == "id_order":
            terms.append(f"{column} DESC" if descending else column)  # SQLite's NULLs are the least values
        elif _NULLS_LAST:
            terms.append(f"{column} NULLS LAST")
        else:
            terms += (f"{column} IS NULL", column)
    if not any(path[0] == "id" for path, _ in order_by):
        terms.append("id_order")
    terms.append("name")
    return "ORDER BY " + ", ".join(terms)


def cache_location(basedir: Path) -> Path:
    """Where the index of a folder that cannot be written lives: the user's cache, keyed by the folder's path."""
    import platformdirs

    key = hashlib.sha256(str(basedir).encode("utf-8", "surrogateescape")).hexdigest()[:24]
    return Path(platformdirs.user_cache_dir("gnomon")) / "file-index" / key


def _version(db: sqlite3.Connection) -> str | None:
    with contextlib.suppress(sqlite3.OperationalError):  # a new file has no table yet
        row = db.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()
        return None if row is None else str(row[0])
    return None


def _wal(db: sqlite3.Connection) -> None:
    """Switch to WAL mode, waiting for other connections: SQLite reports a busy database at once here."""
    deadline = time.monotonic() + LOCK_TIMEOUT
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def connect(path: str) -> sqlite3.Connection:
    """Open (WAL mode) the index at ``path``, creating its tables, or recreating them when of another version."""
    db = sqlite3.connect(path, timeout=LOCK_TIMEOUT, isolation_level=None, check_same_thread=False)
    try:
        _wal(db)
        db.execute("PRAGMA synchronous=NORMAL")
        if _version(db) != VERSION:
            db.execute("BEGIN IMMEDIATE")
            try:
                if _version(db) != VERSION:  # another process may have just made it
                    for table in TABLES:
                        db.execute(f"DROP TABLE IF EXISTS {table}")
                    for statement in _SCHEMA.split(";"):
                        if statement.strip():
                            db.execute(statement)
                    db.execute("INSERT OR REPLACE INTO meta VALUES ('version', ?)", (VERSION,))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
    except BaseException:
        db.close()
        raise
    return db
