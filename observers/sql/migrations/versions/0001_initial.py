"""The first schema: experiments, runs, output, metrics, blobs, artifacts, resources.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from gnomon.observers.sql.types import Blob, Id, Json, LongText, UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_MYSQL: dict[str, Any] = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin", "mysql_engine": "InnoDB"}


def upgrade() -> None:
    """Create every table and index."""
    op.create_table(
        "experiments",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("digest", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.String(255), nullable=False, index=True),
        sa.Column("mainfile", LongText),
        sa.Column("base_dir", LongText),
        sa.Column("info", Json, nullable=False),
        **_MYSQL,
    )

    op.create_table(
        "experiment_sources",
        sa.Column("experiment_id", Id, sa.ForeignKey("experiments.id"), primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("path", LongText, nullable=False),
        sa.Column("digest", sa.String(64), index=True),
        **_MYSQL,
    )

    op.create_table(
        "experiment_dependencies",
        sa.Column("experiment_id", Id, sa.ForeignKey("experiments.id"), primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("version", sa.String(255)),
        **_MYSQL,
    )

    op.create_table(
        "experiment_repositories",
        sa.Column("experiment_id", Id, sa.ForeignKey("experiments.id"), primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("url", LongText),
        sa.Column("commit", sa.String(64)),
        sa.Column("dirty", sa.Boolean),
        **_MYSQL,
    )

    op.create_table(
        "runs",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(64), nullable=False, unique=True),
        sa.Column("experiment_id", Id, sa.ForeignKey("experiments.id")),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("command", sa.String(255)),
        sa.Column("comment", LongText),
        sa.Column("priority", sa.Double),
        sa.Column("hostname", sa.String(255)),
        sa.Column("queue_time", UtcDateTime),
        sa.Column("start_time", UtcDateTime, index=True),
        sa.Column("heartbeat", UtcDateTime),
        sa.Column("stop_time", UtcDateTime),
        sa.Column("config", Json),
        sa.Column("meta", Json),
        sa.Column("host", Json),
        sa.Column("info", Json),
        sa.Column("result", Json),
        sa.Column("fail_trace", Json),
        sa.Column("output_length", sa.BigInteger, nullable=False, server_default="0"),
        sa.Index("ix_runs_status_start_time", "status", "start_time"),
        sa.Index("ix_runs_experiment_start_time", "experiment_id", "start_time"),
        **_MYSQL,
    )

    op.create_table(
        "output_chunks",
        sa.Column("run", Id, sa.ForeignKey("runs.id"), primary_key=True),
        sa.Column("offset", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("text", LongText, nullable=False),
        **_MYSQL,
    )

    op.create_table(
        "metrics",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("run", Id, sa.ForeignKey("runs.id"), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.UniqueConstraint("run", "name", name="uq_metrics_run_name"),
        **_MYSQL,
    )

    op.create_table(
        "metric_points",
        # No foreign key: PostgreSQL checks one row by row, which tripled the
        # cost of inserting a batch; the observer writes only keys it just read.
        sa.Column("metric", Id, nullable=False),
        sa.Column("step", sa.BigInteger, nullable=False),
        sa.Column("value", sa.Double),
        # NULL for a finite value; 'nan', 'inf' or '-inf' (value NULL) otherwise, since
        # SQLite reads NaN back as NULL and MySQL refuses NaN and infinities.
        sa.Column("special", sa.String(4)),
        sa.Column("timestamp", sa.Double, nullable=False),
        sa.Index("ix_metric_points_metric_step", "metric", "step"),
        **_MYSQL,
    )

    op.create_table(
        "metric_batches",
        sa.Column("run", Id, sa.ForeignKey("runs.id"), primary_key=True),
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        **_MYSQL,
    )

    op.create_table(
        "blobs",
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("chunks", sa.Integer, nullable=False),
        **_MYSQL,
    )

    op.create_table(
        "blob_chunks",
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("data", Blob, nullable=False),
        **_MYSQL,
    )

    op.create_table(
        "artifacts",
        sa.Column("run", Id, sa.ForeignKey("runs.id"), primary_key=True),
        sa.Column("name", sa.String(512), primary_key=True),
        sa.Column("digest", sa.String(64), nullable=False, index=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("content_type", sa.String(255)),
        sa.Column("metadata", Json),
        sa.Column("source", LongText),
        sa.Column("time", UtcDateTime),
        **_MYSQL,
    )

    op.create_table(
        "resources",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("run", Id, sa.ForeignKey("runs.id"), nullable=False, index=True),
        sa.Column("filename", LongText, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False, index=True),
        sa.Column("stored", sa.Boolean, nullable=False),
        sa.Column("time", UtcDateTime),
        **_MYSQL,
    )


def downgrade() -> None:
    """Drop every table, dependents first."""
    for name in (
        "resources",
        "artifacts",
        "blob_chunks",
        "blobs",
        "metric_batches",
        "metric_points",
        "metrics",
        "output_chunks",
        "runs",
        "experiment_repositories",
        "experiment_dependencies",
        "experiment_sources",
        "experiments",
    ):
        op.drop_table(name)
