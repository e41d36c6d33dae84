"""Opening a store: the engine's settings per backend, and migrations on first connect.

SQLite runs in WAL mode with a busy timeout, and every write transaction starts
with ``BEGIN IMMEDIATE``: a deferred transaction that reads and then writes fails
at once with "database is locked" when another process writes, whatever the busy
timeout, while an immediate one simply waits its turn. Dead connections (a server
that restarted) are detected before use (``pool_pre_ping``).

Committed SQLite transactions first land in the write-ahead log (``runs.db-wal``)
and reach the database file at a checkpoint, which SQLite makes only every 1000
pages or when the last connection closes cleanly. :func:`checkpoint` is called when
a run ends and when the observer flushes or closes, so the file alone (copied,
mailed, opened read-only) holds every run that has ended.

A database whose schema revision is not the newest is migrated with Alembic under
a lock, so twenty processes opening a new database at once migrate it once: a
PostgreSQL advisory lock, MySQL/MariaDB ``GET_LOCK``, or an ``fcntl`` lock on a
file beside the SQLite database. Alembic is imported only when there is work for
it; a current database costs one ``SELECT`` of the version table. Alembic's own
log lines (one per step) are held back while it works and shown only when the
migration fails, as part of the error: a run's output never holds them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL

from gnomon.errors import ObserverError, StoreError
from gnomon.observers.sql.schema import HEAD_REVISION, VERSION_TABLE
from gnomon.observers.sql.url import engine_url, redact

__all__ = [
    "MIGRATIONS_DIR",
    "checkpoint",
    "create_engine",
    "current_revision",
    "inserted_key",
    "migrate",
    "open_store_engine",
]

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_LOCK_NAME = "gnomon-migrate"
_LOCK_TIMEOUT = 300  # seconds another process may take to migrate


def _sqlite_listeners(engine: sa.Engine, *, immediate: bool) -> None:
    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout = 60000")
        with contextlib.suppress(Exception):  # a read-only file keeps its journal mode
            cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(connection: sa.Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def create_engine(url: URL, *, immediate: bool = True, **kwargs: Any) -> sa.Engine:
    """An engine for ``url`` set up for gnomon (``immediate``: SQLite writers queue up)."""
    options: dict[str, Any] = {"pool_pre_ping": True}
    backend = url.get_backend_name()
    if backend == "sqlite":
        options["connect_args"] = {"timeout": 60, "check_same_thread": False}
    elif backend == "postgresql":
        options["connect_args"] = {"connect_timeout": 10}
    elif backend in ("mysql", "mariadb"):
        options["connect_args"] = {"connect_timeout": 10}
        options["pool_recycle"] = 3600
    options.update(kwargs)
    engine = sa.create_engine(url, **options)
    if backend == "sqlite":
        _sqlite_listeners(engine, immediate=immediate)
    return engine


def checkpoint(engine: sa.Engine) -> None:
    """Copy what the SQLite write-ahead log holds into the database file; nothing elsewhere.

    It never waits: a ``PASSIVE`` checkpoint leaves what a reader in another
    process still needs in the log for a later one, and it runs on a connection
    of its own without a busy timeout, so a database locked by someone else (or
    gone) costs an immediate error, never the pool's minute-long wait.
    """
    if engine.dialect.name != "sqlite":
        return
    database = engine.url.database
    if not database or database == ":memory:" or "mode=memory" in database:
        return
    uri = database.startswith("file:")
    if not uri and not os.path.exists(database):
        return
    import sqlite3

    connection = sqlite3.connect(database, timeout=0, uri=uri, isolation_level=None, check_same_thread=False)
    try:
        connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
    finally:
        connection.close()


def current_revision(connection: sa.Connection) -> str | None:
    """The schema revision recorded in the database, or None for a new database.

    The version table is read directly: that is the whole cost for a database
    already at the newest revision. Only when the read fails does the catalogue
    say whether the table is missing (a new database) or was created meanwhile
    by another process (then it is read again). The caller ends the transaction
    this opens.
    """
    query = sa.text(f"SELECT version_num FROM {VERSION_TABLE}")
    try:
        return connection.execute(query).scalar()
    except sa.exc.DBAPIError:
        connection.rollback()  # a failed statement spoils PostgreSQL's transaction
    if not sa.inspect(connection).has_table(VERSION_TABLE):
        return None
    return connection.execute(query).scalar()  # another process created it meanwhile


@contextlib.contextmanager
def _migration_lock(engine: sa.Engine, connection: sa.Connection) -> Iterator[None]:
    """Hold a lock that only one process migrating this database can have."""
    backend = engine.dialect.name
    if backend == "postgresql":
        key = zlib.crc32(_LOCK_NAME.encode()) & 0x7FFFFFFF
        connection.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": key})
        connection.commit()
        try:
            yield
        finally:
            connection.rollback()
            connection.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            connection.commit()
    elif backend in ("mysql", "mariadb"):
        name = f"{_LOCK_NAME}-{engine.url.database}"[:64]
        got = connection.execute(
            sa.text("SELECT GET_LOCK(:n, :t)"), {"n": name, "t": _LOCK_TIMEOUT}
        ).scalar()
        connection.commit()
        if got != 1:
            raise ObserverError(
                f"could not take the migration lock {name!r} within {_LOCK_TIMEOUT} s: "
                "another process is still migrating the database; try again later"
            )
        try:
            yield
        finally:
            connection.rollback()
            connection.execute(sa.text("SELECT RELEASE_LOCK(:n)"), {"n": name})
            connection.commit()
    else:
        database = engine.url.database
        if backend != "sqlite" or not database or database == ":memory:" or database.startswith("file:"):
            yield
            return
        import fcntl

        with open(database + ".migrate-lock", "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def migrate(engine: sa.Engine) -> None:
    """Bring the database to :data:`HEAD_REVISION`; cheap when it is there already."""
    with engine.connect() as connection:
        revision = current_revision(connection)
        connection.rollback()
        if revision == HEAD_REVISION:
            return
        with _migration_lock(engine, connection):
            revision = current_revision(connection)
            connection.rollback()
            if revision == HEAD_REVISION:
                return
            _upgrade(connection)


class _Held(logging.Handler):
    """Keeps Alembic's log lines while it migrates, to show them only if it fails."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):  # a line that cannot be formatted is skipped
            self.lines.append(f"{record.levelname} {record.getMessage()}")


