"""Storing a batch of metric points: the one place where per-row overhead matters.

A training loop may log millions of points; going through SQLAlchemy's
executemany costs several microseconds per row in parameter processing. Here the
rows are plain tuples handed to the driver inside the caller's transaction:
PostgreSQL gets them through ``COPY ... FROM STDIN`` (psycopg 3), SQLite and
MySQL/MariaDB through the driver's ``executemany`` (PyMySQL rewrites it into
multi-row ``INSERT`` statements; sqlite3 runs it in C).

A batch is remembered by its sequence number in ``metric_batches``, checked in
the transaction that stores it, so a batch delivered again is skipped. The same
transaction folds the batch into each metric's summary (``summaries``): one
``SELECT ... FOR UPDATE`` of the summaries so far and one ``UPDATE`` per batch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from gnomon.events import MetricsEvent
from gnomon.observers.sql.database import inserted_key
from gnomon.observers.sql.schema import metric_batches, metric_points, metrics
from gnomon.observers.sql.summaries import SUMMARY_COLUMNS, MetricSummary, from_columns

__all__ = ["POINT_COLUMNS", "insert_points", "store_batch"]

POINT_COLUMNS = ("metric", "step", "value", "special", "timestamp")
_BATCH = 20000


def insert_points(connection: sa.Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    """Insert ``(metric, step, value, special, timestamp)`` tuples into ``metric_points``."""
    if not rows:
        return
    dialect = connection.dialect
    preparer = dialect.identifier_preparer
    table = preparer.format_table(metric_points)
    columns = ", ".join(preparer.quote(c) for c in POINT_COLUMNS)
    driver = getattr(dialect, "driver", "")
    cursor = connection.connection.cursor()
    try:
        if dialect.name == "postgresql" and driver == "psycopg":
            with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                for row in rows:
                    copy.write_row(row)
            return
        marker = "?" if dialect.paramstyle == "qmark" else "%s"
        if dialect.paramstyle not in ("qmark", "format", "pyformat"):
            connection.execute(sa.insert(metric_points), [dict(zip(POINT_COLUMNS, r, strict=True)) for r in rows])
            return
        statement = f"INSERT INTO {table} ({columns}) VALUES ({', '.join([marker] * len(POINT_COLUMNS))})"
        for start in range(0, len(rows), _BATCH):
            cursor.executemany(statement, rows[start : start + _BATCH])
    finally:
        cursor.close()


def _special(value: float) -> str:
    if math.isnan(value):
        return "nan"
    return "inf" if value > 0 else "-inf"


def store_batch(
    conn: sa.Connection, run: int, event: MetricsEvent, known: dict[str, int], created: dict[str, int]
) -> None:
    """Store one metrics event of run key ``run`` in the caller's transaction.

    ``known`` maps metric names to keys already stored; keys this call creates go
    to ``created`` (for the caller to remember once the transaction commits).
    """
    done = conn.execute(
        sa.select(metric_batches.c.seq).where(metric_batches.c.run == run, metric_batches.c.seq == event.seq)
    ).first()
    if done is not None:
        return
    conn.execute(sa.insert(metric_batches), {"run": run, "seq": event.seq})
    rows: list[tuple[Any, ...]] = []
    append, isfinite = rows.append, math.isfinite
    batch: dict[int, MetricSummary] = {}
    for name, series in event.series.items():
        metric = known.get(name) or created.get(name)
        if metric is None:
            metric = conn.execute(
                sa.select(metrics.c.id).where(metrics.c.run == run, metrics.c.name == name)
            ).scalar()
            if metric is None:
                metric = inserted_key(conn.execute(sa.insert(metrics).values(run=run, name=name)))
            created[name] = metric = int(metric)
        steps = list(map(int, series.steps))
        values = list(map(float, series.values))
        for step, value, stamp in zip(steps, values, series.timestamps, strict=True):
            if isfinite(value):
                append((metric, step, value, None, stamp))
            else:
                append((metric, step, None, _special(value), stamp))
        batch.setdefault(metric, MetricSummary()).add(steps, values)
    insert_points(conn, rows)
    _update_summaries(conn, batch)


def _update_summaries(conn: sa.Connection, batch: dict[int, MetricSummary]) -> None:
    """Fold each metric's batch summary into the stored one (locked until the transaction ends)."""
    if not batch:
        return
    stored = conn.execute(
        sa.select(metrics.c.id, *(metrics.c[c] for c in SUMMARY_COLUMNS))
        .where(metrics.c.id.in_(list(batch)))
        .with_for_update()
    ).all()
    updates = []
    for row in stored:
        summary = from_columns(row[1:])
        summary.merge(batch[int(row[0])])
        updates.append({"key": row[0], **{f"new_{c}": v for c, v in summary.columns().items()}})
    conn.execute(_UPDATE, updates)


_UPDATE = (
    sa.update(metrics)
    .where(metrics.c.id == sa.bindparam("key"))
    .values({c: sa.bindparam(f"new_{c}") for c in SUMMARY_COLUMNS})
)
