"""Metric summaries on ``metrics``, an index on ``runs.heartbeat``, and ``run_annotations``.

Listing runs reads the summaries instead of the points, liveness queries filter
on the heartbeat, and tags/notes made through the query API live in a table no
observer writes. Summaries of points stored before this revision are computed
from ``metric_points``, read once in stored (logged) order.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from gnomon.observers.sql.summaries import SUMMARY_COLUMNS, summarize
from gnomon.observers.sql.types import Id, Json, LongText, UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_MYSQL: dict[str, Any] = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin", "mysql_engine": "InnoDB"}
_FLOATS = ("last", "min", "max")


def upgrade() -> None:
    """Add the summary columns and fill them, the heartbeat index and the annotations table."""
    with op.batch_alter_table("metrics") as batch:
        batch.add_column(sa.Column("point_count", sa.BigInteger, nullable=False, server_default="0"))
        batch.add_column(sa.Column("last_step", sa.BigInteger))
        for name in _FLOATS:
            batch.add_column(sa.Column(f"{name}_value", sa.Double))
            batch.add_column(sa.Column(f"{name}_special", sa.String(4)))
    op.create_index("ix_runs_heartbeat", "runs", ["heartbeat"])
    op.create_table(
        "run_annotations",
        sa.Column("run", Id, sa.ForeignKey("runs.id"), primary_key=True),
        sa.Column("tags", Json),
        sa.Column("notes", LongText),
        sa.Column("updated", UtcDateTime, nullable=False),
        **_MYSQL,
    )
    _fill_summaries(op.get_bind())


def _fill_summaries(connection: sa.Connection) -> None:
    points = sa.table("metric_points", sa.column("metric"), sa.column("step"), sa.column("value"), sa.column("special"))
    metrics = sa.table("metrics", sa.column("id"), *(sa.column(c) for c in SUMMARY_COLUMNS))
    rows = connection.execute(sa.select(points.c.metric, points.c.step, points.c.value, points.c.special))
    summaries = summarize(rows)
    if not summaries:
        return
    statement = (
        sa.update(metrics)
        .where(metrics.c.id == sa.bindparam("key"))
        .values({c: sa.bindparam(f"new_{c}") for c in SUMMARY_COLUMNS})
    )
    connection.execute(
        statement,
        [{"key": key, **{f"new_{c}": v for c, v in summary.columns().items()}} for key, summary in summaries.items()],
    )


def downgrade() -> None:
    """Drop what :func:`upgrade` added."""
    op.drop_table("run_annotations")
    op.drop_index("ix_runs_heartbeat", table_name="runs")
    with op.batch_alter_table("metrics") as batch:
        for name in reversed(SUMMARY_COLUMNS):
            batch.drop_column(name)
