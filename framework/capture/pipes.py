r"""The descriptor-level side of capture: fds 1 and 2 pointed into pipes.

What C extensions, subprocesses and ``os.write`` send to descriptors 1 and 2 lands in
a pipe that this process reads. Where the two descriptors went to the same place
before (one terminal, one log file: ``> log 2>&1``), both share **one** pipe: the
kernel keeps the writes in the order they happened, and everything read is echoed to
that place, so it receives exactly the bytes, in exactly the order, it would have
received without capture. Only ``tee`` with stdout and stderr going to different
places needs a pipe each (to echo each to its own place); the order *between* the
two is then the order in which they are read, and a line one stream writes in pieces
is held back until it is complete so that a line of the other stream cannot split it.

Reading happens in two places, always under the hub's lock: a reader thread that
waits for data, and any thread that records Python-level text, which first takes
what the pipes hold. The second makes the recorded order exact: every write to a
descriptor that finished before a ``print`` is recorded before that ``print``.
"""

from __future__ import annotations

import codecs
import contextlib
import io
import os
import select
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from gnomon.capture.streams import mirror_of, write_all

__all__ = ["Recipient", "Redirection"]

_READ_SIZE = 65536
# Reads in one turn of draining, so a process that writes faster than it is read
# cannot keep one thread draining forever.
_MAX_READS_PER_TURN = 256
# With a pipe per stream, a partial line (a prompt, dots printed one by one) is
# recorded after this many seconds without output, at the latest this many seconds
# after it began, or once it is this long, whichever comes first.
PARTIAL_LINE_WAIT = 0.05
PARTIAL_LINE_MAX_AGE = 1.0
PARTIAL_LINE_MAX_CHARS = _READ_SIZE


class Recipient(Protocol):
    """The capture that receives descriptor-level output."""

    echoes: bool
    #: Adds text to what the capture returns next.
    record: Callable[[str], None]


class _Source:
    """One pipe's read end: decodes what arrives and echoes it to where it used to go."""

    def __init__(self, read_fd: int, echo_fd: int | None, *, hold_partial_lines: bool) -> None:
        self.read_fd = read_fd
        self.echo_fd = echo_fd
        self.hold = hold_partial_lines
        self.eof = False
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._partial: list[str] = []  # the start of a line whose end has not arrived
        self._partial_chars = 0
        self._partial_since = 0.0
        self._last_arrival = 0.0

    def take(self, data: bytes) -> str:
        """Decode ``data``; return the text to record now (all of it, or up to a line end)."""
        text = self._decoder.decode(data)
        if not self.hold:
            return text
        now = time.monotonic()
        self._last_arrival = now
        out = ""
        end = max(text.rfind("\n"), text.rfind("\r")) + 1
        if end:
            out = self._take_partial() + text[:end]
            text = text[end:]
        if text:
            if not self._partial:
                self._partial_since = now
            self._partial.append(text)
            self._partial_chars += len(text)
            if self._partial_chars >= PARTIAL_LINE_MAX_CHARS or now - self._partial_since >= PARTIAL_LINE_MAX_AGE:
                out += self._take_partial()
        return out

    @property
    def holds(self) -> bool:
        """Whether part of a line is held back."""
        return bool(self._partial)

    def due(self) -> float | None:
        """When the held partial line must be recorded (monotonic seconds), if one is held."""
        if not self._partial:
            return None
        return min(self._last_arrival + PARTIAL_LINE_WAIT, self._partial_since + PARTIAL_LINE_MAX_AGE)

    def expire(self, now: float) -> str:
        """The held partial line, if its time has come; else ``''``."""
        due = self.due()
        return self._take_partial() if due is not None and now >= due else ""

    def finish(self) -> str:
        """Everything still held: an incomplete character and a partial line."""
        tail = self._decoder.decode(b"", final=True)
        return self._take_partial() + tail

    def echo(self, data: bytes) -> None:
        if self.echo_fd is None:
            return
        try:
            write_all(self.echo_fd, data)
        except OSError:  # the terminal went away: keep capturing, stop echoing
            with contextlib.suppress(OSError):
                os.close(self.echo_fd)
            self.echo_fd = None

    def close(self) -> None:
        for fd in (self.read_fd, self.echo_fd):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)

    def _take_partial(self) -> str:
        text = "".join(self._partial)
        self._partial.clear()
        self._partial_chars = 0
        return text


