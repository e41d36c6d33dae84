"""The tables of the SQL store (SQLAlchemy Core), and the schema revision they match.

::

    experiments 1──* experiment_sources      (path, digest) ──> blobs
         │      1──* experiment_dependencies (name, version)
         │      1──* experiment_repositories (url, commit, dirty)
         1
         *
        runs 1──* output_chunks   (offset, text): captured output, appended
             1──* metrics 1──* metric_points (step, value, special, timestamp)
             │    (each metrics row carries its summary: count, last, last_step, min, max)
             1──* metric_batches  (seq): batches already stored (replays skip them)
             1──1 run_annotations (tags, notes): set through the query API, never by observers
             1──* artifacts       (name, digest, size, content_type, metadata) ──> blobs
             1──* resources       (filename, digest) ──> blobs
    blobs 1──* blob_chunks        content-addressed files (sha256), 1 MiB chunks

A run's public id (``runs.run_id``) is a string, as everywhere in gnomon; an id
the store allocates is the decimal form of the integer key ``runs.id``, which the
other tables use to refer to the run. Experiments and file contents are stored
once however many runs share them. The schema is created and upgraded only by the
Alembic migrations in ``migrations/`` (a test proves the two agree).
"""

from __future__ import annotations

import sqlalchemy as sa

from gnomon.observers.sql.types import Blob, Id, Json, LongText, UtcDateTime

__all__ = ["HEAD_REVISION", "VERSION_TABLE", "metadata", "tables"]

#: The newest migration; the store upgrades a database whose revision differs.
HEAD_REVISION = "0002"
#: Alembic's bookkeeping table, named so it never meets an application's own.
VERSION_TABLE = "gnomon_alembic_version"

metadata = sa.MetaData()
# The tables' MySQL/MariaDB options (utf8mb4, binary collation, InnoDB) are set by the
# migrations, which alone create tables. They are not repeated here: a ``mysql_*``
# keyword makes SQLAlchemy import the MySQL dialect on every import of this module,
# ~15 ms of a SQLite run's start-up.

experiments = sa.Table(
    "experiments",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("digest", sa.String(64), nullable=False, unique=True),
    sa.Column("name", sa.String(255), nullable=False, index=True),
    sa.Column("mainfile", LongText),
    sa.Column("base_dir", LongText),
    sa.Column("info", Json, nullable=False),
)

experiment_sources = sa.Table(
    "experiment_sources",
    metadata,
    sa.Column("experiment_id", Id, sa.ForeignKey("experiments.id"), primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("path", LongText, nullable=False),
    sa.Column("digest", sa.String(64), index=True),
)

experiment_dependencies = sa.Table(
    "experiment_dependencies",
    metadata,
    sa.Column("experiment_id", Id, sa.ForeignKey("experiments.id"), primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("version", sa.String(255)),
)

experiment_repositories = sa.Table(
    "experiment_repositories",
    metadata,
    sa.Column("experiment_id", Id, sa.ForeignKey("experiments.id"), primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("url", LongText),
    sa.Column("commit", sa.String(64)),
    sa.Column("dirty", sa.Boolean),
)

runs = sa.Table(
    "runs",
    metadata,
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
    sa.Index("ix_runs_heartbeat", "heartbeat"),
)

output_chunks = sa.Table(
    "output_chunks",
    metadata,
    sa.Column("run", Id, sa.ForeignKey("runs.id"), primary_key=True),
    sa.Column("offset", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("text", LongText, nullable=False),
)

metrics = sa.Table(
    "metrics",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("run", Id, sa.ForeignKey("runs.id"), nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    # The summary of the points (gnomon.observers.sql.summaries): floats as a value
    # plus a marker for NaN and infinities, like metric_points.
    sa.Column("point_count", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("last_step", sa.BigInteger),
    sa.Column("last_value", sa.Double),
    sa.Column("last_special", sa.String(4)),
    sa.Column("min_value", sa.Double),
    sa.Column("min_special", sa.String(4)),
    sa.Column("max_value", sa.Double),
    sa.Column("max_special", sa.String(4)),
    sa.UniqueConstraint("run", "name", name="uq_metrics_run_name"),
)

metric_points = sa.Table(
    "metric_points",
    metadata,
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
)

metric_batches = sa.Table(
    "metric_batches",
    metadata,
    sa.Column("run", Id, sa.ForeignKey("runs.id"), primary_key=True),
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
)

blobs = sa.Table(
    "blobs",
    metadata,
    sa.Column("digest", sa.String(64), primary_key=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("chunks", sa.Integer, nullable=False),
)

blob_chunks = sa.Table(
    "blob_chunks",
    metadata,
    sa.Column("digest", sa.String(64), primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("data", Blob, nullable=False),
)

artifacts = sa.Table(
    "artifacts",
    metadata,
    sa.Column("run", Id, sa.ForeignKey("runs.id"), primary_key=True),
    sa.Column("name", sa.String(512), primary_key=True),
    sa.Column("digest", sa.String(64), nullable=False, index=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("content_type", sa.String(255)),
    sa.Column("metadata", Json),
    sa.Column("source", LongText),
    sa.Column("time", UtcDateTime),
)

resources = sa.Table(
    "resources",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("run", Id, sa.ForeignKey("runs.id"), nullable=False, index=True),
    sa.Column("filename", LongText, nullable=False),
    sa.Column("digest", sa.String(64), nullable=False, index=True),
    sa.Column("stored", sa.Boolean, nullable=False),
    sa.Column("time", UtcDateTime),
)

run_annotations = sa.Table(
    "run_annotations",
    metadata,
    # Tags and notes made through the query API; no observer writes here, so a
    # run's later heartbeats and its completion keep them.
    sa.Column("run", Id, sa.ForeignKey("runs.id"), primary_key=True),
    sa.Column("tags", Json),
    sa.Column("notes", LongText),
    sa.Column("updated", UtcDateTime, nullable=False),
)

tables = metadata.tables
