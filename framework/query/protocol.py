"""What a backend implements so the query API can read it: the :class:`RunStore` protocol.

Each backend package owns its read side next to its observer
(``gnomon.observers.sql.store``, ``gnomon.observers.mongo.store``,
``gnomon.observers.file.store``) and registers it in the entry-point group
``gnomon.stores`` under the URL schemes it reads. :mod:`gnomon.query` never imports
a driver: :func:`gnomon.open` asks the registry for the class and calls
``from_url``. Everything above this protocol (columns, ``DIED``, downsampling,
lineage walks, the DataFrame) is written once, in :mod:`gnomon.query`.

A backend answers in **canonical records**, plain dicts whose keys and value types
are the same whatever stored them, so that every store reads back equal:

``SummaryRecord`` (what listing runs needs; no output, series or files)::

    run_id            str                    Mongo's integer ids as decimal strings
    experiment        str | None             the experiment's name
    command           str | None
    recorded_status   str                    as stored: RUNNING, COMPLETED, FAILED, QUEUED, ...
    start_time, stop_time, heartbeat, queue_time
                      datetime | None        tz-aware UTC, microsecond precision
    hostname          str | None
    comment           str | None             meta.comment
    result            Any                    decoded (gnomon.serialize.decode)
    config            dict                   decoded, nested as stored ({} when none)
    tags              list[str] | None       annotation tags; None when the run was never tagged
    notes             str | None             annotation notes; None when never annotated
    git               {"commit": str|None, "dirty": bool|None} | None   first repository
    beat_interval     float | None           the run's heartbeat interval in seconds, if recorded
    pid               int | None             the run's process id, if recorded
    metrics           {name: {"last": float, "min": float, "max": float,
                              "count": int, "last_step": int}}
    # only when the caller asks for these roots (``roots``):
    info, meta, host  dict                   decoded

Metric summaries: ``count`` counts every point; ``last`` is the value of the point
with the greatest step (the later-logged one on ties) and ``last_step`` that step;
``min``/``max`` skip NaN (None when every value is NaN); values are Python floats,
NaN and infinities included.

Tags and notes are the annotations made through the query API
(:meth:`RunStore.set_annotations`), stored where no observer writes. The query
layer shows a run never tagged with its config's ``tags`` (when a list of
strings, Sacred users' habit) and a run never noted with its ``meta.comment``,
as Omniboard does; a backend returns only what was annotated, and reports
atoms on ``tags``/``notes`` as unsupported unless it applies that fallback itself.

``RunRecord`` (one run, :meth:`RunStore.run`): a SummaryRecord with ``info``,
``meta`` and ``host`` always present, plus::

    fail_trace   list[str] | None
    artifacts    list[ArtifactInfo]          in the order they were added
    resources    list[ResourceInfo]
    sources      list[SourceInfo]           content read with :meth:`RunStore.open_source`
    experiment_info  dict                    the stored experiment block (name, base_dir, mainfile,
                                             dependencies, repositories, ...), as stored
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, Protocol, runtime_checkable

from gnomon.query.tree import Node, Path

__all__ = [
    "ArtifactInfo",
    "LineageEdge",
    "ResourceInfo",
    "RunStore",
    "Series",
    "SourceInfo",
]


@dataclass(frozen=True, slots=True)
class ArtifactInfo:
    """One artifact a run added. ``digest`` is the hex sha256 of its content, when known."""

    name: str
    size: int | None
    digest: str | None
    content_type: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ResourceInfo:
    """One file a run read as a resource: the path it opened and the content's sha256 (or its prefix)."""

    filename: str
    digest: str | None


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """One source file of the run's experiment: its path relative to the experiment and its content's digest."""

    path: str
    digest: str | None


@dataclass(frozen=True, slots=True)
class Series:
    """Every point of one metric of one run, sorted by step (ties in logged order).

    ``times`` are POSIX seconds (UTC). Values are floats, NaN and infinities included.
    """

    run_id: str
    name: str
    steps: Sequence[int]
    values: Sequence[float]
    times: Sequence[float]


