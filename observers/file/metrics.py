"""Metric points of one run in the file storage: an append-only log and Sacred's metrics.json.

Sacred read, extended and rewrote the whole ``metrics.json`` on every heartbeat,
so a long run paid more for each new point than the last. Here each batch of
points is appended as one line to ``metrics.jsonl`` (``{"seq": .., "series":
{name: {"steps", "values", "timestamps"}}}``, timestamps as POSIX seconds) -- the
cost of a batch is the batch -- and a batch whose ``seq`` is already in the log is
a replay and skipped.

``metrics.json``, in Sacred's shape, follows every batch, so a run killed outright
keeps its points there too, at a cost that stays proportional to the batch: while
the run goes on, each of its arrays is followed by spare room (JSON whitespace),
and a batch is written into that room in place, one ``pwrite`` per array. When an
array's room runs out, the file is rewritten (temporary file and rename) with room
for twice as much again after every array, as a growing list reallocates, so the
rewrites cost an amortized constant per point (and, once the file is large, come at
most once a second). When the run ends it is rewritten once more, compact.
A reader that opens it mid-run sees valid JSON; only a process killed between the
writes of one batch can leave the arrays of one metric a batch apart in length.

Each column of a batch is serialized once: the same bytes go into the log line
and, kept as pieces, into every later ``metrics.json``, which is then assembled
by joining bytes rather than encoding every point again.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

from gnomon.events import MetricSeries
from gnomon.observers.file.layout import append_exactly, atomic_write, iso_json_array

__all__ = ["METRICS_JSON", "METRICS_LOG", "MetricsLog"]

METRICS_JSON = "metrics.json"
METRICS_LOG = "metrics.jsonl"
CACHE_LIMIT = 2_000_000  # points of a run kept in memory to rebuild metrics.json quickly
MIN_ROOM = 4096  # bytes of spare room after each array of a live metrics.json, at least
ROOM_FACTOR = 2  # ... and this many times the array's own size
REWRITE_INTERVAL = 1.0  # seconds between rewrites of a live metrics.json ...
SMALL_REWRITE = 1 << 20  # ... of more than this many bytes of points

_COLUMNS = ("steps", "timestamps", "values")

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

    __slots__ = ("by_name", "points", "size")

    def __init__(self) -> None:
        self.by_name: dict[str, tuple[list[memoryview], list[memoryview], list[memoryview]]] = {}
        self.points = 0
        self.size = 0  # bytes of all pieces

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
        self.size += len(steps) + len(iso_stamps) + len(values)

    def metrics_json_chunks(self, room: bool = False) -> tuple[list[bytes | memoryview], dict[str, list[list[int]]]]:
        """The chunks of ``{name: {"steps", "timestamps", "values"}}`` with sorted keys.

        With ``room``, each array is followed by spare whitespace (at least
        :data:`ROOM_FACTOR` times its own size, :data:`MIN_ROOM`, and an equal share
        of the whole) and the second value lists, per metric and array,
        ``[offset where its content ends, spare bytes]``.
        """
        chunks: list[bytes | memoryview] = [b"{"]
        position = 1
        ends: dict[str, list[list[int]]] = {}
        share = self.size // max(1, 3 * len(self.by_name))

        def add(*parts: bytes | memoryview) -> None:
            nonlocal position
            chunks.extend(parts)
            position += sum(len(p) for p in parts)

        for name, columns in sorted(self.by_name.items()):
            if len(chunks) > 1:
                add(b",")
            add(b"%s:{" % orjson.dumps(name))
            ends[name] = []
            for i, column in enumerate(columns):
                add(b'%s"%s":[' % (b"," if i else b"", _COLUMNS[i].encode()))
                content = _joined(column)
                add(*content)
                if room:
                    size = sum(len(p) for p in content)
                    # An empty array gets none: it is never grown in place (no leading comma).
                    spare = max(MIN_ROOM, ROOM_FACTOR * size, share) if size else 0
                    ends[name].append([position, spare])
                    add(b" " * spare)
                add(b"]")
            add(b"}")
        add(b"}\n")
        return chunks, ends


def _pwrite_all(fd: int, data: bytes, offset: int) -> None:
    """Write all of ``data`` at ``offset`` (over spare room: the file does not grow)."""
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written


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


def _special(value: float) -> str:
    return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")


def _specials(values: Sequence[Any]) -> bytes:
    """``,"specials":{"<index>":"NaN"|"Infinity"|"-Infinity"}`` for the values JSON writes as null."""
    found = {str(i): _special(v) for i, v in enumerate(values) if isinstance(v, float) and not math.isfinite(v)}
    return b',"specials":' + orjson.dumps(found)


class MetricsLog:
    """The metric log of one run folder, and the metrics.json that follows it."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.seqs: set[int] = set()
        self.points = 0
        # metrics.json's pieces kept in memory while this process wrote every batch,
        # so rebuilding it needs no re-reading of the log; None: rebuild from the log.
        self.cache: _Columns | None = _Columns()
        # Batches in the log but not yet in metrics.json: (name, its three array pieces).
        self.pending: list[tuple[str, tuple[memoryview, memoryview, memoryview]]] = []
        # The live metrics.json: per metric and array [end of content, spare bytes],
        # and the (inode, size) it had when written; None: rewrite it before growing it.
        self.room: dict[str, list[list[int]]] | None = None
        self.identity: tuple[int, int] | None = None
        self.rewritten_at = time.monotonic()

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
        log.cache = None
        return log

    def append(self, seq: int, series: Mapping[str, MetricSeries]) -> bool:
        """Append one batch to the log unless it is a replay; True when it was new.

        :meth:`refresh` then brings metrics.json up to it.
        """
        if seq in self.seqs:
            return False
        count = sum(len(s.values) for s in series.values())
        if self.cache is not None and self.points + count > CACHE_LIMIT:
            self.cache = None
        chunks = [b'{"seq":%d,"series":{' % seq]
        pieces = []
        for name, s in series.items():
            # orjson writes a stray float NaN or infinity as null: the log stays strict JSON,
            # and "specials" names what each such null was, so readers get it back exactly.
            steps, values = orjson.dumps(s.steps), orjson.dumps(s.values)
            chunks += (
                b"," if len(chunks) > 1 else b"",
                b'%s:{"steps":' % orjson.dumps(str(name)), steps, b',"values":', values,
                b',"timestamps":', orjson.dumps(s.timestamps), _specials(s.values) if b"null" in values else b"", b"}",
            )
            pieces.append((str(name), steps, iso_json_array(s.timestamps), values, len(s.values)))
        chunks.append(b"}}\n")
        append_exactly(self.log_path, *chunks)
        # Only once the batch is in the log: a failed append is retried whole.
        for name, steps, stamps, values, points in pieces:
            if self.cache is not None:
                self.cache.add(name, steps, stamps, values, points)
            if points:
                inner = (memoryview(steps)[1:-1], memoryview(stamps)[1:-1], memoryview(values)[1:-1])
                self.pending.append((name, inner))
        self.seqs.add(seq)
        self.points += count
        return True

    def refresh(self) -> None:
        """Bring metrics.json up to the log: in place when the new points fit, else rewritten with room.

        A large file is rewritten at most every :data:`REWRITE_INTERVAL` seconds
        (counted from the start): the points of a short, fast run then go to
        metrics.json once, when it ends, and a long run's file is at most about a
        second behind the log. Later batches and heartbeats call this again.
        """
        if not self.pending and self.room is not None:
            return
        if self.room is not None and self._grow_in_place():
            return
        if self._size() < SMALL_REWRITE or time.monotonic() - self.rewritten_at >= REWRITE_INTERVAL:
            self._rewrite(room=True)

    def _size(self) -> int:
        """About how many bytes of points metrics.json holds."""
        if self.cache is not None:
            return self.cache.size
        try:
            return os.stat(self.log_path).st_size
        except FileNotFoundError:
            return 0

    def materialize(self, *, fsync: bool = False) -> None:
        """Rewrite metrics.json, Sacred's ``{name: {steps, values, timestamps}}``, compact, from the log."""
        self._rewrite(room=False, fsync=fsync)

    def _rewrite(self, *, room: bool, fsync: bool = False) -> None:
        columns = self.cache if self.cache is not None else self._columns_from_log()
        chunks, ends = columns.metrics_json_chunks(room=room)
        path = self.run_dir / METRICS_JSON
        atomic_write(path, chunks, fsync=fsync)
        self.pending = []
        self.room, self.identity = None, None
        self.rewritten_at = time.monotonic()
        if room:
            stat = os.stat(path)
            self.room, self.identity = ends, (stat.st_ino, stat.st_size)

    def _grow_in_place(self) -> bool:
        """Write the pending points into the spare room of metrics.json; False when they do not fit."""
        assert self.room is not None
        joined: dict[tuple[str, int], list[memoryview]] = {}
        for name, columns in self.pending:
            for i, piece in enumerate(columns):
                if piece:
                    joined.setdefault((name, i), []).append(piece)
        writes = []
        for (name, i), pieces in joined.items():
            ends = self.room.get(name)
            data = b"," + b",".join(pieces)
            if ends is None or len(data) > ends[i][1]:
                return False
            writes.append((ends[i], data))
        try:
            fd = os.open(self.run_dir / METRICS_JSON, os.O_WRONLY)
        except FileNotFoundError:
            return False
        try:
            stat = os.fstat(fd)
            if (stat.st_ino, stat.st_size) != self.identity:  # replaced by someone else
                return False
            for end, data in writes:
                _pwrite_all(fd, data, end[0])
                end[0] += len(data)
                end[1] -= len(data)
        except BaseException:
            self.room = None  # some arrays may hold the batch already: the next refresh rewrites
            raise
        finally:
            os.close(fd)
        self.pending = []
        return True

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
