"""Reading runs back from a SQL store: the whole record of a run, its output, metrics and files.

The query API and the dashboard build on this; the tests use it to prove the
observer lost nothing. Values come back as stored: config, info, meta, host and
result are the JSON gnomon encoded (``gnomon.serialize.decode`` turns tagged
values such as arrays back into Python objects; :meth:`SqlReader.result` does it
for the result). A NaN or infinite metric value comes back as a float again.
"""

from __future__ import annotations

import gc
import io
import math
import operator
from collections.abc import Sequence
from itertools import islice
from operator import itemgetter
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL

from gnomon.errors import ObserverError
from gnomon.observers.sql.blobs import read_blob
from gnomon.observers.sql.database import create_engine
from gnomon.observers.sql.schema import (
    artifacts,
    blob_chunks,
    experiment_dependencies,
    experiment_repositories,
    experiment_sources,
    experiments,
    metric_points,
    metrics,
    output_chunks,
    resources,
    runs,
)
from gnomon.observers.sql.url import engine_url, redact

__all__ = ["BlobStream", "SqlReader", "output_slice", "series_points"]

_SPECIAL = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}
_IN_CHUNK = 5000  # keys per IN list; SQLite allows 32766 parameters, PostgreSQL 65535
_RUN_FIELDS = (
    "run_id", "status", "command", "comment", "priority", "hostname", "queue_time", "start_time",
    "heartbeat", "stop_time", "config", "meta", "host", "info", "result", "fail_trace", "output_length",
)


def _fetch_series(conn: sa.Connection, metric: int) -> tuple[list[int], list[Any], list[float]]:
    """Steps, values and timestamps of one metric, by step (ties in logged order), from the driver.

    A series may hold millions of points, and nearly all the time goes into making
    Python objects of them, so: the rows skip SQLAlchemy's result objects,
    PostgreSQL sends them in binary, the columns are split with C-level
    ``itemgetter`` maps, and the garbage collector (which would scan the growing
    heap of tuples again and again) waits until they are in. SQLite and MySQL
    walk the ``(metric, step)`` index, so their ``ORDER BY`` costs nothing;
    PostgreSQL would sort (on disk, beyond ``work_mem``) unless its statistics
    are fresh, so it returns the rows as stored, which is the order they were
    logged in, and Python sorts them only when the steps are out of order.
    """
    preparer = conn.dialect.identifier_preparer
    columns = ", ".join(preparer.quote(c) for c in ("step", "value", "timestamp"))
    marker = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    postgresql = conn.dialect.name == "postgresql"
    statement = (
        f"SELECT {columns} FROM {preparer.format_table(metric_points)} "
        f"WHERE {preparer.quote('metric')} = {marker}"
    )
    if not postgresql:
        statement += f" ORDER BY {preparer.quote('step')}"
    raw = conn.connection.driver_connection
    binary = postgresql and getattr(conn.dialect, "driver", "") == "psycopg"
    cursor = raw.cursor(binary=True) if binary else raw.cursor()  # type: ignore[union-attr]
    enabled = gc.isenabled()
    gc.disable()
    try:
        cursor.execute(statement, (metric,))
        rows = cursor.fetchall()
        cursor.close()
        steps = list(map(itemgetter(0), rows))
        if not all(map(operator.le, steps, islice(steps, 1, None))):
            rows.sort(key=itemgetter(0))  # stable: equal steps stay in logged order
            steps = list(map(itemgetter(0), rows))
        values = list(map(itemgetter(1), rows))
        stamps = list(map(itemgetter(2), rows))
        del rows
    finally:
        cursor.close()
        if enabled:
            gc.enable()
    return steps, values, stamps


