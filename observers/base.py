"""The two observer interfaces: gnomon's native :class:`Observer` and Sacred's :class:`RunObserver`.

Native observers get one event object per call (``on_started(event)``,
``on_output(event)``...), so adding a field or a new kind of event never breaks
them: a kind an observer has no method for is skipped. Sacred observers keep their
exact method names and keyword arguments; :class:`SacredObserverAdapter` reassembles
what Sacred passed them (the whole captured output on every heartbeat, metrics
before each heartbeat) from gnomon's incremental events.

Delivery is the dispatcher's job (``gnomon.dispatch``): ``on_queued``/``on_started``
are called synchronously and may return the run id they stored the run under; every
other call happens on the observer's own worker thread, in order, retried with
backoff when it raises. An observer may be shared by runs executing at the same
time in different threads, so built-in observers keep their per-run state keyed by
``event.run_id``.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from gnomon.events import (
    ArtifactEvent,
    CompletedEvent,
    Event,
    FailedEvent,
    HeartbeatEvent,
    InterruptedEvent,
    MetricsEvent,
    OutputEvent,
    QueuedEvent,
    ResourceEvent,
    StartedEvent,
    thaw,
)
from gnomon.observers.sacred_calls import event_kwargs, metrics_by_name, naive_utc, start_kwargs

log = logging.getLogger("gnomon.observers")

__all__ = ["Observer", "RunObserver", "SacredObserverAdapter", "as_observer", "td_format"]


class Observer:
    """Base class of native observers; every method is optional.

    Subclasses implement ``on_<kind>(event)`` for the kinds they care about.
    ``on_queued`` and ``on_started`` return the id under which they stored the run
    (or None to accept the id in ``event.run_id``); the first non-None id, asked in
    descending ``priority``, becomes the run's id and is passed to every later call.

    ``to_url()`` lets ``gnomon sync`` rebuild the observer in another process to
    deliver events that could not be delivered during the run.
    """

    priority: int = 0

    @property
    def name(self) -> str:
        """How logs and warnings refer to this observer."""
        url = self.to_url()
        return f"{type(self).__name__}({url})" if url else type(self).__name__

    def handle(self, event: Event) -> Any:
        """Deliver one event to its ``on_<kind>`` method, if the observer has one."""
        method = getattr(self, "on_" + event.kind, None)
        return None if method is None else method(event)

    def flush(self) -> None:
        """Make everything received so far durable; called when a run's queue drains."""

    def close(self) -> None:
        """Release connections and files; called by ``gnomon sync`` and tests."""

    def to_url(self) -> str | None:
        """The URL that rebuilds an equivalent observer through the registry, if any."""
        return getattr(self, "url", None)

    @classmethod
    def from_url(cls, url: str) -> Observer:
        """Build the observer from its URL (``-O URL`` on the command line)."""
        raise NotImplementedError(f"{cls.__name__} cannot be created from a URL")


class RunObserver:
    """Sacred's observer interface, with its exact method names and keyword arguments.

    Observers written for Sacred subclass this (``from gnomon.observers import
    RunObserver``) and work unchanged: gnomon feeds them through
    :class:`SacredObserverAdapter`.
    """

    priority = 0

    def queued_event(
        self,
        ex_info: dict[str, Any],
        command: str,
        host_info: dict[str, Any],
        queue_time: datetime,
        config: dict[str, Any],
        meta_info: dict[str, Any],
        _id: Any,
    ) -> Any:
        """The run was queued (``-q``); return the id it was stored under, or None."""

    def started_event(
        self,
        ex_info: dict[str, Any],
        command: str,
        host_info: dict[str, Any],
        start_time: datetime,
        config: dict[str, Any],
        meta_info: dict[str, Any],
        _id: Any,
    ) -> Any:
        """The run started; return the id it was stored under, or None to accept ``_id``."""

    def heartbeat_event(self, info: dict[str, Any], captured_out: str, beat_time: datetime, result: Any) -> None:
        """The run is alive; ``captured_out`` is the whole output so far, as Sacred passed it."""

    def completed_event(self, stop_time: datetime, result: Any) -> None:
        """The run finished normally."""

    def interrupted_event(self, interrupt_time: datetime, status: str) -> None:
        """The run was stopped with ``status`` (INTERRUPTED, TIMEOUT or a custom one)."""

    def failed_event(self, fail_time: datetime, fail_trace: list[str]) -> None:
        """The run raised; ``fail_trace`` holds the traceback lines."""

    def resource_event(self, filename: str) -> None:
        """The run read ``filename``."""

    def artifact_event(
        self, name: str, filename: str, metadata: dict[str, Any] | None = None, content_type: str | None = None
    ) -> None:
        """The run produced a file, to be stored as ``name``."""

    def log_metrics(self, metrics_by_name: dict[str, dict[str, Any]], info: dict[str, Any]) -> None:
        """New metric points by name (``steps``, ``values``, ``timestamps``), before each heartbeat."""

    def join(self) -> None:
        """Block until everything received is stored."""


_SACRED_NAMES = (
    "queued_event",
    "started_event",
    "heartbeat_event",
    "completed_event",
    "interrupted_event",
    "failed_event",
    "resource_event",
    "artifact_event",
    "log_metrics",
    "join",
)


