"""The Python-level side of capture: stand-ins for ``sys.stdout``/``sys.stderr``.

Every ``print`` goes through a :class:`StreamProxy`, which hands the text to the
capture hub together with the thread that wrote it; that is what lets each run record
only its own threads' output. :func:`mirror_of` makes the stream a proxy writes to
while descriptors 1 and 2 point into a capture pipe: the same encoding and buffering
as the original stream, on the descriptor the original wrote to before.
"""

from __future__ import annotations

import functools
import io
import os
import sys
from typing import Any, Protocol

__all__ = ["StreamProxy", "descriptor_of", "flush_all", "mirror_of"]


class Router(Protocol):
    """What a proxy needs from the hub."""

    def python_write(self, proxy: StreamProxy, text: str) -> int: ...

    def python_flush(self, proxy: StreamProxy) -> None: ...


def flush_all(*, originals_only: bool = False) -> None:
    """Flush Python's and C's stdio buffers so everything written reaches the descriptors.

    ``originals_only`` leaves the current ``sys.stdout``/``sys.stderr`` alone (under
    capture they are proxies that record on write: only the originals buffer).
    """
    current = () if originals_only else (sys.stdout, sys.stderr)
    for stream in (*current, sys.__stdout__, sys.__stderr__):
        try:
            if stream is not None:
                stream.flush()
        except Exception:  # noqa: BLE001 - a closed or broken stream must not stop the run
            pass
    _libc_fflush()


_LIBC: Any = None


def _libc_fflush() -> None:
    """``fflush(NULL)``: flushes C-level ``printf`` output of extensions, where a libc exists."""
    global _LIBC  # a cached handle to the C library, not run state
    try:
        if _LIBC is None:
            import ctypes

            _LIBC = ctypes.CDLL(None)
        _LIBC.fflush(None)
    except Exception:  # noqa: BLE001 - no libc (Windows) or no fflush symbol: nothing to flush
        _LIBC = False


def descriptor_of(stream: Any) -> int | None:
    """1 or 2 when ``stream`` says it writes to that descriptor, else None."""
    try:
        fd = stream.fileno()
    except Exception:  # noqa: BLE001 - StringIO, a closed stream, a test runner's stand-in
        return None
    return fd if fd in (1, 2) else None


def mirror_of(stream: Any, fd: int) -> io.TextIOWrapper:
    """A text stream on ``fd`` that encodes and buffers like ``stream`` does.

    Text written to it reaches ``fd`` in the same pieces as it would have reached
    the descriptor ``stream`` wrote to, so the terminal receives the same bytes in
    the same order as without capture.
    """
    raw = io.FileIO(fd, "w", closefd=False)
    line_buffering = bool(getattr(stream, "line_buffering", False))
    write_through = bool(getattr(stream, "write_through", False))
    return io.TextIOWrapper(
        io.BufferedWriter(raw),
        encoding=getattr(stream, "encoding", None) or "utf-8",
        errors=getattr(stream, "errors", None) or "strict",
        line_buffering=line_buffering,
        write_through=write_through,
    )


class StreamProxy:
    """Stands in for ``sys.stdout``/``sys.stderr``; the hub records and echoes the text.

    Every other attribute (``fileno``, ``isatty``, ``encoding``, ``buffer``...) comes from
    the original stream, so tqdm, rich and click treat it like the real thing.
    """

    _original: Any
    _router: Router
    _fd: int | None
    _through: bool

    def __init__(self, original: Any, router: Router) -> None:
        fd = descriptor_of(original)
        # Only the interpreter's own kind of stream can be mirrored: a stream of the
        # script's (a logger that also writes a file, a colour filter) must see every
        # write, so it is written through, and what it sends to the descriptor is
        # recorded there.
        own = type(original) is io.TextIOWrapper and fd is not None
        object.__setattr__(self, "_original", original)
        object.__setattr__(self, "_router", router)
        object.__setattr__(self, "_fd", fd if own else None)
        object.__setattr__(self, "_through", fd is not None and not own)
        # Bound once, so a print costs one Python call on top of the hub's work.
        object.__setattr__(self, "write", functools.partial(router.python_write, self))

    @property
    def original(self) -> Any:
        """The stream this proxy replaced."""
        return self._original

    @property
    def fd(self) -> int | None:
        """The descriptor the original stream writes to (1 or 2), when it is mirrored there."""
        return self._fd

    def write(self, text: str) -> int:  # replaced per instance in __init__
        """Echo and record ``text`` (see the hub)."""
        return self._router.python_write(self, text)

    def writelines(self, lines: Any) -> None:
        """Write each line."""
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        """Flush what was echoed, and the original stream."""
        self._router.python_flush(self)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._original, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._original, name, value)

    def __repr__(self) -> str:
        return f"<gnomon capture of {self._original!r}>"


def write_all(fd: int, data: bytes) -> None:
    """Write every byte of ``data`` to ``fd`` (a terminal may take it in pieces)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
