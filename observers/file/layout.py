"""The on-disk primitives of the file storage: atomic writes, strict JSON, run ids.

:class:`~gnomon.observers.file.observer.FileStorageObserver` keeps Sacred's
directory layout; this module holds the pieces that make it safe:

* every file that is rewritten goes through a temporary file in the same folder
  and ``os.replace``, so a crash never leaves half a JSON document behind; files
  get the permissions the umask allows, like any other new file (and Sacred's);
* JSON is strict (orjson: no bare ``NaN`` tokens; NaN arrives already encoded,
  and a stray float NaN becomes ``null`` rather than an unreadable token);
* run ids are allocated with ``os.mkdir``, the one operation that is atomic on a
  local disk and on shared network filesystems, so many processes (or hosts)
  starting runs in one folder at once each get their own id;
* shared files (``_sources``, ``_resources``) are content-addressed and written
  once.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from itertools import repeat
from pathlib import Path
from typing import Any

import orjson

from gnomon.artifacts import copy_contents
from gnomon.errors import ObserverError
from gnomon.events import MAX_RUN_ID_LENGTH, is_usable_run_id

__all__ = [
    "DIGEST_CHARS",
    "HINT_FILE",
    "ISO_FORMAT",
    "allocate_run_dir",
    "atomic_write",
    "content_addressed_name",
    "copy_atomic",
    "count_chars",
    "dump_json",
    "fsync_path",
    "iso",
    "iso_json_array",
    "read_json",
    "store_content_addressed",
    "validate_run_id",
]

#: Sacred's format for times in run.json and metrics.json: ISO 8601 of naive UTC.
ISO_FORMAT = "%Y-%m-%dT%H:%M:%S.%f"

#: The file that remembers the next free run id, so starting a run does not scan
#: every run folder. It is only a hint: ``os.mkdir`` decides.
HINT_FILE = ".gnomon-next-id"

# Collisions in a row after which the hint is distrusted and the folder scanned.
_MAX_COLLISIONS_BEFORE_SCAN = 16
_MAX_ATTEMPTS = 10_000

#: Characters of the content digest kept in stored file names (as long as Sacred's md5).
DIGEST_CHARS = 32


def iso(time: datetime) -> str:
    """A datetime as Sacred stores it: naive UTC in :data:`ISO_FORMAT`."""
    if time.tzinfo is not None:
        time = time.astimezone(UTC).replace(tzinfo=None)
    return time.strftime(ISO_FORMAT)


def iso_json_array(stamps: Sequence[float]) -> bytes:
    """POSIX timestamps as a JSON array of Sacred's ISO strings (naive UTC), fast.

    A fast logging loop makes 100,000 points in 30 ms; formatting their timestamps
    one by one in Python would cost as much again. Here each becomes a datetime in
    C (``map``) and orjson writes the text the way ``isoformat()`` does, which is
    what Sacred stored (no fraction when the microseconds are zero). Before Python
    3.12 ``utcfromtimestamp`` makes the naive UTC datetime directly; from 3.12 on it
    warns on every call, so aware datetimes are written and their ``+00:00`` cut.
    A timestamp that is not one (a damaged log) becomes ``null``.
    """
    try:
        if _NAIVE_UTC_FROM_TIMESTAMP is not None:
            return orjson.dumps(list(map(_NAIVE_UTC_FROM_TIMESTAMP, stamps)))
        return orjson.dumps(list(map(datetime.fromtimestamp, stamps, repeat(UTC)))).replace(b"+00:00", b"")
    except (TypeError, ValueError, OverflowError, OSError):
        return orjson.dumps([_iso_or_none(stamp) for stamp in stamps])


_NAIVE_UTC_FROM_TIMESTAMP = datetime.utcfromtimestamp if sys.version_info < (3, 12) else None


def _iso_or_none(stamp: Any) -> str | None:
    try:
        return datetime.fromtimestamp(stamp, UTC).replace(tzinfo=None).isoformat()
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def dump_json(value: Any, *, indent: bool = True) -> bytes:
    """Strict, sorted JSON, indented as Sacred wrote it (``sort_keys=True, indent=2``).

    ``indent=False`` for metrics.json, whose long lists gain nothing from one number
    per line but twice the bytes and time.
    """
    option = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS | (orjson.OPT_INDENT_2 if indent else 0)
    try:
        return orjson.dumps(value, option=option) + b"\n"
    except TypeError as error:
        raise ObserverError(f"cannot store {type(value).__name__} as JSON: {error}") from error


def read_json(path: str | os.PathLike[str]) -> Any:
    """Parse a JSON file written by :func:`dump_json` (or by Sacred)."""
    with open(path, "rb") as f:
        return orjson.loads(f.read())


def _create_beside(path: Path) -> tuple[int, str]:
    """Create a new, empty temporary file in ``path``'s folder: ``(fd, name)``.

    Unlike ``tempfile.mkstemp`` (always 0600) the file gets the permissions any
    new file gets (0666 less the umask), as Sacred's files do, so a teammate or a
    dashboard running under another account reads the runs the umask lets it.
    """
    for _ in range(100):
        tmp = os.path.join(path.parent, f".{path.name}.{os.urandom(6).hex()}.tmp")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {path}")


@contextlib.contextmanager
def _temporary_beside(path: Path) -> Iterator[tuple[int, str]]:
    """A temporary file in ``path``'s folder, removed unless it was renamed over ``path``."""
    fd, tmp = _create_beside(path)
    try:
        yield fd, tmp
    except BaseException:
        with contextlib.suppress(OSError):
            os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write(
    path: str | os.PathLike[str], data: bytes | Sequence[bytes | memoryview], *, fsync: bool = False
) -> None:
    """Replace ``path`` with ``data`` so readers see the old file or the new one, never a mix.

    ``data`` may be a sequence of chunks, written in order: a large file assembled
    from pieces is then never joined into one more copy in memory.
    """
    target = Path(path)
    with _temporary_beside(target) as (fd, tmp):
        with os.fdopen(fd, "wb") as f:
            if isinstance(data, bytes):
                f.write(data)
            else:
                f.writelines(data)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, target)