_HELD_LOCK = threading.Lock()


@contextlib.contextmanager
def _alembic_held() -> Iterator[_Held]:
    """Route Alembic's log records to a private handler instead of the application's.

    Alembic logs each step at INFO through the ``alembic`` logger; a script that
    configured logging (every gnomon command line does) would print them, and the
    run's captured output would keep them.
    """
    logger = logging.getLogger("alembic")
    held = _Held()
    with _HELD_LOCK:
        propagate, level = logger.propagate, logger.level
        logger.addHandler(held)
        logger.propagate = False
        logger.setLevel(logging.INFO)
        try:
            yield held
        finally:
            logger.removeHandler(held)
            logger.propagate = propagate
            logger.setLevel(level)


def _upgrade(connection: sa.Connection) -> None:
    with _alembic_held() as held:  # Alembic logs already while it is imported
        try:
            from alembic import command
            from alembic.config import Config

            config = Config()
            config.set_main_option("script_location", os.fspath(MIGRATIONS_DIR))
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
            connection.commit()
        except Exception as error:
            lines = str(getattr(error, "orig", None) or error).strip().splitlines()
            steps = "; ".join(line for line in held.lines if "setup plugin" not in line)
            raise ObserverError(
                f"Migrating the database {connection.engine.url.render_as_string(hide_password=True)} to "
                f"revision {HEAD_REVISION} failed: {type(error).__name__}: {lines[0] if lines else ''}. "
                f"Alembic's log: {steps or 'empty'}"
            ) from error


#: What to check, by kind of database, when a store cannot be opened.
_FIXES = {
    "sqlite": "check the path; a store is created by running an experiment with -s sqlite:///PATH",
    "postgresql": "check that the server runs and accepts connections there, that the database exists, "
    "and the user and password (PGPASSWORD or ~/.pgpass)",
    "mysql": "check that the server runs and accepts connections there, that the database exists, "
    "and the user and password (?read_default_file=~/.my.cnf)",
}


def open_store_engine(url: str) -> sa.Engine:
    """The engine of the store a URL names, its schema upgraded as the observer would.

    Raises :class:`~gnomon.errors.StoreError` (the URL without its password, the
    reason in one line, and the fix) when the URL is malformed, the driver is
    missing, the SQLite file does not exist or the database is unreachable.
    """
    safe = redact(url) if "://" in str(url) else str(url)
    try:
        parsed = engine_url(url)
    except Exception as error:  # noqa: BLE001 - SQLAlchemy's URL parser raises several types
        raise StoreError(f"{safe} is not a database URL ({error}); write e.g. sqlite:///runs.db") from None
    backend = parsed.get_backend_name()
    kind = "mysql" if backend in ("mysql", "mariadb") else backend
    if backend == "sqlite":
        database = parsed.database or ""
        if database in ("", ":memory:") or (not database.startswith("file:") and not os.path.exists(database)):
            raise StoreError(f"cannot open the store {safe}: no database file there; {_FIXES['sqlite']}")
    try:
        engine = create_engine(parsed, immediate=False)
    except (ImportError, sa.exc.NoSuchModuleError) as error:
        raise StoreError(
            f"cannot open the store {safe}: its driver is not installed ({error}); "
            "install it with: pip install 'gnomon[sql]'"
        ) from None
    try:
        migrate(engine)
    except (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.ProgrammingError) as error:
        engine.dispose()
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        if parsed.password:
            reason = reason.replace(parsed.password, "***")
        fix = _FIXES.get(kind, "check the URL and that the database accepts connections")
        raise StoreError(f"cannot open the store {safe}: {reason}; {fix}") from None
    return engine


def inserted_key(result: sa.CursorResult[Any]) -> int:
    """The primary key of the row an INSERT added."""
    key = result.inserted_primary_key
    if key is None:
        raise ObserverError("the database did not report the key of the row it added")
    return int(key[0])
