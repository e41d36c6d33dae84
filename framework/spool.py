"""The durable local journal of events an observer could not take, and ``gnomon sync``.

When a database is down or a disk is full, the events a run produced must not be
lost, and the run must not wait. What an observer has not accepted when its queue
stops draining is written here: a SQLite file (stdlib, WAL mode, safe for several
processes) in the user's data directory, one row per event with the run, the
observer (and the URL that rebuilds it) and the event's sequence number. Artifact
snapshots the events refer to stay in ``staging/`` beside it until delivered.

``gnomon sync`` replays each run's rows to a fresh observer in sequence order and
deletes each row once the observer accepted it. Observers de-duplicate by ``seq``
and output offset, so a crash between delivery and deletion cannot store anything
twice, and syncing twice delivers nothing twice.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from gnomon.errors import SpoolError
from gnomon.events import Event, event_from_dict, event_to_dict

if TYPE_CHECKING:
    import sqlite3

__all__ = ["Spool", "SyncReport", "default_spool_dir", "sync"]

log = logging.getLogger("gnomon.spool")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_uid TEXT NOT NULL,
    observer_key TEXT NOT NULL,
    observer_url TEXT,
    observer_run_id TEXT,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    payload BLOB NOT NULL,
    created REAL NOT NULL,
    UNIQUE (run_uid, observer_key, seq)
);
CREATE INDEX IF NOT EXISTS events_by_run ON events (run_uid, observer_key, seq);
"""


def default_spool_dir() -> Path:
    """``SETTINGS.SPOOL_DIR`` (or ``GNOMON_SPOOL_DIR``), else the user data directory."""
    from gnomon.settings import SETTINGS

    return Path(SETTINGS.SPOOL_DIR) if SETTINGS.SPOOL_DIR else _user_spool_dir()


def _user_spool_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("gnomon", appauthor=False)) / "spool"


def _narrow(path: Path, mode: int) -> None:
    """Take away the permissions of others on ``path`` when this user owns it."""
    try:
        status = path.stat()
    except FileNotFoundError:
        return
    if status.st_mode & 0o077 and status.st_uid == getattr(os, "getuid", lambda: status.st_uid)():
        os.chmod(path, mode)


