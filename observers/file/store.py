"""FileRunStore: the query API's read side of a file storage folder (gnomon's or Sacred's layout).

``gnomon.open("runs/")`` (or ``file:///abs/runs``) reads through this class.
Listing runs reads the disposable index (:mod:`.index`), brought up to date on
every call by listing the folder and stating each run's files; a run's files are
parsed again only when they changed, and a growing ``metrics.jsonl`` only from
where the last read stopped; the index sorts and limits by the run id, the times
and the plain text fields, so the first runs of a long list cost only their own
decoding; a listing by run ids (``ids=[...]``) refreshes and decodes those runs
only. Everything else (one run, its output, artifacts) is read from the run's
folder when asked; series from binary copies beside the index, kept in step
with ``metrics.jsonl`` (:mod:`.points`, :mod:`.series_files`).

Filters are evaluated on the canonical records by :mod:`gnomon.query.predicate`,
the reference the other backends are tested against, so every atom but those on
annotations (whose fallbacks the query layer applies) is answered exactly here.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

import orjson

from gnomon.errors import ObserverError, RunNotFoundError, StoreError
from gnomon.observers.file.annotations import Annotations
from gnomon.observers.file.index import INDEX_FOLDER, RunIndex
from gnomon.observers.file.lineage import lineage_edges
from gnomon.observers.file.points import PointReader
from gnomon.observers.file.records import NotARunError, digest_prefix, load_json, record_from_row, source_pairs
from gnomon.observers.file.signatures import natural
from gnomon.observers.file.url import file_storage_from_url
from gnomon.query.predicate import MISSING, evaluate, resolve, sort_key
from gnomon.query.protocol import ArtifactInfo, LineageEdge, ResourceInfo, Series, SourceInfo
from gnomon.query.tree import And, Cmp, In, Node, atoms
from gnomon.query.tree import Path as TreePath

__all__ = ["FileRunStore"]

_BLOCKS = frozenset({"info", "meta", "host"})
_DIGEST = re.compile(r"[0-9a-f]{32}")
_UNSUPPORTED_ROOTS = frozenset({"tags", "notes", "status"})
#: Up to this many ids named by a filter, only their runs are refreshed and read (see :func:`_named_ids`).
_MAX_NAMED = 500


def _sorted(records: list[dict[str, Any]], order_by: Sequence[tuple[TreePath, bool]]) -> list[dict[str, Any]]:
    """Records (in natural id order) sorted in memory the way the query layer sorts: missing values last."""
    for path, descending in reversed(order_by):
        values = [resolve(r, path) for r in records]
        present = [(v, r) for v, r in zip(values, records, strict=True) if v is not MISSING and v is not None]
        missing = [r for v, r in zip(values, records, strict=True) if v is MISSING or v is None]
        key = (lambda pair: natural(pair[0])) if path == ("id",) else (lambda pair: sort_key(pair[0]))
        present.sort(key=key, reverse=descending)
        records = [r for _, r in present] + missing
    return records


class FileRunStore:
    """The runs of one file storage folder, read for the query API (:class:`gnomon.query.protocol.RunStore`).

    ``cache_dir`` puts the index there instead of ``basedir/_gnomon`` (or the user
    cache folder when ``basedir`` cannot be written).
    """

    def __init__(self, basedir: str | os.PathLike[str], *, cache_dir: str | os.PathLike[str] | None = None) -> None:
        path = Path(os.path.abspath(os.fspath(basedir)))
        if not path.is_dir():
            what = "is not a folder" if path.exists() else "does not exist"
            raise StoreError(
                f"file storage {path} {what}: give the folder that FileStorageObserver (-F/--file_storage) "
                "wrote its runs to"
            )
        self.basedir = path
        self.url = "file://" + quote(str(path))
        self.index = RunIndex(path, cache_dir=None if cache_dir is None else Path(cache_dir))
        self.annotations = Annotations(path / INDEX_FOLDER / "annotations")
        location = self.index.location
        self.points = PointReader(path, None if location is None else location.parent / "series")
        self.index.series_copies = self.points.copies

    @classmethod
    def from_url(cls, url: str) -> FileRunStore:
        """Open ``file:///abs/path``, ``file://rel/path`` or a plain path; StoreError when it is no folder."""
        try:
            basedir, _options = file_storage_from_url(url)
        except ObserverError as error:
            raise StoreError(str(error)) from None
        return cls(basedir)

    def __repr__(self) -> str:
        return f"FileRunStore({str(self.basedir)!r})"

    # ------------------------------------------------------------------ capabilities --
    def supports(self, atom: Node) -> bool:
        """Every atom but those on tags, notes (annotation fallbacks) and effective status."""
        path = getattr(atom, "path", None)
        return path is None or path[0] not in _UNSUPPORTED_ROOTS

    def supports_order(self, path: TreePath) -> bool:
        """Run id, times and the plain text fields: the index sorts by them in SQL (:mod:`.index_schema`)."""
        return self.index.orders(path)

    # ------------------------------------------------------------------ listing --
    def summaries(
        self,
        where: Node | None,
        *,
        order_by: Sequence[tuple[TreePath, bool]] = (),
        limit: int | None = None,
        offset: int = 0,
        roots: frozenset[str] = frozenset(),
    ) -> list[dict[str, Any]]:
        """Every matching run's SummaryRecord, in natural id order unless ``order_by`` says otherwise.

        When the index sorts by every path of ``order_by`` (:meth:`supports_order`),
        it sorts and, without a filter, limits too: only the runs returned are
        decoded. A filter is evaluated on the records decoded in that order, until
        ``offset + limit`` matched. Other orders are sorted in memory, as the query
        layer would.
        """
        names = _named_ids(where)
        if names == []:
            return []
        self.index.refresh(only=names)
        roots = frozenset(roots)
        needed = set(roots) & _BLOCKS
        if where is not None:
            paths = [getattr(atom, "path", ()) for atom in atoms(where)]
            needed |= {path[0] for path in paths if path and path[0] in _BLOCKS}
        blocks = frozenset(needed)
        in_sql = all(self.index.orders(path) for path, _ in order_by)
        rows = self.index.rows(
            roots=bool(blocks),
            order_by=order_by if in_sql else (),
            limit=limit if in_sql and where is None else None,
            offset=offset if in_sql and where is None else 0,
            names=names,
        )
        notes = self.annotations.all()

        def decoded() -> Iterator[dict[str, Any]]:
            for row in rows:
                record = record_from_row(
                    row[0], row[1], row[2], row[3], row[4] if blocks else None, blocks, notes.get(row[0])
                )
                if where is None or evaluate(where, record):
                    yield record

        if not in_sql:
            records = _sorted(list(decoded()), order_by)
            records = records[offset : None if limit is None else offset + limit]
        elif where is None:
            records = list(decoded())  # limited in SQL
        else:
            records = list(islice(decoded(), offset, None if limit is None else offset + limit))
        extra = blocks - roots
        if extra:
            for record in records:
                for root in extra:
                    record.pop(root, None)
        return records

    def count(self, where: Node | None) -> int:
        """How many runs match; without a filter, one query of the refreshed index."""
        if where is None:
            self.index.refresh()
            return self.index.count()
        return len(self.summaries(where))

    def refresh(self) -> tuple[list[str], list[str], list[str]]:
        """Bring the index up to date now: ``(added, updated, removed)`` run ids since the last refresh."""
        return self.index.refresh()

    # ------------------------------------------------------------------ one run --
    def _folder(self, run_id: str) -> Path:
        """The folder of a readable run, after refreshing its index row; RunNotFoundError otherwise."""
        name = str(run_id)
        if not name or name[0] in "_." or "/" in name or os.sep in name or name in {".", ".."}:
            raise RunNotFoundError(f"no run {name!r} in {self.url}")
        self.index.refresh(only=name)
        return self.basedir / name

    def _row(self, run_id: str) -> tuple[Any, ...]:
        self._folder(run_id)
        row = self.index.row(str(run_id))
        if row is None:
            raise RunNotFoundError(f"no run {str(run_id)!r} in {self.url}")
        return row

    def run(self, run_id: str) -> dict[str, Any]:
        """The RunRecord of one run: its summary, info/meta/host, artifacts, resources, sources and trace."""
        row = self._row(run_id)
        name = row[0]
        record = record_from_row(name, row[1], row[2], row[3], row[4], _BLOCKS, self.annotations.get(name))
        links = orjson.loads(row[5])
        stored = self._stored(name)
        experiment = stored.get("experiment")
        experiment = experiment if isinstance(experiment, dict) else {}
        trace = stored.get("fail_trace")
        record["fail_trace"] = [str(line) for line in trace] if isinstance(trace, list) else None
        record["experiment_info"] = experiment
        record["artifacts"] = [self._artifact(name, artifact) for artifact in links["artifacts"]]
        record["resources"] = [ResourceInfo(filename, digest_prefix(copy)) for filename, copy in links["resources"]]
        record["sources"] = [SourceInfo(path, digest) for path, digest in source_pairs(experiment)]
        return record

    def _stored(self, name: str) -> dict[str, Any]:
        """The run's run.json as stored ({} when it cannot be read)."""
        try:
            stored, _ = load_json((self.basedir / name / "run.json").read_bytes(), "run.json")
        except (OSError, NotARunError):
            return {}
        return stored if isinstance(stored, dict) else {}

    def _inside(self, run_id: str, name: str) -> str | None:
        """The real path of a run's file ``name``, or None when it would lie outside the run's folder."""
        folder = os.path.realpath(self.basedir / run_id)
        path = os.path.realpath(os.path.join(folder, name))
        return path if path.startswith(folder + os.sep) else None

    def artifact_digest(self, run_id: str, name: str) -> str | None:
        """The sha256 of an artifact's file, hashed once and kept in the index until the file changes."""
        if self._inside(str(run_id), name) is None:
            return None
        digests = self.index.digests(f"{run_id}/{name}")
        return digests[0] if digests else None

    def _artifact(self, run_id: str, name: str) -> ArtifactInfo:
        """Size at hand; the digest only when already known (hashing a large file waits until it is asked for)."""
        path = self._inside(run_id, name)
        try:
            size: int | None = None if path is None else os.stat(path).st_size
        except OSError:
            size = None
        digests = self.index.digests(f"{run_id}/{name}", cached_only=True) if size is not None else None
        return ArtifactInfo(name=name, size=size, digest=digests[0] if digests else None)

    #: :meth:`series` gives numpy arrays when asked (``arrays=True``): the query layer's plots skip the lists.
    series_as_arrays = True

    @property
    def series_from_copies(self) -> bool:
        """Whether series are read from binary copies: as cheap as a cache in memory, so none is needed."""
        return self.points.copies is not None

    def series(
        self,
        run_ids: Sequence[str],
        names: Sequence[str] | None = None,
        *,
        steps: tuple[int, int] | None = None,
        arrays: bool = False,
    ) -> Iterable[Series]:
        """Every point of the named metrics of these runs, sorted by step; one file read per run.

        Read from the binary copies (:mod:`.series_files`) where they are current: a
        million points in milliseconds instead of a second of parsing. With
        ``arrays`` (numpy installed) each Series holds numpy arrays: steps int64,
        values and times float64.
        """
        out: list[Series] = []
        for name, metric, (xs, values, times) in self.points.read(run_ids, names, steps):
            if arrays:
                import numpy as np

                if isinstance(xs, list):
                    xs = np.asarray(xs, dtype=np.int64)
                    values, times = np.asarray(values, dtype=np.float64), np.asarray(times, dtype=np.float64)
            elif not isinstance(xs, list):
                xs, values, times = xs.tolist(), values.tolist(), times.tolist()
            out.append(Series(name, metric, xs, values, times))
        return out

    def output(self, run_id: str, offset: int = 0, limit: int | None = None) -> str:
        """Characters ``offset`` to ``offset + limit`` of the run's cout.txt (seeks; never reads it whole)."""
        from gnomon.observers.file.output import read

        name = self._row(run_id)[0]
        marks = self.index.output_marks(name)
        return read(str(self.basedir / name / "cout.txt"), marks, offset, limit) if marks.chars else ""

    def output_length(self, run_id: str) -> int:
        """Characters of output stored (counted once; later only what was appended)."""
        return self.index.output_marks(self._row(run_id)[0]).chars

    def open_artifact(self, run_id: str, name: str) -> IO[bytes]:
        """The artifact's file, opened for reading; KeyError when run.json does not list it."""
        row = self._row(run_id)
        if name not in orjson.loads(row[5])["artifacts"]:
            raise KeyError(f"run {row[0]!r} in {self.url} has no artifact {name!r}")
        path = self._inside(row[0], name)
        if path is None:
            raise KeyError(f"artifact {name!r} of run {row[0]!r} points outside its folder")
        try:
            return open(path, "rb")
        except FileNotFoundError:
            raise KeyError(f"artifact {name!r} of run {row[0]!r} is listed but its file {path} is gone") from None

    def open_source(self, run_id: str, path: str) -> IO[bytes]:
        """The stored copy of one of the experiment's sources; KeyError when run.json lists none readable.

        Where the copy is: the stored path run.json pairs with the source
        (``_sources/<stem>_<digest><ext>``, relative to the folder), else, for a
        queued run whose pair holds the digest, the run's ``sources/<path>``
        (gnomon), its ``<basename>`` (Sacred) or ``_sources/<stem>_<digest><ext>``.
        A file is opened only when its content has the digest its name or pair
        carries (sha256, or md5 for Sacred's): a source recorded where it was
        (``copy_sources=False``) may have changed since, and run.json cannot point
        the reader at any other file.
        """
        name = self._row(run_id)[0]
        experiment = self._stored(name).get("experiment")
        experiment = experiment if isinstance(experiment, dict) else {}
        for item in experiment.get("sources") or ():
            if isinstance(item, dict):  # Sacred's queued runs: jsonpickle's {"py/tuple": [...]}
                item = item.get("py/tuple")
            if not isinstance(item, list | tuple) or not item or item[0] != path:
                continue
            second = item[1] if len(item) > 1 else None
            for candidate, digest in self._source_candidates(name, path, second, experiment.get("base_dir")):
                if digest is not None and _has_digest(candidate, digest):
                    try:
                        return open(candidate, "rb")
                    except OSError:
                        continue
            raise KeyError(f"the content of source {path!r} of run {name!r} in {self.url} was not stored")
        raise KeyError(f"run {name!r} in {self.url} has no source {path!r}")

    def _source_candidates(self, name: str, path: str, second: Any, base_dir: Any) -> list[tuple[Path, str | None]]:
        """Where the content of a source may be, with its digest, by what run.json pairs it with."""
        if not isinstance(second, str) or not second:
            return []  # the file was gone when the run started: nothing was stored
        if not (_DIGEST.fullmatch(second[:32]) and "/" not in second):
            return [(self.basedir / second, digest_prefix(second))]
        rel = os.path.normpath(path)
        if os.path.isabs(rel) or rel.split(os.sep)[0] == "..":
            rel = os.path.join("_outside", os.path.abspath(os.path.join(str(base_dir or ""), path)).lstrip(os.sep))
        stem, ext = os.path.splitext(os.path.basename(path))
        folder, digest = self.basedir / name, second[:32]
        return [
            (folder / "sources" / rel, digest),
            (folder / os.path.basename(path), digest),
            (self.basedir / "_sources" / f"{stem}_{digest}{ext}", digest),
        ]

    # ------------------------------------------------------------------ annotations, lineage --
    def set_annotations(self, run_id: str, *, tags: Sequence[str] | None = None, notes: str | None = None) -> None:
        """Write the run's tags and/or notes to ``_gnomon/annotations/<id>.json`` (atomically)."""
        row = self._row(run_id)
        try:
            self.annotations.set(row[0], tags=None if tags is None else list(tags), notes=notes)
        except OSError as error:
            raise StoreError(
                f"cannot write the annotations of run {row[0]!r} to {self.annotations.folder}: {error}; "
                "annotate a copy of the folder that you can write"
            ) from error

    def lineage_edges(self, run_ids: Sequence[str], *, upstream: bool, downstream: bool) -> list[LineageEdge]:
        """Edges by a resource inside another run's folder, or by a stored copy's digest = an artifact's."""
        self.index.refresh()
        runs = {name: orjson.loads(blob) for name, blob in self.index.links()}
        return lineage_edges(self.index, runs, [str(r) for r in run_ids], upstream=upstream, downstream=downstream)

    def close(self) -> None:
        """Close the index."""
        self.index.close()


