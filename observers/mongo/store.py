"""MongoRunStore: the query API's read side of a MongoDB database in Sacred's schema.

``gnomon.open("mongodb://host:27017/db")`` (or Sacred's ``host:27017:db``) lands
here. Listing runs is one ``find`` with a projection of what a SummaryRecord needs
(filters compiled by :mod:`gnomon.observers.mongo.filters`); metric summaries are
the observer's ``gnomon.metrics`` block, or for runs stored by Sacred itself one
extra query over their series. Series of many runs are one query; output and
artifacts stream from GridFS. Tags and notes go to Omniboard's own
``omniboard.tags``/``omniboard.notes``, which no observer write touches.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from itertools import pairwise
from typing import IO, Any

from gnomon.errors import RunNotFoundError, StoreError
from gnomon.observers.mongo.files import open_stream
from gnomon.observers.mongo.filters import compile_filter, field_of, supports
from gnomon.observers.mongo.metrics import to_posix
from gnomon.observers.mongo.output import output_chars, read_output
from gnomon.observers.mongo.summaries import (
    ROOT_FIELDS,
    is_legacy,
    legacy_summaries,
    natural_order,
    order_fields,
    projection,
    restore,
    sort_records,
    stored_ids,
    summary_record,
)
from gnomon.query.predicate import evaluate
from gnomon.query.protocol import ArtifactInfo, LineageEdge, ResourceInfo, Series, SourceInfo
from gnomon.query.tree import Node, Path, atoms

__all__ = ["MongoRunStore"]

#: How long opening a store waits for the server before saying it is unreachable.
SERVER_SELECTION_TIMEOUT_MS = 3000
_SACRED_FORM = re.compile(r"^[\w.-]+:\d+:[\w.!:-]+$|^[\w-]+(\.[\w-]+)?(![-\d]+)?$")
_ORDERABLE = {
    "id", "experiment", "command", "recorded_status", "start_time", "stop_time", "heartbeat", "queue_time",
    "duration", "hostname", "comment", "result", "config", "info", "meta", "host", "metrics", "git",
}


def _masked(url: str) -> str:
    """The URL with its password replaced by ``***`` (the protocol's printable ``url``)."""
    return re.sub(r"^([\w+.-]+://[^/@:]*):[^/@]*@", r"\1:***@", url)


class MongoRunStore:
    """Reads runs stored by :class:`~gnomon.observers.MongoObserver` (or by Sacred) in one database."""

    def __init__(self, db: Any, *, url: str = "", collection_prefix: str = "", client: Any = None) -> None:
        import gridfs

        prefix = f"{collection_prefix}_" if collection_prefix else ""
        self.db = db
        self.url = url or f"mongodb:///{db.name}"
        self.runs = db[f"{prefix}runs"]
        self.metrics = db[f"{prefix}metrics"]
        self.files = db["fs.files"]
        self.fs = gridfs.GridFS(db)
        self._client = client

    @classmethod
    def from_url(cls, url: str) -> MongoRunStore:
        """Open ``mongodb://[user[:password]@]host[:port]/db`` or Sacred's ``host:port:db``; the server must answer."""
        try:
            import pymongo
        except ImportError:
            raise StoreError(
                f"reading {url!r} needs pymongo: pip install 'gnomon[mongo]'"
            ) from None
        from gnomon.observers.mongo.url import parse_mongo_url

        text = url.strip()
        if not text.startswith(("mongodb://", "mongodb+srv://")) and _SACRED_FORM.match(text):
            from gnomon.cli.values import mongo_option_to_url

            text = mongo_option_to_url(text)
        shown = _masked(text)
        try:
            target = parse_mongo_url(text)
        except Exception as error:  # noqa: BLE001 - each malformed URL fails its own way
            raise StoreError(f"cannot open the MongoDB store {shown!r}: {error}") from None
        options = {k.lower() for k in target.client_options}
        kwargs: dict[str, Any] = {}
        if "serverselectiontimeoutms" not in options:
            kwargs["serverSelectionTimeoutMS"] = SERVER_SELECTION_TIMEOUT_MS
        client: Any = pymongo.MongoClient(target.client_url, **kwargs)
        try:
            client.admin.command("ping")
        except Exception as error:  # noqa: BLE001 - any failure to reach the server is one line
            client.close()
            reason = str(error).split("\n")[0].split(", Timeout:")[0][:200]
            raise StoreError(
                f"cannot open the MongoDB store {shown!r}: the server does not answer ({type(error).__name__}: "
                f"{reason}). Start the server or fix host, port and credentials in the URL"
            ) from None
        return cls(client[target.db_name], url=shown, collection_prefix=target.collection_prefix, client=client)

    def __repr__(self) -> str:
        return f"MongoRunStore({self.url!r})"

    def _load(self, file_id: Any) -> Any:
        import bson

        return bson.decode(self.fs.get(file_id).read())["v"]

    # ------------------------------------------------------------ listing
    def supports(self, atom: Node) -> bool:
        """Atoms compiled exactly by :mod:`gnomon.observers.mongo.filters` (all but regexes, tags, notes, durations)."""
        return supports(atom)

    def supports_order(self, path: Path) -> bool:
        """Every path a record resolves, except the ones the query layer derives (tags, notes, status)."""
        if path[0] not in _ORDERABLE:
            return False
        if path[0] == "metrics":
            return len(path) == 3
        return path[0] in ("id", "duration") or len(path) == 1 or field_of(path) is not None

    def _records(
        self, query: dict[str, Any], fields: dict[str, int], roots: Iterable[str], **find: Any
    ) -> list[dict[str, Any]]:
        docs = list(self.runs.find(query, fields, **find))
        legacy = legacy_summaries(self.metrics, [d["_id"] for d in docs if is_legacy(d)])
        return [summary_record(d, roots, self._load, legacy) for d in docs]

    def summaries(
        self,
        where: Node | None,
        *,
        order_by: Sequence[tuple[Path, bool]] = (),
        limit: int | None = None,
        offset: int = 0,
        roots: frozenset[str] = frozenset(),
    ) -> list[dict[str, Any]]:
        """SummaryRecords of the matching runs: one ``find``, plus one query for runs stored by Sacred."""
        roots = frozenset(r for r in roots if r in ROOT_FIELDS)
        sure, maybe = compile_filter(where)
        paging = limit is not None or offset > 0
        if sure is not maybe and paging and self.runs.count_documents({"$and": [maybe, {"$nor": [sure]}]}) == 0:
            maybe = sure  # no run is in doubt: the exact query may page on the server
        if sure is not maybe:
            # Runs in doubt (tagged values, Sacred's metrics) are settled on their records.
            needed = roots | {a.path[0] for a in atoms(where) if hasattr(a, "path") and a.path[0] in ROOT_FIELDS}  # type: ignore[arg-type]
            records = [r for r in self._records(maybe, projection(needed), needed) if evaluate(where, r)]
            records = sort_records(records, order_by) if order_by else records
            records = records[offset:] if limit is None else records[offset : offset + limit]
            for r in records:
                for root in needed - roots:
                    r.pop(root, None)
            return records
        if not order_by:
            find: dict[str, Any] = {}
            if paging:
                find = {"sort": [("_id", 1)], "skip": offset, "limit": limit or 0}
            return self._records(sure, projection(roots), roots, **find)
        if not paging:
            return sort_records(self._records(sure, projection(roots), roots), order_by)
        # Sort on the few fields the order needs, then read the page's records whole.
        fields, order_roots = order_fields(p for p, _ in order_by)
        keys = sort_records(self._records(sure, projection(order_roots, fields), order_roots), order_by)
        page = [r["run_id"] for r in (keys[offset:] if limit is None else keys[offset : offset + limit])]
        found = {r["run_id"]: r for r in self._records({"_id": {"$in": stored_ids(page)}}, projection(roots), roots)}
        return [found[i] for i in page if i in found]

    def count(self, where: Node | None) -> int:
        """How many runs match: a server-side count, plus the runs in doubt settled on their records."""
        sure, maybe = compile_filter(where)
        total = int(self.runs.count_documents(sure))
        if sure is not maybe:
            needed = {a.path[0] for a in atoms(where) if hasattr(a, "path") and a.path[0] in ROOT_FIELDS}  # type: ignore[arg-type]
            doubt = self._records({"$and": [maybe, {"$nor": [sure]}]}, projection(needed), needed)
            total += sum(1 for r in doubt if evaluate(where, r))
        return total

    # ------------------------------------------------------------ one run
    def _doc(self, run_id: str, fields: dict[str, Any] | None = None) -> dict[str, Any]:
        doc = self.runs.find_one({"_id": {"$in": stored_ids([run_id])}}, fields)
        if doc is None:
            raise RunNotFoundError(f"no run with id {str(run_id)!r} in {self.url} (collection {self.runs.name})")
        return dict(doc)

    def run(self, run_id: str) -> dict[str, Any]:
        """The RunRecord of one run: two queries (the document, then its files' digests)."""
        doc = self._doc(run_id, {"captured_out": 0})
        legacy = legacy_summaries(self.metrics, [doc["_id"]]) if is_legacy(doc) else None
        record = summary_record(doc, ROOT_FIELDS, self._load, legacy)
        artifacts = [a for a in doc.get("artifacts") or () if isinstance(a, dict)]
        resources = [r for r in doc.get("resources") or () if isinstance(r, list | tuple) and len(r) == 2]
        experiment = doc.get("experiment") or {}
        sources = [s for s in experiment.get("sources") or () if isinstance(s, list | tuple) and len(s) == 2]
        ids = [a.get("file_id") for a in artifacts] + [r[1] for r in resources] + [s[1] for s in sources]
        files = {
            f["_id"]: f
            for f in self.files.find(
                {"_id": {"$in": [i for i in ids if i is not None]}},
                {"length": 1, "sha256": 1, "contentType": 1, "metadata": 1},
            )
        }

        def digest(file_id: Any) -> str | None:
            return (files.get(file_id) or {}).get("sha256")

        def artifact(entry: dict[str, Any]) -> ArtifactInfo:
            stored = files.get(entry.get("file_id")) or {}
            metadata = dict(stored.get("metadata") or {})
            content_type = stored.get("contentType") or metadata.get("content-type")
            if metadata.get("content-type") == content_type:
                metadata.pop("content-type", None)
            name = str(entry.get("name"))
            return ArtifactInfo(name, stored.get("length"), stored.get("sha256"), content_type, metadata)

        record.update(
            fail_trace=list(doc["fail_trace"]) if isinstance(doc.get("fail_trace"), list) else None,
            artifacts=[artifact(a) for a in artifacts],
            resources=[ResourceInfo(str(r[0]), digest(r[1])) for r in resources],
            sources=[SourceInfo(str(s[0]), digest(s[1])) for s in sources],
            experiment_info=restore(experiment, self._load),
        )
        return record

    def series(
        self, run_ids: Sequence[str], names: Sequence[str] | None = None, *, steps: tuple[int, int] | None = None
    ) -> list[Series]:
        """Every point of the named metrics of these runs: one query, documents of a metric joined in order."""
        from bson.codec_options import CodecOptions, DatetimeConversion

        query: dict[str, Any] = {"run_id": {"$in": stored_ids(run_ids)}}
        if names is not None:
            query["name"] = {"$in": list(names)}
        metrics = self.metrics.with_options(
            codec_options=CodecOptions(datetime_conversion=DatetimeConversion.DATETIME_MS)
        )
        fields = {"run_id": 1, "name": 1, "part": 1, "steps": 1, "values": 1, "timestamps": 1}
        grouped: dict[tuple[str, str], list[tuple[int, Any, dict[str, Any]]]] = {}
        for doc in metrics.find(query, fields):
            key = (str(doc["run_id"]), str(doc.get("name")))
            grouped.setdefault(key, []).append((int(doc.get("part", 0)), doc["_id"], doc))
        result = []
        for (run_id, name), docs in sorted(grouped.items(), key=lambda kv: (natural_order(kv[0][0]), kv[0][1])):
            xs: list[int] = []
            ys: list[float] = []
            ts: list[float] = []
            for _part, _id, doc in sorted(docs, key=lambda d: (d[0], d[1])):
                n = min(len(doc.get("steps") or ()), len(doc.get("values") or ()), len(doc.get("timestamps") or ()))
                xs.extend(doc["steps"][:n])
                ys.extend(float(v) for v in doc["values"][:n])
                ts.extend(to_posix(t) if isinstance(t, int | float) else int(t) / 1000 for t in doc["timestamps"][:n])
            if steps is not None:
                keep = [i for i, x in enumerate(xs) if steps[0] <= x <= steps[1]]
                xs, ys, ts = [xs[i] for i in keep], [ys[i] for i in keep], [ts[i] for i in keep]
            if any(a > b for a, b in pairwise(xs)):
                order = sorted(range(len(xs)), key=xs.__getitem__)  # stable: ties stay in logged order
                xs, ys, ts = [xs[i] for i in order], [ys[i] for i in order], [ts[i] for i in order]
            result.append(Series(run_id, name, xs, ys, ts))
        return result

    # ------------------------------------------------------------ output and files
    def _output_file(self, run_id: str) -> tuple[Any, str]:
        doc = self._doc(run_id, {"gnomon.output_file": 1, "captured_out": 1})
        return (doc.get("gnomon") or {}).get("output_file"), str(doc.get("captured_out") or "")

    def output(self, run_id: str, offset: int = 0, limit: int | None = None) -> str:
        """Output from character ``offset``: the GridFS file gnomon appends to (``captured_out`` for Sacred's runs)."""
        file_id, captured = self._output_file(run_id)
        if file_id is None:
            return captured[offset:] if limit is None else captured[offset : offset + limit]
        # As far as it was committed: a run killed mid-write reads back, see mongo/output.py.
        return read_output(self.db, "fs", file_id, offset, limit)

    def output_length(self, run_id: str) -> int:
        """Characters of output stored (the GridFS file's recorded count, without reading it)."""
        file_id, captured = self._output_file(run_id)
        if file_id is None:
            return len(captured)
        return output_chars(self.db, "fs", file_id)

    def open_artifact(self, run_id: str, name: str) -> IO[bytes]:
        """A GridFS stream of the artifact (the last stored under ``name``), read chunk by chunk."""
        doc = self._doc(run_id, {"artifacts": 1})
        matches = [a for a in doc.get("artifacts") or () if isinstance(a, dict) and a.get("name") == name]
        if not matches:
            raise KeyError(f"run {run_id!r} in {self.url} has no artifact named {name!r}")
        return open_stream(self.db, matches[-1]["file_id"])

    def open_source(self, run_id: str, path: str) -> IO[bytes]:
        """A GridFS stream of one source of the run's experiment (Sacred's ``[[path, file id]]``)."""
        doc = self._doc(run_id, {"experiment.sources": 1})
        pairs = [
            s for s in (doc.get("experiment") or {}).get("sources") or ()
            if isinstance(s, list | tuple) and len(s) == 2 and s[0] == path
        ]
        if not pairs:
            raise KeyError(f"run {run_id!r} in {self.url} has no source {path!r}")
        try:
            if pairs[0][1] is not None:
                return open_stream(self.db, pairs[0][1])
        except KeyError:
            pass
        raise KeyError(f"the content of source {path!r} of run {run_id!r} in {self.url} was not stored")

    def set_annotations(self, run_id: str, *, tags: Sequence[str] | None = None, notes: str | None = None) -> None:
        """``$set`` Omniboard's ``omniboard.tags``/``omniboard.notes``; nothing else in the document changes."""
        fields: dict[str, Any] = {}
        if tags is not None:
            fields["omniboard.tags"] = [str(t) for t in tags]
        if notes is not None:
            fields["omniboard.notes"] = str(notes)
        if not fields:
            self._doc(run_id, {"_id": 1})
            return
        if self.runs.update_one({"_id": {"$in": stored_ids([run_id])}}, {"$set": fields}).matched_count == 0:
            raise RunNotFoundError(f"no run with id {str(run_id)!r} in {self.url} (collection {self.runs.name})")

    # ------------------------------------------------------------ lineage
    def _digests(self, file_ids: Iterable[Any]) -> dict[Any, tuple[str, str]]:
        """``file id -> (field, digest)``: GridFS' sha256 (gnomon), else the md5 older GridFS wrote (Sacred)."""
        found = {}
        for f in self.files.find({"_id": {"$in": list(file_ids)}}, {"sha256": 1, "md5": 1}):
            if f.get("sha256"):
                found[f["_id"]] = ("sha256", f["sha256"])
            elif f.get("md5"):
                found[f["_id"]] = ("md5", f["md5"])
        return found

    def _same_content(self, digests: Iterable[tuple[str, str]], artifacts: bool) -> dict[Any, tuple[str, str]]:
        """Files with one of these digests: artifacts (``artifact://`` names) or the others (resources)."""
        by_field: dict[str, list[str]] = {}
        for key, value in set(digests):
            by_field.setdefault(key, []).append(value)
        if not by_field:
            return {}
        named = {"$regex": "^artifact://"} if artifacts else {"$not": {"$regex": "^artifact://"}}
        query = {"$or": [{key: {"$in": values}} for key, values in by_field.items()], "filename": named}
        found = {}
        for f in self.files.find(query, {"sha256": 1, "md5": 1}):
            key = "sha256" if f.get("sha256") and "sha256" in by_field else "md5"
            found[f["_id"]] = (key, f[key])
        return found

    def lineage_edges(self, run_ids: Sequence[str], *, upstream: bool, downstream: bool) -> list[LineageEdge]:
        """Edges by content digest: a resource of B whose GridFS file has the digest of A's artifact file."""
        edges: dict[tuple[str, str, str, str], LineageEdge] = {}
        ids = stored_ids(run_ids)
        if upstream:
            docs = list(self.runs.find({"_id": {"$in": ids}}, {"resources": 1}))
            pairs = [(str(d["_id"]), r) for d in docs for r in d.get("resources") or () if len(r) == 2]
            own = self._digests(r[1] for _, r in pairs)
            produced = self._same_content(own.values(), artifacts=True)
            by_digest = self._artifacts_by_digest(produced)
            for target, (path, file_id) in pairs:
                digest = own.get(file_id)
                if digest is None:
                    continue
                for source, name in by_digest.get(digest, ()):
                    edges[(source, name, target, str(path))] = LineageEdge(source, name, target, str(path), digest[1])
        if downstream:
            docs = list(self.runs.find({"_id": {"$in": ids}}, {"artifacts": 1}))
            made = [(str(d["_id"]), a) for d in docs for a in d.get("artifacts") or () if isinstance(a, dict)]
            own = self._digests(a.get("file_id") for _, a in made)
            read = self._same_content(own.values(), artifacts=False)
            reading = {"resources": {"$elemMatch": {"$elemMatch": {"$in": list(read)}}}}
            readers = self.runs.find(reading, {"resources": 1}) if read else []
            for doc in readers:
                for path, file_id in (r for r in doc.get("resources") or () if len(r) == 2):
                    for source, entry in made:
                        digest = own.get(entry.get("file_id"))
                        if digest and read.get(file_id) == digest:
                            key = (source, str(entry.get("name")), str(doc["_id"]), str(path))
                            edges[key] = LineageEdge(*key, digest[1])
        return [e for e in edges.values() if e.source != e.target]

    def _artifacts_by_digest(self, files: dict[Any, tuple[str, str]]) -> dict[tuple[str, str], list[tuple[str, str]]]:
        """``digest -> [(run id, artifact name)]`` for these artifact files, from the runs that list them."""
        found: dict[tuple[str, str], list[tuple[str, str]]] = {}
        if not files:
            return found
        for doc in self.runs.find({"artifacts.file_id": {"$in": list(files)}}, {"artifacts": 1}):
            for entry in doc.get("artifacts") or ():
                digest = files.get(entry.get("file_id")) if isinstance(entry, dict) else None
                if digest:
                    found.setdefault(digest, []).append((str(doc["_id"]), str(entry.get("name"))))
        return found

    def close(self) -> None:
        """Close the client this store opened (a database passed in stays open)."""
        if self._client is not None:
            self._client.close()
            self._client = None
