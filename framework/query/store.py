"""``Store`` and ``RunSet``: every backend read back the same way, as rows, DataFrames and series.

A :class:`Store` wraps one backend's :class:`~gnomon.query.protocol.RunStore`. Its
:meth:`Store.runs` returns a lazy :class:`RunSet`: nothing is read until rows, a
DataFrame, a count or series are asked for. Filtering is split between the
backend (what it compiles exactly) and memory (the rest, see
:mod:`gnomon.query.pushdown`), and ``DIED`` is derived on read
(:mod:`gnomon.query.liveness`), so each store gives the same answer.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from gnomon.errors import FilterError, RunNotFoundError
from gnomon.query import grammar
from gnomon.query.columns import (
    BLOCKS,
    ColumnInfo,
    blocks_for,
    column_infos,
    columns_of,
    most_frequent,
    row_of,
    select_columns,
    unknown_columns_message,
    varying_columns,
)
from gnomon.query.liveness import effective_status, rewrite_status
from gnomon.query.predicate import MISSING, evaluate, natural_key, resolve, sort_key
from gnomon.query.protocol import RunStore
from gnomon.query.pushdown import relax, simplify
from gnomon.query.series import SeriesCache
from gnomon.query.tree import And, Cmp, Const, Contains, In, Node, Path, atoms

if TYPE_CHECKING:
    import pandas as pd

    from gnomon.query.stored_run import StoredRun

__all__ = ["Changes", "RunSet", "Store"]

_COMPUTED_ORDER = {"status", "duration", "tags", "notes"}


@dataclass(frozen=True, slots=True)
class Changes:
    """What :meth:`RunSet.refresh` found since the last read: run ids added, updated and removed."""

    added: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.added or self.updated or self.removed)


def _order_paths(order_by: str | Sequence[str] | None) -> list[tuple[Path, bool]]:
    if not order_by:
        return []
    items = [order_by] if isinstance(order_by, str) else list(order_by)
    paths = []
    for item in items:
        text = item.strip()
        descending = text.startswith("-")
        text = text.lstrip("+-")
        paths.append((grammar.path_from_text(text), descending))
    return paths


def _time(value: Any, name: str) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC)  # a naive datetime is local time, as Python takes it
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)  # ISO text without a zone is UTC, as in filters
            return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
        except ValueError:
            try:
                return datetime.now(UTC) - grammar.parse_duration(value)
            except ValueError:
                pass
    raise FilterError(f"{name}={value!r} is not a time: give a datetime, an ISO 8601 string or a duration like '2d'")


def _signature(record: Mapping[str, Any]) -> tuple[Any, ...]:
    metrics = record.get("metrics") or {}
    return (
        record.get("recorded_status"), record.get("status"), record.get("heartbeat"), record.get("stop_time"),
        tuple(sorted((name, s.get("count"), s.get("last_step")) for name, s in metrics.items())),
        tuple(record.get("tags") or ()), record.get("notes"),
    )


class Store:
    """One store (a folder, a database) opened for reading; see :func:`gnomon.open`."""

    def __init__(self, backend: RunStore, *, died_after: float | None = None) -> None:
        self.backend = backend
        self.died_after = died_after
        self.series_cache = SeriesCache()

    @property
    def url(self) -> str:
        """The store's URL, password hidden."""
        return self.backend.url

    def __repr__(self) -> str:
        return f"<gnomon.Store {self.url}>"

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the backend's connections and files."""
        self.backend.close()

    def runs(
        self,
        where: str | Node | None = None,
        /,
        *,
        experiment: str | None = None,
        status: str | Sequence[str] | None = None,
        tags: str | Sequence[str] | None = None,
        ids: Iterable[str | int] | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        order_by: str | Sequence[str] | None = "-start_time",
        limit: int | None = None,
        **path_ops: Any,
    ) -> RunSet:
        """The runs matching every condition given, lazily; ``where`` uses the filter grammar.

        ``status`` may be one status or several (``DIED`` included); ``tags`` a tag or
        several, all required; ``since``/``until`` bound the start time (datetimes, ISO
        strings, or durations such as ``"2d"`` meaning that long ago); ``path_ops`` are
        keyword filters such as ``config__lr__lt=0.01``.
        """
        now = datetime.now(UTC)
        parts: list[Node] = []
        if where is not None:
            parts.append(grammar.parse(where, now=now) if isinstance(where, str) else where)
        if experiment is not None:
            parts.append(Cmp(("experiment",), "eq", experiment))
        if status is not None:
            wanted = [status] if isinstance(status, str) else list(status)
            parts.append(In(("status",), tuple(s.upper() for s in wanted)))
        if tags is not None:
            parts.extend(Contains(("tags",), t) for t in ([tags] if isinstance(tags, str) else tags))
        if ids is not None:
            parts.append(In(("id",), tuple(str(i) for i in ids)))
        if since is not None:
            parts.append(Cmp(("start_time",), "ge", _time(since, "since")))
        if until is not None:
            parts.append(Cmp(("start_time",), "le", _time(until, "until")))
        parts.extend(grammar.from_keywords(path_ops, now=now))
        node = None if not parts else parts[0] if len(parts) == 1 else And(tuple(parts))
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be >= 0, not {limit}")
        return RunSet(self, node, _order_paths(order_by), limit)

    def run(self, run_id: str | int) -> StoredRun:
        """One run by id; :class:`~gnomon.errors.RunNotFoundError` names the store when there is none."""
        from gnomon.query.stored_run import StoredRun

        run_id = str(run_id)
        try:
            record = self.backend.run(run_id)
        except KeyError:
            raise RunNotFoundError(f"no run with id {run_id!r} in {self.url}") from None
        return StoredRun(self, self._finish(record, datetime.now(UTC)), full=True)

    __getitem__ = run

    def annotate(
        self,
        run_id: str | int,
        *,
        add_tags: Iterable[str] = (),
        remove_tags: Iterable[str] = (),
        notes: str | None = None,
    ) -> None:
        """Tag a run or set its notes, stored where no observer writes (also while the run goes on).

        On MongoDB these are Omniboard's own ``omniboard.tags`` and ``omniboard.notes``,
        so Omniboard shows and edits the same ones.
        """
        add, remove = list(add_tags), set(remove_tags)
        for tag in (*add, *remove):
            if not isinstance(tag, str) or not tag.strip():  # type: ignore[redundant-expr] # callers may pass anything
                raise ValueError(f"a tag is a non-empty string, not {tag!r}")
        new_tags: list[str] | None = None
        if add or remove:
            current = list(self.run(run_id).tags)
            new_tags = [t for t in current if t not in remove]
            new_tags += [t for t in dict.fromkeys(add) if t not in new_tags]
        elif notes is None:
            return
        try:
            self.backend.set_annotations(str(run_id), tags=new_tags, notes=notes)
        except KeyError:
            raise RunNotFoundError(f"no run with id {str(run_id)!r} in {self.url}") from None

    # ---------------------------------------------------------------- internals --

    def _finish(self, record: dict[str, Any], now: datetime) -> dict[str, Any]:
        """Apply what every backend leaves to the query layer: effective status, tag and note fallbacks."""
        record["status"] = effective_status(record, now, self.died_after)
        if record.get("tags") is None:
            config_tags = (record.get("config") or {}).get("tags")
            ok = isinstance(config_tags, list) and all(isinstance(t, str) for t in config_tags)
            record["tags"] = list(config_tags) if ok and config_tags is not None else []
        if record.get("notes") is None:
            record["notes"] = record.get("comment")
        return record