def _same_place(first: int | None, second: int | None) -> bool:
    """Whether two descriptors write to the same file, terminal or pipe."""
    if first is None or second is None:
        return False
    try:
        a, b = os.fstat(first), os.fstat(second)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


class Redirection:
    """Points fds 1 and 2 into pipes until :meth:`stop`; reads them into the recipient.

    ``lock`` is the hub's lock: every read of the pipes and every record happens
    under it. ``recipient`` says, at each read, which capture receives the text and
    whether the bytes are echoed (``None``: echo only).
    """

    def __init__(
        self,
        lock: threading.RLock,
        recipient: Callable[[], Recipient | None],
        *,
        pipe_per_stream: bool,
    ) -> None:
        self._lock = lock
        self._recipient = recipient
        self.pipe_per_stream = pipe_per_stream
        self._saved: dict[int, int | None] = {}
        self._sources: list[_Source] = []
        self._by_fd: dict[int, _Source] = {}
        #: The pipes, polled without waiting before each Python-level record.
        self.ready = select.poll()
        #: The streams Python-level text is echoed to, by descriptor (see :meth:`mirror`).
        self.mirrors: dict[int, io.TextIOWrapper | None] = {}
        self._released = False
        self._finished = False  # the reader thread has closed every descriptor
        self._wake_read = self._wake_write = -1
        self._thread: threading.Thread | None = None

    # -- set-up and tear-down (callers hold the lock) ---------------------------------------
    def start(self) -> None:
        """Redirect fds 1 and 2 and start the reader thread."""
        for fd in (1, 2):
            try:
                self._saved[fd] = os.dup(fd)
            except OSError:  # closed (a daemon): hold its number, or a pipe would take it
                self._saved[fd] = None
                null = os.open(os.devnull, os.O_WRONLY)
                if null != fd:
                    os.dup2(null, fd)
                    os.close(null)
        out, err = self._saved[1], self._saved[2]
        write_ends: dict[int, int] = {}
        if self.pipe_per_stream and not _same_place(out, err):
            for fd, saved in ((1, out), (2, err)):
                write_ends[fd] = self._add_source(saved, hold=True)
        else:
            self.pipe_per_stream = False
            write_end = self._add_source(out if out is not None else err, hold=False)
            write_ends = {1: write_end, 2: write_end}
        self._wake_read, self._wake_write = os.pipe()
        self._thread = threading.Thread(target=self._run, name="gnomon-capture-reader", daemon=True)
        self._thread.start()
        for fd, write_end in write_ends.items():
            os.dup2(write_end, fd)
        for write_end in set(write_ends.values()):
            os.close(write_end)

    def _add_source(self, echo_to: int | None, *, hold: bool) -> int:
        read_end, write_end = os.pipe()
        os.set_blocking(read_end, False)
        echo_fd = os.dup(echo_to) if echo_to is not None else None
        source = _Source(read_end, echo_fd, hold_partial_lines=hold)
        self._sources.append(source)
        self._by_fd[read_end] = source
        self.ready.register(read_end, select.POLLIN)
        return write_end

    def stop(self) -> None:
        """Restore fds 1 and 2, record what the pipes hold, and leave the rest to the thread.

        A child process may still hold a pipe; the thread keeps echoing what it
        writes (recording nothing) until it closes it, so the child never blocks.
        """
        self._flush_mirrors()
        for fd, saved in self._saved.items():
            if saved is None:
                with contextlib.suppress(OSError):
                    os.close(fd)
            else:
                os.dup2(saved, fd)
                os.close(saved)
        recipient = self._recipient()
        for source in self._sources:
            self._drain(source, recipient)
        for source in self._sources:
            text = source.finish()
            if text and recipient is not None:
                recipient.record(text)
        self._released = True
        self.mirrors.clear()
        if not self._finished:
            with contextlib.suppress(OSError):
                os.write(self._wake_write, b"x")

    def _flush_mirrors(self) -> None:
        for mirror in self.mirrors.values():
            if mirror is not None:
                with contextlib.suppress(Exception):  # a terminal that went away
                    mirror.flush()

    def mirror(self, fd: int, like: Any) -> io.TextIOWrapper | None:
        """The stream that Python-level text for ``fd`` is echoed to (None: fd was closed)."""
        if fd not in self.mirrors:
            saved = self._saved.get(fd)
            self.mirrors[fd] = mirror_of(like, saved) if saved is not None else None
        return self.mirrors[fd]

    # -- reading (callers hold the lock) ----------------------------------------------------------
    def collect(self) -> None:
        """Record and echo what the pipes hold now, and partial lines whose time has come."""
        if self._released:
            return
        # One poll that finds nothing is the common case: a print with no C output before it.
        ready = self.ready.poll(0)
        if not ready and not (self.pipe_per_stream and self._holding()):
            return
        recipient = self._recipient()
        for fd, _ in ready:
            self._drain(self._by_fd[fd], recipient)
        self._expire(recipient)

    def _holding(self) -> bool:
        return any(source.holds for source in self._sources)

    def _drain(self, source: _Source, recipient: Recipient | None) -> None:
        if source.eof:
            return
        for _ in range(_MAX_READS_PER_TURN):
            try:
                data = os.read(source.read_fd, _READ_SIZE)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                source.eof = True
                with contextlib.suppress(KeyError):
                    self.ready.unregister(source.read_fd)
                return
            if recipient is None or recipient.echoes:
                # Python-level text waiting in a buffer was written before these bytes.
                self._flush_mirrors()
                source.echo(data)
            text = source.take(data)
            if text and recipient is not None:
                recipient.record(text)

    def _expire(self, recipient: Recipient | None) -> None:
        now = time.monotonic()
        for source in self._sources:
            text = source.expire(now)
            if text and recipient is not None:
                recipient.record(text)

    # -- the reader thread -------------------------------------------------------------------------
    def _run(self) -> None:
        poller = select.poll()
        by_fd = {source.read_fd: source for source in self._sources}
        for fd in by_fd:
            poller.register(fd, select.POLLIN)
        poller.register(self._wake_read, select.POLLIN)
        try:
            while by_fd:
                events = poller.poll(self._timeout_ms())
                if self._is_released():
                    self._echo_only(poller, by_fd, events)
                    continue
                with self._lock:
                    if self._is_released():  # stop() ran while this thread waited
                        continue
                    for fd, _ in events:
                        if fd == self._wake_read:
                            with contextlib.suppress(OSError):
                                os.read(fd, 64)
                    self.collect()
                    for fd, source in list(by_fd.items()):
                        if source.eof:
                            poller.unregister(fd)
                            del by_fd[fd]
        finally:
            with self._lock:
                self._finished = True
                for source in self._sources:
                    source.close()
                for fd in (self._wake_read, self._wake_write):
                    with contextlib.suppress(OSError):
                        os.close(fd)

    def _is_released(self) -> bool:
        return self._released

    def _timeout_ms(self) -> int | None:
        if self._released:
            return None
        dues = [due for source in self._sources if (due := source.due()) is not None]
        if not dues:
            return None
        return max(0, int((min(dues) - time.monotonic()) * 1000) + 1)

    def _echo_only(self, poller: Any, by_fd: dict[int, _Source], events: list[tuple[int, int]]) -> None:
        """After :meth:`stop`: pass on what children still write, until they close the pipe."""
        for fd, _ in events:
            if fd == self._wake_read:
                with contextlib.suppress(OSError):
                    poller.unregister(fd)
                continue
            source = by_fd.get(fd)
            if source is None:
                continue
            try:
                data = os.read(fd, _READ_SIZE)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if data:
                source.echo(data)
            else:
                poller.unregister(fd)
                del by_fd[fd]
