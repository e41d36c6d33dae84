"""SqlRunStore: the query API's read side of a SQL store (SQLite, PostgreSQL, MariaDB/MySQL).

Listing runs costs one ``SELECT`` of the run rows (experiment name, first git
repository and annotations joined) and one of the metric summaries the observer
keeps on each ``metrics`` row; series, output and files are never read for it.
Filters and ordering are compiled to SQL by :mod:`.filters` where SQL gives the
exact answer, and left to the query layer where it cannot.

JSON documents are fetched as text and parsed with orjson; only a document that
holds a tagged value (``"__type__"``) goes through :func:`gnomon.serialize.decode`.
"""

from __future__ import annotations

import gc
import io
import threading
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import IO, Any

import orjson
import sqlalchemy as sa

from gnomon.errors import RunNotFoundError
from gnomon.observers.sql.database import create_engine, open_store_engine
from gnomon.observers.sql.filters import FilterCompiler
from gnomon.observers.sql.reader import BlobStream, output_slice, series_points
from gnomon.observers.sql.schema import (
    artifacts,
    blobs,
    experiment_repositories,
    experiment_sources,
    experiments,
    metrics,
    resources,
    run_annotations,
    runs,
)
from gnomon.observers.sql.summaries import SUMMARY_COLUMNS, load_json, summary_records, unpack_row
from gnomon.observers.sql.url import redact
from gnomon.query.protocol import ArtifactInfo, LineageEdge, ResourceInfo, Series, SourceInfo
from gnomon.query.tree import Node, Path

__all__ = ["SqlRunStore"]

_IN_CHUNK = 5000  # ids per IN list; SQLite allows 32766 parameters, PostgreSQL 65535
_BASE = (
    runs.outerjoin(experiments, experiments.c.id == runs.c.experiment_id)
    .outerjoin(
        experiment_repositories,
        sa.and_(
            experiment_repositories.c.experiment_id == runs.c.experiment_id,
            experiment_repositories.c.position == 0,
        ),
    )
    .outerjoin(run_annotations, run_annotations.c.run == runs.c.id)
)