class SqlReader:
    """Read-only access to the runs in a database written by :class:`SqlObserver`."""

    def __init__(self, url: str | URL | None = None, engine: sa.Engine | None = None) -> None:
        if engine is None:
            if url is None:
                raise ObserverError("SqlReader needs a database URL or an engine")
            engine = create_engine(engine_url(url), immediate=False)
        self.engine = engine
        self.url = redact(engine.url)

    def close(self) -> None:
        """Close the reader's connections."""
        self.engine.dispose()

    def _key(self, conn: sa.Connection, run_id: str) -> int:
        key = conn.execute(sa.select(runs.c.id).where(runs.c.run_id == str(run_id))).scalar()
        if key is None:
            raise ObserverError(f"no run with id {run_id!r} in {self.url}")
        return int(key)

    def run_ids(self, status: str | None = None) -> list[str]:
        """Ids of the stored runs, oldest first (optionally only those with ``status``)."""
        query = sa.select(runs.c.run_id).order_by(runs.c.id)
        if status is not None:
            query = query.where(runs.c.status == status)
        with self.engine.connect() as conn:
            return [row[0] for row in conn.execute(query)]

    def run(self, run_id: str) -> dict[str, Any]:
        """Everything stored about a run, as one dict (output, artifacts, metric names included)."""
        with self.engine.connect() as conn:
            key = self._key(conn, run_id)
            row = conn.execute(
                sa.select(*(runs.c[name] for name in _RUN_FIELDS), runs.c.experiment_id).where(runs.c.id == key)
            ).one()
            record = {name: row._mapping[name] for name in _RUN_FIELDS}
            record["experiment"] = self._experiment(conn, row.experiment_id)
            record["captured_out"] = self._output(conn, key)
            record["artifacts"] = [
                dict(r._mapping)
                for r in conn.execute(
                    sa.select(
                        artifacts.c.name, artifacts.c.digest, artifacts.c.size,
                        artifacts.c.content_type, artifacts.c.metadata, artifacts.c.source,
                    ).where(artifacts.c.run == key).order_by(artifacts.c.time, artifacts.c.name)
                )
            ]
            record["resources"] = [
                dict(r._mapping)
                for r in conn.execute(
                    sa.select(resources.c.filename, resources.c.digest, resources.c.stored)
                    .where(resources.c.run == key)
                    .order_by(resources.c.id)
                )
            ]
            record["metrics"] = sorted(
                conn.execute(sa.select(metrics.c.name).where(metrics.c.run == key)).scalars()
            )
        return record

    def _experiment(self, conn: sa.Connection, key: int | None) -> dict[str, Any] | None:
        if key is None:
            return None
        row = conn.execute(sa.select(experiments).where(experiments.c.id == key)).one()
        experiment = dict(row.info)
        experiment["stored_sources"] = [
            [r.path, r.digest]
            for r in conn.execute(
                sa.select(experiment_sources).where(experiment_sources.c.experiment_id == key)
                .order_by(experiment_sources.c.position)
            )
        ]
        experiment["stored_dependencies"] = [
            [r.name, r.version]
            for r in conn.execute(
                sa.select(experiment_dependencies).where(experiment_dependencies.c.experiment_id == key)
                .order_by(experiment_dependencies.c.position)
            )
        ]
        experiment["stored_repositories"] = [
            {"url": r.url, "commit": r.commit, "dirty": r.dirty}
            for r in conn.execute(
                sa.select(experiment_repositories).where(experiment_repositories.c.experiment_id == key)
                .order_by(experiment_repositories.c.position)
            )
        ]
        return experiment

    def _output(self, conn: sa.Connection, key: int) -> str:
        return "".join(
            conn.execute(
                sa.select(output_chunks.c.text).where(output_chunks.c.run == key).order_by(output_chunks.c.offset)
            ).scalars()
        )

    def output(self, run_id: str) -> str:
        """The run's whole captured output."""
        with self.engine.connect() as conn:
            return self._output(conn, self._key(conn, run_id))

    def result(self, run_id: str) -> Any:
        """The run's result as a Python value (arrays, NaN... decoded)."""
        from gnomon.serialize import decode

        return decode(self.run(run_id)["result"])

    def metric_series(self, run_id: str, name: str) -> tuple[list[int], list[float], list[float]]:
        """``(steps, values, timestamps)`` of one metric, by step (timestamps in POSIX seconds)."""
        with self.engine.connect() as conn:
            key = self._key(conn, run_id)
            metric = conn.execute(
                sa.select(metrics.c.id).where(metrics.c.run == key, metrics.c.name == name)
            ).scalar()
            if metric is None:
                raise ObserverError(f"run {run_id!r} has no metric {name!r}")
            steps, values, stamps = _fetch_series(conn, int(metric))
            if None in values:  # NaN and infinities are stored as NULL plus a marker
                special = conn.execute(
                    sa.select(metric_points.c.step, metric_points.c.special).where(
                        metric_points.c.metric == metric, metric_points.c.special.is_not(None)
                    )
                ).all()
                by_step: dict[int, list[float]] = {}
                for step, marker in special:
                    by_step.setdefault(step, []).append(_SPECIAL[marker])
                for i, value in enumerate(values):
                    if value is None and by_step.get(steps[i]):
                        values[i] = by_step[steps[i]].pop(0)
        return steps, values, stamps

    def metrics(self, run_id: str) -> dict[str, dict[str, list[Any]]]:
        """Every metric of a run, Sacred's shape: ``{name: {steps, values, timestamps}}``."""
        with self.engine.connect() as conn:
            query = sa.select(metrics.c.name).where(metrics.c.run == self._key(conn, run_id))
            names = list(conn.execute(query).scalars())
        out: dict[str, dict[str, list[Any]]] = {}
        for name in sorted(names):
            steps, values, stamps = self.metric_series(run_id, name)
            out[name] = {"steps": steps, "values": values, "timestamps": stamps}
        return out

    def artifact(self, run_id: str, name: str) -> bytes:
        """The content of one of the run's artifacts."""
        with self.engine.connect() as conn:
            key = self._key(conn, run_id)
            digest = conn.execute(
                sa.select(artifacts.c.digest).where(artifacts.c.run == key, artifacts.c.name == name)
            ).scalar()
            data = None if digest is None else read_blob(conn, digest)
        if data is None:
            raise ObserverError(f"run {run_id!r} has no stored artifact {name!r}")
        return data

    def blob(self, digest: str) -> bytes | None:
        """A stored file content (source, resource or artifact) by its sha256."""
        with self.engine.connect() as conn:
            return read_blob(conn, digest)


