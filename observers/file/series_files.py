"""Binary copies of runs' metric series beside the index: ``_gnomon/series/<run>/``.

Parsing a million points of ``metrics.jsonl`` takes most of a second; loading
them from ``.npy`` files takes milliseconds. The first read of a run's series
parses its log once and writes every metric it holds, as one ``.npy`` file of
int64 per metric: the steps, then the values and the times (float64, stored
bit for bit), so loading needs no pickle (``allow_pickle=False``) and each
column is a view. ``state.json`` names the files and the ``(inode, size,
mtime)`` of the log they were built from; the copies are used only while the
log still has them. A log that only grew (same inode, larger) is read from
where the last read stopped and the new points appended; any other change
rebuilds them. Lines are read as :func:`.series.series_points` reads them (a
batch whose ``seq`` was read before is skipped, a line without its newline is
left for later), so an answer never depends on whether the copies exist:
deleting ``_gnomon`` only costs the next read its parse.

Files are written under new names and then named by an atomically replaced
``state.json``, so a reader in another process sees the old set or the new one;
one it finds half gone is read from the log instead. numpy is optional: without
it, or where the folder cannot be written, every read parses the log.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import orjson

from gnomon.observers.file.series import batches, floats

if TYPE_CHECKING:
    import numpy as np

__all__ = ["SeriesFiles"]

_VERSION = 1
#: One metric's columns: steps (int64), values and times (float64).
Columns = tuple["np.ndarray", "np.ndarray", "np.ndarray"]


class _Unusable(Exception):
    """The log holds points the copies cannot keep exactly (steps that are not 64-bit integers)."""


class SeriesFiles:
    """The binary series copies of a storage folder's runs, kept in ``folder`` (one subfolder per run)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        # One update of a run's copies at a time in this process (plots and the index both ask).
        self._lock = threading.Lock()

    def read(self, run_dir: Path, name: str, names: Sequence[str] | None) -> dict[str, Columns] | None:
        """Every point of the wanted metrics of one run, in logged order, from the copies brought up to date.

        None when the run has no ``metrics.jsonl`` or its points cannot be copied
        exactly: the caller then parses the log itself.
        """
        with self._lock:
            current = self._current(run_dir, name, names)
        return None if current is None else current[0]

    def read_all(self, run_dir: Path, name: str) -> tuple[dict[str, Columns], int, list[int]] | None:
        """Every metric of one run brought up to date, with the log offset and the batch numbers they cover.

        The index takes a large log's summaries from here: one parse then serves
        both the summaries and every later plot of the run.
        """
        with self._lock:
            current = self._current(run_dir, name, None)
        if current is None:
            return None
        found, state = current
        return found, int(state["offset"]), [int(seq) for seq in state["seqs"]]

    def _current(
        self, run_dir: Path, name: str, names: Sequence[str] | None
    ) -> tuple[dict[str, Columns], dict[str, Any]] | None:
        try:
            info = os.stat(run_dir / "metrics.jsonl")
        except OSError:
            return None
        signature = [info.st_ino, info.st_size, info.st_mtime_ns]
        here = self.folder / name
        state = self._state(here)
        try:
            if state is not None and state["log"] == signature:
                return self._load(here, state, names), state
        except (OSError, ValueError, KeyError):
            state = None
        try:
            grown = state is not None and state["log"][0] == info.st_ino and state["offset"] <= info.st_size
            generation = state["generation"] + 1 if state is not None else 0
            found, state = self._update(run_dir, here, state if grown else None, generation, signature)
        except (_Unusable, OSError, ValueError, KeyError, TypeError):
            return None
        wanted = found if names is None else {n: found[n] for n in dict.fromkeys(names) if n in found}
        return wanted, state

    # ------------------------------------------------------------------ reading --
    @staticmethod
    def _state(here: Path) -> dict[str, Any] | None:
        try:
            state = orjson.loads((here / "state.json").read_bytes())
        except (OSError, orjson.JSONDecodeError):
            return None
        return state if isinstance(state, dict) and state.get("version") == _VERSION else None

    @staticmethod
    def _load(here: Path, state: dict[str, Any], names: Sequence[str] | None) -> dict[str, Columns]:
        files: dict[str, list[Any]] = state["metrics"]
        wanted = list(files) if names is None else [n for n in dict.fromkeys(names) if n in files]
        return {metric: _columns(here / files[metric][0]) for metric in wanted}

    # ------------------------------------------------------------------ writing --
    @staticmethod
    def _update(
        run_dir: Path, here: Path, state: dict[str, Any] | None, generation: int, signature: list[int]
    ) -> tuple[dict[str, Columns], dict[str, Any]]:
        """Read the log (from where ``state`` stopped, when given), write the copies; every metric and the new state."""
        import numpy as np

        offset = state["offset"] if state is not None else 0
        seqs = set(state["seqs"]) if state is not None else set()
        with open(run_dir / "metrics.jsonl", "rb") as log:
            log.seek(offset)
            new, end = _parse(log, max(0, signature[1] - offset), seqs)
        files: dict[str, list[Any]] = dict(state["metrics"]) if state is not None else {}
        found: dict[str, Columns] = {}
        if state is not None:
            found = {metric: _columns(here / item[0]) for metric, item in files.items()}
        here.mkdir(parents=True, exist_ok=True)
        for number, (metric, (steps, values, times)) in enumerate(sorted(new.items())):
            added = (steps, values, times)
            old = found.get(metric)
            columns = added if old is None else tuple(np.concatenate(pair) for pair in zip(old, added, strict=True))
            found[metric] = columns  # type: ignore[assignment]
            filename = f"{generation}-{number}.npy"
            _save(here / filename, columns)  # type: ignore[arg-type]
            files[metric] = [filename, len(columns[0])]
        record = state
        if new or state is None or state["log"] != signature:
            record = {
                "version": _VERSION,
                "log": signature,
                "offset": offset + end,
                "generation": generation,
                "seqs": sorted(seqs),
                "metrics": files,
            }
            _write(here / "state.json", lambda f: f.write(orjson.dumps(record)))
        kept = {item[0] for item in files.values()}
        for entry in os.scandir(here):  # copies no state names any more (replaced, or from an older build)
            if entry.name.endswith(".npy") and entry.name not in kept:
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)
        return found, record  # type: ignore[return-value]


