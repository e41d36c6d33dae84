"""A run's whole captured output, kept on disk once it is no longer small.

Observers receive output as increments (``OutputEvent``) and keep it themselves; the
run needs the whole text only when someone reads ``_run.captured_out``. Holding it in
memory would make a run that prints 300 MB hold 300 MB more, so past a small size the
text moves to an unnamed temporary file (deleted by the operating system when the
process ends, however it ends) and is read back on request.
"""

from __future__ import annotations

import threading
import weakref
from typing import IO

__all__ = ["Transcript"]

#: Characters kept in memory before the text moves to a temporary file.
MEMORY_LIMIT = 1 << 20
# Lone surrogates (from file names decoded with surrogateescape) survive the round trip.
_ERRORS = "surrogatepass"


class Transcript:
    """Appends text and gives all of it back; ``len()`` counts characters."""

    def __init__(self, memory_limit: int = MEMORY_LIMIT) -> None:
        self._memory_limit = memory_limit
        self._parts: list[str] = []
        self._in_memory = 0
        self._length = 0
        self._file: IO[bytes] | None = None
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return self._length

    @property
    def on_disk(self) -> bool:
        """Whether the text has moved to a temporary file."""
        return self._file is not None

    def append(self, text: str) -> None:
        """Add ``text`` at the end."""
        if not text:
            return
        with self._lock:
            self._length += len(text)
            if self._file is not None:
                self._file.write(text.encode("utf-8", _ERRORS))
                return
            self._parts.append(text)
            self._in_memory += len(text)
            if self._in_memory > self._memory_limit:
                # Lives as long as the transcript, not a block: closed by the finalizer.
                import tempfile  # only for output past the in-memory limit

                self._file = tempfile.TemporaryFile(prefix="gnomon-output-")  # noqa: SIM115
                # Closed with the transcript (a run may be read long after it ended).
                weakref.finalize(self, self._file.close)
                self._file.write("".join(self._parts).encode("utf-8", _ERRORS))
                self._parts = []
                self._in_memory = 0

    def text(self) -> str:
        """All the text appended so far (read back from disk when it is there)."""
        with self._lock:
            if self._file is None:
                if len(self._parts) > 1:
                    self._parts = ["".join(self._parts)]
                return self._parts[0] if self._parts else ""
            self._file.flush()
            self._file.seek(0)
            try:
                data = self._file.read()
            finally:
                self._file.seek(0, 2)
            return data.decode("utf-8", _ERRORS)

    def close(self) -> None:
        """Forget the text and delete the temporary file."""
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
            self._parts = []
            self._in_memory = self._length = 0