@dataclass(frozen=True, slots=True)
class LineageEdge:
    """Run ``target`` read, as a resource, a file with the content of ``source``'s artifact ``artifact``."""

    source: str
    artifact: str
    target: str
    resource: str
    digest: str


@runtime_checkable
class RunStore(Protocol):
    """One backend's read side. Methods may be called from several threads; each call is self-contained.

    ``where`` trees reaching a backend never hold ``status``: the query layer has
    rewritten it. A backend compiles what it can; for the atoms it reports as
    unsupported (:meth:`supports`) the query layer relaxes the tree and filters the
    records itself, so every backend answers every filter the same way.
    """

    #: The store's URL with any password replaced by ``***``; safe to print.
    url: str

    @classmethod
    def from_url(cls, url: str) -> RunStore:
        """Open the store a URL names; raises :class:`gnomon.errors.StoreError` naming the URL and the fix."""
        ...

    def supports(self, atom: Node) -> bool:
        """Whether :meth:`summaries` and :meth:`count` evaluate this leaf exactly as :mod:`gnomon.query.tree` says."""
        ...

    def supports_order(self, path: Path) -> bool:
        """Whether :meth:`summaries` can sort by this path (missing and None last, in either direction)."""
        ...

    def summaries(
        self,
        where: Node | None,
        *,
        order_by: Sequence[tuple[Path, bool]] = (),
        limit: int | None = None,
        offset: int = 0,
        roots: frozenset[str] = frozenset(),
    ) -> list[dict[str, Any]]:
        """SummaryRecords of the matching runs. ``order_by`` is ``(path, descending)`` pairs; ties by run id.

        ``roots`` names the extra blocks wanted (``"info"``, ``"meta"``, ``"host"``).
        Without an order the records come in the backend's natural order.
        """
        ...

    def count(self, where: Node | None) -> int:
        """How many runs match."""
        ...

    def run(self, run_id: str) -> dict[str, Any]:
        """The RunRecord of one run; ``KeyError`` when there is none."""
        ...

    def series(
        self, run_ids: Sequence[str], names: Sequence[str] | None = None, *, steps: tuple[int, int] | None = None
    ) -> Iterable[Series]:
        """Every point of the named metrics (all when None) of these runs, within ``steps`` (inclusive) if given.

        At most two backend queries whatever the number of runs.
        """
        ...

    def output(self, run_id: str, offset: int = 0, limit: int | None = None) -> str:
        """The run's captured output from character ``offset`` on, at most ``limit`` characters."""
        ...

    def output_length(self, run_id: str) -> int:
        """How many characters of output are stored."""
        ...

    # Optional: ``artifact_digest(run_id, name) -> str | None``, for a store that can give
    # (and cache) an artifact's sha256 without the caller streaming the content.

    def open_artifact(self, run_id: str, name: str) -> IO[bytes]:
        """A binary stream of one artifact's content (streamed, not read into memory); ``KeyError`` if none."""
        ...

    def open_source(self, run_id: str, path: str) -> IO[bytes]:
        """A binary stream of one source file of the run's experiment, by its ``SourceInfo.path``.

        ``KeyError`` when the run has no source of that path or its content was not stored
        (a file gone before it could be copied, or recorded where it was, not copied).
        """
        ...

    def set_annotations(self, run_id: str, *, tags: Sequence[str] | None = None, notes: str | None = None) -> None:
        """Replace a run's tags and/or notes (None leaves one as it is) where no observer writes.

        The run's own later writes (heartbeats, completion) must keep them; ``KeyError`` if there is no such run.
        """
        ...

    def lineage_edges(self, run_ids: Sequence[str], *, upstream: bool, downstream: bool) -> list[LineageEdge]:
        """Edges that end at (``upstream``) or start from (``downstream``) any of these runs."""
        ...

    def close(self) -> None:
        """Release connections and files."""
        ...
