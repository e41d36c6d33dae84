"""Metric points of one run in the file storage: an append-only log and Sacred's metrics.json.

Sacred read, extended and rewrote the whole ``metrics.json`` on every heartbeat,
so a long run paid more for each new point than the last. Here each batch of
points is appended as one line to ``metrics.jsonl`` (``{"seq": .., "series":
{name: {"steps", "values", "timestamps"}}}``, timestamps as POSIX seconds) — the
cost of a batch is the batch — and ``metrics.json``, in Sacred's shape, is
rebuilt from that log at the end of the run and, during the run, only when the
number of points has doubled since it was last rebuilt (amortized constant cost
per point). A batch whose ``seq`` is already in the log is a replay and skipped.

Each column of a batch is serialized once: the same bytes go into the log line
and, kept as pieces, into every later ``metrics.json``, which is then assembled
by joining bytes rather than encoding every point again.
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
from gnomon.observers.file.layout import append_exactly, atomic_write, iso_json_array

__all__ = ["METRICS_JSON", "METRICS_LOG", "MetricsLog"]

METRICS_JSON = "metrics.json"
METRICS_LOG = "metrics.jsonl"
REBUILD_INTERVAL = 10.0  # seconds between mid-run rebuilds of metrics.json
CACHE_LIMIT = 2_000_000  # points of a run kept in memory to rebuild metrics.json quickly

logger = logging.getLogger("gnomon.observers.file.observer")


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


class _Columns:
    """metrics.json's content as serialized pieces, batch by batch.

    Per metric, the inside of its ``steps``, ``timestamps`` (ISO) and ``values``
    arrays: views into the arrays orjson wrote, so nothing is copied until the
    file is written.
    """

    __slots__ = ("by_name", "points")

    def __init__(self) -> None:
        self.by_name: dict[str, tuple[list[memoryview], list[memoryview], list[memoryview]]] = {}
        self.points = 0

    def add(self, name: str, steps: bytes, iso_stamps: bytes, values: bytes, count: int) -> None:
        """One batch of a metric, each column a JSON array as orjson wrote it."""
        if not count:
            return
        pieces = self.by_name.get(name)
        if pieces is None:
            pieces = self.by_name[name] = ([], [], [])
        pieces[0].append(memoryview(steps)[1:-1])
        pieces[1].append(memoryview(iso_stamps)[1:-1])
        pieces[2].append(memoryview(values)[1:-1])
        self.points += count

    def metrics_json_chunks(self) -> list[bytes | memoryview]:
        """The chunks of ``{name: {"steps", "timestamps", "values"}}`` with sorted keys."""
        chunks: list[bytes | memoryview] = [b"{"]
        for name, (steps, stamps, values) in sorted(self.by_name.items()):
            if len(chunks) > 1:
                chunks.append(b",")
            chunks.append(b'%s:{"steps":[' % orjson.dumps(name))
            chunks += _joined(steps)
            chunks.append(b'],"timestamps":[')
            chunks += _joined(stamps)
            chunks.append(b'],"values":[')
            chunks += _joined(values)
            chunks.append(b"]}")
        chunks.append(b"}\n")
        return chunks


def _joined(pieces: list[memoryview]) -> list[bytes | memoryview]:
    """The non-empty ``pieces`` with commas between them, for writing one after another."""
    out: list[bytes | memoryview] = []
    for piece in pieces:
        if not piece:  # a column a damaged log line lacked
            continue
        if out:
            out.append(b",")
        out.append(piece)
    return out


class MetricsLog:
    """The metric log of one run folder: what is stored, and when to rebuild metrics.json."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.seqs: set[int] = set()
        self.points = 0
        self.materialized_points = 0
        self.materialized_at = time.monotonic()
        # metrics.json's pieces kept in memory while this process wrote every batch,
        # so rebuilding it needs no re-reading of the log; None: rebuild from the log.
        self.cache: _Columns | None = _Columns()

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
        count = sum(len(s.values) for s in series.values())
        if self.cache is not None and self.points + count > CACHE_LIMIT:
            self.cache = None
        cache = self.cache
        chunks = [b'{"seq":%d,"series":{' % seq]
        cached = []
        for name, s in series.items():
            # orjson writes a stray float NaN as null: the log stays strict JSON.
            steps, values = orjson.dumps(s.steps), orjson.dumps(s.values)
            chunks += (
                b"," if len(chunks) > 1 else b"",
                b'%s:{"steps":' % orjson.dumps(str(name)), steps, b',"values":', values,
                b',"timestamps":', orjson.dumps(s.timestamps), b"}",
            )
            if cache is not None:
                cached.append((str(name), steps, iso_json_array(s.timestamps), values, len(s.values)))
        chunks.append(b"}}\n")
        append_exactly(self.log_path, *chunks)
        # Only once the batch is in the log: a failed append is retried whole.
        if cache is not None:
            for batch in cached:
                cache.add(*batch)
        self.seqs.add(seq)
        self.points += count
        # Rebuild mid-run when the points doubled (amortized constant cost per point),
        # but not more often than every REBUILD_INTERVAL seconds: a fast logging loop
        # would otherwise rebuild it at every heartbeat early in the run.
        return (
            self.points >= 2 * self.materialized_points
            and time.monotonic() - self.materialized_at >= REBUILD_INTERVAL
        )

    def materialize(self, *, fsync: bool = False) -> None:
        """Rewrite metrics.json, Sacred's ``{name: {steps, values, timestamps}}``, from the log."""
        columns = self.cache if self.cache is not None else self._columns_from_log()
        atomic_write(self.run_dir / METRICS_JSON, columns.metrics_json_chunks(), fsync=fsync)
        self.materialized_points = max(columns.points, self.points)
        self.materialized_at = time.monotonic()

    def _columns_from_log(self) -> _Columns:
        columns = _Columns()
        seen: set[int] = set()
        for line in _lines(self.log_path):
            seq = int(line.get("seq", -1))
            if seq in seen:  # written twice by two processes: count it once
                continue
            seen.add(seq)
            for name, s in line["series"].items():
                values = s.get("values", [])
                columns.add(
                    name,
                    orjson.dumps(s.get("steps", [])),
                    iso_json_array(s.get("timestamps", [])),
                    orjson.dumps(values),
                    len(values),
                )
        return columns

    @staticmethod
    def remove_stale(run_dir: Path) -> None:
        """Forget a previous log in a folder that a new run takes over."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(run_dir / METRICS_LOG)
