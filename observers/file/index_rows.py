"""What the file index keeps of one changed run folder: its row, read from the folder's files.

A row is a tuple laid out as the tables of :mod:`.index_schema` take it::

    name, sig, racy, ok, problem, log_offset,     -> state
    record, bits, metrics,                        -> records (with name, id_order and the order columns)
    roots, links, seqs,                           -> details
    id_order, *order values                       -> records

A folder that is not (or not yet) a run gives the first six only, ``ok`` 0.
Files that did not change are not read again: what the previous row says of them
is kept, and a ``metrics.jsonl`` that grew is read from where the last read stopped.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from gnomon.observers.file.index_schema import order_values
from gnomon.observers.file.records import NotARunError, load_json, row_from_files
from gnomon.observers.file.series import MetricSummaries, batches, floats, seqs_from_blob, seqs_to_blob
from gnomon.observers.file.signatures import RACY_SECONDS, RUN_FILES, SIGNATURE, YOUNG_SECONDS, natural_text

if TYPE_CHECKING:
    from gnomon.observers.file.series_files import SeriesFiles

__all__ = ["PREVIOUS_QUERY", "index_run"]

#: New log bytes from which the summaries come from the binary series copies, built on the way:
#: a log this large takes a visible time to parse, and the first plot of the run then costs nothing.
COPY_FROM_BYTES = 1 << 20

#: The previous row of a run, as :func:`index_run` takes it.
PREVIOUS_QUERY = (
    "SELECT r.record, r.bits, d.roots, d.links, s.log_offset, d.seqs, r.metrics FROM state s "
    "JOIN records r USING (name) JOIN details d USING (name) WHERE s.name = ?"
)


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except (FileNotFoundError, NotADirectoryError):
        return None


def index_run(
    folder: str,
    name: str,
    signature: bytes,
    old: tuple[Any, ...] | None,
    previous: tuple[Any, ...] | None,
    now: int,
    copies: SeriesFiles | None = None,
) -> tuple[tuple[Any, ...], bool, int] | None:
    """The new row of a changed run folder, whether what it says changed, and the metric log bytes read.

    ``folder`` is the folder's path ending in a separator; ``old`` its ``state``
    row ``(sig, racy, ok)`` and ``previous`` its :data:`PREVIOUS_QUERY` row, if any;
    ``copies``, where binary series copies are kept (see :data:`COPY_FROM_BYTES`).
    None means: leave the folder be and look again at the next refresh.
    """
    parts = SIGNATURE.unpack(signature)
    racy_after = now - int(RACY_SECONDS * 1e9)
    files_changed = old is None or bool(old[1]) or SIGNATURE.unpack(old[0])[:9] != parts[:9]
    if parts[2] < 0:  # no run.json
        try:
            age = now - os.stat(folder).st_mtime_ns
        except FileNotFoundError:
            return None
        if age < YOUNG_SECONDS * 1e9:
            return None  # a run being created: look again next time
        return (name, signature, 0, 0, "it has no run.json (not a run folder)", 0), True, 0
    if files_changed or previous is None or previous[0] is None:
        contents = [_read(folder + f) for f in RUN_FILES]
        if contents[0] is None:
            return None  # removed since the listing
        try:
            record, bits, roots, links = row_from_files(contents[0], contents[1], contents[2])
        except NotARunError as error:
            if max(parts[1], parts[4], parts[7]) > racy_after:
                return None  # maybe caught in the middle of an in-place write: look again next time
            return (name, signature, 0, 0, str(error), 0), True, 0
    else:
        record, bits, roots, links = previous[:4]
    offset, seqs_blob, metrics, read = _metrics(folder, name, parts, old, previous, copies)
    racy = max(parts[1], parts[4], parts[7], parts[12]) > racy_after
    row = (
        name, signature, int(racy), 1, None, offset, record, bits, metrics, roots, links, seqs_blob,
        natural_text(name), *order_values(orjson.loads(record)),
    )  # fmt: skip
    changed = previous is None or (record, bits, roots, links, metrics) != (*previous[:4], previous[6])
    return row, changed, read


def _metrics(
    folder: str,
    name: str,
    parts: tuple[int, ...],
    old: tuple[Any, ...] | None,
    previous: tuple[Any, ...] | None,
    copies: SeriesFiles | None,
) -> tuple[int, bytes | None, bytes | None, int]:
    """``(log offset, batches read, summaries, log bytes read)`` brought up to date with the metric files."""
    kind, ino, size = parts[9], parts[10], parts[11]
    before = SIGNATURE.unpack(old[0])[9:] if old is not None else (0, 0, 0, 0)
    if (
        previous is not None
        and previous[6] is not None
        and before[:3] == (kind, ino, size)
        and (
            kind != 2 or (before[3] == parts[12] and not old[1])  # type: ignore[index]
        )
    ):
        return previous[4], previous[5], previous[6], 0  # unchanged
    if kind == 0:
        return 0, None, MetricSummaries().to_blob(), 0
    if kind == 2:
        summaries = MetricSummaries()
        data = _read(folder + "metrics.json")
        if data:
            with contextlib.suppress(NotARunError):
                value, _ = load_json(data, "metrics.json")
                if isinstance(value, dict):
                    summaries.add_metrics_json(value)
        return 0, None, summaries.to_blob(), 0
    offset = 0
    seqs: set[int] = set()
    summaries = MetricSummaries()
    if previous is not None and before[:2] == (1, ino) and previous[4] is not None and size >= previous[4]:
        # the same log, grown (or its torn last line cut off): carry on from the offset
        offset = previous[4]
        seqs = seqs_from_blob(previous[5])
        summaries = MetricSummaries.from_blob(previous[6])
    if copies is not None and size - offset >= COPY_FROM_BYTES:
        whole = copies.read_all(Path(folder), name)
        if whole is not None:
            columns, end, read_seqs = whole
            return end, seqs_to_blob(set(read_seqs)), MetricSummaries.from_columns(columns).to_blob(), end - offset
    try:
        with open(folder + "metrics.jsonl", "rb") as f:
            f.seek(offset)
            data = f.read()
    except FileNotFoundError:
        data = b""
    end = data.rfind(b"\n") + 1  # a line not ended yet is read next time
    for metric, steps, values, _stamps in batches(data[:end], seqs):
        summaries.add(metric, steps, floats(values))
    return offset + end, seqs_to_blob(seqs), summaries.to_blob(), len(data)