class Spool:
    """One spool directory: the events database plus staged artifact files.

    Every run has one, and most never use it; so the user data directory is looked
    up, and sqlite3 imported, only when it is.
    """

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        from gnomon.settings import SETTINGS

        if directory is None and SETTINGS.SPOOL_DIR:
            directory = SETTINGS.SPOOL_DIR
        self._directory = Path(directory) if directory is not None else None
        self._private = False

    @functools.cached_property
    def directory(self) -> Path:
        """The folder given, else ``SETTINGS.SPOOL_DIR`` as it was when the spool was made,
        else the user data directory."""
        return self._directory if self._directory is not None else _user_spool_dir()

    @property
    def path(self) -> Path:
        """The events database."""
        return self.directory / "spool.sqlite"

    def staging_dir(self, run_uid: str) -> Path:
        """Where a run keeps the artifact snapshots its events point to (made private on first use)."""
        self._make_private(database=False)
        return self.directory / "staging" / run_uid

    def _make_private(self, *, database: bool = True) -> None:
        """Create the spool folder and its database readable by their owner only.

        The spool holds what a run produced (output, metrics, artifacts, configs)
        before a store has it; nobody else on the machine may read it. A folder
        or file made before with wider permissions is narrowed, when it is ours.
        """
        if self._private:
            return
        directory = self.directory
        if not directory.exists() or (directory / "spool.sqlite").exists() or not any(directory.iterdir()):
            # a spool folder (new, empty or ours already); a folder of other things
            # that the setting points at (a home folder, say) keeps its permissions
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            _narrow(directory, 0o700)
        if not database:
            return
        if not self.path.exists():
            with contextlib.suppress(FileExistsError):
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        for suffix in ("", "-wal", "-shm"):  # SQLite gives these the database's permissions
            _narrow(Path(f"{self.path}{suffix}"), 0o600)
        self._private = True

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        import sqlite3

        try:
            self._make_private()
            connection = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        except (OSError, sqlite3.Error) as error:
            raise SpoolError(f"Cannot open the spool {self.path}: {error}") from error
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.executescript(_SCHEMA)
            yield connection
        except sqlite3.Error as error:
            raise SpoolError(f"Cannot use the spool {self.path}: {error}") from error
        finally:
            connection.close()

    def write(
        self,
        run_uid: str,
        observer_key: str,
        observer_url: str | None,
        observer_run_id: str | None,
        events: Iterable[Event],
    ) -> int:
        """Append events durably (one transaction); events already spooled are ignored."""
        rows = [
            (
                run_uid,
                observer_key,
                observer_url,
                observer_run_id,
                event.seq,
                event.kind,
                orjson.dumps(event_to_dict(event), default=str),
                time.time(),
            )
            for event in events
        ]
        if not rows:
            return 0
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            db.executemany(
                "INSERT OR IGNORE INTO events (run_uid, observer_key, observer_url, observer_run_id, seq, kind,"
                " payload, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            db.execute("COMMIT")
        return len(rows)

    def forget(self, run_uid: str, observer_key: str, seq: int) -> None:
        """Drop one event that its observer accepted after it had been spooled."""
        if not self.path.exists():
            return
        with self._connect() as db:
            db.execute(
                "DELETE FROM events WHERE run_uid = ? AND observer_key = ? AND seq = ?", (run_uid, observer_key, seq)
            )

    def pending(self) -> list[tuple[str, str, str | None, int]]:
        """(run_uid, observer_key, observer_url, event count) of everything waiting."""
        if not self.path.exists():
            return []
        with self._connect() as db:
            return list(
                db.execute(
                    "SELECT run_uid, observer_key, MAX(observer_url), COUNT(*) FROM events"
                    " GROUP BY run_uid, observer_key ORDER BY MIN(id)"
                )
            )

    def has_run(self, run_uid: str) -> bool:
        """Whether any event of the run still waits here."""
        if not self.path.exists():
            return False
        with self._connect() as db:
            return (
                db.execute("SELECT 1 FROM events WHERE run_uid = ? LIMIT 1", (run_uid,)).fetchone()
                is not None
            )

    def _rows(
        self, db: sqlite3.Connection, run_uid: str, observer_key: str
    ) -> list[tuple[int, str | None, bytes]]:
        return list(
            db.execute(
                "SELECT id, observer_run_id, payload FROM events WHERE run_uid = ? AND observer_key = ? ORDER BY seq",
                (run_uid, observer_key),
            )
        )

    def replay(self, run_uid: str, observer_key: str, observer: Any) -> int:
        """Deliver one run's events to ``observer`` in order, deleting each once accepted.

        Returns how many were delivered; the first exception stops the replay and
        propagates, leaving the undelivered rows in place.
        """
        delivered = 0
        with self._connect() as db:
            rows = self._rows(db, run_uid, observer_key)
            own_id = next((r[1] for r in rows if r[1] is not None), None)
            for row_id, _, payload in rows:
                event = event_from_dict(orjson.loads(payload))
                if own_id is not None and event.run_id != own_id:
                    event = dataclasses.replace(event, run_id=own_id)
                result = observer.handle(event)
                if event.kind in ("started", "queued") and result is not None:
                    own_id = str(result)
                    db.execute(
                        "UPDATE events SET observer_run_id = ? WHERE run_uid = ? AND observer_key = ?",
                        (own_id, run_uid, observer_key),
                    )
                db.execute("DELETE FROM events WHERE id = ?", (row_id,))
                delivered += 1
            flush = getattr(observer, "flush", None)
            if flush is not None:
                flush()
        if not self.has_run(run_uid):
            shutil.rmtree(self.staging_dir(run_uid), ignore_errors=True)
        return delivered


@dataclass
class SyncReport:
    """What ``gnomon sync`` did."""

    runs: int = 0
    delivered: int = 0
    failed: int = 0
    messages: list[str] = field(default_factory=list)


def _observer_from_url(url: str) -> Any:
    from gnomon.observers.registry import observer_from_url

    return observer_from_url(url)


def sync(
    spool_dir: str | os.PathLike[str] | None = None,
    observer_url: str | None = None,
    dry_run: bool = False,
    observer_factory: Callable[[str | None, str], Any] | None = None,
) -> SyncReport:
    """Deliver every spooled event to a freshly built observer.

    Each observer is rebuilt from the URL stored with its events (``observer_url``
    overrides it, e.g. to point at a database that moved); ``observer_factory``
    ``(url, observer_key) -> observer`` lets tests and programs supply the observer.
    """
    spool = Spool(spool_dir)
    report = SyncReport()
    for run_uid, observer_key, url, count in spool.pending():
        report.runs += 1
        target = observer_url or url
        label = f"run {run_uid[:12]} -> {target or observer_key}"
        if dry_run:
            report.messages.append(f"{label}: {count} event(s) waiting")
            continue
        try:
            if observer_factory is not None:
                observer = observer_factory(target, observer_key)
            elif target is None:
                raise SpoolError(
                    f"the observer {observer_key!r} has no URL to rebuild it from; pass --observer URL"
                )
            else:
                observer = _observer_from_url(target)
            from gnomon.observers.base import as_observer

            target_observer = as_observer(observer)
            try:
                delivered = spool.replay(run_uid, observer_key, target_observer)
            finally:
                target_observer.close()
        except Exception as error:  # noqa: BLE001 - one bad target must not stop the others
            report.failed += 1
            report.messages.append(f"{label}: not delivered: {type(error).__name__}: {error}")
            continue
        report.delivered += delivered
        report.messages.append(f"{label}: delivered {delivered} event(s)")
    return report