def append_exactly(path: str | os.PathLike[str], *chunks: bytes | memoryview) -> None:
    """Append all of ``chunks`` (in order) or nothing: a write cut short (full disk) is undone.

    A retried delivery then appends the same bytes once, never a torn copy plus a
    whole one. The chunks go out in one ``writev`` call where there is one, so a
    record assembled from pieces is one append (not interleaved with another
    process's) without being joined into one more copy first.
    """
    with open(path, "ab", buffering=0) as f:
        start = f.seek(0, os.SEEK_END)
        try:
            _write_all(f.fileno(), chunks)
        except BaseException:
            with contextlib.suppress(OSError):
                f.truncate(start)
            raise


def _write_all(fd: int, chunks: Sequence[bytes | memoryview]) -> None:
    if hasattr(os, "writev") and len(chunks) <= _MAX_IOVECS:
        written = os.writev(fd, chunks)
        if written == sum(map(len, chunks)):
            return
        rest = memoryview(b"".join(chunks))[written:]  # a short write: a signal, a nearly full disk
    else:
        rest = memoryview(b"".join(chunks))
    while rest:
        rest = rest[os.write(fd, rest) :]


def _iov_max() -> int:
    """Buffers one ``writev`` call may take (POSIX guarantees 16; Linux allows 1024)."""
    try:
        return max(16, min(os.sysconf("SC_IOV_MAX"), 1024))
    except (AttributeError, ValueError, OSError):
        return 16


_MAX_IOVECS = _iov_max()