def _parse(log: IO[bytes], size: int, seqs: set[int]) -> tuple[dict[str, Columns], int]:
    """The points per metric of the complete lines in the next ``size`` bytes, and the bytes those lines take.

    Read as :func:`.series.series_points` reads them, a line at a time: each batch
    becomes arrays at once, so a long log never lives in memory whole, nor as
    Python floats.
    """
    import numpy as np

    chunks: dict[str, list[Columns]] = {}
    end = 0
    while end < size:
        line = log.readline(size - end)
        if not line.endswith(b"\n"):
            break  # being written, or torn: left for the next read
        end += len(line)
        for name, steps, values, stamps in batches(line, seqs):  # splits as series_points does
            n = min(len(steps), len(values), len(stamps))
            if not all(type(s) is int and -(2**63) <= s < 2**63 for s in steps[:n]):
                raise _Unusable(name)
            chunks.setdefault(name, []).append(
                (
                    np.array(steps[:n], dtype=np.int64),
                    np.array(floats(values[:n]), dtype=np.float64),
                    np.array(floats(stamps[:n]), dtype=np.float64),
                )
            )
    found = {
        name: tuple(np.concatenate([c[i] for c in parts]) for i in range(3))  # type: ignore[misc]
        for name, parts in chunks.items()
    }
    return found, end  # type: ignore[return-value]


def _columns(path: Path) -> Columns:
    import numpy as np

    # Mapped, not copied: the pages are the kernel's cache, given back when the arrays go.
    try:
        stored = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError:  # an empty series cannot be mapped
        stored = np.load(path, allow_pickle=False)
    if stored.dtype != np.int64 or stored.ndim != 1 or len(stored) % 3:
        raise ValueError(f"{path} is not a series copy")
    n = len(stored) // 3
    return stored[:n], stored[n : 2 * n].view(np.float64), stored[2 * n :].view(np.float64)


def _save(path: Path, columns: Columns) -> None:
    import numpy as np

    steps, values, times = columns
    stored = np.concatenate([steps, values.view(np.int64), times.view(np.int64)])
    _write(path, lambda f: np.save(f, stored, allow_pickle=False))


def _write(path: Path, fill: Any) -> None:
    """Write a file under a temporary name beside ``path``, then rename it: readers see all of it or none."""
    fd, tmp = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            fill(f)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
