r"""MongoObserver: runs in MongoDB, in Sacred's schema, written incrementally.

Collections (with ``collection_prefix="p"``: ``p_runs`` and ``p_metrics``)::

    runs              Sacred's run documents, integer _id (see documents.py)
    metrics           {run_id, name, part, steps, values, timestamps}, <= 100k points each
    fs.files/chunks   GridFS: sources and resources (once per content), artifacts,
                      the whole captured output of each run, values too large to embed
    gnomon_counters   {_id: <runs collection>, seq}: the last run id handed out

Every write is targeted: a heartbeat ``$set``\\ s what changed (``heartbeat``, the
bounded ``captured_out``, changed ``info.<key>`` entries, the result), metric points
are ``$push``\\ ed, output is appended to its GridFS file. The run document is never
replaced, so fields others write (Omniboard's ``omniboard.tags``/``notes``) stay.

Run ids come from an atomic counter (``find_one_and_update`` with ``$inc``), seeded
from the largest numeric ``_id`` already there; an id taken meanwhile by someone else
(Sacred's own observer, a manual insert) reseeds the counter and takes the next
one. Non-numeric ``_id``\\ s in the collection are ignored. Creating a run costs the
same with 2 or 2 million runs stored.

Events of a run this observer has not seen start (``gnomon sync`` in a new process)
resume from what the database holds; replays store nothing twice (output by
offset, metrics by event ``seq``, files by content hash, the start by a key of
start time, command and host).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from gnomon.errors import ObserverError, ServerUnreachable
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
from gnomon.observers.mongo.documents import (
    bson_date,
    start_key,
)
from gnomon.observers.mongo.files import FileStore
from gnomon.observers.mongo.ids import insert_with_new_id
from gnomon.observers.mongo.metrics import MetricsWriter
from gnomon.observers.mongo.output import OutputFile
from gnomon.observers.mongo.run_state import RunState, doc_id_of, info_changes, result_update, resume, window_of
from gnomon.observers.mongo.starts import base_document, existing_run, own_number
from gnomon.observers.mongo.url import build_url, client_seeds, parse_mongo_url, redact, runs_key, with_uri_options
from gnomon.observers.reachability import is_refusal, reach, summary
from gnomon.observers.sacred_methods import SacredMethods

__all__ = ["DEFAULT_MONGO_PRIORITY", "MongoObserver", "QueuedMongoObserver"]

DEFAULT_MONGO_PRIORITY = 30
#: Seconds pymongo looks for a server before an operation fails (and is retried).
DEFAULT_SERVER_SELECTION_TIMEOUT_MS = 10_000

logger = logging.getLogger("gnomon.observers.mongo")


class MongoObserver(SacredMethods):
    """Stores runs in MongoDB in Sacred's schema (``-m DB``, ``mongodb://`` URLs).

    ``url`` is a connection string (``mongodb://user@host:27017/db?...``,
    ``mongodb+srv://...``) or Sacred's ``host:port``; ``db_name`` defaults to the
    URL's database, else ``sacred``. ``client`` lets you pass your own
    ``MongoClient``; other keyword arguments go to ``MongoClient``. ``overwrite``
    stores the run under that id, replacing what was there (Sacred's option).
    With ``strict=True`` the constructor checks the server answers and raises
    :class:`~gnomon.errors.ObserverError` when it does not; otherwise an
    unreachable server never stops a run: its events are retried and spooled.
    """

    def __init__(
        self,
        url: str | None = None,
        db_name: str | None = None,
        collection_prefix: str = "",
        priority: int | None = None,
        client: Any = None,
        *,
        collection: str | None = None,
        overwrite: int | str | None = None,
        strict: bool = False,
        failure_dir: str | None = None,
        **client_kwargs: Any,
    ) -> None:
        if client is not None and url is not None:
            raise ObserverError("MongoObserver takes a url or a client, not both")
        seeds = client_seeds(client) if client is not None else None
        target = parse_mongo_url(url if client is None else f"mongodb://{seeds or 'localhost'}", db_name)
        self.db_name = target.db_name
        self.collection_prefix = collection_prefix or target.collection_prefix
        self.priority = target.priority if priority is None else priority
        self.overwrite = overwrite if overwrite is not None else target.overwrite
        prefix = f"{self.collection_prefix}_" if self.collection_prefix else ""
        self.runs_name = collection or f"{prefix}runs"
        self.metrics_name = f"{prefix}metrics"
        self.failure_dir = failure_dir  # Sacred's; nothing is pickled here, the spool keeps events
        self._client_url = target.client_url
        self._client_kwargs = dict(client_kwargs)
        self._client = client
        self._own_client = client is None
        self._db: Any = None
        self._store: FileStore | None = None
        self._lock = threading.Lock()
        self._runs: dict[Any, RunState] = {}
        url = with_uri_options(target.client_url, self._client_kwargs)
        self.url = (
            build_url(url, self.db_name, self.collection_prefix, self.priority, self.overwrite)
            if client is None or seeds
            else None
        )
        self._client_kwargs.setdefault("serverSelectionTimeoutMS", DEFAULT_SERVER_SELECTION_TIMEOUT_MS)
        if strict:
            self._check_server()

    # ------------------------------------------------------------ construction
    @classmethod
    def from_url(cls, url: str) -> MongoObserver:
        """Build from ``mongodb://[user[:password]@]host[:port]/db[?collection_prefix=&priority=]``."""
        return cls(url=url)

    @classmethod
    def create(cls, *args: Any, **kwargs: Any) -> MongoObserver:
        """Sacred's deprecated spelling of the constructor, kept for old scripts."""
        return cls(*args, **kwargs)

    @classmethod
    def create_from(
        cls, runs: Any, fs: Any = None, overwrite: Any = None, metrics_collection: Any = None,
        failure_dir: str | None = None, priority: int = DEFAULT_MONGO_PRIORITY,
    ) -> MongoObserver:
        """Sacred's constructor from collections: the runs collection decides client and database."""
        return cls(
            client=runs.database.client, db_name=runs.database.name, collection=runs.name,
            overwrite=overwrite, priority=priority, failure_dir=failure_dir,
        )

    def to_url(self) -> str | None:
        """The URL without password; ``gnomon sync`` needs it again (``--observer URL`` or env)."""
        return self.url

    def __repr__(self) -> str:
        return f"MongoObserver({redact(self._client_url)!r}, db_name={self.db_name!r})"

    def __eq__(self, other: object) -> bool:
        """Observers of the same runs collection (server URL, database, collection) are equal, as Sacred's are."""
        if isinstance(other, MongoObserver):
            return self._runs_key() == other._runs_key()
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._runs_key())

    def _runs_key(self) -> tuple[str, ...]:
        return runs_key(self._client_url, self.db_name, self.runs_name)

    def sacred_id(self, run_id: Any) -> Any:
        """The ``_id`` the run is stored under: an int for numeric ids, as Sacred's MongoObserver returned."""
        return doc_id_of(run_id)

    # ------------------------------------------------------------ connection
    def _mongo_client(self) -> Any:
        """The client, created on first use (it starts looking for the servers in the background)."""
        if self._client is None:
            import pymongo

            kwargs = dict(self._client_kwargs)
            self._client = pymongo.MongoClient(self._client_url, **kwargs)
            self._finalizer = close_when_collected(self, self._client.close, "mongo-client")
        return self._client

    def connect(self, timeout: float) -> None:
        """Reach a server before a run starts, waiting for one at most ``timeout`` seconds.

        Raises :class:`~gnomon.errors.ServerUnreachable` as soon as every server
        named refuses the connection or has a name that does not resolve (pymongo
        itself would keep trying for its whole server-selection time), and after
        ``timeout`` seconds when none answers, so the run spools this observer's
        events instead of waiting. A server found gets its indexes checked, before
        the run's clock starts. See ``gnomon.observers.mongo.connection``.
        """
        from pymongo.errors import ConfigurationError

        from gnomon.observers.mongo.connection import await_server

        where = redact(self._client_url)
        with self._lock:
            try:
                client = self._mongo_client()
            except ConfigurationError as error:  # a mongodb+srv:// name without DNS records
                if "DNS" not in str(error) and not is_refusal(error):
                    raise
                raise ServerUnreachable(f"{where} cannot be reached: {summary(error)}") from error
        if not self._own_client or self._client_kwargs.get("connect") is False:
            # A client that may not look for servers until its first operation:
            # that operation is the wait, bounded all the same.
            reach(self._database, timeout, where)
            return
        await_server(client, timeout, where)
        self._database()  # its indexes, before the run's clock starts

    def _database(self) -> Any:
        with self._lock:
            if self._db is None:
                db = self._mongo_client()[self.db_name]
                store = FileStore(db, self.runs_name)
                store.ensure_indexes()
                db[self.runs_name].create_index([("gnomon.start_key", 1)])
                # What the query API lists runs by: liveness (DIED) and the default order.
                db[self.runs_name].create_index([("heartbeat", 1)])
                db[self.runs_name].create_index([("start_time", 1)])
                db[self.metrics_name].create_index([("run_id", 1), ("name", 1)])
                self._db, self._store = db, store
            return self._db

    def _check_server(self) -> None:
        try:
            self._database().command("ping")
        except Exception as error:
            raise ObserverError(
                f"MongoDB at {redact(self._client_url)} does not answer ({type(error).__name__}); "
                "start the server, fix the URL, or drop strict=True to record the run later with `gnomon sync`"
            ) from error

    def handle(self, event: Event) -> Any:
        """Deliver an event; driver errors become one readable ObserverError."""
        from pymongo.errors import PyMongoError

        try:
            return super().handle(event)
        except PyMongoError as error:
            # A write may have landed before the connection broke: the retry starts
            # again from what the database holds, so nothing is stored twice.
            self._forget(event.run_id)
            reason = str(error).split("\n")[0].split(" (configured timeouts")[0].split(", Timeout:")[0][:200]
            raise ObserverError(
                f"MongoDB at {redact(self._client_url)} (database {self.db_name!r}) could not take the "
                f"{event.kind} event: {type(error).__name__}: {reason}"
            ) from error

    def _forget(self, run_id: Any) -> None:
        with self._lock:
            self._runs.pop(doc_id_of(run_id), None)

    @property
    def runs(self) -> Any:
        """The runs collection."""
        return self._database()[self.runs_name]

    # ------------------------------------------------------------ start events
    def on_queued(self, event: QueuedEvent) -> str:
        """Store a queued run: Sacred's queued document (status QUEUED)."""
        db = self._database()
        key = start_key(event.time, event.command, event.host, event.run_uid)
        event = own_number(self.runs, event, key, self.overwrite)
        existing = existing_run(db, self.runs_name, self.metrics_name, event, key, self.overwrite)
        if existing is not None:
            return str(existing["_id"])
        assert self._store is not None
        doc = base_document(event, self._store)
        doc["meta"].setdefault("queue_time", bson_date(event.time))
        doc.update(status="QUEUED", gnomon={"start_key": key})
        if event.run_id is not None or self.overwrite is not None:
            doc["_id"] = doc_id_of(event.run_id if event.run_id is not None else self.overwrite)
            db[self.runs_name].insert_one(doc)
            return str(doc["_id"])
        return str(insert_with_new_id(self._database(), self.runs_name, doc))

    def on_started(self, event: StartedEvent) -> str:
        """Store the run document (status RUNNING), its sources and an empty output file."""
        from bson import ObjectId

        db = self._database()
        key = start_key(event.time, event.command, event.host, event.run_uid)
        event = own_number(self.runs, event, key, self.overwrite)
        existing = existing_run(db, self.runs_name, self.metrics_name, event, key, self.overwrite)
        if existing is not None and existing.get("status") != "QUEUED":
            with self._lock:
                self._runs.pop(existing["_id"], None)
            self._load(existing["_id"])
            return str(existing["_id"])
        output_id = ObjectId()
        assert self._store is not None
        doc = base_document(event, self._store)
        doc.update(
            start_time=bson_date(event.time), status="RUNNING", resources=[], artifacts=[],
            captured_out="", info={}, heartbeat=None, result=None,
            gnomon={"start_key": key, "output_file": output_id},
        )
        if existing is not None:  # a queued run starts: keep its id and anything others added
            run_id = existing["_id"]
            db[self.runs_name].update_one({"_id": run_id}, {"$set": doc})
        elif event.run_id is not None or self.overwrite is not None:
            run_id = doc["_id"] = doc_id_of(event.run_id if event.run_id is not None else self.overwrite)
            db[self.runs_name].insert_one(doc)
        else:
            run_id = insert_with_new_id(db, self.runs_name, doc)
        output = OutputFile.create(
            db, "fs", f"captured_out://{self.runs_name}/{run_id}", run_id, bson_date(event.time), output_id
        )
        state = RunState(
            run_id=run_id, output=output, window=window_of(output),
            metrics=MetricsWriter(db[self.metrics_name], db[self.runs_name], run_id),
        )
        with self._lock:
            self._runs[run_id] = state
        return str(run_id)

    def _load(self, run_id: Any) -> RunState:
        """A run's state: from memory, or resumed from the database."""
        doc_id = doc_id_of(run_id)
        with self._lock:
            state = self._runs.get(doc_id)
        if state is not None:
            return state
        state = resume(self._database(), self.db_name, self.runs_name, self.metrics_name, run_id)
        with self._lock:
            return self._runs.setdefault(doc_id, state)

    # ------------------------------------------------------------ run events
    def on_output(self, event: OutputEvent) -> None:
        """Append new output to the run's GridFS file (crash-safe, see output.py).

        ``captured_out`` in the run document follows on the next beat.
        """
        state = self._load(event.run_id)
        new = state.output.append(event.text, event.offset)
        if new:
            state.window.append(new)
            state.pending["captured_out"] = state.window.text()

    def on_metrics(self, event: MetricsEvent) -> None:
        """``$push`` the batch's points into the metrics documents."""
        self._load(event.run_id).metrics.add(event.seq, event.series)

    def on_heartbeat(self, event: HeartbeatEvent) -> None:
        """``$set`` the beat time and whatever changed since the last beat."""
        state = self._load(event.run_id)
        if state.stopped:
            return  # a beat replayed after the run ended must not undo its end
        update: dict[str, Any] = {"$set": {"heartbeat": bson_date(event.time), **state.pending}}
        if event.info is not None:
            assert self._store is not None
            sets, unsets = info_changes(state, thaw(event.info), self._store)
            update["$set"].update(sets)
            if unsets:
                update["$unset"] = unsets
        assert self._store is not None
        update["$set"].update(result_update(state, event.result, self._store))
        self.runs.update_one({"_id": state.run_id}, update)
        state.pending.clear()

    def on_resource(self, event: ResourceEvent) -> None:
        """Store the file in GridFS once per content; list ``[path, file id]`` in ``resources``."""
        state = self._load(event.run_id)
        assert self._store is not None
        file_id = self._store.content(event.filename, event.digest, "resource")
        self.runs.update_one({"_id": state.run_id}, {"$addToSet": {"resources": [event.filename, file_id]}})

    def on_artifact(self, event: ArtifactEvent) -> None:
        """Store the artifact's snapshot in GridFS and list ``{name, file_id}`` in ``artifacts``."""
        state = self._load(event.run_id)
        assert self._store is not None
        file_id = self._store.artifact(
            state.run_id, event.name, event.filename, event.digest, thaw(event.metadata), event.content_type
        )
        if file_id is None:
            logger.warning(
                "run %s: the snapshot %s of artifact %r is gone; the artifact is not stored",
                state.run_id, event.filename, event.name,
            )
            return
        self.runs.update_one(
            {"_id": state.run_id}, {"$addToSet": {"artifacts": {"name": event.name, "file_id": file_id}}}
        )

    # ------------------------------------------------------------ final events
    def _finish(self, event: Event, fields: dict[str, Any]) -> None:
        state = self._load(event.run_id)
        state.output.close()  # the output becomes a plain GridFS file before the run is marked ended
        fields.update(state.pending, stop_time=bson_date(event.time))
        self.runs.update_one({"_id": state.run_id}, {"$set": fields})
        with self._lock:
            self._runs.pop(state.run_id, None)

    def on_completed(self, event: CompletedEvent) -> None:
        """Status COMPLETED, stop time and result."""
        state = self._load(event.run_id)
        state.result = None  # always written at the end
        assert self._store is not None
        self._finish(event, {"status": "COMPLETED", **result_update(state, event.result, self._store)})

    def on_failed(self, event: FailedEvent) -> None:
        """Status FAILED, stop time and the traceback lines."""
        self._finish(event, {"status": "FAILED", "fail_trace": list(event.fail_trace)})

    def on_interrupted(self, event: InterruptedEvent) -> None:
        """Status INTERRUPTED (or the interrupt's own, e.g. TIMEOUT) and stop time."""
        self._finish(event, {"status": event.status})

    # ------------------------------------------------------------ lifecycle
    def flush(self) -> None:
        """Write the ``captured_out`` of runs in progress that no beat has carried yet."""
        with self._lock:
            states = list(self._runs.values())
        for state in states:
            if state.pending:
                self.runs.update_one({"_id": state.run_id}, {"$set": dict(state.pending)})
                state.pending.clear()

    def close(self) -> None:
        """Flush, forget the runs in progress (later events resume) and close our client."""
        try:
            if self._db is not None:
                self.flush()
        finally:
            with self._lock:
                self._runs = {}
                client, self._db, self._store = self._client, None, None
                if self._own_client:
                    self._client = None
            if self._own_client and client is not None:
                client.close()


class QueuedMongoObserver(MongoObserver):
    """Sacred's name for a MongoObserver that never blocks the run; every gnomon observer is one.

    ``interval`` and ``retry_interval`` are accepted for old scripts: delivery is
    gnomon's (background queue, retry with backoff, spool).
    """

    def __init__(self, *args: Any, interval: float = 20.0, retry_interval: float = 10.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.interval = interval
        self.retry_interval = retry_interval
