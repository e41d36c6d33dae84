"""Delivery of a run's events to its observers: per-observer queues and worker threads.

Only ``queued``/``started`` are synchronous, because they decide the run id:
observers are asked in descending priority, each with a time limit, and the first
non-None id wins. Every later event is put on each observer's own bounded queue and
delivered by that observer's worker thread, so a slow or dead backend never blocks
``print``, ``log_scalar`` or the training loop, and one observer's failure never
affects another. A failing delivery is retried with exponential backoff, and logged
once per observer by name. When a queue is full, or when the run ends and a queue
has not drained within the drain time, the observer's remaining events go to the
durable :class:`~gnomon.spool.Spool`, for ``gnomon sync`` to deliver later.

Each observer sees events under the id it returned itself (Sacred observers that
ignore the given id keep working), and payloads are read-only.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

from gnomon import spill
from gnomon.events import Event
from gnomon.spool import Spool

__all__ = ["Dispatcher"]

log = logging.getLogger("gnomon.dispatch")

_MAX_BACKOFF = 5.0
_END_TIMEOUT = 5.0  # seconds to record the run's end directly when the spool lost it


class _Worker:
    """One observer's queue, worker thread and delivery state for one run."""

    def __init__(self, observer: Any, key: str, dispatcher: Dispatcher) -> None:
        self.observer = observer
        self.key = key
        self.dispatcher = dispatcher
        self.own_id: str | None = None
        self.queue: collections.deque[Event] = collections.deque()
        self.condition = threading.Condition()
        self.in_flight: Event | None = None
        self.closing = False
        self.give_up = False
        self.spilling = False  # once events went to the spool, the rest follow them there
        self.spool_failed = False
        self.failures = 0
        self.warned = False
        self.last_error: Exception | None = None
        self.lost: list[Event] = []  # events neither the observer nor the spool took
        self.lost_reason = ""
        self.left_over = 0  # events the observer had not taken when the run ended ...
        self.kept = 0  # ... and of those, the ones in the spool
        self.thread = threading.Thread(
            target=self._loop, name=f"gnomon-observer-{key}", daemon=True
        )
        self.thread.start()

    # -- called from the run's threads -------------------------------------------------
    def put(self, event: Event) -> None:
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
                        self.dispatcher.spool.path, self.dispatcher.name_of(self), reason,
                    )
            self.queue.append(event)
            self.condition.notify()

    def call_now(self, event: Event, timeout: float) -> tuple[bool, Any]:
        """Deliver ``event`` on the worker thread and wait for it at most ``timeout`` s.

        Returns (delivered, result). When the call fails or takes too long, the event
        stays at the head of the queue and the worker keeps retrying it.
        """
        done = threading.Event()
        outcome: list[Any] = []
        with self.condition:
            self.queue.appendleft(event)
            self._waiter = (event, done, outcome)
            self.condition.notify()
        done.wait(timeout)
        with self.condition:
            self._waiter = None
            if outcome:
                return True, outcome[0]
            self.warned = True  # the caller reports it; later retries stay quiet
        return False, None

    _waiter: tuple[Event, threading.Event, list[Any]] | None = None

    # -- the worker thread ---------------------------------------------------------------
    def _next(self) -> Event | None:
        with self.condition:
            while not self.queue:
                if self.closing or self.give_up:
                    return None
                self.condition.wait()
            if self.give_up:
                return None
            self.in_flight = self.queue.popleft()
            return self.in_flight

    def _loop(self) -> None:
        while True:
            event = self._next()
            if event is None:
                return
            if not self._deliver(event):
                return

    def _deliver(self, event: Event) -> bool:
        """Deliver with retries; False when the run ended first (the event was spooled)."""
        attempt = 0
        while True:
            try:
                sent = event
                if event.kind in ("started", "queued"):
                    if event.run_id is None and self.dispatcher.run_id is not None:
                        sent = dataclasses.replace(event, run_id=self.dispatcher.run_id, id_suggested=True)
                elif self.own_id is not None and event.run_id != self.own_id:
                    sent = dataclasses.replace(event, run_id=self.own_id)
                result = self.observer.handle(sent)
            except Exception as error:  # noqa: BLE001 - observers must never break the run
                attempt += 1
                self.failures += 1
                self.last_error = error
                waiting = self._waiter is not None and self._waiter[0] is event
                if not self.warned and not waiting:  # a failed start is reported by start()
                    self.warned = True
                    log.warning(
                        "Observer %s failed on the %s event: %s: %s. Retrying in the background; "
                        "what it cannot take is kept in the spool for `gnomon sync`.",
                        self.dispatcher.name_of(self),
                        event.kind,
                        type(error).__name__,
                        error,
                    )
                else:
                    log.debug("Observer %s failed again: %r", self.key, error)
                delay = min(0.05 * 2**attempt, _MAX_BACKOFF)
                with self.condition:
                    if self.give_up:
                        return False
                    self.condition.wait(delay)
                    if self.give_up:
                        return False
                continue
            with self.condition:
                if self.give_up:  # it was spooled as undelivered while this call went on
                    self.dispatcher.unspill(self, event)
                    if event in self.lost:  # ... or could not be: it is not lost after all
                        self.lost.remove(event)
                    elif self.kept:
                        self.kept -= 1
                if event.kind in ("started", "queued"):
                    self.own_id = str(result) if result is not None else sent.run_id
                    if self._waiter is not None and self._waiter[0] is event:
                        self._waiter[2].append(result)
                        self._waiter[1].set()
                self.in_flight = None
                self.condition.notify_all()
            return True

    def drained(self) -> bool:
        return not self.queue and self.in_flight is None


