r"""Output capture: what a run prints, recorded while it runs.

Four modes, chosen by ``SETTINGS.CAPTURE_MODE`` or ``--capture``:

``no``
    nothing is recorded.
``sys``
    ``sys.stdout``/``sys.stderr`` are replaced by proxies that write through to the
    original streams and record the text. Python-level writes only; works everywhere.
``fd``
    file descriptors 1 and 2 are redirected into one pipe that a reader thread drains.
    Catches C extensions and subprocesses too; nothing reaches the terminal (batch jobs).
``tee``
    like ``fd``, and every byte is also written through to the original stdout or
    stderr. The default on Linux.

In ``fd`` mode stdout and stderr share one pipe, so the recorded text keeps the exact
order in which the kernel received the writes. ``tee`` has to know which descriptor a
byte came from to echo it to the right place, so it uses one pipe (and reader thread)
per descriptor; the two streams are then interleaved in order of arrival at the readers.

:class:`OutputFolder` folds ``\r`` and ``\b`` the way a terminal shows them, so a
progress bar that redraws itself ten thousand times is stored as its final line.
"""

from __future__ import annotations

import codecs
import contextlib
import os
import re
import select
import sys
import threading
import time
from typing import Any

from gnomon.errors import ConfigError

__all__ = [
    "CAPTURE_MODES",
    "Capture",
    "OutputFolder",
    "apply_backspaces_and_linefeeds",
    "flush_all",
    "start_capture",
]

CAPTURE_MODES = ("no", "sys", "fd", "tee")
_CONTROL = re.compile(r"([\r\b])")
_READ_SIZE = 65536
# A partial line (a prompt, dots printed one by one) is recorded after this many
# seconds without output, at the latest this many seconds after it began, or once
# it is this long, whichever comes first.
_PARTIAL_LINE_WAIT = 0.05
_PARTIAL_LINE_MAX_AGE = 1.0
_PARTIAL_LINE_MAX_CHARS = _READ_SIZE


class OutputFolder:
    r"""Folds carriage returns and backspaces as text arrives, like a terminal would.

    The current line is a row of cells with a cursor: ``\r`` moves the cursor to the
    start of the line, ``\b`` moves it one cell left, other characters overwrite the
    cell under the cursor (or extend the line) and ``\n`` ends the line. This is what a
    terminal displays, and what Sacred's ``apply_backspaces_and_linefeeds`` computes.
    Only complete lines are committed; the unfinished line stays pending because a
    later ``\r`` may still redraw it. Chunk boundaries never change the result.
    """

    def __init__(self) -> None:
        self._parts: list[str] = []  # the pending line, in pieces (joined lazily)
        self._length = 0
        self._cursor = 0

    @property
    def pending(self) -> str:
        """The folded, not yet committed current line (for live display)."""
        return self._line()

    def feed(self, text: str) -> str:
        r"""Add ``text``; return the newly completed folded lines, each ending in ``\n``."""
        if not text:
            return ""
        if "\r" not in text and "\b" not in text and self._cursor == self._length:
            # The common case: plain text appended at the end of the line.
            newline = text.rfind("\n")
            if newline < 0:
                self._append(text)
                return ""
            done = self._line() + text[: newline + 1]
            self._reset(text[newline + 1 :])
            return done
        pieces = text.split("\n")
        out: list[str] = []
        for piece in pieces[:-1]:
            self._apply(piece)
            out.append(self._line())
            out.append("\n")
            self._reset("")
        self._apply(pieces[-1])
        return "".join(out)

    def finish(self) -> str:
        """Return the folded pending line (maybe ``''``) and start a fresh one."""
        line = self._line()
        self._reset("")
        return line

    def _line(self) -> str:
        if len(self._parts) > 1:
            self._parts = ["".join(self._parts)]
        return self._parts[0] if self._parts else ""

    def _reset(self, text: str) -> None:
        self._parts = [text] if text else []
        self._length = self._cursor = len(text)

    def _append(self, text: str) -> None:
        self._parts.append(text)
        self._length += len(text)
        self._cursor = self._length

    def _apply(self, piece: str) -> None:
        r"""Apply a piece of text without ``\n`` to the current line."""
        if "\b" not in piece:
            redraws = piece.split("\r")
            self._write(redraws[0])
            if len(redraws) > 1:
                self._redraw(redraws[1:])
            return
        for token in _CONTROL.split(piece):
            if token == "\r":
                self._cursor = 0
            elif token == "\b":
                self._cursor = max(0, self._cursor - 1)
            elif token:
                self._write(token)

    def _redraw(self, layers: list[str]) -> None:
        r"""Apply texts each written from the start of the line, as ``\r`` redraws do.

        A cell shows the latest layer long enough to reach it, so a progress bar
        redrawn a thousand times costs a thousand length checks, not string copies.
        """
        line = self._line()
        result = layers[-1]
        covered = len(result)
        for layer in reversed(layers[:-1]):
            if len(layer) > covered:
                result += layer[covered:]
                covered = len(layer)
        if len(line) > covered:
            result += line[covered:]
        self._parts = [result] if result else []
        self._length = len(result)
        self._cursor = len(layers[-1])

    def _write(self, text: str) -> None:
        if not text:
            return
        if self._cursor == self._length:
            self._append(text)
            return
        line = self._line()
        end = self._cursor + len(text)
        line = line[: self._cursor] + text + line[end:]
        self._parts = [line]
        self._length = len(line)
        self._cursor = end


