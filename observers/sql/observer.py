"""SqlObserver: every run in a SQL database (SQLite, PostgreSQL, MariaDB/MySQL), losing nothing.

Unlike Sacred's SQL observer it keeps metrics (as rows, inserted in batches),
meta, host, info and any result (as JSON: a string, a dict, an array or NaN
alike), numbers runs without gaps or collisions, stores sources, artifacts and
resources once per content, and appends output instead of rewriting it.

Every event is one transaction, written so that delivering it again (a retry
after a lost connection, ``gnomon sync`` twice) changes nothing: metric batches
are remembered by their sequence number and output by its offset, both checked
inside the transaction that writes them.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa

from gnomon.errors import ObserverError
from gnomon.events import (
    ArtifactEvent,
    CompletedEvent,
    Event,
    FailedEvent,
    HeartbeatEvent,
    InterruptedEvent,
    MetricsEvent,
    OutputEvent,
    QueuedEvent,
    ResourceEvent,
    StartedEvent,
    thaw,
)
from gnomon.observers.cleanup import close_when_collected
from gnomon.observers.reachability import reach
from gnomon.observers.sacred_methods import SacredMethods
from gnomon.observers.sql.blobs import blob_exists, store_file
from gnomon.observers.sql.bulk import store_batch
from gnomon.observers.sql.database import checkpoint, create_engine, migrate
from gnomon.observers.sql.experiments import store_experiment
from gnomon.observers.sql.output import append_output
from gnomon.observers.sql.schema import artifacts, resources, runs
from gnomon.observers.sql.starts import record_start, run_values
from gnomon.observers.sql.url import engine_url, redact

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

__all__ = ["DEFAULT_SQL_PRIORITY", "SqlObserver"]

DEFAULT_SQL_PRIORITY = 40

logger = logging.getLogger("gnomon.observers.sql")
T = TypeVar("T")
_RETRYABLE_CODES = {"40001", "40P01", 1213, 1205}  # serialization failure, deadlock, lock wait


@dataclass
class _RunState:
    """What the observer remembers about a run: its key and its metrics' keys."""

    key: int
    run_id: str
    metric_ids: dict[str, int] = field(default_factory=dict)


