"""The one place in a process where output is captured, shared by every run in it.

Descriptors 1 and 2 and ``sys.stdout``/``sys.stderr`` exist once per process, so
captures cannot each install their own: the hub installs the stream proxies while
any capture records Python-level output, points the descriptors into pipes while any
records descriptor-level output, and decides which capture receives each piece.

Attribution
    A capture belongs to the thread that started it (the run's thread), and so does
    every thread that a thread of the capture starts (a capture started inside
    another's thread takes that thread over until it stops). Python-level text (anything
    written through ``sys.stdout``/``sys.stderr``: ``print``, logging to the current
    ``sys.stderr``, tqdm) goes to the capture of the writing thread. Text of a thread
    that belongs to no capture goes to the earliest started capture that records
    Python-level output. Descriptor-level output (C extensions, subprocesses,
    ``os.write``, streams that kept a reference to the original ``sys.stdout``) cannot
    be told apart by thread: it goes to the earliest started ``fd`` or ``tee`` capture.
    With one run at a time, all of it goes to that run.

Order
    Everything is recorded under one lock, and a Python-level write first takes what
    the pipes already hold, so the recorded order is the order of the writes.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from typing import Any, Protocol

from gnomon.capture.pipes import Redirection
from gnomon.capture.streams import StreamProxy, flush_all

__all__ = ["HUB", "Hub", "Member"]


class Member(Protocol):
    """What the hub needs of a capture."""

    records_python: bool
    records_fds: bool
    echoes: bool
    attached: bool

    #: Adds text to what the capture returns next (called under the hub's lock).
    record: Callable[[str], None]


class Hub:
    """Installs and removes the process's capture machinery and routes what it catches."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._members: list[Member] = []
        # Each thread's capture, looked up on every write: a thread-local is the fastest.
        self._local = _ThreadOwner()
        self._default: Member | None = None  # for Python-level text of no capture's thread
        self._outer: dict[Member, Member | None] = {}  # what each capture's thread had before
        self._mid_line = False  # the last Python-level write did not end a line
        self._proxies: tuple[StreamProxy, StreamProxy] | None = None
        self._redirection: Redirection | None = None

    # -- membership -------------------------------------------------------------------------------
    def attach(self, member: Member) -> None:
        """Start capturing for ``member``, on behalf of the calling thread."""
        if member.records_fds and self._redirection is None:
            flush_all()  # what was written before belongs where it was going
        with self._lock:
            self._members.append(member)
            member.attached = True
            # A run started inside another run's thread: the thread returns to the
            # outer run when the inner one ends.
            self._outer[member] = self._owner()
            self._local.owner = member
            self._local.known = True
            self._default = self._earliest(python=True)
            _wrap_thread_start()
            try:
                if member.records_python and self._proxies is None:
                    self._proxies = (StreamProxy(sys.stdout, self), StreamProxy(sys.stderr, self))
                    sys.stdout, sys.stderr = self._proxies
                if member.records_fds and self._redirection is None:
                    redirection = Redirection(self._lock, self.fd_recipient, pipe_per_stream=member.echoes)
                    redirection.start()
                    self._redirection = redirection
                    self._mid_line = False
            except BaseException:
                self._remove(member)
                raise

    def detach(self, member: Member) -> None:
        """Stop capturing for ``member``: record what is on its way, then remove it."""
        if member not in self._members:
            return
        self.flush(everything=True)
        with self._lock:
            if member not in self._members:
                return
            redirection = self._redirection
            if redirection is not None:
                others = any(m.records_fds for m in self._members if m is not member)
                if others:
                    redirection.collect()
                else:
                    redirection.stop()
                    self._redirection = None
            self._remove(member)

    def _remove(self, member: Member) -> None:
        if member in self._members:
            self._members.remove(member)
        member.attached = False  # its threads' lookups now fall through to the default
        outer = self._outer.pop(member, None)
        if self._local.known and self._local.owner is member:
            self._local.owner = outer
        self._default = self._earliest(python=True)
        if self._proxies is not None and not any(m.records_python for m in self._members):
            out, err = self._proxies
            # Put the originals back only where our proxy is still installed: if someone
            # wrapped it meanwhile, they restore their own, and ours just writes through.
            if sys.stdout is out:
                sys.stdout = out.original
            if sys.stderr is err:
                sys.stderr = err.original
            self._proxies = None
        if not self._members:
            _unwrap_thread_start()

    def collect(self, wait: float = -1) -> None:
        """Record what the pipes hold now (written before this call, C buffers included).

        ``wait`` bounds the wait for the lock (seconds; negative: no bound). A writer
        holds the lock while the terminal takes its text, and a terminal may stall
        (a paused pager): a heartbeat then skips this and ships what was recorded.
        """
        if self._redirection is None:
            return
        self.flush(everything=False)
        if not self._lock.acquire(timeout=wait):
            return
        try:
            if self._redirection is not None:
                self._redirection.collect()
        finally:
            self._lock.release()

    def flush(self, *, everything: bool) -> None:
        """Flush buffers on their way to fds 1 and 2 (not the lock: a full pipe needs the reader).

        Python-level text is recorded when written, so reading needs only the
        original streams and C's buffers flushed; ``everything`` also flushes the
        text echoed to the terminal.
        """
        flush_all(originals_only=not everything)

    # -- routing ----------------------------------------------------------------------------------
    def adopt(self, thread: threading.Thread) -> None:
        """Make ``thread`` (about to start) belong to the capture of the thread starting it."""
        owner = self._owner()
        if owner is not None:
            thread._gnomon_capture = owner  # type: ignore[attr-defined]

    def _owner(self) -> Member | None:
        """The attached capture the calling thread belongs to, if any."""
        local = self._local
        if not local.known:
            local.owner = getattr(threading.current_thread(), "_gnomon_capture", None)
            local.known = True
        owner = local.owner
        return owner if owner is not None and owner.attached else None

    def fd_recipient(self) -> Member | None:
        """The capture that receives descriptor-level output: the earliest that records it."""
        return self._earliest(python=False)

    def _earliest(self, *, python: bool) -> Member | None:
        for member in self._members:
            if member.records_python if python else member.records_fds:
                return member
        return None

    def python_write(self, proxy: StreamProxy, text: str) -> int:
        """Echo and record one write to ``sys.stdout``/``sys.stderr``, after what preceded it.

        This runs for every ``print`` (twice: the text, then the line end), so it
        is written for speed.
        """
        if text.__class__ is not str and not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        if not self._mid_line and proxy._fd is not None and self._redirection is not None:
            # Bytes the script wrote to the stream's own buffer (``sys.stdout.buffer``)
            # come before this text, as they would in one shared buffer. Not under the
            # lock: they go into a pipe, and a full pipe waits for the reader.
            proxy._original.flush()
        later = None
        with self._lock:
            local = self._local
            member = local.owner if local.known else self._owner()
            if member is None or not member.attached:
                member = self._default
            redirection = self._redirection
            if redirection is not None and not self._mid_line and redirection.ready.poll(0):
                # What the descriptors received before this line began comes first.
                # (Within a line, as between print's text and its line end, there is
                # no need to look: that costs a system call per write.)
                redirection.collect()
            self._mid_line = text[-1:] != "\n"
            if redirection is not None and proxy._through:
                # The script's own stream writes to the descriptor itself: recorded there.
                member = None
                later = proxy._original
            elif member is None or member.echoes:
                if redirection is None:
                    if proxy._original is not None:
                        proxy._original.write(text)
                elif proxy._fd is not None:
                    mirror = redirection.mirrors.get(proxy._fd)
                    if mirror is None:
                        mirror = redirection.mirror(proxy._fd, proxy._original)
                    if mirror is not None:
                        mirror.write(text)
                else:
                    # A stream of someone else's may write into our pipe, and a full
                    # pipe waits for the reader, which needs the lock.
                    later = proxy._original
            if member is not None and member.records_python:
                member.record(text)
        if later is not None:
            later.write(text)
        return len(text)

    def python_flush(self, proxy: StreamProxy) -> None:
        """Flush what ``proxy`` echoed, and the stream it replaced."""
        with self._lock:
            redirection = self._redirection
            if redirection is not None and proxy._fd is not None:
                mirror = redirection.mirror(proxy._fd, proxy._original)
                if mirror is not None:
                    mirror.flush()
        if proxy._original is not None:
            proxy._original.flush()  # may write into a pipe: never under the lock

    def forget_in_child(self) -> None:
        """In a forked child: the captures, pipes and threads are the parent's.

        The proxies stay installed and write through to the original streams, which
        write into the parent's pipes: the parent records what the child prints.
        """
        self._lock = threading.RLock()
        self._members = []
        self._outer = {}
        self._default = None
        self._local = _ThreadOwner()
        self._redirection = None
        self._mid_line = False


class _ThreadOwner(threading.local):
    """Per thread: whether its capture was looked up, and which it is."""

    known = False
    owner: Member | None = None


HUB = Hub()
if hasattr(os, "register_at_fork"):  # not on Windows
    os.register_at_fork(after_in_child=HUB.forget_in_child)

_original_start: Any = threading.Thread.start


def _adopting_start(self: threading.Thread, *args: Any, **kwargs: Any) -> None:
    """``Thread.start`` while captures run: the new thread joins its starter's capture."""
    HUB.adopt(self)
    _original_start(self, *args, **kwargs)


def _wrap_thread_start() -> None:
    global _original_start  # the start method in place before ours, put back by unwrap
    if threading.Thread.start is not _adopting_start:
        _original_start = threading.Thread.start
        threading.Thread.start = _adopting_start  # type: ignore[method-assign]


def _unwrap_thread_start() -> None:
    # Only our own wrapper is removed; one installed on top of it keeps working.
    if threading.Thread.start is _adopting_start:
        threading.Thread.start = _original_start  # type: ignore[method-assign]