def apply_backspaces_and_linefeeds(text: str) -> str:
    r"""Fold ``\r`` and ``\b`` in a whole text (Sacred's ``captured_out_filter`` helper).

    Kept so scripts that set ``ex.captured_out_filter = apply_backspaces_and_linefeeds``
    keep working; gnomon already folds captured output as it arrives.
    """
    folder = OutputFolder()
    return folder.feed(text) + folder.finish()


def flush_all() -> None:
    """Flush Python's and C's stdio buffers so everything written reaches the descriptors."""
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            if stream is not None:
                stream.flush()
        except Exception:  # a closed or broken stream must not stop the run
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
    except Exception:  # no libc (Windows) or no fflush symbol: nothing to flush
        _LIBC = False


class Capture:
    """Records a run's output; subclasses implement one mode each.

    ``read()`` is called from the heartbeat thread and returns the raw text written
    since the previous ``read()``; ``stop()`` restores everything and returns the rest.
    Together they return every character written between ``start()`` and ``stop()``.
    """

    mode = "no"

    def __init__(self) -> None:
        self._started = False
        self._stopped = False
        self._lock = threading.Lock()
        self._chunks: list[str] = []

    def start(self) -> None:
        """Begin capturing; a capture can be started only once."""
        if self._started:
            raise RuntimeError(
                f"This {self.mode!r} output capture was already started; create a new one."
            )
        self._started = True
        self._start()

    def read(self) -> str:
        """Return the text written since the last ``read()`` and forget it."""
        with self._lock:
            chunks, self._chunks = self._chunks, []
        return "".join(chunks)

    def stop(self) -> str:
        """Stop capturing, restore the streams and return the text not read yet."""
        if self._started and not self._stopped:
            self._stopped = True
            self._stop()
        return self.read()

    def _record(self, text: str) -> None:
        if text:
            with self._lock:
                self._chunks.append(text)

    def _start(self) -> None:
        pass

    def _stop(self) -> None:
        pass

    def __enter__(self) -> Capture:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class NoCapture(Capture):
    """Records nothing (``--capture no``)."""

    mode = "no"


class _StreamProxy:
    """Stands in for ``sys.stdout``/``sys.stderr``: writes through and records the text.

    Every other attribute (``fileno``, ``isatty``, ``encoding``, ``buffer``...) comes from
    the original stream, so tqdm, rich and click treat it like the real thing.
    """

    def __init__(self, original: Any, capture: SysCapture) -> None:
        object.__setattr__(self, "_original", original)
        object.__setattr__(self, "_capture", capture)
        object.__setattr__(self, "_recording", True)

    def write(self, text: str) -> int:
        original = self._original
        written = original.write(text) if original is not None else len(text)
        if self._recording:
            self._capture._record(text)
        return written if isinstance(written, int) else len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if self._original is not None:
            self._original.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._original, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._original, name, value)

    def __repr__(self) -> str:
        return f"<gnomon capture of {self._original!r}>"


