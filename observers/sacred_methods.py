"""Sacred's observer methods on the built-in observers, so subclasses written for Sacred work.

Sacred users subclass ``FileStorageObserver`` or ``MongoObserver`` and override one
method, calling ``super()`` to keep the storing::

    class Tagged(MongoObserver):
        def started_event(self, ex_info, command, host_info, start_time, config, meta_info, _id):
            meta_info = {**meta_info, "tag": "baseline"}
            return super().started_event(ex_info, command, host_info, start_time, config, meta_info, _id)

The built-ins store runs through gnomon's incremental events (``on_started(event)``
...), so :class:`SacredMethods` gives them Sacred's methods with Sacred's signatures
and return values, each one storing what it is given. Which of them a class
overrides is found once, when the class is created; only the events of those
kinds go through the Sacred method (so an observer that overrides nothing pays one
set lookup per event). The override gets Sacred's arguments; what it passes to
``super()`` is stored, the rest of the event (its sequence number, digests, the
run's uid) is kept, and the id the built-in stored the run under is the run's id
even when the override forgets to return it.

The methods can also be called directly, as Sacred's own tests do (``started_event``
first, then the others): each call then makes the event it stands for.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import threading
from collections.abc import Iterator
from dataclasses import field
from datetime import datetime
from typing import Any, ClassVar

from gnomon import serialize
from gnomon.errors import ObserverError
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
    freeze,
    thaw,
    utcnow,
)
from gnomon.observers.base import Observer
from gnomon.observers.sacred_calls import (
    aware_utc,
    event_kwargs,
    file_digest,
    metrics_by_name,
    naive_utc,
    payload,
    series_from,
    start_kwargs,
)
from gnomon.records import record

__all__ = ["SACRED_METHODS", "SacredMethods"]

#: Sacred's method for each kind of event.
SACRED_METHODS = {
    "queued": "queued_event",
    "started": "started_event",
    "heartbeat": "heartbeat_event",
    "completed": "completed_event",
    "interrupted": "interrupted_event",
    "failed": "failed_event",
    "resource": "resource_event",
    "artifact": "artifact_event",
    "metrics": "log_metrics",
}
_FINAL = frozenset({"completed", "failed", "interrupted"})
_local = threading.local()


@record(slots=True)
class _Call:
    """The event being delivered through an overriding method, and what ``super()`` stored."""

    event: Event
    stored: bool = False
    result: Any = None


@record
class _RunView:
    """What Sacred's heartbeat passes and gnomon's events carry only as changes."""

    output: list[str] = field(default_factory=list)
    length: int = 0
    info: Any = None

    def captured_out(self) -> str:
        text = "".join(self.output)
        self.output = [text]
        return text


@record
class _Direct:
    """The run of direct calls (Sacred's one-run-at-a-time use)."""

    run_id: str | None = None
    seq: Iterator[int] = field(default_factory=itertools.count)
    output_length: int = 0


def _calls() -> dict[int, _Call]:
    calls: dict[int, _Call] | None = getattr(_local, "calls", None)
    if calls is None:
        calls = _local.calls = {}
    return calls


def _encoded(value: Any, where: str) -> Any:
    return freeze(serialize.encode(value, where=where, fallback=serialize.describe))


class SacredMethods(Observer):
    """A native observer that also has Sacred's ``RunObserver`` methods (the built-ins are).

    ``sacred_overrides`` holds the kinds of events a subclass's own Sacred methods
    receive; it is computed when the class is created.
    """

    sacred_overrides: ClassVar[frozenset[str]] = frozenset()
    sacred_join: ClassVar[bool] = False  # the run's end calls join() instead of flush()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        kinds = {
            kind for kind, name in SACRED_METHODS.items()
            if getattr(cls, name) is not getattr(SacredMethods, name)
        }
        if "heartbeat" in kinds:
            kinds.add("output")  # the whole output so far is heartbeat_event's argument
        if "metrics" in kinds:
            kinds.add("heartbeat")  # log_metrics gets the latest info
        cls.sacred_overrides = frozenset(kinds)
        cls.sacred_join = cls.join is not SacredMethods.join

    def handle(self, event: Event) -> Any:
        """Deliver an event: through the Sacred method a subclass overrides, else natively."""
        if event.kind in self.sacred_overrides:
            return self._sacred_route(event)
        return super().handle(event)

    def sacred_id(self, run_id: Any) -> Any:
        """The run id as Sacred's version of this observer returns it (file and SQL: the string)."""
        return run_id

    # ------------------------------------------------------------ routing
    def _sacred_route(self, event: Event) -> Any:
        calls, key = _calls(), id(self)
        previous = calls.get(key)
        call = calls[key] = _Call(event)
        try:
            answer = self._sacred_call(event)
        finally:
            if previous is None:
                calls.pop(key, None)
            else:
                calls[key] = previous
            if event.kind in _FINAL:
                self._sacred_views().pop(event.run_id, None)
        if event.kind in ("started", "queued"):
            # The id the run was stored under, even when the override forgot to return it.
            return call.result if call.stored else answer
        return answer

    def _sacred_call(self, event: Event) -> Any:
        kind = event.kind
        if kind == "output":
            assert isinstance(event, OutputEvent)
            view = self._sacred_view(event.run_id)
            if event.offset >= view.length:  # a replay adds nothing
                view.output.append(event.text[max(0, view.length - event.offset):])
                view.length = event.offset + len(event.text)
            return Observer.handle(self, event)
        if kind in ("started", "queued"):
            assert isinstance(event, StartedEvent | QueuedEvent)
            from gnomon.delivery import typed_run_id

            method = self.started_event if kind == "started" else self.queued_event
            return method(**start_kwargs(event, typed_run_id(event.run_id)))
        if kind == "heartbeat":
            assert isinstance(event, HeartbeatEvent)
            view = self._sacred_view(event.run_id)
            if event.info is not None:
                view.info = event.info
            if not self._sacred_overrides_method("heartbeat_event"):  # routed for log_metrics' info only
                return Observer.handle(self, event)
            return self.heartbeat_event(
                info=thaw(view.info) if view.info is not None else {},
                captured_out=view.captured_out(),
                beat_time=naive_utc(event.time),
                result=thaw(event.result),
            )
        if kind == "metrics":
            assert isinstance(event, MetricsEvent)
            info = self._sacred_view(event.run_id).info
            return self.log_metrics(
                metrics_by_name=metrics_by_name(event.series), info=thaw(info) if info is not None else {}
            )
        # resource, artifact, completed, failed, interrupted
        return getattr(self, SACRED_METHODS[kind])(**event_kwargs(event))

    @classmethod
    def _sacred_overrides_method(cls, name: str) -> bool:
        return getattr(cls, name) is not getattr(SacredMethods, name)

    def _sacred_views(self) -> dict[Any, _RunView]:
        views: dict[Any, _RunView] = self.__dict__.setdefault("_sacred_run_views", {})
        return views

    def _sacred_view(self, run_id: Any) -> _RunView:
        return self._sacred_views().setdefault(run_id, _RunView())

    def _sacred_current(self, kind: str) -> _Call | None:
        call = _calls().get(id(self))
        return call if call is not None and call.event.kind == kind else None

    def _sacred_direct(self) -> _Direct:
        direct: _Direct = self.__dict__.setdefault("_sacred_direct_run", _Direct())
        return direct

    def _sacred_event(self, cls: type[Event], time: datetime | None = None, **fields: Any) -> Event:
        """An event for a direct call: of the run being delivered, else of the last direct start."""
        call = _calls().get(id(self))
        run_id = call.event.run_id if call is not None else self._sacred_direct().run_id
        if run_id is None:
            raise ObserverError(
                f"{type(self).__name__}.{SACRED_METHODS.get(cls.kind, cls.kind)}() was called before "
                "started_event(): call started_event() first, so the run exists to record it in"
            )
        return cls(run_id=run_id, seq=next(self._sacred_direct().seq), time=aware_utc(time or utcnow()), **fields)

    def _sacred_store(self, event: Event, call: _Call | None) -> Any:
        result = Observer.handle(self, event)
        if call is not None:
            call.stored, call.result = True, result
        if event.kind in _FINAL and call is None:
            self.__dict__.pop("_sacred_direct_run", None)
        return result

    # ------------------------------------------------------------ Sacred's methods
    def _sacred_start(
        self, cls: type[StartedEvent] | type[QueuedEvent], ex_info: dict[str, Any], command: str,
        host_info: dict[str, Any], time: datetime, config: dict[str, Any], meta_info: dict[str, Any], _id: Any,
    ) -> Any:
        call = self._sacred_current(cls.kind)
        run_id = None if _id is None else str(_id)
        if call is not None:
            current = call.event
            assert isinstance(current, StartedEvent | QueuedEvent)
            same_id = run_id == current.run_id
            event: Event = dataclasses.replace(
                current,
                experiment=payload(ex_info, current.experiment, "ex_info"),
                command=command,
                host=payload(host_info, current.host, "host_info"),
                time=current.time if aware_utc(time) == current.time else aware_utc(time),
                config=payload(config, current.config, "config"),
                meta=payload(meta_info, current.meta, "meta_info"),
                run_id=run_id,
                id_suggested=current.id_suggested if same_id else False,
            )
        else:
            self.__dict__["_sacred_direct_run"] = direct = _Direct()
            event = cls(
                run_id=run_id, seq=next(direct.seq), time=aware_utc(time), command=command,
                experiment=_encoded(ex_info, "ex_info"), host=_encoded(host_info, "host_info"),
                config=_encoded(config, "config"), meta=_encoded(meta_info, "meta_info"),
            )
        result = self._sacred_store(event, call)
        if call is None:
            self._sacred_direct().run_id = str(result) if result is not None else run_id
        return self.sacred_id(result)

    def queued_event(
        self, ex_info: dict[str, Any], command: str, host_info: dict[str, Any], queue_time: datetime,
        config: dict[str, Any], meta_info: dict[str, Any], _id: Any,
    ) -> Any:
        """Store a queued run; returns the id it was stored under, as Sacred's observer did."""
        return self._sacred_start(QueuedEvent, ex_info, command, host_info, queue_time, config, meta_info, _id)

    def started_event(
        self, ex_info: dict[str, Any], command: str, host_info: dict[str, Any], start_time: datetime,
        config: dict[str, Any], meta_info: dict[str, Any], _id: Any,
    ) -> Any:
        """Store the start of a run; returns the id it was stored under, as Sacred's observer did."""
        return self._sacred_start(StartedEvent, ex_info, command, host_info, start_time, config, meta_info, _id)

    def heartbeat_event(self, info: dict[str, Any], captured_out: str, beat_time: datetime, result: Any) -> None:
        """Store a beat: its time, the info and the result.

        While a run is delivered, its output is stored as it is written, so
        ``captured_out`` only matters to direct calls, where the text added since
        the last call is stored.
        """
        call = self._sacred_current("heartbeat")
        if call is not None:
            current = call.event
            assert isinstance(current, HeartbeatEvent)
            view = self._sacred_views().get(current.run_id)
            known = current.info if current.info is not None else (view.info if view is not None else None)
            new_info = payload(info, known, "info")
            event: Event = dataclasses.replace(
                current,
                time=aware_utc(beat_time),
                info=None if current.info is None and new_info is known else new_info,
                result=payload(result, current.result, "result"),
            )
            self._sacred_store(event, call)
            return
        direct = self._sacred_direct()
        if len(captured_out) > direct.output_length:
            start = direct.output_length
            self._sacred_store(self._sacred_event(OutputEvent, text=captured_out[start:], offset=start), None)
            direct.output_length = len(captured_out)
        self._sacred_store(
            self._sacred_event(
                HeartbeatEvent, beat_time, info=_encoded(info, "info"), result=_encoded(result, "result")
            ),
            None,
        )

    def log_metrics(self, metrics_by_name: dict[str, dict[str, Any]], info: dict[str, Any]) -> None:
        """Store new metric points (``{name: {steps, values, timestamps}}``)."""
        call = self._sacred_current("metrics")
        if call is not None:
            current = call.event
            assert isinstance(current, MetricsEvent)
            series = series_from(metrics_by_name, current.series)
            self._sacred_store(dataclasses.replace(current, series=series), call)
            return
        if metrics_by_name:
            self._sacred_store(self._sacred_event(MetricsEvent, series=series_from(metrics_by_name)), None)

    def resource_event(self, filename: str) -> None:
        """Store a file the run read."""
        call = self._sacred_current("resource")
        current = call.event if call is not None else None
        if isinstance(current, ResourceEvent) and current.filename == filename:
            self._sacred_store(current, call)
            return
        path = os.path.abspath(filename)
        digest, _ = file_digest(path)
        if isinstance(current, ResourceEvent):
            self._sacred_store(dataclasses.replace(current, filename=path, digest=digest), call)
        else:
            self._sacred_store(self._sacred_event(ResourceEvent, filename=path, digest=digest), None)

    def artifact_event(
        self, name: str, filename: str, metadata: dict[str, Any] | None = None, content_type: str | None = None
    ) -> None:
        """Store a file the run produced, as ``name``."""
        call = self._sacred_current("artifact")
        current = call.event if call is not None else None
        if isinstance(current, ArtifactEvent):
            files: dict[str, Any] = {}
            if filename != current.filename:
                digest, size = file_digest(filename)
                files = {"filename": os.path.abspath(filename), "source": os.path.abspath(filename),
                         "digest": digest, "size": size}
            event: Event = dataclasses.replace(
                current, name=name, content_type=content_type, **files,
                metadata=None if metadata is None else payload(metadata, current.metadata, "artifact metadata"),
            )
        else:
            path = os.path.abspath(filename)
            digest, size = file_digest(path)
            event = self._sacred_event(
                ArtifactEvent, name=name, filename=path, source=path, digest=digest, size=size,
                metadata=None if metadata is None else _encoded(metadata, "artifact metadata"),
                content_type=content_type,
            )
        self._sacred_store(event, call)

    def _sacred_final(self, cls: type[Event], time: datetime, **fields: Any) -> None:
        call = self._sacred_current(cls.kind)
        if call is not None:
            self._sacred_store(dataclasses.replace(call.event, time=aware_utc(time), **fields), call)
        else:
            self._sacred_store(self._sacred_event(cls, time, **fields), None)

    def completed_event(self, stop_time: datetime, result: Any) -> None:
        """Store the normal end of the run and its result."""
        call = self._sacred_current("completed")
        original = call.event.result if call is not None else None  # type: ignore[attr-defined]
        stored = payload(result, original, "result") if call is not None else _encoded(result, "result")
        self._sacred_final(CompletedEvent, stop_time, result=stored)

    def interrupted_event(self, interrupt_time: datetime, status: str) -> None:
        """Store the end of an interrupted run with ``status`` (INTERRUPTED, TIMEOUT...)."""
        self._sacred_final(InterruptedEvent, interrupt_time, status=status)

    def failed_event(self, fail_time: datetime, fail_trace: list[str]) -> None:
        """Store the end of a failed run and its traceback lines."""
        self._sacred_final(FailedEvent, fail_time, fail_trace=tuple(str(line) for line in fail_trace))

    def join(self) -> None:
        """Make everything received durable (Sacred's name for :meth:`flush`)."""
        self.flush()
