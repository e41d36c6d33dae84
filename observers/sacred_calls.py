"""Translation between gnomon's events and the arguments of Sacred's observer methods.

Both directions live here: :class:`~gnomon.observers.base.SacredObserverAdapter`
turns events into Sacred's keyword arguments for observers written for Sacred, and
:class:`~gnomon.observers.sacred_methods.SacredMethods` also turns the arguments an
overriding method passes to ``super()`` back into the event the built-in observer
stores. Sacred passed naive UTC datetimes, metric timestamps as datetimes and
plain mutable dicts; gnomon's events hold tz-aware times, POSIX timestamps and
read-only, already encoded payloads.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from gnomon import serialize
from gnomon.digests import file_sha256
from gnomon.events import (
    ArtifactEvent,
    CompletedEvent,
    Event,
    FailedEvent,
    InterruptedEvent,
    MetricSeries,
    QueuedEvent,
    ResourceEvent,
    StartedEvent,
    freeze,
    thaw,
)

__all__ = [
    "aware_utc",
    "event_kwargs",
    "file_digest",
    "metrics_by_name",
    "naive_utc",
    "payload",
    "series_from",
    "start_kwargs",
]


def naive_utc(time: datetime) -> datetime:
    """Sacred passed naive UTC datetimes; observers written for it expect them."""
    if time.tzinfo is not None:
        time = time.astimezone(UTC)
    return time.replace(tzinfo=None)


def aware_utc(time: datetime) -> datetime:
    """A time from Sacred's side (naive means UTC) as gnomon's tz-aware UTC time."""
    if time.tzinfo is None:
        return time.replace(tzinfo=UTC)
    return time.astimezone(UTC)


def start_kwargs(event: StartedEvent | QueuedEvent, run_id: Any) -> dict[str, Any]:
    """Sacred's ``started_event``/``queued_event`` keyword arguments for a start event."""
    time_name = "queue_time" if event.kind == "queued" else "start_time"
    return {
        "ex_info": thaw(event.experiment),
        "command": event.command,
        "host_info": thaw(event.host),
        time_name: naive_utc(event.time),
        "config": thaw(event.config),
        "meta_info": thaw(event.meta),
        "_id": run_id,
    }


def event_kwargs(event: Event) -> dict[str, Any]:
    """Sacred's keyword arguments for a resource, artifact, completed, failed or interrupted event."""
    if isinstance(event, ResourceEvent):
        return {"filename": event.filename}
    if isinstance(event, ArtifactEvent):
        return {
            "name": event.name, "filename": event.filename, "metadata": thaw(event.metadata),
            "content_type": event.content_type,
        }
    if isinstance(event, CompletedEvent):
        return {"stop_time": naive_utc(event.time), "result": thaw(event.result)}
    if isinstance(event, FailedEvent):
        return {"fail_time": naive_utc(event.time), "fail_trace": list(event.fail_trace)}
    if isinstance(event, InterruptedEvent):
        return {"interrupt_time": naive_utc(event.time), "status": event.status}
    raise TypeError(f"Sacred has no observer method for {event.kind} events")


def metrics_by_name(series: Mapping[str, MetricSeries]) -> dict[str, dict[str, Any]]:
    """Sacred's ``log_metrics`` argument: ``{name: {name, steps, values, timestamps}}``."""
    return {
        name: {
            "name": name,
            "steps": list(points.steps),
            "values": list(points.values),
            "timestamps": [datetime.fromtimestamp(t, UTC).replace(tzinfo=None) for t in points.timestamps],
        }
        for name, points in series.items()
    }


def _posix(stamp: Any) -> float:
    if isinstance(stamp, datetime):
        return aware_utc(stamp).timestamp()
    return float(stamp)


def series_from(
    given: Mapping[str, Mapping[str, Any]], original: Mapping[str, MetricSeries] | None = None
) -> MappingProxyType[str, MetricSeries]:
    """Metric series from Sacred's ``metrics_by_name``; points passed on unchanged keep their exact times.

    A datetime keeps microseconds only, so an unchanged series reuses the original
    POSIX timestamps instead of the ones converted back.
    """
    result: dict[str, MetricSeries] = {}
    for name, entry in given.items():
        steps, values = list(entry.get("steps") or ()), list(entry.get("values") or ())
        stamps = list(entry.get("timestamps") or ())
        if len(stamps) != len(values):
            raise ValueError(
                f"log_metrics: metric {name!r} has {len(values)} values but {len(stamps)} timestamps; "
                "pass one timestamp per value"
            )
        kept = original.get(name) if original is not None else None
        if kept is not None and list(kept.steps) == steps and list(kept.values) == values:
            result[name] = kept
        else:
            result[name] = MetricSeries(steps, values, [_posix(t) for t in stamps])
    return MappingProxyType(result)


def payload(value: Any, original: Any, where: str) -> Any:
    """The event payload for ``value``: the original when unchanged, else ``value`` encoded and frozen.

    What an overriding method passes on is stored as gnomon stores any value of
    that kind: a value JSON cannot hold is kept as its readable text.
    """
    if value is original:
        return original
    if value == thaw(original):
        return original
    return freeze(serialize.encode(value, where=where, fallback=serialize.describe))


def file_digest(filename: str) -> tuple[str, int]:
    """The sha256 and size of a file named in a Sacred call (events carry both)."""
    return file_sha256(filename), os.path.getsize(filename)
