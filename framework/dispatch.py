"""Delivery of a run's events to its observers: per-observer queues and worker threads.

Only ``queued``/``started`` are synchronous, because they decide the run id. Before
them, every observer that talks to a server reaches it, all at the same time
(:mod:`gnomon.delivery`): a server that refuses or whose name does not resolve is
known at once, one that does not answer within ``SETTINGS.CONNECT_TIMEOUT``
seconds is given up on, and either way that observer's events go to the spool
for the rest of the run, which goes on without waiting. Then the observers are
asked in descending priority, within one shared time limit, and the first
non-None id wins; a store that answers after the run went on still gives the run
its id then (:meth:`Dispatcher.learned`), and later events carry it.

Every later event is put on each observer's own bounded queue and delivered by
that observer's worker thread, so a slow or dead backend never blocks ``print``,
``log_scalar`` or the training loop, and one observer's failure never affects
another. A failing delivery is retried with exponential backoff, and logged once
per observer by name. When a queue is full, or when the run ends and a queue has
not drained within the drain time, the observer's remaining events go to the
durable :class:`~gnomon.spool.Spool`, for ``gnomon sync`` to deliver later. The
end of a run does not wait for an observer that is down, nor for one that fails
again on the retry made when the run ends.

Each observer sees events under the id it returned itself (Sacred observers that
ignore the given id keep working), and payloads are read-only.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

from gnomon import spill
from gnomon.delivery import Delivery
from gnomon.events import ArtifactEvent, Event
from gnomon.spool import Spool

__all__ = ["Dispatcher"]

log = logging.getLogger("gnomon.dispatch")

_GRACE = 1.0  # seconds an observer asked while the run has no id gets, even past the start limit
_END_TIMEOUT = 5.0  # seconds to record the run's end directly when the spool lost it


def _typed(observer: Any, result: Any) -> Any:
    """A start's result as the observer's Sacred method returns it (MongoObserver: an int id)."""
    sacred_id = getattr(observer, "sacred_id", None)
    if isinstance(result, str) and sacred_id is not None:
        try:
            return sacred_id(result)
        except Exception:  # noqa: BLE001 - the string id is as good
            return result
    return result


class Dispatcher:
    """Delivers one run's events to its observers."""

    def __init__(
        self,
        observers: Sequence[Any],
        run_uid: str,
        *,
        spool: Spool | None = None,
        start_timeout: float = 10.0,
        connect_timeout: float = 3.0,
        drain_timeout: float = 10.0,
        queue_size: int = 10000,
    ) -> None:
        self.run_uid = run_uid
        self.run_id: str | None = None
        self.run_id_value: Any = None  # run_id as the store that gave it typed it (Mongo: int)
        self._id_typed = False
        self.spool = spool or Spool()
        self.start_timeout = start_timeout
        self.connect_timeout = connect_timeout
        self.drain_timeout = drain_timeout
        self.queue_size = queue_size
        self.spilled = 0
        self._spill_lock = threading.Lock()
        self._urls: dict[str, str | None] = {}
        self._id_lock = threading.Lock()
        self._started = False  # the run went on: an id learned from now on comes late
        self._deadline = time.monotonic() + start_timeout
        # Each worker thread starts by reaching its observer's server: all at once.
        self.workers = [Delivery(o, f"{i}-{type(o).__name__}", self) for i, o in enumerate(observers)]

    def name_of(self, worker: Delivery) -> str:
        """How warnings name an observer."""
        return worker.name

    def wait_reached(self) -> None:
        """Wait until every observer reached its server (and set up its schema) or is known to be down.

        Observers reach their servers in parallel, each bounded by
        ``connect_timeout``; the wait as a whole never passes the start time limit.
        An observer still busy then (a long migration, a driver that ignores the
        limit) is left to finish in the background, with a warning; its events
        wait for it.
        """
        for worker in self.workers:
            if not worker.reached.wait(max(0.0, self._deadline - time.monotonic())):
                worker.report_slow_start(self.start_timeout)

    def learned(self, worker: Delivery, result: Any) -> None:
        """An observer recorded the start under ``result``: the run's id, unless it has one.

        Called from the observer's thread, also after the run went on without
        waiting for it: the run then takes the id at that moment, and its later
        events carry it.
        """
        if result is None:
            return
        typed = _typed(worker.observer, result)
        with self._id_lock:
            if self.run_id is not None:
                if not self._id_typed and str(result) == self.run_id:  # a given id, as the store keeps it
                    self.run_id_value, self._id_typed = typed, True
                return
            self.run_id, self.run_id_value, self._id_typed = str(result), typed, True
            late = self._started
        if late:
            log.info(
                'Observer %s recorded the start of the run after it went on; the run\'s id is "%s".',
                worker.name, result,
            )

    def start(self, event: Event) -> str | None:
        """Deliver the queued/started event synchronously; return the run's id.

        The first id an observer returns is the run's id, and the later observers
        are offered it as a suggestion (``id_suggested``): one that cannot store the
        run under it (a folder or database that numbers its runs differently)
        records the run under an id of its own, tied to the others by ``run_uid``.
        An observer that is down gets the event in the spool; one that fails is
        not waited for; all of them together are waited for at most
        ``start_timeout`` seconds (counted from the dispatcher's creation, when
        they began to reach their servers); while no observer has given the run
        an id, each one asked still gets up to a second (at most ``start_timeout``).
        """
        self.wait_reached()
        with self._id_lock:
            self.run_id = self.run_id_value = event.run_id
        for worker in self.workers:
            with self._id_lock:
                run_id = self.run_id
            sent = (
                dataclasses.replace(event, run_id=run_id, id_suggested=True)  # type: ignore[call-arg]
                if run_id != event.run_id
                else event
            )  # a start event (started or queued): both have id_suggested
            if worker.down is not None:
                worker.put(sent)
                continue
            # Past the limit, an observer is still given a short grace while the run has
            # no id yet: a slow first observer must not keep a quick second from giving it.
            now = time.monotonic()
            grace = min(self.start_timeout, _GRACE)
            until = self._deadline if run_id is not None else max(self._deadline, now + grace)
            wait = until - now
            delivered, result = worker.call_now(sent, max(0.0, wait))
            if delivered and result is not None and run_id is not None and str(result) != run_id:
                log.info(
                    "Observer %s recorded the run as %s (the id %s is taken there); "
                    "meta.run_uid %s names the run in every store.",
                    worker.name, result, run_id, self.run_uid,
                )
            elif not delivered and wait > 0:
                error = worker.last_error
                reason = f"{type(error).__name__}: {error}" if error is not None else f"no answer in {wait:.1f} s"
                log.warning(
                    "Observer %s could not record the start of the run (%s). The run goes on; its events "
                    "are retried in the background, and what is not delivered by the end is kept for "
                    "`gnomon sync`.",
                    worker.name,
                    reason,
                )
        with self._id_lock:
            self._started = True
            return self.run_id

    def emit(self, event: Event) -> None:
        """Queue an event for every observer; never blocks on an observer.

        It also notices a call that has gone unanswered for longer than the start
        time limit and says so while the run goes on, not only when it ends.
        """
        now = time.monotonic()
        if isinstance(event, ArtifactEvent):
            self._note(event)
        for worker in self.workers:
            worker.put(event)
            worker.check_stalled(now, self.start_timeout)

    def _note(self, event: ArtifactEvent) -> None:
        """Keep beside the snapshot what ``gnomon sync`` needs should the run die before handing it over."""
        try:
            self.spool.note(self.run_uid, event, [(w.key, self._url(w), w.own_id) for w in self.workers])
        except (OSError, TypeError, ValueError) as error:  # the live delivery still has it
            log.debug("Could not note the artifact %s for gnomon sync: %s", event.name, error)

    def _url(self, worker: Delivery) -> str | None:
        """The observer's URL (asked once: some observers build it)."""
        if worker.key not in self._urls:
            try:
                self._urls[worker.key] = worker.observer.to_url()
            except Exception:  # noqa: BLE001 - the event is kept without it
                self._urls[worker.key] = None
        return self._urls[worker.key]

    def spill(self, worker: Delivery, events: list[Event]) -> tuple[list[Event], str]:
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
            worker.spooled += len(events) - len(lost)
            return lost, reason

    def unspill(self, worker: Delivery, event: Event) -> None:
        """Remove an event from the spool that its observer took after all."""
        with self._spill_lock:
            try:
                self.spool.forget(self.run_uid, worker.key, event.seq)
            except Exception as error:  # noqa: BLE001 - a duplicate is the worst outcome
                log.debug("Could not remove a delivered event from the spool: %s", error)

    def close(self) -> None:
        """Let the queues drain for at most ``drain_timeout`` s, then spool what is left.

        Observers that are down are not waited for, nor are those that fail again
        on the retry made at once when the run ends.
        """
        deadline = time.monotonic() + self.drain_timeout
        for worker in self.workers:
            with worker.condition:
                worker.closing = True
                worker.attempts_at_close = worker.attempts
                worker.condition.notify_all()
        for worker in self.workers:
            while not worker.settled() and time.monotonic() < deadline:
                worker.thread.join(min(0.05, max(0.0, deadline - time.monotonic())))
        for worker in self.workers:
            with worker.condition:
                worker.give_up = True
                leftover = ([worker.in_flight] if worker.in_flight is not None else []) + list(
                    worker.queue
                )
                worker.queue.clear()
                if leftover:
                    # Spooled under the lock: an in-flight delivery that still succeeds
                    # afterwards finds its row there and removes it (see Delivery._deliver).
                    worker.spilling = True
                    worker.lost, worker.lost_reason = self.spill(worker, leftover)
                    worker.left_over, worker.kept = len(leftover), len(leftover) - len(worker.lost)
                worker.condition.notify_all()
            if worker.lost:
                pass  # reported below, once a call still under way had its chance to finish
            elif worker.down is not None:
                log.warning(
                    "Observer %s could not be reached during the run; its %d event(s) are kept in %s. "
                    "Run `gnomon sync` once the server is up.",
                    worker.name, worker.spooled, self.spool.directory,
                )
            elif leftover:
                log.warning(
                    "Observer %s did not take %d event(s) before the run ended; they are kept in %s. "
                    "Run `gnomon sync` to deliver them.",
                    worker.name, len(leftover), self.spool.directory,
                )
            elif worker.spilling:
                log.warning(
                    "Observer %s fell behind during the run; its events are kept in %s. "
                    "Run `gnomon sync` to deliver them.",
                    worker.name, self.spool.directory,
                )
            else:
                self._flush(worker, deadline)
        for worker in self.workers:
            if worker.down is None:
                worker.thread.join(0.5)
        for worker in self.workers:
            if worker.lost:
                self._report_lost(worker)
        # Every event was taken or spooled: the notes for a run that dies are not needed.
        self.spool.release(self.run_uid)

    def _report_lost(self, worker: Delivery) -> None:
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

    def _record_end(self, worker: Delivery, event: Event) -> None:
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

    def _flush(self, worker: Delivery, deadline: float) -> None:
        """Call the observer's flush(), but never wait for it past the drain time."""
        failure: list[BaseException] = []

        # A subclass that overrides Sacred's join() has it called at the end, as in Sacred.
        end = worker.observer.join if getattr(worker.observer, "sacred_join", False) else worker.observer.flush

        def flush() -> None:
            try:
                end()
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
