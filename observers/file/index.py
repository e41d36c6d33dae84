"""The disposable index of a file storage folder: ``basedir/_gnomon/index.sqlite``.

Everything in it is derived from the run folders and rebuilt when it is missing,
damaged or of another version. Per run folder it keeps the stored form of the
run's summary record (:mod:`.records`), the ``(inode, mtime_ns, size)`` of
``run.json``, ``config.json`` and ``info.json``, and the metric summaries with
the byte offset read in ``metrics.jsonl`` (or the signature of Sacred's
``metrics.json``) (:mod:`.series`); besides, the character marks of outputs
(:mod:`.output`) and the digests of artifact files.

A refresh lists the folder once and stats those files of every run: a file
rewritten atomically (gnomon's writer, ``rsync``) gets a new inode; one
rewritten in place (Sacred's writer) a new size or mtime. A file whose mtime was
within :data:`RACY_SECONDS` of when it was read may still change within the
same timestamp tick, so its run is read again at the next refresh until it
settles (git's "racily clean" rule). Nothing else is trusted, so a finished run
that changes later (``gnomon sync``, a copy brought in) is seen.

When the folder cannot be written (a read-only share), the index lives in the
user's cache folder under a hash of the folder's absolute path. SQLite in WAL
mode lets several processes read and refresh it at once; each refresh writes
its findings in one ``BEGIN IMMEDIATE`` transaction, every row a consistent
state on its own, so a refresh that loses a race only repeats work.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import struct
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from gnomon.errors import StoreError
from gnomon.observers.file.output import OutputMarks, count
from gnomon.observers.file.records import NotARunError, load_json, row_from_files
from gnomon.observers.file.series import MetricSummaries, batches, floats, seqs_from_blob, seqs_to_blob

__all__ = ["INDEX_FOLDER", "RACY_SECONDS", "RunIndex"]

#: The index's folder inside the storage folder (skipped by Sacred and gnomon as a run, like ``_sources``).
INDEX_FOLDER = "_gnomon"
VERSION = "1"
#: A file changed this recently may change again unseen within one mtime tick: read its run again.
RACY_SECONDS = 3.0
#: A folder without run.json younger than this is a run being created, not a foreign folder.
YOUNG_SECONDS = 30.0

_RUN_FILES = ("run.json", "config.json", "info.json")
_SIG = struct.Struct("<13q")
_MISSING = (0, 0, -1)
T = TypeVar("T")

_TABLES = ("meta", "state", "records", "details", "outputs", "digests")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS state (
    name TEXT PRIMARY KEY, sig BLOB NOT NULL, racy INTEGER NOT NULL, ok INTEGER NOT NULL, problem TEXT,
    log_offset INTEGER
);
CREATE TABLE IF NOT EXISTS records (name TEXT PRIMARY KEY, record BLOB, bits INTEGER, metrics BLOB);
CREATE TABLE IF NOT EXISTS details (name TEXT PRIMARY KEY, roots BLOB, links BLOB, seqs BLOB);
CREATE TABLE IF NOT EXISTS outputs (name TEXT PRIMARY KEY, ino INTEGER, bytes INTEGER, chars INTEGER, marks BLOB);
CREATE TABLE IF NOT EXISTS digests (path TEXT PRIMARY KEY, sig BLOB, sha256 TEXT, md5 TEXT);
"""


def _signature(folder: str) -> bytes:
    """The stat signature of a run folder's files (see the module docstring)."""
    parts: list[int] = []
    for name in _RUN_FILES:
        try:
            info = os.stat(folder + name)
            parts += (info.st_ino, info.st_mtime_ns, info.st_size)
        except (FileNotFoundError, NotADirectoryError):
            parts += _MISSING
    try:
        info = os.stat(folder + "metrics.jsonl")
        parts += (1, info.st_ino, info.st_size, 0)
    except (FileNotFoundError, NotADirectoryError):
        try:
            info = os.stat(folder + "metrics.json")
            parts += (2, info.st_ino, info.st_size, info.st_mtime_ns)
        except (FileNotFoundError, NotADirectoryError):
            parts += (0, 0, 0, 0)
    return _SIG.pack(*parts)


def _natural(name: str) -> tuple[int, int, str]:
    return (0, int(name), "") if name.isdigit() else (1, 0, name)


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except (FileNotFoundError, NotADirectoryError):
        return None


def cache_location(basedir: Path) -> Path:
    """Where the index of a folder that cannot be written lives: the user's cache, keyed by the folder's path."""
    import platformdirs

    key = hashlib.sha256(str(basedir).encode("utf-8", "surrogateescape")).hexdigest()[:24]
    return Path(platformdirs.user_cache_dir("gnomon")) / "file-index" / key