class SysCapture(Capture):
    """Python-level capture by replacing ``sys.stdout`` and ``sys.stderr``."""

    mode = "sys"

    def _start(self) -> None:
        self._proxies = (_StreamProxy(sys.stdout, self), _StreamProxy(sys.stderr, self))
        sys.stdout, sys.stderr = self._proxies

    def _stop(self) -> None:
        out, err = self._proxies
        for proxy in (out, err):
            object.__setattr__(proxy, "_recording", False)
        # Put the originals back only where our proxy is still installed: if someone
        # wrapped it meanwhile, they restore their own, and ours just writes through.
        if sys.stdout is out:
            sys.stdout = out._original
        if sys.stderr is err:
            sys.stderr = err._original


class _PipeReader(threading.Thread):
    """Drains one pipe into the capture (and echoes it, for ``tee``) until told to stop.

    Draining never pauses, so a chatty process never blocks on a full pipe. When
    ``stop`` asks, it records what is in the pipe now and signals ``drained``; if a child
    process still holds the pipe open, it then keeps draining (echoing, not recording)
    until that child closes it, so the child never blocks or gets SIGPIPE.

    Text is recorded up to its last line break (newline or carriage return); the rest of a line
    waits for its end, for a moment of silence, or for a limit of age or length (see
    :data:`_PARTIAL_LINE_WAIT`). With ``tee``, stdout and stderr have a reader each,
    and a line one stream wrote in two pieces would otherwise be split by a line of
    the other.
    """

    def __init__(self, read_fd: int, echo_fd: int | None, capture: FdCapture) -> None:
        super().__init__(name="gnomon-capture-reader", daemon=True)
        self.read_fd = read_fd
        self.echo_fd = echo_fd
        self.capture = capture
        self.drained = threading.Event()
        self.wake_read, self.wake_write = os.pipe()
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._partial: list[str] = []  # the start of a line whose end has not arrived
        self._partial_chars = 0
        self._partial_since = 0.0

    def request_drain(self) -> None:
        """Ask the thread to record what the pipe holds now and report ``drained``."""
        if self.is_alive() and not self.drained.is_set():
            os.write(self.wake_write, b"x")

    def close_wake(self) -> None:
        """Close the wake-up pipe, once the thread no longer listens to it."""
        for fd in (self.wake_read, self.wake_write):
            with contextlib.suppress(OSError):
                os.close(fd)

    def run(self) -> None:
        try:
            self._pump()
        finally:
            self._finish_decoding()
            self.drained.set()
            for fd in (self.read_fd, self.echo_fd):
                if fd is not None:
                    with contextlib.suppress(OSError):
                        os.close(fd)

    def _pump(self) -> None:
        poller = select.poll()
        poller.register(self.read_fd, select.POLLIN)
        poller.register(self.wake_read, select.POLLIN)
        recording = True
        while True:
            timeout = None
            if recording and self._partial:
                due = self._partial_since + _PARTIAL_LINE_MAX_AGE - time.monotonic()
                timeout = max(0, int(min(_PARTIAL_LINE_WAIT, due) * 1000))
            events = dict(poller.poll(timeout))
            if not events:  # a partial line, and silence or its age: record it as it is
                self._record_partial()
                continue
            if self.wake_read in events:
                # Stop requested: everything this process wrote is already in the pipe.
                poller.unregister(self.wake_read)
                while self.read_fd in dict(poller.poll(0)):
                    if not self._handle(os.read(self.read_fd, _READ_SIZE), recording=True):
                        return
                self._finish_decoding()
                recording = False
                self.drained.set()
                continue
            if self.read_fd in events and not self._handle(
                os.read(self.read_fd, _READ_SIZE), recording=recording
            ):
                return

    def _handle(self, data: bytes, *, recording: bool) -> bool:
        """Record (whole lines) and echo one read; False at end of file."""
        if not data:
            return False
        if recording:
            text = self._decoder.decode(data)
            end = max(text.rfind("\n"), text.rfind("\r")) + 1
            if end:
                self._partial.append(text[:end])
                self._record_partial()
                text = text[end:]
            if text:
                if not self._partial:
                    self._partial_since = time.monotonic()
                self._partial.append(text)
                self._partial_chars += len(text)
                if (
                    self._partial_chars >= _PARTIAL_LINE_MAX_CHARS
                    or time.monotonic() - self._partial_since >= _PARTIAL_LINE_MAX_AGE
                ):
                    self._record_partial()
        if self.echo_fd is not None:
            self._echo(data)
        return True

    def _echo(self, data: bytes) -> None:
        fd = self.echo_fd
        assert fd is not None
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(fd, view) :]
        except OSError:  # the terminal went away: keep capturing, stop echoing
            with contextlib.suppress(OSError):
                os.close(fd)
            self.echo_fd = None

    def _record_partial(self) -> None:
        self.capture._record("".join(self._partial))
        self._partial.clear()
        self._partial_chars = 0

    def _finish_decoding(self) -> None:
        if not self.drained.is_set():
            self._partial.append(self._decoder.decode(b"", final=True))
            self._record_partial()


