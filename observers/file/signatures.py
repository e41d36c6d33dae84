"""How the file index notices that a run folder changed: the stat signature of its files.

A refresh lists the storage folder once and stats, per run folder, ``run.json``,
``config.json``, ``info.json`` and ``metrics.jsonl`` (or, only when that one is
absent, Sacred's ``metrics.json``). What is relied on, and nothing more:

* a file rewritten atomically (gnomon's writer, ``rsync``: a new file renamed over
  the old one) has a new inode number;
* a file rewritten in place (Sacred's writer) has a new size or a new mtime, unless
  the rewrite fell within the same mtime tick as the read that indexed it: a file
  whose mtime is within :data:`RACY_SECONDS` of when its run was indexed makes the
  run "racy", and a racy run is read again at every refresh until it settles
  (git's "racily clean" rule);
* ``metrics.jsonl`` only grows (appended to; its torn last line is read later), so
  its inode and size say everything (a rewrite in place to the same size, which
  no writer does, would go unseen); ``metrics.json`` is rewritten whole, so its
  mtime counts too;
* a run folder appears or disappears from the listing of the storage folder.

Each stat is made relative to one open descriptor of the storage folder (where
the platform allows, as on Linux and macOS), the same one that is listed, so the
kernel resolves two path components per file instead of the whole absolute path
(measured: 5–10 % of a refresh of 10,000 runs, whose floor is the four ``stat``
calls per run). The folder's own mtime is not trusted for anything: an in-place
rewrite does not change it.
"""

from __future__ import annotations

import os
import stat
import struct
from collections.abc import Iterator

from gnomon.query.predicate import natural_key

__all__ = [
    "MISSING_FILE",
    "RACY_SECONDS",
    "RUN_FILES",
    "SIGNATURE",
    "YOUNG_SECONDS",
    "Listing",
    "natural",
    "natural_text",
]

#: A file changed this recently may change again unseen within one mtime tick: read its run again.
RACY_SECONDS = 3.0
#: A folder without run.json younger than this is a run being created, not a foreign folder.
YOUNG_SECONDS = 30.0
#: The files whose ``(inode, mtime_ns, size)`` make the first nine numbers of a signature.
RUN_FILES = ("run.json", "config.json", "info.json")
#: A signature: 3 × (inode, mtime_ns, size), then the metric file's (kind, inode, size, mtime_ns).
SIGNATURE = struct.Struct("<13q")
MISSING_FILE = (0, 0, -1)
_NO_METRICS = (0, 0, 0, 0)
_DIR_FD = os.stat in os.supports_dir_fd and os.scandir in os.supports_fd


natural = natural_key  # the query layer's order of run ids


def natural_text(name: str) -> str:
    """A text whose code-point (and UTF-8 byte) order is the natural order of run ids.

    Decimal ids become ``"0"``, the length of the number (6 digits) and the number
    without leading zeros; any other id ``"1"`` and itself. Ids equal as numbers
    (``"7"``, ``"007"``) get the same text: callers break that tie by the id itself.
    """
    if name.isascii() and name.isdigit():
        number = str(int(name))
        return f"0{len(number):06d}{number}"
    return "1" + name


class Listing:
    """One look at a storage folder: the names of its run folders and the signature of each.

    Use as a context manager; it holds a descriptor of the folder until closed.
    """

    def __init__(self, basedir: str) -> None:
        self._prefix = basedir + os.sep
        self._fd: int | None = None
        if _DIR_FD:
            self._fd = os.open(basedir, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))

    def __enter__(self) -> Listing:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the folder's descriptor."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def names(self) -> Iterator[str]:
        """The run folders: every subfolder whose name starts with neither ``_`` nor ``.``."""
        with os.scandir(self._fd if self._fd is not None else self._prefix) as entries:
            for entry in entries:
                if entry.name[0] not in "_." and _is_dir(entry):
                    yield entry.name

    def is_dir(self, name: str) -> bool:
        """Whether ``name`` is a folder in the storage folder now."""
        try:
            return stat.S_ISDIR(self._stat(name).st_mode)
        except OSError:
            return False

    def _stat(self, relpath: str) -> os.stat_result:
        if self._fd is not None:
            return os.stat(relpath, dir_fd=self._fd)
        return os.stat(self._prefix + relpath)

    def signature(self, name: str) -> bytes:
        """The stat signature of a run folder's files (see the module docstring)."""
        folder = name + os.sep
        lookup = self._stat
        parts: list[int] = []
        for file in RUN_FILES:
            try:
                info = lookup(folder + file)
                parts += (info.st_ino, info.st_mtime_ns, info.st_size)
            except (FileNotFoundError, NotADirectoryError):
                parts += MISSING_FILE
        try:
            info = lookup(folder + "metrics.jsonl")
            parts += (1, info.st_ino, info.st_size, 0)
        except (FileNotFoundError, NotADirectoryError):
            try:
                info = lookup(folder + "metrics.json")
                parts += (2, info.st_ino, info.st_size, info.st_mtime_ns)
            except (FileNotFoundError, NotADirectoryError):
                parts += _NO_METRICS
        return SIGNATURE.pack(*parts)


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False
