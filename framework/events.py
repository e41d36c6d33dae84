"""The events a run emits, one read-only dataclass per kind.

A run emits ``queued`` (only with ``-q``) or ``started``; then any number of
``heartbeat``, ``output``, ``metrics``, ``resource`` and ``artifact`` events; then
exactly one of ``completed``, ``failed`` or ``interrupted``. Each event carries only
what is new (the appended output and its offset, a batch of metric points, the info
when it changed), so the cost of recording grows with new data, not with run length.

Every event has the run id (``None`` until an observer assigned one), a per-run
sequence number ``seq`` (replays can be de-duplicated and gaps detected) and a
tz-aware UTC ``time``. Payloads are plain JSON-compatible data, already encoded by
:mod:`gnomon.serialize`, and wrapped read-only so no observer can change what
another one sees.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, ClassVar

from gnomon.records import record

__all__ = [
    "ArtifactEvent",
    "CompletedEvent",
    "Event",
    "FailedEvent",
    "HeartbeatEvent",
    "InterruptedEvent",
    "MetricSeries",
    "MetricsEvent",
    "OutputEvent",
    "QueuedEvent",
    "ResourceEvent",
    "StartedEvent",
    "EVENT_TYPES",
    "event_from_dict",
    "event_to_dict",
    "freeze",
    "MAX_RUN_ID_LENGTH",
    "artifact_name_problem",
    "is_usable_run_id",
    "thaw",
]


def freeze(value: Any) -> Any:
    """Return a read-only view of JSON-like data: mappings become proxies, lists tuples."""
    if isinstance(value, Mapping):
        return MappingProxyType({k: freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        if set(map(type, value)) <= _SCALAR_TYPES:  # a long list of numbers in one step
            return tuple(value)
        return tuple(freeze(v) for v in value)
    return value


_SCALAR_TYPES = frozenset({str, int, float, bool, type(None)})


def thaw(value: Any) -> Any:
    """Return a private, mutable deep copy of frozen data (dicts and lists)."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [thaw(v) for v in value]
    return value


#: The longest run id every store keeps: SQL's ``runs.run_id`` column holds 64
#: characters, and a folder name (255 bytes) holds that many of any script.
MAX_RUN_ID_LENGTH = 64


def is_usable_run_id(run_id: str) -> bool:
    """Whether a run id chosen by a user (``-i``) can be stored by every observer.

    File storage names a folder after it, so it must be a single path component,
    and a leading ``_`` is kept for the shared ``_sources``/``_resources`` folders;
    SQL stores at most :data:`MAX_RUN_ID_LENGTH` characters. An id no store can
    take is refused before the run starts, rather than spooling events that can
    never be delivered.
    """
    return (
        0 < len(run_id) <= MAX_RUN_ID_LENGTH
        and run_id not in {".", ".."}
        and not set(run_id) & {"/", "\\", "\0"}
        and not run_id.startswith("_")
    )


def artifact_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name an artifact in every store, or None when it can.

    Names may hold folders (``plots/loss.png``), but no part may be empty, ``.``
    or ``..`` and the name may not be absolute: file storage would have to store
    such a name under another one, where a second artifact could silently take
    its place.
    """
    if not name:
        return "an artifact name cannot be empty"
    if "\0" in name:
        return "an artifact name cannot contain a NUL character"
    if name.startswith("/"):
        return "an artifact name cannot be an absolute path"
    if any(part in {"", ".", ".."} for part in name.split("/")):
        return "no part of an artifact name may be empty, '.' or '..'"
    return None


def utcnow() -> datetime:
    """The current time as a tz-aware UTC datetime."""
    return datetime.now(UTC)


@record(frozen=True, slots=True, kw_only=True)
class Event:
    """Fields every event carries."""

    kind: ClassVar[str] = "event"
    run_id: str | None
    seq: int
    time: datetime


@record(frozen=True, slots=True, kw_only=True)
class QueuedEvent(Event):
    """The run was queued (``-q``): recorded, not executed.

    ``run_uid`` names the run in every store and in the spool, whatever id each
    store gave it, so a start delivered again is recognised exactly.
    ``id_suggested`` says that ``run_id`` was chosen by another observer of the
    run, not by the user: a store that cannot take that id records the run under
    an id of its own (and returns it) instead of failing. A user's id (``-i``) is
    never replaced.
    """

    kind: ClassVar[str] = "queued"
    experiment: Mapping[str, Any]
    command: str
    host: Mapping[str, Any]
    config: Mapping[str, Any]
    meta: Mapping[str, Any]
    run_uid: str | None = None
    id_suggested: bool = False


@record(frozen=True, slots=True, kw_only=True)
class StartedEvent(Event):
    """The run started; ``time`` is its start time (``run_uid``, ``id_suggested``: see QueuedEvent)."""

    kind: ClassVar[str] = "started"
    experiment: Mapping[str, Any]
    command: str
    host: Mapping[str, Any]
    config: Mapping[str, Any]
    meta: Mapping[str, Any]
    run_uid: str | None = None
    id_suggested: bool = False


@record(frozen=True, slots=True, kw_only=True)
class HeartbeatEvent(Event):
    """The run is alive. ``info`` is the whole info when it changed since the last beat, else None."""

    kind: ClassVar[str] = "heartbeat"
    info: Mapping[str, Any] | None = None
    result: Any = None


@record(frozen=True, slots=True, kw_only=True)
class OutputEvent(Event):
    """New captured output: ``text`` goes at character ``offset`` of the run's whole output."""

    kind: ClassVar[str] = "output"
    text: str
    offset: int