class FdCapture(Capture):
    """Descriptor-level capture of fds 1 and 2 through pipes; ``tee`` also echoes."""

    mode = "fd"
    echo = False
    drain_timeout = 5.0

    def _start(self) -> None:
        flush_all()
        self._saved: dict[int, int | None] = {}
        for fd in (1, 2):
            try:
                self._saved[fd] = os.dup(fd)
            except OSError:  # closed (a daemon): hold its number, or a pipe would take it
                self._saved[fd] = None
                null = os.open(os.devnull, os.O_WRONLY)
                if null != fd:
                    os.dup2(null, fd)
                    os.close(null)
        self._readers: list[_PipeReader] = []
        write_ends: dict[int, int] = {}
        if self.echo:
            for fd in (1, 2):
                read_end, write_end = os.pipe()
                saved = self._saved[fd]
                echo_fd = os.dup(saved) if saved is not None else None
                self._readers.append(_PipeReader(read_end, echo_fd, self))
                write_ends[fd] = write_end
        else:
            read_end, write_end = os.pipe()
            self._readers.append(_PipeReader(read_end, None, self))
            write_ends = {1: write_end, 2: write_end}
        for reader in self._readers:
            reader.start()
        for fd, write_end in write_ends.items():
            os.dup2(write_end, fd)
        for write_end in set(write_ends.values()):
            os.close(write_end)

    def read(self) -> str:
        """Flush pending Python and C output into the pipes, then return what arrived."""
        if self._started and not self._stopped:
            flush_all()
        return super().read()

    def _stop(self) -> None:
        flush_all()
        for fd, saved in self._saved.items():
            if saved is None:
                with contextlib.suppress(OSError):
                    os.close(fd)
            else:
                os.dup2(saved, fd)
                os.close(saved)
        for reader in self._readers:
            reader.request_drain()
        for reader in self._readers:
            if reader.drained.wait(self.drain_timeout):
                # Usually the pipe is already at end of file and the thread ends now;
                # a child still holding the pipe keeps it alive (daemon), that is fine.
                reader.join(0.05)
                reader.close_wake()


class TeeCapture(FdCapture):
    """Descriptor-level capture that also writes everything through to the terminal."""

    mode = "tee"
    echo = True


_MODES: dict[str, type[Capture]] = {
    "no": NoCapture,
    "sys": SysCapture,
    "fd": FdCapture,
    "tee": TeeCapture,
}


def start_capture(mode: str) -> Capture:
    """Create the capture for ``mode`` and start it; ``stop()`` it when the run ends."""
    try:
        kind = _MODES[mode]
    except (KeyError, TypeError):
        import difflib

        close = difflib.get_close_matches(str(mode), CAPTURE_MODES, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        valid = ", ".join(repr(m) for m in CAPTURE_MODES)
        raise ConfigError(f"Unknown capture mode {mode!r}; use one of {valid}.{hint}") from None
    capture = kind()
    capture.start()
    return capture
