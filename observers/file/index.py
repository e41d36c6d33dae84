"""The disposable index of a file storage folder: ``basedir/_gnomon/index.sqlite``.

Everything in it is derived from the run folders and rebuilt when it is missing,
damaged or of another version. Per run folder it keeps the stored form of the
run's summary record (:mod:`.records`), the ``(inode, mtime_ns, size)`` of
``run.json``, ``config.json`` and ``info.json``, and the metric summaries with
the byte offset read in ``metrics.jsonl`` (or the signature of Sacred's
``metrics.json``) (:mod:`.series`); besides, the character marks of outputs
(:mod:`.output`) and the digests of artifact files.

A refresh lists the folder once and stats those files of every run
(:mod:`.signatures` says exactly what that relies on); only the runs whose
signature changed, or that were racily indexed, are read again
(:mod:`.index_rows`). Nothing else is trusted, so a finished run that changes
later (``gnomon sync``, a copy brought in) is seen. Listing sorts and limits in
SQL by columns kept beside each record (:mod:`.index_schema`), so the first 50
runs by start time cost 50 decodes, not 10,000.

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
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from gnomon.errors import StoreError
from gnomon.observers.file.index_rows import PREVIOUS_QUERY, index_run
from gnomon.observers.file.index_schema import LOCK_TIMEOUT, ORDER_COLUMNS, cache_location, connect, order_clause
from gnomon.observers.file.output import OutputMarks, count
from gnomon.observers.file.signatures import RACY_SECONDS, Listing, natural

if TYPE_CHECKING:
    from gnomon.observers.file.series_files import SeriesFiles

__all__ = ["INDEX_FOLDER", "RACY_SECONDS", "RunIndex"]

#: The index's folder inside the storage folder (skipped by Sacred and gnomon as a run, like ``_sources``).
INDEX_FOLDER = "_gnomon"
T = TypeVar("T")
#: Names per ``IN (...)`` query (below SQLite's oldest limit of 999 parameters).
_CHUNK = 500
_ROWS = "SELECT r.name, r.record, r.bits, r.metrics{} FROM records r{} "


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
        #: Where binary series copies are kept (set by the store): a large log's summaries come from them.
        self.series_copies: SeriesFiles | None = None
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
                if _locked(error):
                    raise self._locked_error() from error
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
        return connect(path)

    def _locked_error(self) -> StoreError:
        return StoreError(
            f"the index {self.location or self.basedir / INDEX_FOLDER} of {self.basedir} stayed locked by another "
            f"process for {LOCK_TIMEOUT:g} s; try again, or delete it (it is rebuilt from the run folders)"
        )

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
                if _locked(error):
                    raise self._locked_error() from error
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
    def refresh(self, only: str | Collection[str] | None = None) -> tuple[list[str], list[str], list[str]]:
        """Bring the index up to date with the folder: ``(added, updated, removed)`` run ids.

        ``only`` limits the work to one run folder, or to a few (reading single runs,
        listing runs by id): a name that is no run folder is only forgotten.
        """
        if isinstance(only, str):
            only = (only,)
        elif only is not None:
            only = sorted(
                {name for name in only if name and name[0] not in "_." and "/" not in name and os.sep not in name}
            )
        return self._guarded(lambda: self._refresh(only))

    def _refresh(self, only: Sequence[str] | None) -> tuple[list[str], list[str], list[str]]:
        db = self._db
        if only is None:
            stored = {row[0]: row[1:] for row in db.execute("SELECT name, sig, racy, ok FROM state")}
        else:
            stored = {}
            for start in range(0, len(only), _CHUNK):
                part = only[start : start + _CHUNK]
                query = f"SELECT name, sig, racy, ok FROM state WHERE name IN ({','.join('?' * len(part))})"
                stored.update((row[0], row[1:]) for row in db.execute(query, part))
        todo: list[tuple[str, bytes, tuple[Any, ...] | None]] = []
        bad = []
        with Listing(str(self.basedir)) as listing:
            names = list(listing.names()) if only is None else [n for n in only if listing.is_dir(n)]
            for name in names:
                signature = listing.signature(name)
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
            previous = db.execute(PREVIOUS_QUERY, (name,)).fetchone() if old is not None and old[2] else None
            folder = self._prefix + name + os.sep
            found = index_run(folder, name, signature, old, previous, now, self.series_copies)
            if found is None:
                continue
            row, changed, read = found
            self.log_bytes_read += read
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
            self._write(writes, list(gone))
        self._warn_skipped(sorted(bad, key=natural))
        return sorted(added, key=natural), sorted(updated, key=natural), sorted(removed, key=natural)

    def _write(self, writes: list[tuple[Any, ...]], gone: list[str]) -> None:
        """Store the new rows (laid out as :mod:`.index_rows` says) and forget the folders gone, at once."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany("INSERT OR REPLACE INTO state VALUES (?,?,?,?,?,?)", [w[:6] for w in writes])
            db.executemany(
                "INSERT OR REPLACE INTO records VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [(w[0], *w[6:9], *w[12:]) for w in writes if w[3]],
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

    def _warn_skipped(self, bad: list[str]) -> None:
        for name in bad:
            if name in self._warned:
                continue
            self._warned.add(name)
            row = self._db.execute("SELECT problem FROM state WHERE name = ?", (name,)).fetchone()
            problem = row[0] if row else "it is not a run"
            warnings.warn(f"{self._prefix}{name} is skipped: {problem}", RuntimeWarning, stacklevel=5)

    # ---------------------------------------------------------------- reading --
    def rows(
        self,
        *,
        roots: bool,
        order_by: Sequence[tuple[tuple[str, ...], bool]] = (),
        limit: int | None = None,
        offset: int = 0,
        names: Sequence[str] | None = None,
    ) -> list[tuple[Any, ...]]:
        """``(name, record, bits, metrics[, roots])`` of readable runs, sorted in SQL.

        ``order_by`` holds ``(path, descending)`` pairs of :meth:`orders` paths; missing
        values go last and ties in natural id order (which is the order without any).
        ``names`` (at most a few hundred) keeps only those runs.
        """
        query = _ROWS.format(", d.roots", " JOIN details d USING (name)") if roots else _ROWS.format("", "")
        bounds: tuple[Any, ...] = ()
        if names is not None:
            query += f"WHERE r.name IN ({','.join('?' * len(names))}) "
            bounds = tuple(names)
        query += order_clause(order_by)
        if limit is not None or offset:
            query += " LIMIT ? OFFSET ?"
            bounds += (-1 if limit is None else limit, offset)
        return self._guarded(lambda: self._db.execute(query, bounds).fetchall())

    @staticmethod
    def orders(path: tuple[str, ...]) -> bool:
        """Whether :meth:`rows` sorts by ``path`` (run id, times and the plain text fields)."""
        return len(path) == 1 and path[0] in ORDER_COLUMNS

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

    def digests(self, relpath: str, *, cached_only: bool = False) -> tuple[str, str] | None:
        """``(sha256, md5)`` hex of a file under the folder, hashed once per content (inode, mtime, size).

        With ``cached_only`` a file not hashed yet (or changed since) gives None instead of being read.
        """
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
            if cached_only:
                return None
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


def _locked(error: sqlite3.DatabaseError) -> bool:
    """A lock held too long by another connection: no damage, nothing to rebuild."""
    return isinstance(error, sqlite3.OperationalError) and "locked" in str(error)