class RunSet:
    """A lazy selection of runs; see :meth:`Store.runs`. Reading methods cache until :meth:`refresh`."""

    def __init__(self, store: Store, where: Node | None, order: list[tuple[Path, bool]], limit: int | None) -> None:
        self.store = store
        self.where = where
        self.order = order
        self.limit = limit
        self._records: list[dict[str, Any]] | None = None
        self._roots: frozenset[str] = frozenset()

    def __repr__(self) -> str:
        return f"<RunSet of {self.store.url}{'' if self._records is None else f', {len(self._records)} runs'}>"

    # ------------------------------------------------------------------- reading --

    def _plan(self, now: datetime) -> tuple[Node | None, bool]:
        if self.where is None:
            return None, True
        rewritten, approximate = rewrite_status(self.where, now, self.store.died_after)
        backend = self.store.backend
        pushed, exact = relax(rewritten, lambda atom: atom not in approximate and backend.supports(atom))
        pushed = simplify(pushed)
        return (None if pushed == Const(True) else pushed), exact

    def _fetch(self, roots: frozenset[str] = frozenset()) -> list[dict[str, Any]]:
        roots = roots | self._filter_roots()
        if self._records is not None and roots <= self._roots:
            return self._records
        now = datetime.now(UTC)
        pushed, exact = self._plan(now)
        backend = self.store.backend
        push_order = exact and all(
            path[0] not in _COMPUTED_ORDER and backend.supports_order(path) for path, _ in self.order
        )
        if pushed == Const(False):
            records: list[dict[str, Any]] = []
        else:
            records = backend.summaries(
                pushed,
                order_by=self.order if push_order else (),
                limit=self.limit if push_order else None,
                roots=roots,
            )
        records = [self.store._finish(r, now) for r in records]
        if not exact:
            records = [r for r in records if evaluate(self.where, r)]
        if not push_order:
            records = self._sorted(records)
            if self.limit is not None:
                records = records[: self.limit]
        self._records, self._roots = records, roots
        return records

    def _filter_roots(self) -> frozenset[str]:
        if self.where is None:
            return frozenset()
        return frozenset(a.path[0] for a in atoms(self.where) if hasattr(a, "path") and a.path[0] in BLOCKS)

    def _sorted(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        records = sorted(records, key=lambda r: natural_key(str(r["run_id"])))
        for path, descending in reversed(self.order):
            present = [r for r in records if resolve(r, path) not in (MISSING, None)]
            missing = [r for r in records if resolve(r, path) in (MISSING, None)]
            if path == ("id",):
                present.sort(key=lambda r: natural_key(str(r["run_id"])), reverse=descending)
            else:
                present.sort(key=lambda r, p=path: sort_key(resolve(r, p)), reverse=descending)  # type: ignore[misc]
            records = present + missing
        return records

    def count(self) -> int:
        """How many runs match (one cheap backend query when the filter is fully pushed down)."""
        if self._records is not None:
            return len(self._records)
        pushed, exact = self._plan(datetime.now(UTC))
        if exact and self.limit is None:
            return 0 if pushed == Const(False) else self.store.backend.count(pushed)
        return len(self._fetch())

    def __len__(self) -> int:
        return self.count()

    @property
    def ids(self) -> list[str]:
        """The run ids, in order."""
        return [r["run_id"] for r in self._fetch()]

    def __iter__(self) -> Iterator[StoredRun]:
        from gnomon.query.stored_run import StoredRun

        for record in self._fetch():
            yield StoredRun(self.store, record, full=False)

    def rows(self, columns: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """The runs as dicts of columns (``run_id`` first), without pandas; see :meth:`df` for the columns."""
        records, all_rows, chosen = self._table(columns)
        return [
            {"run_id": r["run_id"], **{c: row.get(c) for c in chosen}} for r, row in zip(records, all_rows, strict=True)
        ]

    def _table(self, columns: Sequence[str] | None) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str]]:
        """The records, each one's full row of columns, and the column names chosen (in order)."""
        blocks = blocks_for(columns)
        records = self._fetch(frozenset(blocks))
        all_rows = [row_of(r, blocks=blocks) for r in records]
        available: set[str] = set()
        for row in all_rows:
            available.update(row)
        return records, all_rows, self._chosen(available, columns, bool(records))

    def _chosen(self, available: set[str], columns: Sequence[str] | None, any_runs: bool) -> list[str]:
        chosen = select_columns(available, columns)
        if columns is not None and any_runs:
            unknown = [c for c in chosen if c not in available]
            if unknown:
                raise FilterError(unknown_columns_message(unknown, available))
        return chosen

    def df(self, columns: Sequence[str] | None = None, *, lists: str = "object") -> pd.DataFrame:
        """A DataFrame indexed by ``run_id``: fixed columns, ``config.<path>``, ``metrics.<name>.<summary>``.

        Fixed columns: experiment, command, status (``DIED`` derived), recorded_status,
        start_time, stop_time, heartbeat (UTC), duration, host, git.commit, git.dirty,
        comment, tags, notes, result. ``info.*``, ``meta.*`` and ``host.*`` only when
        asked for. ``lists="json"`` turns list values into JSON text.
        """
        import pandas as pd

        blocks = blocks_for(columns)
        records = self._fetch(frozenset(blocks))
        by_column = columns_of(records, blocks=blocks)
        missing = [None] * len(records)
        data: dict[str, Any] = {"run_id": [r["run_id"] for r in records]}
        for name in self._chosen(set(by_column), columns, bool(records)):
            data[name] = by_column.get(name, missing)
        if lists == "json":
            import json

            for name, values in data.items():
                data[name] = [json.dumps(v) if isinstance(v, list) else v for v in values]
        index = pd.Index(data.pop("run_id"), name="run_id", dtype=object)
        frame = pd.DataFrame(data, index=index)
        for name in ("start_time", "stop_time", "heartbeat"):
            if name in frame:
                frame[name] = pd.to_datetime(frame[name], utc=True)
        if "duration" in frame:
            frame["duration"] = pd.to_timedelta(frame["duration"])
        return frame

    def columns(self) -> list[ColumnInfo]:
        """Every column of these runs with its kind and number of distinct values (for pickers, ``ls -c ?``)."""
        return column_infos(self.rows())

    def varying(self, prefix: str = "config.") -> list[str]:
        """The columns under ``prefix`` whose values differ between these runs (a missing value counts)."""
        return varying_columns(self.rows(), prefix)

    def facets(self, *paths: str, limit: int = 30) -> dict[str, list[tuple[Any, int]]]:
        """For each column, its most frequent values and their counts (most frequent first)."""
        rows = self.rows(list(paths) if paths else None)
        return {path: most_frequent(rows, path, limit) for path in paths or ("status", "experiment", "host")}

    def metrics(
        self,
        names: str | Sequence[str] | None = None,
        *,
        x: str = "step",
        max_points: int | None = None,
        smooth: str | None = None,
        range: tuple[float, float] | None = None,  # noqa: A002 - the documented name
    ) -> pd.DataFrame:
        """The metric series of these runs as one long DataFrame: ``run_id, name, step, value, time``.

        At most two backend queries whatever the number of runs. ``x`` is ``step``,
        ``time`` or ``elapsed`` (seconds since the run started; adds an ``elapsed``
        column); ``max_points`` downsamples each series keeping every bucket's first,
        last, min and max point and adds ``min``/``max`` band columns; ``smooth``
        (``"ema:0.6"``, ``"gauss:3"``) is applied to the whole series first.
        """
        from gnomon.query.frames import series_frame

        records = self._fetch()
        wanted = [names] if isinstance(names, str) else names
        return series_frame(self.store, records, wanted, x=x, max_points=max_points, smooth=smooth, window=range)

    def refresh(self) -> Changes:
        """Read again; the runs added, updated (status, heartbeat, metrics, tags, notes) and removed since."""
        before = {r["run_id"]: _signature(r) for r in (self._records or [])}
        had = self._records is not None
        self._records = None
        after = {r["run_id"]: _signature(r) for r in self._fetch(self._roots)}
        if not had:
            return Changes(added=tuple(after))
        return Changes(
            added=tuple(i for i in after if i not in before),
            updated=tuple(i for i in after if i in before and before[i] != after[i]),
            removed=tuple(i for i in before if i not in after),
        )

    def watch(self, interval: float = 1.0, *, timeout: float | None = None) -> Iterator[Changes]:
        """Refresh every ``interval`` seconds and yield each non-empty change (until ``timeout``, if given)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        if self._records is None:
            self._fetch()
        while deadline is None or time.monotonic() < deadline:
            time.sleep(interval)
            changes = self.refresh()
            if changes:
                yield changes