def _named_ids(where: Node | None) -> list[str] | None:
    """The only run ids ``where`` can match when it names a few at its top, else None.

    Named at the top: ``id in [...]`` or ``id == ...``, alone or as an item of a
    top-level ``and``.
    Only those runs need refreshing and decoding: a dashboard request for ten runs
    then stats ten folders, not ten thousand. A run id is a string, so only string
    values can match (the predicate compares within one type).
    """
    items = where.items if isinstance(where, And) else (where,)
    found: set[str] | None = None
    for item in items:
        if isinstance(item, In) and item.path == ("id",):
            values = {v for v in item.values if isinstance(v, str)}
        elif isinstance(item, Cmp) and item.path == ("id",) and item.op == "eq":
            values = {item.value} if isinstance(item.value, str) else set()
        else:
            continue
        found = values if found is None else found & values
    if found is None or len(found) > _MAX_NAMED:
        return None
    return sorted(found, key=natural)


def _has_digest(path: str | os.PathLike[str], expected: str) -> bool:
    """Whether the file's sha256 (gnomon's stored names) or md5 (Sacred's) starts with ``expected``."""
    import hashlib

    hashers = [hashlib.sha256(), hashlib.md5(usedforsecurity=False)]
    try:
        with open(path, "rb") as stream:
            while chunk := stream.read(1 << 20):
                for hasher in hashers:
                    hasher.update(chunk)
    except OSError:
        return False
    return any(hasher.hexdigest().startswith(expected) for hasher in hashers)