class SqlRunStore:
    """Runs stored by :class:`~gnomon.observers.sql.SqlObserver`, read through the query protocol.

    Open it with :meth:`from_url` (what :func:`gnomon.open` does for ``sqlite://``,
    ``postgresql://``, ``mysql://`` and ``mariadb://`` URLs). Safe to share
    between threads: each call takes its own connection.
    """

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.url = redact(engine.url)
        self.dialect = engine.dialect.name
        self._compiler = FilterCompiler(self.dialect)
        self._writer: sa.Engine | None = None
        self._writer_lock = threading.Lock()
        if self.dialect in ("mysql", "mariadb") and not sa.event.contains(engine, "connect", _long_group_concat):
            sa.event.listen(engine, "connect", _long_group_concat)
            engine.dispose()  # connections opened before have the default limit

    @classmethod
    def from_url(cls, url: str) -> SqlRunStore:
        """Open the database a URL names, upgrading an older schema as the observer does.

        Raises :class:`StoreError` (the URL without its password, the reason in one
        line, and the fix) when the driver is missing or the database is unreachable.
        """
        return cls(open_store_engine(url))

    def close(self) -> None:
        """Close every connection of the store."""
        self.engine.dispose()
        with self._writer_lock:
            if self._writer is not None:
                self._writer.dispose()

    def __repr__(self) -> str:
        return f"SqlRunStore({self.url!r})"

    # ------------------------------------------------------------ capabilities
    def supports(self, atom: Node) -> bool:
        """Whether SQL evaluates this leaf exactly as :mod:`gnomon.query.tree` says."""
        return self._compiler.compile_atom(atom) is not None

    def supports_order(self, path: Path) -> bool:
        """Whether :meth:`summaries` sorts by ``path`` in SQL (fixed fields, git.commit, metric summaries)."""
        return self._compiler.order(path, False) is not None

    # ------------------------------------------------------------ listing
    def _json_text(self, column: Any) -> Any:
        if self.dialect == "postgresql":
            return sa.cast(column, sa.Text)
        return sa.type_coerce(column, sa.Text)

    def _meta_number(self, key: str) -> Any:
        if self.dialect == "postgresql":
            return runs.c.meta.op("->>", return_type=sa.Text)(sa.literal(key, sa.Text))
        if self.dialect == "sqlite":
            return sa.func.json_extract(runs.c.meta, f"$.{key}")
        return sa.func.JSON_VALUE(runs.c.meta, f"$.{key}")

    def _where(self, where: Node | _ById | None) -> Any:
        if where is None:
            return sa.true()
        if isinstance(where, _ById):
            return runs.c.run_id == where.run_id
        return self._compiler.compile(where)

    def summaries(
        self,
        where: Node | None,
        *,
        order_by: Sequence[tuple[Path, bool]] = (),
        limit: int | None = None,
        offset: int = 0,
        roots: frozenset[str] = frozenset(),
    ) -> list[dict[str, Any]]:
        """SummaryRecords of the matching runs (see :mod:`gnomon.query.protocol`), in two queries."""
        return self._summaries(where, order_by=order_by, limit=limit, offset=offset, roots=roots)

    def _summaries(
        self,
        where: Node | _ById | None,
        *,
        order_by: Sequence[tuple[Path, bool]],
        limit: int | None,
        offset: int,
        roots: frozenset[str],
    ) -> list[dict[str, Any]]:
        extra = [name for name in ("info", "meta", "host") if name in roots]
        packed = self.dialect in ("mysql", "mariadb")
        document = (lambda c: sa.func.JSON_EXTRACT(c, "$")) if packed else self._json_text
        columns = [
            runs.c.id,
            runs.c.run_id,
            experiments.c.name,
            runs.c.command,
            runs.c.status,
            runs.c.start_time,
            runs.c.stop_time,
            runs.c.heartbeat,
            runs.c.queue_time,
            runs.c.hostname,
            runs.c.comment,
            document(runs.c.result),
            document(runs.c.config),
            document(run_annotations.c.tags),
            run_annotations.c.notes,
            experiment_repositories.c.experiment_id,
            experiment_repositories.c.commit,
            experiment_repositories.c.dirty,
            self._meta_number("beat_interval"),
            self._meta_number("pid"),
            *(document(runs.c[name]) for name in extra),
        ]
        if packed:  # one JSON array per run instead of twenty fields: see _metric_rows
            columns = [sa.func.JSON_ARRAY(*columns)]
        query = sa.select(*columns).select_from(_BASE).where(self._where(where))
        ordering: list[Any] = []
        for path, descending in order_by:
            terms = self._compiler.order(path, descending)
            if terms is None:
                raise ValueError(f"cannot sort by {'.'.join(path)} in SQL; sort in memory")
            ordering += terms
        query = query.order_by(*ordering, *self._compiler.tiebreak()) if ordering else query.order_by(runs.c.id)
        if limit is not None:
            query = query.limit(limit)
        if offset:
            query = query.offset(offset)
        # Tens of thousands of small containers are made below: the cyclic garbage
        # collector, which would rescan the growing heap many times over, waits (it
        # roughly halves the time for 10,000 runs).
        collecting = gc.isenabled()
        gc.disable()
        try:
            with self.engine.connect() as conn:
                rows: list[Any] = list(conn.execute(query))
                if packed:
                    rows = [unpack_row(text) for (text,) in rows]
                if where is None and limit is None and not offset:
                    summary_rows = self._metric_rows(conn, None)
                elif limit is None and not offset:
                    summary_rows = self._metric_rows(conn, where)
                else:
                    summary_rows = self._metric_rows(conn, [row[0] for row in rows])
            return summary_records(rows, summary_rows, extra, parsed=packed)
        finally:
            if collecting:
                gc.enable()

    def _metric_rows(self, conn: sa.Connection, selection: Node | _ById | list[int] | None) -> list[Any]:
        """Summary rows ``(run key, name, *SUMMARY_COLUMNS)`` of all runs, matching runs, or these keys."""
        columns = (metrics.c.name, *(metrics.c[c] for c in SUMMARY_COLUMNS))
        packed = self.dialect in ("mysql", "mariadb")
        if packed:
            # PyMySQL parses every field in Python: one JSON array per run instead of
            # ten fields per metric is three times faster (MariaDB prints doubles
            # with enough digits to read back the same value)
            query = sa.select(metrics.c.run, sa.func.JSON_ARRAYAGG(sa.func.JSON_ARRAY(*columns))).group_by(
                metrics.c.run
            )
        else:
            query = sa.select(metrics.c.run, *columns)
        found: list[Any] = []
        if selection is None:
            found = list(conn.execute(query))
        elif not isinstance(selection, list):
            keys = sa.select(runs.c.id).select_from(_BASE).where(self._where(selection))
            found = list(conn.execute(query.where(metrics.c.run.in_(keys))))
        else:
            for start in range(0, len(selection), _IN_CHUNK):
                found += conn.execute(query.where(metrics.c.run.in_(selection[start : start + _IN_CHUNK]))).all()
        if packed:
            return [(run, *item) for run, text in found for item in orjson.loads(text)]
        return found

    def count(self, where: Node | None) -> int:
        """How many runs match ``where``."""
        query = sa.select(sa.func.count()).select_from(_BASE).where(self._where(where))
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    # ------------------------------------------------------------ one run
    def _key(self, conn: sa.Connection, run_id: str) -> int:
        key = conn.execute(sa.select(runs.c.id).where(runs.c.run_id == str(run_id))).scalar()
        if key is None:
            raise RunNotFoundError(f"no run with id {run_id!r} in {self.url}")
        return int(key)

    def run(self, run_id: str) -> dict[str, Any]:
        """The RunRecord of one run (:class:`RunNotFoundError` when there is none)."""
        records = self._summaries(
            _ById(str(run_id)), order_by=(), limit=None, offset=0, roots=frozenset({"info", "meta", "host"})
        )
        if not records:
            raise RunNotFoundError(f"no run with id {run_id!r} in {self.url}")
        record = records[0]
        with self.engine.connect() as conn:
            key = self._key(conn, run_id)
            trace, info = conn.execute(
                sa.select(self._json_text(runs.c.fail_trace), self._json_text(experiments.c.info))
                .select_from(runs.outerjoin(experiments, experiments.c.id == runs.c.experiment_id))
                .where(runs.c.id == key)
            ).one()
            record["fail_trace"] = load_json(trace)
            record["experiment_info"] = orjson.loads(info) if info is not None else {}
            record["artifacts"] = [
                ArtifactInfo(name, size, digest, content_type, load_json(meta) or {})
                for name, size, digest, content_type, meta in conn.execute(
                    sa.select(
                        artifacts.c.name,
                        artifacts.c.size,
                        artifacts.c.digest,
                        artifacts.c.content_type,
                        self._json_text(artifacts.c.metadata),
                    )
                    .where(artifacts.c.run == key)
                    .order_by(artifacts.c.time, artifacts.c.name)
                )
            ]
            record["resources"] = [
                ResourceInfo(filename, digest)
                for filename, digest in conn.execute(
                    sa.select(resources.c.filename, resources.c.digest)
                    .where(resources.c.run == key)
                    .order_by(resources.c.id)
                )
            ]
            record["sources"] = [
                SourceInfo(path, digest)
                for path, digest in conn.execute(
                    sa.select(experiment_sources.c.path, experiment_sources.c.digest)
                    .select_from(
                        runs.join(experiment_sources, experiment_sources.c.experiment_id == runs.c.experiment_id)
                    )
                    .where(runs.c.id == key)
                    .order_by(experiment_sources.c.position)
                )
            ]
        return record

    def series(
        self, run_ids: Sequence[str], names: Sequence[str] | None = None, *, steps: tuple[int, int] | None = None
    ) -> Iterable[Series]:
        """Every point of the named metrics of these runs, sorted by step (ties in logged order); two queries."""
        ids = [str(r) for r in run_ids]
        if not ids or (names is not None and not names):
            return []
        query = sa.select(metrics.c.id, runs.c.run_id, metrics.c.name).select_from(
            runs.join(metrics, metrics.c.run == runs.c.id)
        )
        query = query.where(runs.c.run_id.in_(ids))
        if names is not None:
            query = query.where(metrics.c.name.in_([str(n) for n in names]))
        with self.engine.connect() as conn:
            found = conn.execute(query.order_by(runs.c.id, metrics.c.name)).all()
            if not found:
                return []
            points = series_points(conn, [row[0] for row in found], steps)
        return [Series(run_id, name, *points[metric]) for metric, run_id, name in found]

    def output(self, run_id: str, offset: int = 0, limit: int | None = None) -> str:
        """The captured output from character ``offset`` on, at most ``limit`` characters."""
        with self.engine.connect() as conn:
            key = self._key(conn, run_id)
            return output_slice(conn, key, offset, limit)

    def output_length(self, run_id: str) -> int:
        """How many characters of output the run has stored."""
        with self.engine.connect() as conn:
            key = self._key(conn, run_id)
            return int(conn.execute(sa.select(runs.c.output_length).where(runs.c.id == key)).scalar_one())

    def open_artifact(self, run_id: str, name: str) -> IO[bytes]:
        """A buffered binary stream of the artifact, fetching one stored chunk (1 MiB) at a time."""
        with self.engine.connect() as conn:
            key = self._key(conn, run_id)
            row = conn.execute(
                sa.select(artifacts.c.digest, blobs.c.chunks)
                .select_from(artifacts.outerjoin(blobs, blobs.c.digest == artifacts.c.digest))
                .where(artifacts.c.run == key, artifacts.c.name == name)
            ).first()
        if row is None or row[1] is None:
            raise RunNotFoundError(f"run {run_id!r} in {self.url} has no stored artifact {name!r}")
        return io.BufferedReader(BlobStream(self.engine, row[0], int(row[1])), buffer_size=1 << 20)

    def open_source(self, run_id: str, path: str) -> IO[bytes]:
        """A buffered binary stream of one source of the run's experiment, one stored chunk (1 MiB) at a time."""
        with self.engine.connect() as conn:
            key = self._key(conn, run_id)
            row = conn.execute(
                sa.select(experiment_sources.c.digest, blobs.c.chunks)
                .select_from(
                    runs.join(experiment_sources, experiment_sources.c.experiment_id == runs.c.experiment_id)
                    .outerjoin(blobs, blobs.c.digest == experiment_sources.c.digest)
                )
                .where(runs.c.id == key, experiment_sources.c.path == path)
                .order_by(experiment_sources.c.position)
            ).first()
        if row is None:
            raise KeyError(f"run {run_id!r} in {self.url} has no source {path!r}")
        if row[1] is None:
            raise KeyError(f"the content of source {path!r} of run {run_id!r} in {self.url} was not stored")
        return io.BufferedReader(BlobStream(self.engine, row[0], int(row[1])), buffer_size=1 << 20)

    # ------------------------------------------------------------ annotations and lineage
    def _writing_engine(self) -> sa.Engine:
        with self._writer_lock:
            if self._writer is None:
                # SQLite writers must BEGIN IMMEDIATE to wait for each other (see database.py)
                self._writer = (
                    create_engine(self.engine.url, immediate=True) if self.dialect == "sqlite" else self.engine
                )
            return self._writer

    def set_annotations(self, run_id: str, *, tags: Sequence[str] | None = None, notes: str | None = None) -> None:
        """Replace the run's tags and/or notes in ``run_annotations``, which no observer writes."""
        values: dict[str, Any] = {"updated": datetime.now(UTC)}
        if tags is not None:
            values["tags"] = [str(t) for t in tags]
        if notes is not None:
            values["notes"] = str(notes)
        for attempt in range(3):
            try:
                with self._writing_engine().begin() as conn:
                    key = self._key(conn, run_id)
                    found = conn.execute(
                        sa.select(run_annotations.c.run).where(run_annotations.c.run == key).with_for_update()
                    ).first()
                    if found is None:
                        conn.execute(sa.insert(run_annotations).values(run=key, **values))
                    else:
                        conn.execute(sa.update(run_annotations).where(run_annotations.c.run == key).values(**values))
                return
            except sa.exc.IntegrityError:  # another writer annotated the run first: update it
                if attempt == 2:
                    raise

    def lineage_edges(self, run_ids: Sequence[str], *, upstream: bool, downstream: bool) -> list[LineageEdge]:
        """Edges ``source → target`` where a resource of the target has the digest of the source's artifact."""
        ids = [str(r) for r in run_ids]
        if not ids or not (upstream or downstream):
            return []
        source, target = runs.alias("source_run"), runs.alias("target_run")
        query = (
            sa.select(source.c.run_id, artifacts.c.name, target.c.run_id, resources.c.filename, artifacts.c.digest)
            .select_from(
                artifacts.join(resources, resources.c.digest == artifacts.c.digest)
                .join(source, source.c.id == artifacts.c.run)
                .join(target, target.c.id == resources.c.run)
            )
            .where(source.c.id != target.c.id)
            .distinct()
        )
        sides = []
        if upstream:
            sides.append(target.c.run_id.in_(ids))
        if downstream:
            sides.append(source.c.run_id.in_(ids))
        with self.engine.connect() as conn:
            rows = conn.execute(query.where(sa.or_(*sides))).all()
        return [LineageEdge(*row) for row in sorted(rows, key=tuple)]


def _long_group_concat(dbapi_connection: Any, _record: Any) -> None:
    """JSON_ARRAYAGG stops at ``group_concat_max_len`` (1 MiB): let a run have any number of metrics."""
    cursor = dbapi_connection.cursor()
    cursor.execute("SET SESSION group_concat_max_len = 4294967295")
    cursor.close()


class _ById:
    """A private atom: the run with this id (compiled by :class:`SqlRunStore` itself)."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id


def _step(row: Any) -> Any:
    return row[1]
