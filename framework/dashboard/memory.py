"""Giving freed memory back to the operating system after heavy work.

Reading a long metric log makes millions of short-lived Python objects; once
they are freed, glibc's allocator keeps the pages for reuse, so a dashboard that
once parsed a few large runs would sit on hundreds of megabytes it no longer
uses. ``malloc_trim`` hands them back. Elsewhere (macOS, musl, Windows) this is
a no-op: those allocators return memory on their own or have no such call.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = ["HEAVY_SECONDS", "TrimAfterHeavyRequests", "give_back_free_memory"]

#: A request that took longer than this may have freed much memory: trim after it.
HEAVY_SECONDS = 0.2

_Scope = MutableMapping[str, Any]
_App = Callable[[_Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]


def _load_trim() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim  # type: ignore[no-any-return]


_TRIM = _load_trim()
_trimming = threading.Lock()


def give_back_free_memory() -> bool:
    """Return the allocator's free pages to the system; whether it could (glibc only)."""
    if _TRIM is None:
        return False
    if not _trimming.acquire(blocking=False):
        return True  # another thread is trimming already
    try:
        _TRIM(0)
    finally:
        _trimming.release()
    return True


class TrimAfterHeavyRequests:
    """ASGI middleware: after a request that took long (a cold series read, a store refresh), trim memory.

    Trimming happens once the response is sent, in a worker thread, so it adds
    nothing to any response's time.
    """

    def __init__(self, app: _App) -> None:
        self.app = app

    async def __call__(
        self, scope: _Scope, receive: Callable[[], Awaitable[Any]], send: Callable[[Any], Awaitable[None]]
    ) -> None:
        """Serve the request; trim afterwards when it took longer than :data:`HEAVY_SECONDS`."""
        if scope["type"] != "http" or _TRIM is None:
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        try:
            await self.app(scope, receive, send)
        finally:
            if time.monotonic() - started > HEAVY_SECONDS:
                from starlette.concurrency import run_in_threadpool

                await run_in_threadpool(give_back_free_memory)
