"""The durable local journal of events an observer could not take.

When a database is down or a disk is full, the events a run produced must not be
lost, and the run must not wait. What an observer has not accepted when its queue
stops draining is written here: a SQLite file (stdlib, WAL mode, safe for several
processes) in the user's data directory, one row per event with the run, the
observer (and the URL that rebuilds it) and the event's sequence number. Artifact
snapshots the events refer to stay in ``staging/`` beside it until delivered.

``gnomon sync`` (:mod:`gnomon.sync`) replays each run's rows to a fresh observer in
sequence order and deletes each row once the observer accepted it. Observers
de-duplicate by ``seq`` and output offset, so a crash between delivery and deletion
cannot store anything twice, and syncing twice delivers nothing twice. A row that
cannot be read back, or that its store rejects, is noted in the ``problems`` table
and stepped over, so one bad entry never holds back the rest of the spool.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

from gnomon import staged
from gnomon.errors import SpoolError
from gnomon.events import ArtifactEvent, Event, event_to_dict
from gnomon.records import record

if TYPE_CHECKING:
    import sqlite3

__all__ = ["BadEntry", "Spool", "SpooledDelivery", "default_spool_dir"]

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
CREATE TABLE IF NOT EXISTS runs (
    run_uid TEXT PRIMARY KEY,
    run_id TEXT,
    experiment TEXT,
    started TEXT
);
CREATE TABLE IF NOT EXISTS problems (
    event_id INTEGER PRIMARY KEY,
    problem TEXT NOT NULL,
    noted REAL NOT NULL
);
"""

#: The kinds that create a run in a store: nothing after them can be stored without them.
_START_KINDS = ("started", "queued")


@record(frozen=True, slots=True)
class BadEntry:
    """A spooled event that cannot be delivered as it is: unreadable, or rejected by its store."""

    seq: int
    kind: str
    problem: str


@record(frozen=True, slots=True)
class SpooledDelivery:
    """Everything one run still owes one of its observers, as the spool holds it.

    ``start`` is the stored started (or queued) event when it is among them, and
    ``last`` the newest event: between them they name the run the way its user saw
    it (its id, experiment and start time). Both are the raw JSON, read only when
    a person asks to see the delivery; ``names`` holds what the spool noted of the
    run when its events were written (run id, experiment, ISO start time).
    """

    run_uid: str
    observer_key: str
    observer_url: str | None
    observer_run_id: str | None
    events: int
    oldest: float
    kinds: tuple[str, ...]
    bad: tuple[BadEntry, ...]
    start: bytes | None
    last: bytes | None
    names: tuple[str | None, str | None, str | None] = (None, None, None)