class SacredObserverAdapter(Observer):
    """Feeds a Sacred-style observer from gnomon's incremental events.

    It keeps the whole captured output and the latest info, because Sacred's
    ``heartbeat_event`` receives them complete every time; metric batches since the
    last heartbeat are passed to ``log_metrics`` right before it, as Sacred did.
    Payloads are private copies: the wrapped observer may mutate them freely.

    An observer may have only some of Sacred's methods ("any class with Sacred's
    method names"): it gets the calls it has a method for, and the others are
    skipped, as gnomon skips event kinds a native observer has no method for.
    Which methods it has is looked up at each call, as Sacred did.
    """

    def __init__(self, observer: Any) -> None:
        self.observer = observer
        self.priority = getattr(observer, "priority", 0)
        self._output: list[str] = []
        self._output_length = 0
        self._info: dict[str, Any] = {}
        self._metrics: dict[str, dict[str, Any]] = {}

    @property
    def name(self) -> str:
        """The wrapped class's name, as warnings and the spool show it."""
        return type(self.observer).__name__

    def to_url(self) -> str | None:
        """The wrapped observer's ``url`` attribute, if it has one (``gnomon sync`` rebuilds it from there)."""
        return getattr(self.observer, "url", None)

    def _method(self, name: str) -> Any:
        method = getattr(self.observer, name, None)
        return method if callable(method) else None

    def _reset(self) -> None:
        self._output, self._output_length, self._info, self._metrics = [], 0, {}, {}

    def _start(self, event: QueuedEvent | StartedEvent) -> Any:
        from gnomon.delivery import typed_run_id

        self._reset()
        method = self._method("queued_event" if event.kind == "queued" else "started_event")
        if method is None:
            return None
        return method(**start_kwargs(event, typed_run_id(event.run_id)))

    def on_queued(self, event: QueuedEvent) -> Any:
        """``queued_event(...)``; its return value is the id it suggests."""
        return self._start(event)

    def on_started(self, event: StartedEvent) -> Any:
        """``started_event(...)``; its return value is the id it suggests."""
        return self._start(event)

    def on_output(self, event: OutputEvent) -> None:
        """Kept for the next ``heartbeat_event``, which receives the whole output as Sacred passed it."""
        if self._method("heartbeat_event") is None:
            return  # only heartbeat_event receives the output
        # A replayed event (same offset) must not duplicate text.
        if event.offset < self._output_length:
            return
        if event.offset > self._output_length and not self._output:
            # Delivered by `gnomon sync` after the start of the output was stored live:
            # Sacred's interface passes whole output, and this observer only sees the rest.
            log.warning(
                "%s receives the run's output from character %d on; the text before it was delivered earlier.",
                self.name,
                event.offset,
            )
        self._output.append(event.text)
        self._output_length = event.offset + len(event.text)

    def on_metrics(self, event: MetricsEvent) -> None:
        """Kept for the next heartbeat's ``log_metrics``, grouped by name as Sacred passed them."""
        if self._method("log_metrics") is None:
            return
        for name, entry in metrics_by_name(event.series).items():
            kept = self._metrics.setdefault(name, {"name": name, "steps": [], "values": [], "timestamps": []})
            kept["steps"].extend(entry["steps"])
            kept["values"].extend(entry["values"])
            kept["timestamps"].extend(entry["timestamps"])

    def _captured_out(self) -> str:
        text = "".join(self._output)
        self._output = [text]
        return text

    def on_heartbeat(self, event: HeartbeatEvent) -> None:
        """``log_metrics`` with the points since the last beat, then ``heartbeat_event``."""
        if event.info is not None:
            self._info = thaw(event.info)
        log_metrics = self._method("log_metrics")
        if self._metrics and log_metrics is not None:
            # Cleared only once taken: a retried heartbeat sends them again if this raised.
            log_metrics(metrics_by_name=self._metrics, info=self._info)
            self._metrics = {}
        heartbeat = self._method("heartbeat_event")
        if heartbeat is not None:
            heartbeat(
                info=self._info,
                captured_out=self._captured_out(),
                beat_time=naive_utc(event.time),
                result=thaw(event.result),
            )

    def _call(self, name: str, event: Event) -> None:
        method = self._method(name)
        if method is not None:
            method(**event_kwargs(event))

    def on_resource(self, event: ResourceEvent) -> None:
        """``resource_event(...)`` with Sacred's arguments."""
        self._call("resource_event", event)

    def on_artifact(self, event: ArtifactEvent) -> None:
        """``artifact_event(...)`` with Sacred's arguments."""
        self._call("artifact_event", event)

    def on_completed(self, event: CompletedEvent) -> None:
        """``completed_event(...)`` with Sacred's arguments."""
        self._call("completed_event", event)

    def on_failed(self, event: FailedEvent) -> None:
        """``failed_event(...)`` with Sacred's arguments."""
        self._call("failed_event", event)

    def on_interrupted(self, event: InterruptedEvent) -> None:
        """``interrupted_event(...)`` with Sacred's arguments."""
        self._call("interrupted_event", event)

    def flush(self) -> None:
        """``join()``: the run has ended and every event was delivered."""
        join = self._method("join")
        if join is not None:
            join()


def as_observer(observer: Any) -> Observer:
    """Wrap anything with Sacred's method names in an adapter; pass native observers through."""
    if isinstance(observer, Observer):
        return observer
    if any(callable(getattr(observer, name, None)) for name in _SACRED_NAMES):
        return SacredObserverAdapter(observer)
    raise TypeError(
        f"{observer!r} is not an observer: subclass gnomon.observers.Observer "
        "(on_started(event), ...) or Sacred's RunObserver (started_event(...), ...)"
    )


def td_format(td_object: Any) -> str:
    """Sacred's helper: a timedelta as '1 hour, 2 minutes, 3 seconds'."""
    seconds = int(td_object.total_seconds())
    periods = [("year", 31536000), ("month", 2592000), ("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)]
    parts = []
    for name, size in periods:
        if seconds >= size:
            value, seconds = divmod(seconds, size)
            parts.append(f"{value} {name}{'s' if value > 1 else ''}")
    return ", ".join(parts) if parts else "less than a second"