class Dispatcher:
    """Delivers one run's events to its observers."""

    def __init__(
        self,
        observers: Sequence[Any],
        run_uid: str,
        *,
        spool: Spool | None = None,
        start_timeout: float = 10.0,
        drain_timeout: float = 10.0,
        queue_size: int = 10000,
    ) -> None:
        self.run_uid = run_uid
        self.run_id: str | None = None
        self.spool = spool or Spool()
        self.start_timeout = start_timeout
        self.drain_timeout = drain_timeout
        self.queue_size = queue_size
        self.spilled = 0
        self._spill_lock = threading.Lock()
        self.workers = [
            _Worker(o, f"{i}-{type(o).__name__}", self) for i, o in enumerate(observers)
        ]

    def name_of(self, worker: _Worker) -> str:
        """How warnings name an observer."""
        return str(getattr(worker.observer, "name", worker.key))

    def start(self, event: Event) -> str | None:
        """Deliver the queued/started event synchronously; return the run's id.

        The first id an observer returns is the run's id, and the later observers
        are offered it as a suggestion (``id_suggested``): one that cannot store the
        run under it (a folder or database that numbers its runs differently)
        records the run under an id of its own, tied to the others by ``run_uid``.
        """
        self.run_id = event.run_id
        for worker in self.workers:
            sent = (
                dataclasses.replace(event, run_id=self.run_id, id_suggested=True)
                if self.run_id != event.run_id
                else event
            )
            delivered, result = worker.call_now(sent, self.start_timeout)
            if delivered and result is not None and self.run_id is None:
                self.run_id = str(result)
            elif delivered and result is not None and str(result) != self.run_id:
                log.info(
                    "Observer %s recorded the run as %s (the id %s is taken there); "
                    "meta.run_uid %s names the run in every store.",
                    self.name_of(worker),
                    result,
                    self.run_id,
                    self.run_uid,
                )
            elif not delivered:
                error = worker.last_error
                reason = f"{type(error).__name__}: {error}" if error is not None else f"no answer in {self.start_timeout:g} s"
                log.warning(
                    "Observer %s could not record the start of the run (%s). The run goes on; its events "
                    "are retried in the background, and what is not delivered by the end is kept for "
                    "`gnomon sync`.",
                    self.name_of(worker),
                    reason,
                )
        return self.run_id

    def emit(self, event: Event) -> None:
        """Queue an event for every observer; never blocks on an observer."""
        for worker in self.workers:
            worker.put(event)

    def spill(self, worker: _Worker, events: list[Event]) -> tuple[list[Event], str]:
        """Write events an observer could not take to the spool; returns ``(not kept, why)``.

        What the spool can take is kept even when some events cannot be (a full
        disk, a value that cannot be encoded). Never raises into the run.
        """
        if not events:
            return [], ""
        with self._spill_lock:
            try:
                url = worker.observer.to_url()
            except Exception:  # noqa: BLE001 - the events are kept without it
                url = None
            lost, reason = spill.keep(
                lambda batch: self.spool.write(self.run_uid, worker.key, url, worker.own_id, batch), events
            )
            self.spilled += len(events) - len(lost)
            return lost, reason

    def unspill(self, worker: _Worker, event: Event) -> None:
        """Remove an event from the spool that its observer took after all."""
        with self._spill_lock:
            try:
                self.spool.forget(self.run_uid, worker.key, event.seq)
            except Exception as error:  # noqa: BLE001 - a duplicate is the worst outcome
                log.debug("Could not remove a delivered event from the spool: %s", error)

    def close(self) -> None:
        """Let the queues drain for at most ``drain_timeout`` s, then spool what is left."""
        deadline = time.monotonic() + self.drain_timeout
        for worker in self.workers:
            with worker.condition:
                worker.closing = True
                worker.condition.notify_all()
        for worker in self.workers:
            worker.thread.join(max(0.0, deadline - time.monotonic()))
        for worker in self.workers:
            with worker.condition:
                worker.give_up = True
                leftover = ([worker.in_flight] if worker.in_flight is not None else []) + list(
                    worker.queue
                )
                worker.queue.clear()
                if leftover:
                    # Spooled under the lock: an in-flight delivery that still succeeds
                    # afterwards finds its row there and removes it (see _deliver).
                    worker.spilling = True
                    worker.lost, worker.lost_reason = self.spill(worker, leftover)
                    worker.left_over, worker.kept = len(leftover), len(leftover) - len(worker.lost)
                worker.condition.notify_all()
            if worker.lost:
                pass  # reported below, once a call still under way had its chance to finish
            elif leftover:
                log.log(
                    logging.INFO if worker.warned else logging.WARNING,
                    "Observer %s did not take %d event(s) before the run ended; they are kept in %s. "
                    "Run `gnomon sync` to deliver them.",
                    self.name_of(worker),
                    len(leftover),
                    self.spool.directory,
                )
            elif worker.spilling:
                log.log(
                    logging.INFO if worker.warned else logging.WARNING,
                    "Observer %s fell behind during the run; its events are kept in %s. "
                    "Run `gnomon sync` to deliver them.",
                    self.name_of(worker),
                    self.spool.directory,
                )
            else:
                self._flush(worker, deadline)
        for worker in self.workers:
            worker.thread.join(0.5)
        for worker in self.workers:
            if worker.lost:
                self._report_lost(worker)

    def _report_lost(self, worker: _Worker) -> None:
        """Say exactly what neither the observer nor the spool took, and record the end if possible."""
        end = spill.final_event(worker.lost)
        if end is not None:
            worker.thread.join(_END_TIMEOUT)  # a slow store may still take the call under way
        with worker.condition:
            lost, kept = list(worker.lost), worker.kept
        if not lost:
            return
        log.error(
            "Observer %s did not take %d event(s) of run %s before the run ended, and the spool %s could not "
            "keep %d of them (%s). Lost: %s.%s",
            self.name_of(worker), worker.left_over, worker.own_id or self.run_id or self.run_uid,
            self.spool.path, len(lost), worker.lost_reason, spill.describe(lost),
            f" The other {kept} are kept there; run `gnomon sync` to deliver them." if kept else "",
        )
        if end is not None and end in lost:
            self._record_end(worker, end)

    def _record_end(self, worker: _Worker, event: Event) -> None:
        """Give the observer the run's end directly when the spool could not keep it.

        The status is then still recorded wherever the store accepts it, without
        the events lost before it.
        """
        name = self.name_of(worker)
        if worker.thread.is_alive():  # still inside a call the store does not answer
            log.error("Observer %s could not record the end of the run either: it stays RUNNING there.", name)
            return
        sent = dataclasses.replace(event, run_id=worker.own_id) if worker.own_id is not None else event
        failure: list[BaseException] = []

        def deliver() -> None:
            try:
                worker.observer.handle(sent)
            except Exception as error:  # noqa: BLE001
                failure.append(error)

        thread = threading.Thread(target=deliver, name=f"gnomon-end-{worker.key}", daemon=True)
        thread.start()
        thread.join(_END_TIMEOUT)
        if thread.is_alive() or failure:
            why = f"{type(failure[0]).__name__}: {failure[0]}" if failure else f"no answer in {_END_TIMEOUT:g} s"
            log.error(
                "Observer %s could not record the end of the run either (%s): it stays RUNNING there.", name, why
            )
        else:
            log.warning(
                "Observer %s recorded the end of the run (%s) directly; the events lost before it are missing there.",
                name, event.kind,
            )

    def _flush(self, worker: _Worker, deadline: float) -> None:
        """Call the observer's flush(), but never wait for it past the drain time."""
        failure: list[BaseException] = []

        def flush() -> None:
            try:
                worker.observer.flush()
            except Exception as error:  # noqa: BLE001
                failure.append(error)

        thread = threading.Thread(target=flush, name=f"gnomon-flush-{worker.key}", daemon=True)
        thread.start()
        thread.join(max(0.5, deadline - time.monotonic()))
        if thread.is_alive():
            log.warning("Observer %s did not finish flushing within the drain time.", self.name_of(worker))
        elif failure:
            log.warning("Observer %s failed to flush: %s", self.name_of(worker), failure[0])

    @property
    def any_spilled(self) -> bool:
        """Whether any observer's events went to the spool (their files must stay)."""
        return any(w.spilling for w in self.workers)