def copy_atomic(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
    """Copy a file's content to ``target`` through a temporary file and a rename."""
    target = Path(target)
    with _temporary_beside(target) as (fd, tmp):
        with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
            copy_contents(src, out)
        os.replace(tmp, target)


def content_addressed_name(filename: str, digest: str) -> str:
    """``<stem>_<digest><ext>``: Sacred's name for a stored source or resource."""
    stem, ext = os.path.splitext(os.path.basename(filename))
    return f"{stem}_{digest[:DIGEST_CHARS]}{ext}"


def store_content_addressed(filename: str, digest: str, store_dir: Path) -> Path:
    """Copy ``filename`` into ``store_dir`` under its content-addressed name, once.

    An existing file of that name already holds this content, so it is left alone;
    concurrent writers each write a temporary file and rename it, which is harmless.
    """
    store_dir.mkdir(parents=True, exist_ok=True)
    stored = store_dir / content_addressed_name(filename, digest)
    if not stored.exists():
        copy_atomic(filename, stored)
    return stored


def validate_run_id(run_id: str) -> str:
    """Check that a given run id can name a folder inside the storage."""
    if not is_usable_run_id(run_id):
        raise ObserverError(
            f"run id {run_id[:80]!r} cannot name a run folder: use a non-empty name of at most "
            f"{MAX_RUN_ID_LENGTH} characters without '/', '\\' or a leading '_' (folders "
            "starting with '_' hold shared sources and resources)"
        )
    return run_id


def _max_numeric_dir(basedir: Path) -> int:
    """The largest numeric run folder name, 0 if none (the O(#runs) fallback)."""
    best = 0
    with os.scandir(basedir) as entries:
        for entry in entries:
            if entry.name.isdigit() and entry.is_dir():
                best = max(best, int(entry.name))
    return best


def _read_hint(basedir: Path) -> int | None:
    """The hinted next id, if the hint file exists and is believable."""
    try:
        text = (basedir / HINT_FILE).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    if not text.isdigit() or int(text) < 1:
        return None
    hint = int(text)
    # Believable when the id just before it exists: a stale hint left by deleted
    # runs or a hand-edited file is dropped in favour of a scan.
    if hint == 1 or (basedir / str(hint - 1)).is_dir():
        return hint
    return None


def _write_hint(basedir: Path, next_id: int) -> None:
    """Remember the next free id; losing this race is harmless (mkdir decides)."""
    current = _read_hint(basedir)
    if current is not None and current >= next_id:
        return  # another process already moved it further
    with contextlib.suppress(OSError):
        atomic_write(basedir / HINT_FILE, f"{next_id}\n".encode("ascii"))


def allocate_run_dir(basedir: Path) -> tuple[str, Path]:
    """Create the next numeric run folder atomically and return ``(id, path)``.

    The candidate comes from the hint file (or a scan when there is none or it
    looks wrong); ``os.mkdir`` either creates the folder — the id is ours — or
    fails with ``FileExistsError`` because another process won it, and the next
    number is tried. After a few collisions in a row the folder is scanned again
    to jump past a crowd.
    """
    basedir.mkdir(parents=True, exist_ok=True)
    candidate = _read_hint(basedir)
    if candidate is None:
        candidate = _max_numeric_dir(basedir) + 1
    collisions = 0
    for _ in range(_MAX_ATTEMPTS):
        path = basedir / str(candidate)
        try:
            os.mkdir(path)
        except FileExistsError:
            collisions += 1
            if collisions % _MAX_COLLISIONS_BEFORE_SCAN == 0:
                candidate = max(candidate, _max_numeric_dir(basedir)) + 1
            else:
                candidate += 1
            continue
        _write_hint(basedir, candidate + 1)
        return str(candidate), path
    raise ObserverError(
        f"could not create a new run folder in {basedir} after {_MAX_ATTEMPTS} attempts; "
        "check that the folder is writable and not filling up with foreign numeric folders"
    )


def count_chars(path: Path) -> int:
    """Characters stored in a UTF-8 text file; a character torn by a crash is cut off."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return 0
    try:
        return len(data.decode("utf-8"))
    except UnicodeDecodeError as error:
        if error.start < len(data) - 3:  # damage in the middle: count what is readable
            return len(data.decode("utf-8", errors="replace"))
        with open(path, "rb+") as f:
            f.truncate(error.start)
        return len(data[: error.start].decode("utf-8"))


def fsync_path(path: Path) -> None:
    """Flush one file to stable storage, if it exists."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
