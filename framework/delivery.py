"""One observer's delivery for one run: its queue, its worker thread, and what it knows of the store.

The worker thread first lets the observer reach its server (``connect(timeout)``,
for observers that have one), so every observer of a run connects at the same
time and none waits for another. An observer whose server refused, is unknown or
did not answer is *down* for the rest of the run: its events go straight to the
spool, nothing is retried, and the end of the run does not wait for it. Otherwise
the thread delivers the queued events in order, retrying a failing delivery with
exponential backoff. See :mod:`gnomon.dispatch` for the run-wide side.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from gnomon.errors import ServerUnreachable
from gnomon.events import Event, QueuedEvent, StartedEvent

if TYPE_CHECKING:
    from gnomon.dispatch import Dispatcher

__all__ = ["Delivery", "typed_run_id"]

log = logging.getLogger("gnomon.dispatch")

_MAX_BACKOFF = 5.0
_delivering = threading.local()  # the run's id as typed by the store that gave it, per worker thread


def typed_run_id(run_id: str | None) -> Any:
    """``run_id`` as the store that gave it typed it (MongoObserver: an int), for Sacred's ``_id``.

    Events carry ids as strings; Sacred passed ``started_event`` the id with the
    type its first observer returned. Meaningful while a start event is delivered
    on a worker thread; anywhere else ``run_id`` comes back as it is.
    """
    typed = getattr(_delivering, "run_id", None)
    if typed is not None and run_id is not None and str(typed) == run_id:
        return typed
    return run_id


def _url_of(observer: Any) -> str | None:
    try:
        url = observer.to_url()
    except Exception:  # noqa: BLE001 - only used to word a warning
        return None
    return url if isinstance(url, str) else None


class Delivery:
    """One observer's queue, worker thread and delivery state for one run."""

    def __init__(self, observer: Any, key: str, dispatcher: Dispatcher) -> None:
        self.observer = observer
        self.key = key
        self.dispatcher = dispatcher
        self.own_id: str | None = None
        self.queue: collections.deque[Event] = collections.deque()
        self.condition = threading.Condition()
        self.in_flight: Event | None = None
        self.reached = threading.Event()  # set once the observer tried to reach its server
        self.down: str | None = None  # why the observer is known to be unreachable for this run
        self.closing = False
        self.give_up = False
        self.spilling = False  # once events went to the spool, the rest follow them there
        self.spool_failed = False
        self.failing = False  # the last delivery attempt raised
        self.attempts = 0
        self.attempts_at_close = 0
        self.failures = 0
        self.in_a_row = 0  # failed attempts since the last success
        self.busy_since: float | None = None  # when the call under way began
        self.warned = False
        self.last_error: Exception | None = None
        self.spooled = 0  # events kept in the spool for this observer
        self.lost: list[Event] = []  # events neither the observer nor the spool took
        self.lost_reason = ""
        self.left_over = 0  # events the observer had not taken when the run ended ...
        self.kept = 0  # ... and of those, the ones in the spool
        self._waiter: tuple[Event, threading.Event, list[tuple[bool, Any]]] | None = None
        self.thread = threading.Thread(target=self._loop, name=f"gnomon-observer-{key}", daemon=True)
        self.thread.start()

    def _gave_up(self) -> bool:
        """Whether delivery was abandoned (read anew: another thread sets it)."""
        return self.give_up

    @property
    def name(self) -> str:
        """How warnings name the observer."""
        return str(getattr(self.observer, "name", self.key))

    # -- called from the run's threads -------------------------------------------------
    def put(self, event: Event) -> None:
        """Queue ``event``; straight to the spool when the observer is down or far behind."""
        with self.condition:
            if self.spilling or len(self.queue) >= self.dispatcher.queue_size:
                self.spilling = True
                lost, reason = self.dispatcher.spill(self, [event])
                if not lost:
                    return
                if not self.spool_failed:  # it waits in memory instead of being lost
                    self.spool_failed = True
                    log.error(
                        "The spool %s cannot keep the events of observer %s (%s); they wait in memory "
                        "for the observer instead.",
                        self.dispatcher.spool.path, self.name, reason,
                    )
            self.queue.append(event)
            self.condition.notify()

    def call_now(self, event: Event, timeout: float) -> tuple[bool, Any]:
        """Deliver ``event`` on the worker thread and wait for it at most ``timeout`` s.

        Returns ``(True, result)`` once the observer took it, and ``(False, None)``
        as soon as its first attempt failed (``last_error`` says why) or when it
        did not answer in time. The event then stays at the head of the queue and
        the worker keeps retrying it; a result that comes later reaches the
        dispatcher through :meth:`Dispatcher.learned`.
        """
        done = threading.Event()
        outcome: list[tuple[bool, Any]] = []
        with self.condition:
            self.queue.appendleft(event)
            if timeout > 0:
                self._waiter = (event, done, outcome)
            self.condition.notify()
        if timeout > 0:
            done.wait(timeout)
        with self.condition:
            self._waiter = None
            if outcome and outcome[0][0]:
                return True, outcome[0][1]
            if timeout > 0:
                self.warned = True  # the caller reports it; later retries stay quiet
        return False, None

    def mark_down(self, reason: str) -> None:
        """Take the observer as unreachable for the rest of the run, and say so now."""
        with self.condition:
            if self.down is not None:
                return
            self.down = reason
            self.warned = True
            queued = list(self.queue)
            self.queue.clear()
            self.spilling = True
            self.condition.notify_all()
        url = _url_of(self.observer)
        name = type(self.observer).__name__ if url and url in reason else self.name  # the URL once
        log.warning(
            "Observer %s could not record the start of the run: %s. The run goes on without waiting for it; "
            "its events are kept in the spool %s. Run `gnomon sync` once the server is up.",
            name, reason, self.dispatcher.spool.directory,
        )
        for event in queued:
            self.put(event)

    def report_slow_start(self, limit: float) -> None:
        """Say, once, that the observer is still getting ready after the start time limit."""
        with self.condition:
            if self.warned or self.down is not None:
                return
            self.warned = True
        log.warning(
            "Observer %s is not ready after %g s (its server is slow to answer, or its schema is being "
            "migrated). The run goes on; its events wait for it, and what it has not taken when the run "
            "ends is kept for `gnomon sync`.",
            self.name, limit,
        )

    def check_stalled(self, now: float, limit: float) -> None:
        """Warn, once, while a call has gone unanswered for more than ``limit`` s (a server that hangs)."""
        since = self.busy_since
        if since is None or now - since <= limit:  # the common case, without taking the lock
            return
        with self.condition:
            if self.warned or self.busy_since is None:
                return
            self.warned = True
            event = self.in_flight
        log.warning(
            "Observer %s has not answered for %.0f s (delivering the %s event); its server may hang. The run "
            "goes on; its events wait for it, and what it has not taken when the run ends is kept for "
            "`gnomon sync`.",
            self.name, now - since, event.kind if event is not None else "next",
        )

    # -- the worker thread ---------------------------------------------------------------
    def _reach(self) -> bool:
        """Let the observer reach its server; False when it is down."""
        connect = getattr(self.observer, "connect", None)
        try:
            if connect is not None:
                connect(self.dispatcher.connect_timeout)
        except ServerUnreachable as error:
            self.mark_down(str(error))
        except Exception as error:  # noqa: BLE001 - the first delivery reports what is wrong
            log.debug("Observer %s could not connect ahead of the run: %r", self.key, error)
        finally:
            self.reached.set()
        with self.condition:
            return self.down is None

    def _next(self) -> Event | None:
        with self.condition:
            while not self.queue:
                if self.closing or self.give_up or self.down is not None:
                    return None
                self.condition.wait()
            if self.give_up or self.down is not None:
                return None
            self.in_flight = self.queue.popleft()
            return self.in_flight

    def _loop(self) -> None:
        if not self._reach():
            return
        while True:
            event = self._next()
            if event is None:
                return
            if not self._deliver(event):
                return

    def _answer(self, event: Event, delivered: bool, value: Any) -> None:
        """Hand the outcome of ``event`` to a caller of :meth:`call_now` waiting for it (lock held)."""
        if self._waiter is not None and self._waiter[0] is event and not self._waiter[2]:
            self._waiter[2].append((delivered, value))
            self._waiter[1].set()

    def _deliver(self, event: Event) -> bool:
        """Deliver with retries; False when the run ended first (the event was spooled)."""
        attempt = 0
        while True:
            try:
                sent = event
                if isinstance(event, StartedEvent | QueuedEvent):
                    if event.run_id is None and self.dispatcher.run_id is not None:
                        sent = dataclasses.replace(event, run_id=self.dispatcher.run_id, id_suggested=True)
                    _delivering.run_id = self.dispatcher.run_id_value
                elif self.own_id is not None and event.run_id != self.own_id:
                    sent = dataclasses.replace(event, run_id=self.own_id)
                with self.condition:
                    self.attempts += 1
                    self.failing = False  # until this attempt says otherwise
                    self.busy_since = time.monotonic()
                result = self.observer.handle(sent)
            except Exception as error:  # noqa: BLE001 - observers must never break the run
                _delivering.run_id = None
                self.busy_since = None
                attempt += 1
                self.failures += 1
                self.in_a_row += 1
                self.last_error = error
                with self.condition:
                    self.failing = True
                    waiting = self._waiter is not None and self._waiter[0] is event
                    self._answer(event, False, error)
                    self.condition.notify_all()
                if not self.warned and not waiting:  # a failed start is reported by start()
                    self.warned = True
                    log.warning(
                        "Observer %s failed on the %s event: %s: %s. Retrying in the background; "
                        "what it cannot take is kept in the spool for `gnomon sync`.",
                        self.name, event.kind, type(error).__name__, error,
                    )
                else:
                    log.debug("Observer %s failed again: %r", self.key, error)
                delay = min(0.05 * 2**attempt, _MAX_BACKOFF)
                with self.condition:
                    if self.give_up:
                        return False
                    # The end of the run wakes this wait (close notifies): one more try at once.
                    self.condition.wait(0.05 if self.closing else delay)
                    if self._gave_up():  # set by another thread while this one waited
                        return False
                continue
            _delivering.run_id = None
            with self.condition:
                self.busy_since = None
                self.failing = False
                self.in_a_row = 0
                if self.give_up:  # it was spooled as undelivered while this call went on
                    self.dispatcher.unspill(self, event)
                    if event in self.lost:  # ... or could not be: it is not lost after all
                        self.lost.remove(event)
                    elif self.kept:
                        self.kept -= 1
                if event.kind in ("started", "queued"):
                    self.own_id = str(result) if result is not None else sent.run_id
                    self.dispatcher.learned(self, result)
                    self._answer(event, True, result)
                self.in_flight = None
                self.condition.notify_all()
            return True

    # -- the end of the run ----------------------------------------------------------------
    def settled(self) -> bool:
        """Whether the end of the run need not wait for this observer any longer.

        It has taken everything, or it is down, or it failed again on the retry made
        once the run ended (a store that went away during the run): its last
        attempts failed, at least one of them started after the run ended.
        """
        with self.condition:
            if self.down is not None or not self.thread.is_alive():
                return True
            if not self.queue and self.in_flight is None:
                return True
            return self.failing and self.in_a_row >= 2 and self.attempts > self.attempts_at_close

    def drained(self) -> bool:
        """Whether the observer has taken every event queued for it."""
        return not self.queue and self.in_flight is None
