"""Metric points of one run in the file storage: an append-only log and Sacred's metrics.json.

Sacred read, extended and rewrote the whole ``metrics.json`` on every heartbeat,
so a long run paid more for each new point than the last. Here each batch of
points is appended as one line to ``metrics.jsonl`` (``{"seq": .., "series":
{name: {"steps", "values", "timestamps"}}}``, timestamps as POSIX seconds) — the
cost of a batch is the batch — and ``metrics.json``, in Sacred's shape, is
rebuilt from that log at the end of the run and, during the run, only when the
number of points has doubled since it was last rebuilt (amortized constant cost
per point). A batch whose ``seq`` is already in the log is a replay and skipped.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson

from gnomon.events import MetricSeries
from gnomon.observers.file_layout import append_exactly, atomic_write, dump_json, iso_from_timestamps

__all__ = ["METRICS_JSON", "METRICS_LOG", "MetricsLog"]

METRICS_JSON = "metrics.json"
METRICS_LOG = "metrics.jsonl"
REBUILD_INTERVAL = 10.0  # seconds between mid-run rebuilds of metrics.json
CACHE_LIMIT = 2_000_000  # points of a run kept in memory to rebuild metrics.json quickly

logger = logging.getLogger("gnomon.observers.file_storage")


def _lines(path: Path) -> Iterator[dict[str, Any]]:
    """The complete, parseable batches of a log (a torn last line is ignored)."""
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed below; a missing log has no lines
    except FileNotFoundError:
        return
    with f:
        for raw in f:
            if not raw.endswith(b"\n"):
                break
            try:
                line = orjson.loads(raw)
            except orjson.JSONDecodeError:
                logger.warning("skipping an unreadable line in %s", path)
                continue
            if isinstance(line, dict) and isinstance(line.get("series"), dict):
                yield line


class MetricsLog:
    """The metric log of one run folder: what is stored, and when to rebuild metrics.json."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.seqs: set[int] = set()
        self.points = 0
        self.materialized_points = 0
        self.materialized_at = time.monotonic()
        # metrics.json's content kept in memory while this process wrote every batch,
        # so rebuilding it needs no re-reading of the log; None: rebuild from the log.
        self.cache: dict[str, dict[str, list[Any]]] | None = {}

    @property
    def log_path(self) -> Path:
        """The append-only log of batches."""
        return self.run_dir / METRICS_LOG

    @classmethod
    def resume(cls, run_dir: Path) -> MetricsLog:
        """Rebuild the bookkeeping from the log on disk (another process wrote it).

        A torn last line, left by a crash in the middle of an append, is cut off:
        that batch was never acknowledged and will be delivered again.
        """
        log = cls(run_dir)
        path = log.log_path
        with contextlib.suppress(FileNotFoundError), open(path, "rb+") as f:
            data = f.read()
            if data and not data.endswith(b"\n"):
                f.truncate(data.rfind(b"\n") + 1)
        for line in _lines(path):
            log.seqs.add(int(line.get("seq", -1)))
            log.points += sum(len(s.get("values", ())) for s in line["series"].values())
        log.materialized_points = log.points
        log.cache = None
        return log

    def append(self, seq: int, series: Mapping[str, MetricSeries]) -> bool:
        """Append one batch unless it is a replay; True when metrics.json is due a rebuild."""
        if seq in self.seqs:
            return False
        batch: dict[str, dict[str, list[Any]]] = {
            name: {"steps": s.steps, "values": s.values, "timestamps": s.timestamps} for name, s in series.items()
        }
        # orjson writes a stray float NaN as null: the log stays strict JSON.
        line = orjson.dumps({"seq": seq, "series": batch}, option=orjson.OPT_NON_STR_KEYS) + b"\n"
        append_exactly(self.log_path, line)
        self.seqs.add(seq)
        self.points += sum(len(s.values) for s in series.values())
        if self.cache is not None and self.points > CACHE_LIMIT:
            self.cache = None
        if self.cache is not None:
            for name, s in series.items():
                entry = self.cache.setdefault(name, {"steps": [], "values": [], "timestamps": []})
                entry["steps"].extend(s.steps)
                entry["values"].extend(s.values)
                entry["timestamps"].extend(iso_from_timestamps(s.timestamps))
        # Rebuild mid-run when the points doubled (amortized constant cost per point),
        # but not more often than every REBUILD_INTERVAL seconds: a fast logging loop
        # would otherwise rebuild it at every heartbeat early in the run.
        return (
            self.points >= 2 * self.materialized_points
            and time.monotonic() - self.materialized_at >= REBUILD_INTERVAL
        )

    def materialize(self, *, fsync: bool = False) -> None:
        """Rewrite metrics.json, Sacred's ``{name: {steps, values, timestamps}}``, from the log."""
        if self.cache is not None:
            atomic_write(self.run_dir / METRICS_JSON, dump_json(self.cache, indent=False), fsync=fsync)
            self.materialized_points = self.points
            self.materialized_at = time.monotonic()
            return
        metrics: dict[str, dict[str, list[Any]]] = {}
        seen: set[int] = set()
        points = 0
        for line in _lines(self.log_path):
            seq = int(line.get("seq", -1))
            if seq in seen:  # written twice by two processes: count it once
                continue
            seen.add(seq)
            for name, s in line["series"].items():
                entry = metrics.setdefault(name, {"steps": [], "values": [], "timestamps": []})
                entry["steps"].extend(s.get("steps", ()))
                entry["values"].extend(s.get("values", ()))
                entry["timestamps"].extend(iso_from_timestamps(s.get("timestamps", ())))
                points += len(s.get("values", ()))
        atomic_write(self.run_dir / METRICS_JSON, dump_json(metrics, indent=False), fsync=fsync)
        self.materialized_points = max(points, self.points)
        self.materialized_at = time.monotonic()

    @staticmethod
    def remove_stale(run_dir: Path) -> None:
        """Forget a previous log in a folder that a new run takes over."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(run_dir / METRICS_LOG)
