"""The shapes stored in MongoDB: key escaping, BSON values, and the parts of a run document.

Run documents follow Sacred's schema (collection ``runs``), so Omniboard and Incense
read them. What gnomon adds lives in fields those readers ignore:

* ``gnomon``: ``{start_key, output_file, output_chars, output_bytes}`` -- how the run
  is found again on replay, and where its whole captured output is;
* a value too large for a run document (one huge ``info`` entry, a huge result or
  config entry) is replaced by ``{"__type__": "gridfs", "file_id", "length"}`` and
  stored in GridFS as JSON; :mod:`gnomon.observers.mongo.reader` puts it back.

Keys MongoDB rejects or misreads (containing ``.`` or starting with ``$``) are
escaped reversibly, percent-style: ``.`` -> ``%2E``, a leading ``$`` -> ``%24``,
and a ``%`` that would read as one of those codes -> ``%25``. Any other key is
stored unchanged, so ordinary keys look the same in Omniboard as in the config.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from gnomon.serialize import TYPE_KEY

__all__ = [
    "CAPTURED_OUT_HEAD",
    "CAPTURED_OUT_TAIL",
    "FORMAT",
    "GRIDFS_TAG",
    "OutputWindow",
    "bson_date",
    "escape_key",
    "from_bson",
    "spill_large",
    "start_key",
    "to_bson",
    "unescape_key",
]

#: Sacred's format marker; Omniboard and Incense do not check it, Sacred's tools do.
FORMAT = "MongoObserver-0.7.0"
#: Tag of a value stored in GridFS instead of inside the run document.
GRIDFS_TAG = "gridfs"
#: Characters of long output kept in ``captured_out``: the first HEAD and the last TAIL.
CAPTURED_OUT_HEAD = 8 * 1024
CAPTURED_OUT_TAIL = 56 * 1024
#: A value larger than this (BSON bytes) goes to GridFS instead of the run document.
VALUE_LIMIT = 1024 * 1024
#: The entries of ``info`` (or ``config``) together stay under this many BSON bytes.
MAPPING_LIMIT = 4 * 1024 * 1024

_NEEDS_PERCENT = re.compile(r"%(?=2E|24|25)")
_CODES = re.compile(r"%(2E|24|25)")
_DECODED = {"2E": ".", "24": "$", "25": "%"}


def escape_key(key: str) -> str:
    """A key MongoDB stores as given: ``.`` and a leading ``$`` escaped, reversibly."""
    if "." not in key and not key.startswith("$") and "%" not in key:
        return key
    key = _NEEDS_PERCENT.sub("%25", key).replace(".", "%2E")
    return "%24" + key[1:] if key.startswith("$") else key


def unescape_key(key: str) -> str:
    """Undo :func:`escape_key`."""
    return _CODES.sub(lambda m: _DECODED[m.group(1)], key) if "%" in key else key


def to_bson(value: Any) -> Any:
    """JSON-compatible data (gnomon's encoding) as BSON-ready data.

    Keys are escaped; NaN and the infinities, tagged in JSON, become native BSON
    doubles; tuples (frozen payloads) become lists. Nothing else changes.
    """
    if isinstance(value, Mapping):
        if value.get(TYPE_KEY) == "float" and len(value) == 2:
            return float(value["value"].replace("Infinity", "inf"))
        return {escape_key(k): to_bson(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_bson(v) for v in value]
    return value


def from_bson(value: Any, load: Callable[[Any], Any] | None = None) -> Any:
    """Stored data with its keys restored; GridFS stand-ins are replaced by ``load(file_id)``."""
    if isinstance(value, Mapping):
        if load is not None and value.get(TYPE_KEY) == GRIDFS_TAG and "file_id" in value:
            return load(value["file_id"])
        return {unescape_key(k): from_bson(v, load) for k, v in value.items()}
    if isinstance(value, list):
        return [from_bson(v, load) for v in value]
    return value


def bson_size(value: Any) -> int:
    """Bytes ``value`` takes in a BSON document."""
    import bson

    return len(bson.encode({"v": value}))


def spill_large(
    entries: Mapping[str, Any], store: Callable[[str, Any], Any], *, limit: int = MAPPING_LIMIT
) -> dict[str, Any]:
    """Replace the largest entries by GridFS stand-ins until the mapping fits.

    ``entries`` are BSON-ready (escaped) values; ``store(key, value)`` writes one to
    GridFS and returns its stand-in. Any entry over :data:`VALUE_LIMIT` goes, and
    then the largest ones while the whole exceeds ``limit``.
    """
    sizes = {k: bson_size(v) for k, v in entries.items()}
    result = dict(entries)
    total = sum(sizes.values())
    for key in sorted(sizes, key=sizes.__getitem__, reverse=True):
        if sizes[key] <= VALUE_LIMIT and total <= limit:
            break
        result[key] = store(key, entries[key])
        total -= sizes[key]
    return result


def gridfs_stand_in(file_id: Any, length: int) -> dict[str, Any]:
    """What stays in the run document for a value stored in GridFS."""
    return {TYPE_KEY: GRIDFS_TAG, "file_id": file_id, "length": length}


def bson_date(time: datetime) -> datetime:
    """A tz-aware time as the naive UTC datetime BSON stores (millisecond precision)."""
    if time.tzinfo is not None:
        time = time.astimezone(UTC).replace(tzinfo=None)
    return time.replace(microsecond=time.microsecond // 1000 * 1000)


def start_key(time: datetime, command: str, host: Mapping[str, Any], run_uid: str | None = None) -> str:
    """A run's identity before it has an id: replays of its start find the same document.

    The run's ``run_uid`` when the event has one (two runs started in the same
    microsecond on one host stay two runs); else, for events spooled by older
    versions, its start time, command and host.
    """
    if run_uid:
        return f"uid:{run_uid}"
    text = f"{time.isoformat()}|{command}|{host.get('hostname', '')}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class OutputWindow:
    """The bounded ``captured_out`` of a run: all of it while short, else head and tail.

    The whole output is in GridFS; this is what Omniboard shows in the run's page.
    """

    __slots__ = ("chars", "file_note", "head", "tail")

    def __init__(self, head: str = "", tail: str = "", chars: int | None = None, file_note: str = "") -> None:
        self.head, self.tail = head, tail
        self.chars = len(head) + len(tail) if chars is None else chars
        self.file_note = file_note

    def append(self, text: str) -> None:
        """Add new output at the end."""
        self.chars += len(text)
        if not self.tail and len(self.head) + len(text) <= CAPTURED_OUT_HEAD + CAPTURED_OUT_TAIL:
            self.head += text
            return
        if not self.tail:
            text = self.head + text
            self.head, text = text[:CAPTURED_OUT_HEAD], text[CAPTURED_OUT_HEAD:]
        self.tail = (self.tail + text)[-CAPTURED_OUT_TAIL:]

    def text(self) -> str:
        """The ``captured_out`` value."""
        if not self.tail:
            return self.head
        omitted = self.chars - len(self.head) - len(self.tail)
        return (
            f"{self.head}\n[... {omitted} characters not shown here; the whole output "
            f"is in GridFS{self.file_note} ...]\n{self.tail}"
        )