@record(frozen=True, slots=True)
class MetricSeries:
    """Points of one metric in one batch; ``timestamps`` are POSIX seconds (UTC)."""

    steps: list[int]
    values: list[float]
    timestamps: list[float]


@record(frozen=True, slots=True, kw_only=True)
class MetricsEvent(Event):
    """A batch of new metric points, by metric name."""

    kind: ClassVar[str] = "metrics"
    series: Mapping[str, MetricSeries]


@record(frozen=True, slots=True, kw_only=True)
class ResourceEvent(Event):
    """The run read an input file; ``filename`` is absolute, ``digest`` its sha256."""

    kind: ClassVar[str] = "resource"
    filename: str
    digest: str


@record(frozen=True, slots=True, kw_only=True)
class ArtifactEvent(Event):
    """The run produced a file.

    ``filename`` is a private snapshot of the file taken when the artifact was added,
    so the run may change or delete its own copy at once; ``source`` is the path the
    user gave. ``digest`` (sha256 of the snapshot) is None when the run did not hash
    the file itself: hashing is left to the stores that need it, off the run's thread
    (:func:`gnomon.artifacts.snapshot_digest`).
    """

    kind: ClassVar[str] = "artifact"
    name: str
    filename: str
    source: str
    size: int
    digest: str | None = None
    metadata: Mapping[str, Any] | None = None
    content_type: str | None = None


@record(frozen=True, slots=True, kw_only=True)
class CompletedEvent(Event):
    """The run finished normally (or by ``sys.exit(0)``)."""

    kind: ClassVar[str] = "completed"
    result: Any = None


@record(frozen=True, slots=True, kw_only=True)
class FailedEvent(Event):
    """The run raised; ``fail_trace`` holds the formatted traceback lines."""

    kind: ClassVar[str] = "failed"
    fail_trace: tuple[str, ...]


@record(frozen=True, slots=True, kw_only=True)
class InterruptedEvent(Event):
    """The run was stopped (Ctrl-C, SIGTERM, a GnomonInterrupt) with ``status``."""

    kind: ClassVar[str] = "interrupted"
    status: str


EVENT_TYPES: dict[str, type[Event]] = {
    cls.kind: cls
    for cls in (
        QueuedEvent,
        StartedEvent,
        HeartbeatEvent,
        OutputEvent,
        MetricsEvent,
        ResourceEvent,
        ArtifactEvent,
        CompletedEvent,
        FailedEvent,
        InterruptedEvent,
    )
}

FINAL_KINDS = frozenset({"completed", "failed", "interrupted"})


def event_to_dict(event: Event) -> dict[str, Any]:
    """Plain data for the spool: the inverse of :func:`event_from_dict`."""
    data: dict[str, Any] = {"kind": event.kind}
    for f in fields(event):
        value = getattr(event, f.name)
        if f.name == "time":
            value = value.isoformat()
        elif f.name == "series":
            value = {k: [s.steps, s.values, s.timestamps] for k, s in value.items()}
        else:
            value = thaw(value)
        data[f.name] = value
    return data


def event_from_dict(data: Mapping[str, Any]) -> Event:
    """Rebuild an event from :func:`event_to_dict` output (spool replay)."""
    values = dict(data)
    cls = EVENT_TYPES[values.pop("kind")]
    values["time"] = datetime.fromisoformat(values["time"])
    if "series" in values:
        values["series"] = MappingProxyType(
            {
                k: MetricSeries(list(s[0]), list(s[1]), list(s[2]))
                for k, s in values["series"].items()
            }
        )
    for key in ("experiment", "host", "config", "meta", "info", "metadata", "result"):
        if key in values:
            values[key] = freeze(values[key])
    if "fail_trace" in values:
        values["fail_trace"] = tuple(values["fail_trace"])
    return cls(**values)