def _run_name(events: list[Event]) -> tuple[str | None, str | None, str | None]:
    """(run id, experiment name, start time) as far as these events tell them."""
    run_id = next((event.run_id for event in events if event.run_id is not None), None)
    experiment = started = None
    for event in events:
        if event.kind in _START_KINDS:
            name = getattr(event, "experiment", {}).get("name")
            experiment = str(name) if name is not None else None
            started = event.time.isoformat() if event.kind == "started" else None
            break
    return run_id, experiment, started


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
        self._staged: dict[str, str] = {}
        self._held: dict[str, int | None] = {}

    @functools.cached_property
    def directory(self) -> Path:
        """The folder given, else ``SETTINGS.SPOOL_DIR`` as it was when made, else the user data directory."""
        return self._directory if self._directory is not None else _user_spool_dir()

    @property
    def path(self) -> Path:
        """The events database."""
        return self.directory / "spool.sqlite"

    def staging_dir(self, run_uid: str) -> Path:
        """Where a run keeps the artifact snapshots its events point to (made private on first use)."""
        self._make_private(database=False)
        return self.directory / "staging" / run_uid

    def staging(self, run_uid: str) -> str:
        """:meth:`staging_dir`, created and locked as a live run's: once per run, not at every artifact."""
        made = self._staged.get(run_uid)
        if made is None or not os.path.isdir(made):
            path = self.staging_dir(run_uid)
            path.mkdir(parents=True, exist_ok=True)
            made = self._staged[run_uid] = str(path)
            if run_uid not in self._held:
                self._held[run_uid] = staged.hold(made)
        return made

    def note(self, run_uid: str, event: ArtifactEvent, observers: list[tuple[str, str | None, str | None]]) -> None:
        """Journal an artifact event of a live run (see :mod:`gnomon.staged`); nothing without a journal."""
        fd = self._held.get(run_uid)
        if fd is not None:
            staged.note(fd, event, observers)

    def release(self, run_uid: str) -> None:
        """The run ended and its events are delivered or spooled: drop its artifact journal and lock."""
        if run_uid in self._held or run_uid in self._staged:
            staged.release(self.staging_dir(run_uid), self._held.pop(run_uid, None))
            self._staged.pop(run_uid, None)

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
    def connect(self) -> Iterator[sqlite3.Connection]:
        """An open connection to the events database, made private and of the current schema.

        For the modules that read and change the spool in one transaction
        (:mod:`gnomon.replay`); errors of SQLite become :class:`SpoolError`.
        """
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
        """Append events durably (one transaction); events already spooled are ignored.

        The run's id, experiment and start time are kept beside them, so that the
        run can be named as its user knows it even after its start was delivered.
        """
        events = list(events)
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
        with self.connect() as db:
            db.execute("BEGIN IMMEDIATE")
            db.executemany(
                "INSERT OR IGNORE INTO events (run_uid, observer_key, observer_url, observer_run_id, seq, kind,"
                " payload, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            db.execute(
                "INSERT INTO runs (run_uid, run_id, experiment, started) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (run_uid) DO UPDATE SET run_id = COALESCE(runs.run_id, excluded.run_id),"
                " experiment = COALESCE(runs.experiment, excluded.experiment),"
                " started = COALESCE(runs.started, excluded.started)",
                (run_uid, *_run_name(events)),
            )
            db.execute("COMMIT")
        return len(rows)

    def forget(self, run_uid: str, observer_key: str, seq: int) -> None:
        """Drop one event that its observer accepted after it had been spooled."""
        if not self.path.exists():
            return
        with self.connect() as db:
            db.execute(
                "DELETE FROM events WHERE run_uid = ? AND observer_key = ? AND seq = ?", (run_uid, observer_key, seq)
            )
            db.execute(
                "DELETE FROM runs WHERE run_uid = ? AND NOT EXISTS (SELECT 1 FROM events WHERE run_uid = ?)",
                (run_uid, run_uid),
            )

    def pending(self) -> list[tuple[str, str, str | None, int]]:
        """(run_uid, observer_key, observer_url, event count) of everything waiting."""
        staged.recover(self)
        if not self.path.exists():
            return []
        with self.connect() as db:
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
        with self.connect() as db:
            return db.execute("SELECT 1 FROM events WHERE run_uid = ? LIMIT 1", (run_uid,)).fetchone() is not None

    def deliveries(self) -> list[SpooledDelivery]:
        """Everything that waits, one entry per run and observer, oldest first.

        Artifacts staged by runs that died before handing them over join first
        (:mod:`gnomon.staged`).
        """
        staged.recover(self)
        if not self.path.exists():
            return []
        with self.connect() as db:
            groups = list(
                db.execute(
                    "SELECT run_uid, observer_key, MAX(observer_url), MAX(observer_run_id), COUNT(*), MIN(created)"
                    " FROM events GROUP BY run_uid, observer_key ORDER BY MIN(id)"
                )
            )
            found = []
            for run_uid, key, url, own_id, count, oldest in groups:
                rows = list(
                    db.execute(
                        "SELECT e.seq, e.kind, p.problem FROM events e LEFT JOIN problems p ON p.event_id = e.id"
                        " WHERE e.run_uid = ? AND e.observer_key = ? ORDER BY e.seq",
                        (run_uid, key),
                    )
                )
                start = db.execute(
                    "SELECT payload FROM events WHERE run_uid = ? AND observer_key = ? AND kind IN (?, ?)"
                    " ORDER BY seq LIMIT 1",
                    (run_uid, key, *_START_KINDS),
                ).fetchone()
                last = db.execute(
                    "SELECT payload FROM events WHERE run_uid = ? AND observer_key = ? ORDER BY seq DESC LIMIT 1",
                    (run_uid, key),
                ).fetchone()
                names = db.execute(
                    "SELECT run_id, experiment, started FROM runs WHERE run_uid = ?", (run_uid,)
                ).fetchone()
                found.append(
                    SpooledDelivery(
                        run_uid=run_uid,
                        observer_key=key,
                        observer_url=url,
                        observer_run_id=own_id,
                        events=count,
                        oldest=oldest,
                        kinds=tuple(kind for _, kind, _ in rows),
                        bad=tuple(BadEntry(seq, kind, problem) for seq, kind, problem in rows if problem),
                        start=bytes(start[0]) if start else None,
                        last=bytes(last[0]) if last else None,
                        names=tuple(names) if names else (None, None, None),
                    )
                )
            return found

    def discard(self, run_uid: str, observer_key: str) -> int:
        """Delete everything one run owes one observer; returns how many events went.

        The run's staged artifacts go too once no observer waits for them.
        """
        if not self.path.exists():
            return 0
        with self.connect() as db:
            db.execute("BEGIN IMMEDIATE")
            db.execute(
                "DELETE FROM problems WHERE event_id IN (SELECT id FROM events WHERE run_uid = ? AND observer_key = ?)",
                (run_uid, observer_key),
            )
            removed = db.execute(
                "DELETE FROM events WHERE run_uid = ? AND observer_key = ?", (run_uid, observer_key)
            ).rowcount
            db.execute("COMMIT")
        self.tidy(run_uid)
        return int(removed)

    def tidy(self, run_uid: str) -> None:
        """Once no event of the run waits, drop its staged artifacts and its name."""
        if self.has_run(run_uid):
            return
        import shutil

        shutil.rmtree(self.directory / "staging" / run_uid, ignore_errors=True)
        with self.connect() as db:
            db.execute("DELETE FROM runs WHERE run_uid = ?", (run_uid,))