class RunIndex:
    """The index of one storage folder; thread-safe (one lock), shared safely with other processes."""

    def __init__(self, basedir: Path, *, cache_dir: Path | None = None) -> None:
        self.basedir = basedir
        self._prefix = str(basedir) + os.sep
        self._cache_dir = cache_dir
        self._lock = threading.RLock()
        self._warned: set[str] = set()
        #: Bytes of metrics.jsonl files read so far (what the incremental refresh saves is measurable).
        self.log_bytes_read = 0
        self.location, self._db = self._open()

    # ---------------------------------------------------------------- opening --
    def _candidates(self) -> list[Path]:
        if self._cache_dir is not None:
            return [self._cache_dir]
        return [self.basedir / INDEX_FOLDER, cache_location(self.basedir)]

    def _open(self) -> tuple[Path | None, sqlite3.Connection]:
        for folder in self._candidates():
            path = folder / "index.sqlite"
            try:
                folder.mkdir(parents=True, exist_ok=True)
                if not os.access(folder, os.W_OK) or any(
                    p.exists() and not os.access(p, os.W_OK) for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm"))
                ):
                    continue
                return path, self._connect(str(path))
            except sqlite3.DatabaseError as error:
                if "readonly" in str(error) or "unable to open" in str(error):
                    continue
                self._warn_damaged(path, error)
                self._remove(path)
                try:
                    return path, self._connect(str(path))
                except (OSError, sqlite3.DatabaseError):
                    continue
            except OSError:
                continue
        warnings.warn(
            f"no writable place for the index of {self.basedir} (its {INDEX_FOLDER} folder and the user cache "
            "are read-only): it is kept in memory and rebuilt by every process",
            RuntimeWarning,
            stacklevel=4,
        )
        return None, self._connect(":memory:")

    @staticmethod
    def _connect(path: str) -> sqlite3.Connection:
        db = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            row = None
            with contextlib.suppress(sqlite3.OperationalError):  # a new file has no table yet
                row = db.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()
            if row is None or row[0] != VERSION:
                db.execute("BEGIN IMMEDIATE")
                try:
                    with contextlib.suppress(sqlite3.OperationalError):  # another process may have just made it
                        row = db.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()
                    if row is None or row[0] != VERSION:
                        for table in _TABLES:
                            db.execute(f"DROP TABLE IF EXISTS {table}")
                        for statement in _SCHEMA.split(";"):
                            if statement.strip():
                                db.execute(statement)
                        db.execute("INSERT OR REPLACE INTO meta VALUES ('version', ?)", (VERSION,))
                    db.execute("COMMIT")
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
        except BaseException:
            db.close()
            raise
        return db

    @staticmethod
    def _remove(path: Path) -> None:
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{path}{suffix}")

    @staticmethod
    def _warn_damaged(path: Path, error: BaseException) -> None:
        warnings.warn(f"the index {path} is damaged ({error}); rebuilding it", RuntimeWarning, stacklevel=5)

    def _guarded(self, work: Callable[[], T]) -> T:
        """Run ``work`` on the index; a damaged index is rebuilt once (with a warning) and the work redone."""
        with self._lock:
            try:
                return work()
            except sqlite3.DatabaseError as error:
                if isinstance(error, sqlite3.OperationalError) and "locked" in str(error):
                    raise StoreError(
                        f"the index {self.location} of {self.basedir} stayed locked by another process for 30 s; "
                        "try again, or delete it (it is rebuilt from the run folders)"
                    ) from error
                self._warn_damaged(self.location or Path(":memory:"), error)
                with contextlib.suppress(sqlite3.Error):
                    self._db.close()
                if self.location is not None:
                    self._remove(self.location)
                    self._db = self._connect(str(self.location))
                else:
                    self._db = self._connect(":memory:")
                return work()

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._db.close()

    # ---------------------------------------------------------------- refresh --
    def refresh(self, only: str | None = None) -> tuple[list[str], list[str], list[str]]:
        """Bring the index up to date with the folder: ``(added, updated, removed)`` run ids.

        ``only`` limits the work to one run folder (for reading a single run).
        """
        return self._guarded(lambda: self._refresh(only))

    def _refresh(self, only: str | None) -> tuple[list[str], list[str], list[str]]:
        db = self._db
        query = "SELECT name, sig, racy, ok FROM state" + (" WHERE name = ?" if only is not None else "")
        stored = {row[0]: row[1:] for row in db.execute(query, () if only is None else (only,))}
        prefix = self._prefix
        if only is None:
            names = [e.name for e in os.scandir(self.basedir) if e.name[0] not in "_." and _is_dir(e)]
        else:
            names = [only] if os.path.isdir(prefix + only) else []
        todo: list[tuple[str, bytes, tuple[Any, ...] | None]] = []
        bad = []
        for name in names:
            signature = _signature(prefix + name + os.sep)
            old = stored.pop(name, None)
            if old is None or old[1] or old[0] != signature:
                todo.append((name, signature, old))
            elif not old[2]:
                bad.append(name)
        gone = stored  # listed in the index, no longer in the folder
        added: list[str] = []
        updated: list[str] = []
        removed = [name for name, old in gone.items() if old[2]]
        writes: list[tuple[Any, ...]] = []
        now = time.time_ns()
        for name, signature, old in todo:
            found = self._index_run(name, signature, old, now)
            if found is None:
                continue
            row, changed = found
            writes.append(row)
            was_readable = old is not None and bool(old[2])
            if row[3]:
                if not was_readable:
                    added.append(name)
                elif changed:
                    updated.append(name)
            else:
                bad.append(name)
                if was_readable:
                    removed.append(name)
        if writes or gone:
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany("INSERT OR REPLACE INTO state VALUES (?,?,?,?,?,?)", [w[:6] for w in writes])
                db.executemany(
                    "INSERT OR REPLACE INTO records VALUES (?,?,?,?)", [(w[0], *w[6:9]) for w in writes if w[3]]
                )
                db.executemany(
                    "INSERT OR REPLACE INTO details VALUES (?,?,?,?)", [(w[0], *w[9:12]) for w in writes if w[3]]
                )
                for table in ("records", "details"):
                    db.executemany(f"DELETE FROM {table} WHERE name = ?", [(w[0],) for w in writes if not w[3]])
                for table in ("state", "records", "details", "outputs"):
                    db.executemany(f"DELETE FROM {table} WHERE name = ?", [(n,) for n in gone])
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        self._warn_skipped(sorted(bad, key=_natural))
        return sorted(added, key=_natural), sorted(updated, key=_natural), sorted(removed, key=_natural)

    def _warn_skipped(self, bad: list[str]) -> None:
        for name in bad:
            if name in self._warned:
                continue
            self._warned.add(name)
            row = self._db.execute("SELECT problem FROM state WHERE name = ?", (name,)).fetchone()
            problem = row[0] if row else "it is not a run"
            warnings.warn(f"{self._prefix}{name} is skipped: {problem}", RuntimeWarning, stacklevel=5)

    def _index_run(
        self, name: str, signature: bytes, old: tuple[Any, ...] | None, now: int
    ) -> tuple[tuple[Any, ...], bool] | None:
        """The new index row of one changed run folder, and whether what it says changed; None to leave it be."""
        folder = self._prefix + name + os.sep
        parts = _SIG.unpack(signature)
        previous = None
        if old is not None and old[2]:
            previous = self._db.execute(
                "SELECT r.record, r.bits, d.roots, d.links, s.log_offset, d.seqs, r.metrics FROM state s "
                "JOIN records r USING (name) JOIN details d USING (name) WHERE s.name = ?",
                (name,),
            ).fetchone()
        racy_after = now - int(RACY_SECONDS * 1e9)
        files_changed = old is None or bool(old[1]) or _SIG.unpack(old[0])[:9] != parts[:9]
        if parts[2] < 0:  # no run.json
            try:
                age = now - os.stat(folder).st_mtime_ns
            except FileNotFoundError:
                return None
            if age < YOUNG_SECONDS * 1e9:
                return None  # a run being created: look again next time
            return (name, signature, 0, 0, "it has no run.json (not a run folder)", 0), True
        if files_changed or previous is None or previous[0] is None:
            contents = [_read(folder + f) for f in _RUN_FILES]
            if contents[0] is None:
                return None  # removed since the listing
            try:
                record, bits, roots, links = row_from_files(contents[0], contents[1], contents[2])
            except NotARunError as error:
                if max(parts[1], parts[4], parts[7]) > racy_after:
                    return None  # maybe caught in the middle of an in-place write: look again next time
                return (name, signature, 0, 0, str(error), 0), True
        else:
            record, bits, roots, links = previous[:4]
        offset, seqs_blob, metrics = self._metrics(folder, parts, old, previous)
        racy = max(parts[1], parts[4], parts[7], parts[12]) > racy_after
        row = (name, signature, int(racy), 1, None, offset, record, bits, metrics, roots, links, seqs_blob)
        return row, previous is None or (record, bits, roots, links, metrics) != (*previous[:4], previous[6])

    def _metrics(
        self, folder: str, parts: tuple[int, ...], old: tuple[Any, ...] | None, previous: tuple[Any, ...] | None
    ) -> tuple[int, bytes | None, bytes | None]:
        """``(log offset, batches read, summaries)`` brought up to date with the run's metric files."""
        kind, ino, size = parts[9], parts[10], parts[11]
        before = _SIG.unpack(old[0])[9:] if old is not None else (0, 0, 0, 0)
        if (
            previous is not None
            and previous[6] is not None
            and before[:3] == (kind, ino, size)
            and (
                kind != 2 or (before[3] == parts[12] and not old[1])  # type: ignore[index]
            )
        ):
            return previous[4], previous[5], previous[6]  # unchanged
        if kind == 0:
            return 0, None, MetricSummaries().to_blob()
        if kind == 2:
            summaries = MetricSummaries()
            data = _read(folder + "metrics.json")
            if data:
                with contextlib.suppress(NotARunError):
                    value, _ = load_json(data, "metrics.json")
                    if isinstance(value, dict):
                        summaries.add_metrics_json(value)
            return 0, None, summaries.to_blob()
        offset = 0
        seqs: set[int] = set()
        summaries = MetricSummaries()
        if previous is not None and before[:2] == (1, ino) and previous[4] is not None and size >= previous[4]:
            # the same log, grown (or its torn last line cut off): carry on from the offset
            offset = previous[4]
            seqs = seqs_from_blob(previous[5])
            summaries = MetricSummaries.from_blob(previous[6])
        try:
            with open(folder + "metrics.jsonl", "rb") as f:
                f.seek(offset)
                data = f.read()
        except FileNotFoundError:
            data = b""
        self.log_bytes_read += len(data)
        end = data.rfind(b"\n") + 1  # a line not ended yet is read next time
        for name, steps, values, _stamps in batches(data[:end], seqs):
            summaries.add(name, steps, floats(values))
        return offset + end, seqs_to_blob(seqs), summaries.to_blob()

    # ---------------------------------------------------------------- reading --
    def rows(self, *, roots: bool) -> list[tuple[Any, ...]]:
        """``(name, record, bits, metrics[, roots])`` of every readable run, in natural id order."""
        query = (
            "SELECT r.name, r.record, r.bits, r.metrics, d.roots FROM records r JOIN details d USING (name)"
            if roots
            else "SELECT name, record, bits, metrics FROM records"
        )
        rows = self._guarded(lambda: self._db.execute(query).fetchall())
        rows.sort(key=lambda r: _natural(r[0]))
        return rows

    def row(self, name: str) -> tuple[Any, ...] | None:
        """``(name, record, bits, metrics, roots, links)`` of one readable run."""
        found: tuple[Any, ...] | None = self._guarded(
            lambda: self._db.execute(
                "SELECT r.name, r.record, r.bits, r.metrics, d.roots, d.links FROM records r "
                "JOIN details d USING (name) WHERE r.name = ?",
                (name,),
            ).fetchone()
        )
        return found

    def count(self) -> int:
        """How many readable runs the index holds."""
        return int(self._guarded(lambda: self._db.execute("SELECT count(*) FROM records").fetchone()[0]))

    def links(self) -> list[tuple[str, bytes]]:
        """``(name, links blob)`` of every readable run: their artifacts and resources."""
        return self._guarded(lambda: self._db.execute("SELECT name, links FROM details").fetchall())

    def output_marks(self, name: str) -> OutputMarks:
        """The counted characters of a run's ``cout.txt``, counting only what was appended since."""

        def work() -> OutputMarks:
            row = self._db.execute("SELECT ino, bytes, chars, marks FROM outputs WHERE name = ?", (name,)).fetchone()
            known = OutputMarks.from_row(*row) if row else None
            marks, changed = count(self._prefix + name + os.sep + "cout.txt", known)
            if changed:
                self._db.execute(
                    "INSERT OR REPLACE INTO outputs VALUES (?,?,?,?,?)",
                    (name, marks.ino, marks.nbytes, marks.chars, marks.to_blob()),
                )
            return marks

        return self._guarded(work)

    def digests(self, relpath: str) -> tuple[str, str] | None:
        """``(sha256, md5)`` hex of a file under the folder, hashed once per content (inode, mtime, size)."""
        path = self._prefix + relpath

        def work() -> tuple[str, str] | None:
            try:
                info = os.stat(path)
            except (FileNotFoundError, NotADirectoryError):
                return None
            signature = struct.pack("<3q", info.st_ino, info.st_mtime_ns, info.st_size)
            row = self._db.execute("SELECT sig, sha256, md5 FROM digests WHERE path = ?", (relpath,)).fetchone()
            if row is not None and row[0] == signature:
                return row[1], row[2]
            sha256, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
            try:
                with open(path, "rb") as f:
                    while chunk := f.read(1 << 20):
                        sha256.update(chunk)
                        md5.update(chunk)
            except (FileNotFoundError, IsADirectoryError):
                return None
            found = (sha256.hexdigest(), md5.hexdigest())
            self._db.execute("INSERT OR REPLACE INTO digests VALUES (?,?,?,?)", (relpath, signature, *found))
            return found

        return self._guarded(work)


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False