class SqlObserver(SacredMethods):
    """Stores runs in a database named by a SQLAlchemy URL (``-s URL``, ``sqlite:///runs.db``).

    ``engine`` may be given instead of (or with) ``url`` to reuse an engine. The
    schema is created or upgraded on first use; nothing connects before the first
    event. The password in ``url`` is used to connect and never stored or logged:
    :meth:`to_url` returns the URL without it.
    """

    def __init__(
        self,
        url: str | URL | None = None,
        priority: int = DEFAULT_SQL_PRIORITY,
        engine: sa.Engine | None = None,
    ) -> None:
        if engine is None and url is None:
            raise ObserverError("SqlObserver needs a database URL (sqlite:///runs.db) or an engine")
        self._engine_url = engine.url if engine is not None else engine_url(url)  # type: ignore[arg-type]
        self._engine = engine
        self._owns_engine = engine is None
        self.url = redact(self._engine_url)
        self.priority = priority
        self._runs: dict[str, _RunState] = {}
        self._lock = threading.Lock()
        self._open_lock = threading.Lock()
        self._migrate_lock = threading.Lock()
        self._migrated = False

    @classmethod
    def from_url(cls, url: str) -> SqlObserver:
        """Build from any SQLAlchemy URL (``postgresql://user@host/db``, ``sqlite:///runs.db``)."""
        return cls(url)

    @classmethod
    def create(cls, url: str, *args: Any, **kwargs: Any) -> SqlObserver:
        """Sacred's spelling of the constructor, kept for old scripts."""
        return cls(url, *args, **kwargs)

    def to_url(self) -> str:
        """The database URL without its password (see the module docs of ``url``)."""
        return self.url

    def __repr__(self) -> str:
        return f"SqlObserver({self.url!r})"

    def __eq__(self, other: object) -> bool:
        """Observers of the same database URL are equal, as Sacred's are."""
        if isinstance(other, SqlObserver):
            return bool(self._engine_url == other._engine_url)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(("sql", str(self._engine_url)))

    # ------------------------------------------------------------ database
    def _open(self) -> sa.Engine:
        """The engine, created on first use (nothing connects yet)."""
        with self._open_lock:
            if self._engine is None:
                self._engine = create_engine(self._engine_url)
                # An observer dropped without close() (``gnomon sync`` builds one per
                # run) still closes its connections when collected.
                close_when_collected(self, self._engine.dispose, "sql-engine")
            return self._engine

    def connect(self, timeout: float) -> None:
        """Reach the server before a run starts, then bring its schema up to date.

        Raises :class:`~gnomon.errors.ServerUnreachable` as soon as the server
        refuses the connection or its name does not resolve, and after ``timeout``
        seconds when it does not answer, so the run spools this observer's events
        instead of waiting. A server that answers is migrated if it needs it (a
        current database costs one ``SELECT``), before the run's clock starts. An
        SQLite file has no server to wait for.
        """
        if self._engine_url.get_backend_name() != "sqlite":
            engine = self._open()  # the driver is imported before the clock starts
            reach(lambda: engine.connect().close(), timeout, self.url)
        self.engine  # noqa: B018 - migrates the schema when it is not current

    @property
    def engine(self) -> sa.Engine:
        """The engine, created on first use; the schema is migrated before it is returned.

        The migration runs outside the lock :meth:`close` takes: a database that
        keeps it waiting (locked, or a server gone) must not hold up closing.
        """
        engine = self._open()
        if not self._migrated:
            with self._migrate_lock:
                if not self._migrated:
                    migrate(engine)
                    self._migrated = True
        return engine

    def _transact(self, work: Callable[[sa.Connection], T]) -> T:
        """Run ``work`` in one transaction; retry a deadlock or a lost race a few times."""
        engine = self.engine
        for attempt in range(5):
            try:
                with engine.begin() as connection:
                    return work(connection)
            except sa.exc.IntegrityError:
                if attempt == 4:
                    raise
            except sa.exc.OperationalError as error:
                orig = error.orig
                code = getattr(orig, "sqlstate", None) or (getattr(orig, "args", None) or [None])[0]
                if code not in _RETRYABLE_CODES or attempt == 4:
                    raise
        raise AssertionError("unreachable")

    def _load(self, run_id: str | None) -> _RunState:
        """The state of a run: from memory, or looked up (a run started in another process)."""
        run_id = str(run_id)
        with self._lock:
            state = self._runs.get(run_id)
        if state is not None:
            return state
        with self.engine.connect() as connection:
            key = connection.execute(sa.select(runs.c.id).where(runs.c.run_id == run_id)).scalar()
        if key is None:
            raise ObserverError(
                f"run {run_id!r} is not in {self.url}: its started event was never stored "
                "there, so later events cannot be added (deliver the spool in order)"
            )
        with self._lock:
            return self._runs.setdefault(run_id, _RunState(int(key), run_id))

    # ------------------------------------------------------------ start events
    def _start(self, event: StartedEvent | QueuedEvent, status: str) -> str:
        values = run_values(event, status, store_experiment(self._transact, thaw(event.experiment)))
        key, run_id = self._transact(lambda conn: record_start(conn, event, status, values, self.url))
        with self._lock:
            self._runs[run_id] = _RunState(key, run_id)
        return run_id

    def on_queued(self, event: QueuedEvent) -> str:
        """Record a queued run (status QUEUED); returns its id."""
        return self._start(event, "QUEUED")

    def on_started(self, event: StartedEvent) -> str:
        """Record the start of a run (or find it again on a replay); returns its id."""
        return self._start(event, "RUNNING")

    # ------------------------------------------------------------ run events
    def on_output(self, event: OutputEvent) -> None:
        """Append the new output as rows of at most 1 Mi characters; text already stored is skipped."""
        state = self._load(event.run_id)
        self._transact(lambda conn: append_output(conn, state.key, state.run_id, event.offset, event.text))

    def on_metrics(self, event: MetricsEvent) -> None:
        """Insert a batch of points in one statement; a batch stored before is skipped."""
        state = self._load(event.run_id)
        created: dict[str, int] = {}

        def write(conn: sa.Connection) -> None:
            created.clear()  # a retried transaction creates its metrics again
            store_batch(conn, state.key, event, state.metric_ids, created)

        self._transact(write)
        state.metric_ids.update(created)

    def on_heartbeat(self, event: HeartbeatEvent) -> None:
        """Heartbeat time, result and (when changed) info; ignored once the run has ended."""
        state = self._load(event.run_id)
        values: dict[str, Any] = {"heartbeat": event.time, "result": thaw(event.result)}
        if event.info is not None:
            values["info"] = thaw(event.info)
        self._transact(
            lambda conn: conn.execute(
                sa.update(runs).where(runs.c.id == state.key, runs.c.stop_time.is_(None)).values(**values)
            )
        )

    def on_resource(self, event: ResourceEvent) -> None:
        """Store the file once (content-addressed) and list it for the run."""
        state = self._load(event.run_id)
        digest, stored = event.digest, False
        try:
            digest, _ = self._transact(lambda conn: store_file(conn, event.filename))
            stored = True
        except OSError as error:
            logger.warning("run %s: resource %s could not be read (%s)", state.run_id, event.filename, error)

        def write(conn: sa.Connection) -> None:
            found = conn.execute(
                sa.select(resources.c.id).where(
                    resources.c.run == state.key,
                    resources.c.filename == event.filename,
                    resources.c.digest == digest,
                )
            ).first()
            if found is None:
                conn.execute(
                    sa.insert(resources).values(
                        run=state.key,
                        filename=event.filename,
                        digest=digest,
                        stored=stored or blob_exists(conn, digest),
                        time=event.time,
                    )
                )

        self._transact(write)

    def on_artifact(self, event: ArtifactEvent) -> None:
        """Store the artifact's snapshot once (content-addressed) under its name for the run."""
        state = self._load(event.run_id)
        if not os.path.exists(event.filename):
            with self.engine.connect() as conn:
                known = conn.execute(
                    sa.select(artifacts.c.digest).where(artifacts.c.run == state.key, artifacts.c.name == event.name)
                ).first()
            if known is None:
                logger.warning(
                    "run %s: the snapshot %s of artifact %r is gone; the artifact is not stored",
                    state.run_id,
                    event.filename,
                    event.name,
                )
            return
        digest, size = self._transact(lambda conn: store_file(conn, event.filename))
        values = {
            "digest": digest,
            "size": size,
            "content_type": event.content_type,
            "metadata": thaw(event.metadata),
            "source": event.source,
            "time": event.time,
        }

        def write(conn: sa.Connection) -> None:
            where = (artifacts.c.run == state.key, artifacts.c.name == event.name)
            if conn.execute(sa.select(artifacts.c.digest).where(*where)).first() is None:
                conn.execute(sa.insert(artifacts).values(run=state.key, name=event.name, **values))
            else:  # the run added a new version under the same name
                conn.execute(sa.update(artifacts).where(*where).values(**values))

        self._transact(write)

    # ------------------------------------------------------------ final events
    def _finish(self, event: Event, **values: Any) -> None:
        state = self._load(event.run_id)
        values["stop_time"] = event.time
        self._transact(lambda conn: conn.execute(sa.update(runs).where(runs.c.id == state.key).values(**values)))
        with self._lock:
            self._runs.pop(state.run_id, None)
        self._checkpoint()

    def on_completed(self, event: CompletedEvent) -> None:
        """Status COMPLETED, stop time and the result (any JSON value)."""
        self._finish(event, status="COMPLETED", result=thaw(event.result))

    def on_failed(self, event: FailedEvent) -> None:
        """Status FAILED, stop time and the traceback lines."""
        self._finish(event, status="FAILED", fail_trace=list(event.fail_trace))

    def on_interrupted(self, event: InterruptedEvent) -> None:
        """Status INTERRUPTED (or the interrupt's own, e.g. TIMEOUT) and stop time."""
        self._finish(event, status=event.status)

    # ------------------------------------------------------------ lifecycle
    def _checkpoint(self) -> None:
        """Bring a SQLite file up to date with its write-ahead log (see ``database.checkpoint``)."""
        engine = self._engine
        if engine is None or not self._migrated:  # nothing written through this observer
            return
        try:
            checkpoint(engine)
        except Exception as error:  # noqa: BLE001 - the data is safe in the log; only the copy waits
            logger.debug("checkpoint of %s failed: %s", self.url, error)

    def flush(self) -> None:
        """Every event is committed before its call returns; a SQLite file is checkpointed."""
        self._checkpoint()

    def close(self) -> None:
        """Forget the runs in progress and close the connections (an engine given is kept open).

        A SQLite file is checkpointed first, so the database file alone holds every run.
        """
        with self._lock:
            self._runs.clear()
        self._checkpoint()
        with self._open_lock:
            if self._engine is not None and self._owns_engine:
                self._engine.dispose()
