"""Live runs: one ``/events`` server-sent-event stream fed by a poller thread per app.

The poller calls :meth:`~gnomon.query.store.RunSet.refresh` once a second, and only
while at least one browser is listening: with no client connected the thread has
ended, so an idle dashboard costs no CPU. Each change is sent to every listener as
one ``changes`` event, ``{"added": [...], "updated": [...], "removed": [...]}``;
the page's script fetches just the rows or panels those ids touch.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import StreamingResponse

from gnomon.query.store import Changes

if TYPE_CHECKING:
    from gnomon.query.store import RunSet, Store

__all__ = ["LiveFeed"]

_log = logging.getLogger("gnomon.dashboard")
#: A comment line sent this often keeps proxies and browsers from closing a quiet stream.
KEEPALIVE_S = 15.0


class LiveFeed:
    """Watches a store for changed runs while someone listens, and fans the changes out."""

    def __init__(self, store: Store, *, interval: float = 1.0) -> None:
        self.store = store
        self.interval = interval
        self.polls = 0
        self._listeners: set[tuple[asyncio.AbstractEventLoop, asyncio.Queue[Changes]]] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._runs: RunSet | None = None
        #: Called (from the poller thread) before each change is published.
        self.on_change: Callable[[], None] = lambda: None

    @property
    def running(self) -> bool:
        """Whether the poller thread is alive (it is only while a listener is connected)."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def listeners(self) -> int:
        """How many streams are open."""
        return len(self._listeners)

    def subscribe(self) -> tuple[asyncio.AbstractEventLoop, asyncio.Queue[Changes]]:
        """Add a listener (from the event loop) and start the poller if it was idle."""
        entry = (asyncio.get_running_loop(), asyncio.Queue[Changes](maxsize=100))
        with self._lock:
            self._listeners.add(entry)
            if not self.running:
                self._stop.clear()
                self._thread = threading.Thread(target=self._poll, name="gnomon-dashboard-live", daemon=True)
                self._thread.start()
        return entry

    def unsubscribe(self, entry: tuple[asyncio.AbstractEventLoop, asyncio.Queue[Changes]]) -> None:
        """Remove a listener; the poller stops after the last one leaves."""
        with self._lock:
            self._listeners.discard(entry)
            if not self._listeners:
                self._stop.set()

    def close(self) -> None:
        """Stop the poller (at shutdown) and wait for it briefly."""
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout=5)

    def _poll(self) -> None:
        if self._runs is None:
            self._runs = self.store.runs(order_by=None)
            self._refresh()  # the baseline: every run "added", not news to anyone
        while not self._stop.wait(self.interval):
            changes = self._refresh()
            if changes:
                self.on_change()
                self._publish(changes)

    def _refresh(self) -> Changes:
        assert self._runs is not None
        self.polls += 1
        try:
            return self._runs.refresh()
        except Exception:  # noqa: BLE001 - a store briefly unreachable must not end live updates for good
            _log.warning("live update: reading the store failed; trying again", exc_info=True)
            return Changes()

    def _publish(self, changes: Changes) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for loop, queue in listeners:
            with contextlib.suppress(RuntimeError):  # that listener's loop has closed
                loop.call_soon_threadsafe(_offer, queue, changes)

    async def stream(self, request: Request) -> StreamingResponse:
        """The ``/events`` endpoint: ``changes`` events until the browser goes away."""
        return StreamingResponse(
            self._events(request),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    async def _events(self, request: Request) -> AsyncIterator[str]:
        entry = self.subscribe()
        queue = entry[1]
        try:
            yield "retry: 2000\n: connected\n\n"
            while True:
                try:
                    changes = await asyncio.wait_for(queue.get(), timeout=min(KEEPALIVE_S, 1.0))
                except TimeoutError:
                    if await request.is_disconnected() or getattr(request.app.state, "closing", False):
                        return
                    continue
                data = json.dumps(
                    {"added": list(changes.added), "updated": list(changes.updated), "removed": list(changes.removed)}
                )
                yield f"event: changes\ndata: {data}\n\n"
        finally:
            self.unsubscribe(entry)


def _offer(queue: asyncio.Queue[Changes], changes: Changes) -> None:
    with contextlib.suppress(asyncio.QueueFull):  # a stalled client drops news rather than memory
        queue.put_nowait(changes)