class BlobStream(io.RawIOBase):
    """A stored content read chunk by chunk, one short query per chunk, as the reader asks for bytes.

    No connection is held between reads, so a slow consumer never keeps a transaction open.
    """

    def __init__(self, engine: sa.Engine, digest: str, chunks: int) -> None:
        self._engine, self._digest, self._chunks = engine, digest, chunks
        self._position = 0
        self._buffer = memoryview(b"")

    def readable(self) -> bool:
        """Always: the stream is for reading."""
        return True

    def readinto(self, buffer: Any) -> int:
        """Fill ``buffer`` from the current chunk, fetching the next one when it is used up."""
        while not self._buffer and self._position < self._chunks:
            with self._engine.connect() as conn:
                data = conn.execute(
                    sa.select(blob_chunks.c.data).where(
                        blob_chunks.c.digest == self._digest, blob_chunks.c.position == self._position
                    )
                ).scalar_one()
            self._position += 1
            self._buffer = memoryview(bytes(data))
        n = min(len(buffer), len(self._buffer))
        buffer[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return n


def _step(row: Any) -> Any:
    return row[1]


def series_points(
    conn: sa.Connection, keys: Sequence[int], steps: tuple[int, int] | None = None
) -> dict[int, tuple[list[int], list[float], list[float]]]:
    """``{metric key: (steps, values, timestamps)}`` of many metrics in one query (per 5,000 keys).

    Sorted by step, ties in logged order: rows arrive in stored order (or through
    the ``(metric, step)`` index, which keeps it among equal steps) and are sorted
    stably. NaN and infinities are restored from their markers.
    """
    points = sa.select(
        metric_points.c.metric, metric_points.c.step, metric_points.c.value,
        metric_points.c.special, metric_points.c.timestamp,
    )
    if steps is not None:
        points = points.where(metric_points.c.step.between(int(steps[0]), int(steps[1])))
    grouped: dict[int, list[Any]] = {key: [] for key in keys}
    enabled = gc.isenabled()
    gc.disable()  # many small tuples: see _fetch_series
    try:
        for start in range(0, len(keys), _IN_CHUNK):
            for row in conn.execute(points.where(metric_points.c.metric.in_(keys[start : start + _IN_CHUNK]))):
                grouped[row[0]].append(row)
        out = {}
        for key, group in grouped.items():
            group.sort(key=_step)  # stable: equal steps stay in logged order
            out[key] = (
                [r[1] for r in group],
                [_SPECIAL[r[3]] if r[3] is not None else float(r[2]) for r in group],
                [float(r[4]) for r in group],
            )
        return out
    finally:
        if enabled:
            gc.enable()


def output_slice(conn: sa.Connection, key: int, offset: int = 0, limit: int | None = None) -> str:
    """Characters ``offset`` to ``offset + limit`` of run key ``key``'s output, reading only the rows they lie in."""
    end = None if limit is None else offset + max(limit, 0)
    first = (
        sa.select(sa.func.max(output_chunks.c.offset))
        .where(output_chunks.c.run == key, output_chunks.c.offset <= offset)
        .scalar_subquery()
    )
    query = sa.select(output_chunks.c.offset, output_chunks.c.text).where(
        output_chunks.c.run == key, output_chunks.c.offset >= sa.func.coalesce(first, 0)
    )
    if end is not None:
        query = query.where(output_chunks.c.offset < end)
    parts: list[str] = []
    for start, text in conn.execute(query.order_by(output_chunks.c.offset)):
        lo = max(offset - start, 0)
        hi = len(text) if end is None else min(end - start, len(text))
        if hi > lo:
            parts.append(text[lo:hi])
    return "".join(parts)
