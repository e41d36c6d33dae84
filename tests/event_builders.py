"""Builders for every event kind, so a test states only what it is about.

An observer test feeds an observer events by hand, the way a run's dispatcher
would. Each builder fills the fields the test does not care about with fixed,
plausible values and takes any field as a keyword; mappings are frozen the way
a real run freezes them. Unless a test gives ``time``, an event's time is
``at(seq)``: ``seq`` seconds after ``T0``, so times follow the order of events
and stay the same from one test run to the next.

``from event_builders import started, metrics`` works in any test: tests/ is on
pytest's ``pythonpath`` (pyproject.toml).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

from gnomon.events import (
    ArtifactEvent,
    CompletedEvent,
    FailedEvent,
    HeartbeatEvent,
    InterruptedEvent,
    MetricSeries,
    MetricsEvent,
    OutputEvent,
    QueuedEvent,
    ResourceEvent,
    StartedEvent,
    freeze,
)

T0 = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
"""The start time of every built run unless a test says otherwise."""

EXPERIMENT: Mapping[str, Any] = {"name": "exp", "sources": [], "dependencies": [], "repositories": []}
HOST: Mapping[str, Any] = {"hostname": "box"}


def at(seconds: float) -> datetime:
    """``seconds`` after ``T0``: the default time of the event with that seq."""
    return T0 + timedelta(seconds=seconds)


def _when(time: datetime | None, seq: int) -> datetime:
    return at(seq) if time is None else time


def _start_fields(
    run_id: str | None,
    seq: int,
    time: datetime,
    experiment: Mapping[str, Any] | None,
    command: str,
    host: Mapping[str, Any] | None,
    config: Mapping[str, Any] | None,
    meta: Mapping[str, Any] | None,
    run_uid: str | None,
    id_suggested: bool,
) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "seq": seq,
        "time": time,
        "experiment": freeze(EXPERIMENT if experiment is None else experiment),
        "command": command,
        "host": freeze(HOST if host is None else host),
        "config": freeze({} if config is None else config),
        "meta": freeze({"command": command} if meta is None else meta),
        "run_uid": run_uid,
        "id_suggested": id_suggested,
    }


def started(
    run_id: str | None = None,
    *,
    seq: int = 0,
    time: datetime = T0,
    experiment: Mapping[str, Any] | None = None,
    command: str = "main",
    host: Mapping[str, Any] | None = None,
    config: Mapping[str, Any] | None = None,
    meta: Mapping[str, Any] | None = None,
    run_uid: str | None = None,
    id_suggested: bool = False,
) -> StartedEvent:
    """A run's start; without ``run_id`` the store picks the id, as for a run without ``-i``."""
    return StartedEvent(
        **_start_fields(run_id, seq, time, experiment, command, host, config, meta, run_uid, id_suggested)
    )


def queued(
    run_id: str | None = None,
    *,
    seq: int = 0,
    time: datetime = T0,
    experiment: Mapping[str, Any] | None = None,
    command: str = "main",
    host: Mapping[str, Any] | None = None,
    config: Mapping[str, Any] | None = None,
    meta: Mapping[str, Any] | None = None,
    run_uid: str | None = None,
    id_suggested: bool = False,
) -> QueuedEvent:
    """A queued run (``-q``), with the same defaults as ``started``."""
    return QueuedEvent(
        **_start_fields(run_id, seq, time, experiment, command, host, config, meta, run_uid, id_suggested)
    )


def heartbeat(
    run_id: str | None,
    seq: int,
    *,
    time: datetime | None = None,
    info: Mapping[str, Any] | None = None,
    result: Any = None,
) -> HeartbeatEvent:
    """A beat; ``info`` None means the info did not change since the last one."""
    frozen = None if info is None else freeze(info)
    return HeartbeatEvent(run_id=run_id, seq=seq, time=_when(time, seq), info=frozen, result=freeze(result))


def output(run_id: str | None, seq: int, text: str, offset: int = 0, *, time: datetime | None = None) -> OutputEvent:
    """``text`` printed at character ``offset`` of the run's whole output."""
    return OutputEvent(run_id=run_id, seq=seq, time=_when(time, seq), text=text, offset=offset)


def series(
    values: Sequence[float],
    *,
    steps: Sequence[int] | None = None,
    first_step: int = 0,
    timestamps: Sequence[float] | None = None,
    stamp: float = 0.0,
) -> MetricSeries:
    """Points of one metric: steps count up from ``first_step`` and share ``stamp`` unless given."""
    return MetricSeries(
        steps=list(range(first_step, first_step + len(values))) if steps is None else list(steps),
        values=list(values),
        timestamps=[stamp] * len(values) if timestamps is None else list(timestamps),
    )


def metrics(
    run_id: str | None,
    seq: int,
    batch: Mapping[str, Sequence[float] | MetricSeries] | None = None,
    *,
    time: datetime | None = None,
    **values: Sequence[float] | MetricSeries,
) -> MetricsEvent:
    """A batch of points by metric name, from ``batch`` (names that are not identifiers) and keywords.

    A plain list of values gets steps 0, 1, ... and the event's time as every timestamp;
    a ``MetricSeries`` is taken as it is.
    """
    when = _when(time, seq)
    given = {**(batch or {}), **values}
    built = {
        name: points if isinstance(points, MetricSeries) else series(points, stamp=when.timestamp())
        for name, points in given.items()
    }
    return MetricsEvent(run_id=run_id, seq=seq, time=when, series=MappingProxyType(built))


def resource(
    run_id: str | None, seq: int, filename: str, digest: str, *, time: datetime | None = None
) -> ResourceEvent:
    """The run read ``filename`` (absolute) whose sha256 is ``digest``."""
    return ResourceEvent(run_id=run_id, seq=seq, time=_when(time, seq), filename=filename, digest=digest)


def artifact(
    run_id: str | None,
    seq: int,
    name: str,
    filename: str,
    *,
    size: int,
    digest: str | None = None,
    source: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    content_type: str | None = None,
    time: datetime | None = None,
) -> ArtifactEvent:
    """The run produced ``name``; ``filename`` is the snapshot, ``source`` (default: ``filename``) the user's path.

    ``digest`` None leaves hashing the snapshot to the store, as a run that did not hash it does.
    """
    return ArtifactEvent(
        run_id=run_id,
        seq=seq,
        time=_when(time, seq),
        name=name,
        filename=filename,
        source=filename if source is None else source,
        digest=digest,
        size=size,
        metadata=None if metadata is None else freeze(metadata),
        content_type=content_type,
    )


def completed(run_id: str | None, seq: int, *, result: Any = None, time: datetime | None = None) -> CompletedEvent:
    """The run returned ``result``."""
    return CompletedEvent(run_id=run_id, seq=seq, time=_when(time, seq), result=freeze(result))


def failed(
    run_id: str | None,
    seq: int,
    fail_trace: Sequence[str] = ("Traceback (most recent call last):\n", "ValueError: boom\n"),
    *,
    time: datetime | None = None,
) -> FailedEvent:
    """The run raised; ``fail_trace`` holds the formatted traceback lines."""
    return FailedEvent(run_id=run_id, seq=seq, time=_when(time, seq), fail_trace=tuple(fail_trace))


def interrupted(
    run_id: str | None, seq: int, status: str = "INTERRUPTED", *, time: datetime | None = None
) -> InterruptedEvent:
    """The run was stopped with ``status`` (INTERRUPTED, TIMEOUT, ...)."""
    return InterruptedEvent(run_id=run_id, seq=seq, time=_when(time, seq), status=status)
