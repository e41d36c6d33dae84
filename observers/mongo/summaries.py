"""Run documents as the query API's canonical records (:mod:`gnomon.query.protocol`).

What the records need from a run document is read with one projection
(:func:`projection`): never ``captured_out``, the artifacts or the metric series.
Values come back as gnomon stored them: keys unescaped, tagged values decoded,
GridFS stand-ins loaded, times tz-aware UTC. Metric summaries come from the
``gnomon.metrics`` block the observer maintains; runs stored by Sacred itself have
none, and theirs are computed from their series, all such runs in one query
(:func:`legacy_summaries`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from gnomon import serialize
from gnomon.observers.mongo.documents import GRIDFS_TAG, escape_key, unescape_key
from gnomon.observers.mongo.metrics import fold_summary
from gnomon.query.predicate import MISSING, decimal_id, natural_key, resolve, sort_key
from gnomon.query.tree import METRIC_SUMMARIES, Path

__all__ = [
    "ROOT_FIELDS", "is_legacy", "legacy_summaries", "natural_order", "order_fields", "projection", "restore",
    "sort_records", "stored_ids", "summary_record",
]

_TYPE = serialize.TYPE_KEY
#: The fields a SummaryRecord is made of, besides the optional roots.
_BASE = (
    "experiment.name", "experiment.repositories", "command", "status", "start_time", "stop_time", "heartbeat",
    "host.hostname", "meta.comment", "meta.beat_interval", "meta.pid", "meta.queue_time", "result", "config",
    "omniboard", "gnomon.metrics", "info.metrics",
)
#: The optional roots and the stored field each one is.
ROOT_FIELDS = {"info": "info", "meta": "meta", "host": "host"}


def projection(roots: Iterable[str] = (), fields: Iterable[str] = _BASE) -> dict[str, int]:
    """A projection of ``fields`` plus whole ``roots``, without overlapping paths (MongoDB rejects those)."""
    wanted = {ROOT_FIELDS[r] for r in roots} | set(fields)
    kept = {f for f in wanted if not any(f != o and f.startswith(o + ".") for o in wanted)}
    return dict.fromkeys(sorted(kept), 1)


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def restore(value: Any, load: Callable[[Any], Any]) -> Any:
    """Stored data as gnomon knows it: keys unescaped, tags decoded, stand-ins loaded, times aware."""
    if isinstance(value, dict):
        if _TYPE in value:
            if value[_TYPE] == GRIDFS_TAG and "file_id" in value:
                return restore(load(value["file_id"]), load)
            return serialize.decode({k: restore(v, load) for k, v in value.items()})
        return {(unescape_key(k) if "%" in k else k): restore(v, load) for k, v in value.items()}
    if isinstance(value, list):
        return [restore(v, load) for v in value]
    if isinstance(value, datetime):
        return _aware(value)
    return value


def _time(value: Any) -> datetime | None:
    return _aware(value) if isinstance(value, datetime) else None


def _summaries(block: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(block, Mapping):
        return {}
    return {
        unescape_key(name): {s: summary.get(s) for s in METRIC_SUMMARIES}
        for name, summary in block.items()
        if isinstance(summary, Mapping)
    }


def is_legacy(doc: Mapping[str, Any]) -> bool:
    """A run whose metrics are listed but not summarised in its document (stored by Sacred)."""
    return not (doc.get("gnomon") or {}).get("metrics") and bool((doc.get("info") or {}).get("metrics"))


def summary_record(
    doc: Mapping[str, Any],
    roots: Iterable[str],
    load: Callable[[Any], Any],
    legacy: Mapping[Any, dict[str, dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    """The SummaryRecord of a document read with :func:`projection`; ``legacy`` has Sacred runs' summaries."""
    experiment = doc.get("experiment") or {}
    meta = doc.get("meta") or {}
    host = doc.get("host") or {}
    repositories = experiment.get("repositories") or []
    first = repositories[0] if repositories and isinstance(repositories[0], Mapping) else None
    omniboard = doc.get("omniboard")
    if not isinstance(omniboard, Mapping):
        omniboard = {}
    tags = omniboard.get("tags")
    notes = omniboard.get("notes")
    beat, pid = meta.get("beat_interval"), meta.get("pid")
    config = restore(doc.get("config"), load)
    record: dict[str, Any] = {
        "run_id": str(doc["_id"]),
        "experiment": experiment.get("name"),
        "command": doc.get("command"),
        "recorded_status": doc.get("status"),
        "start_time": _time(doc.get("start_time")),
        "stop_time": _time(doc.get("stop_time")),
        "heartbeat": _time(doc.get("heartbeat")),
        "queue_time": _time(meta.get("queue_time")),
        "hostname": host.get("hostname"),
        "comment": meta.get("comment"),
        "result": restore(doc.get("result"), load),
        "config": config if isinstance(config, dict) else {},
        "tags": [str(t) for t in tags] if isinstance(tags, list) else None,
        "notes": notes if isinstance(notes, str) else None,
        "git": None if first is None else {"commit": first.get("commit"), "dirty": first.get("dirty")},
        "beat_interval": float(beat) if isinstance(beat, int | float) and not isinstance(beat, bool) else None,
        "pid": pid if isinstance(pid, int) and not isinstance(pid, bool) else None,
        "metrics": _summaries((doc.get("gnomon") or {}).get("metrics")),
    }
    if not record["metrics"] and legacy and doc["_id"] in legacy:
        record["metrics"] = legacy[doc["_id"]]
    for root in roots:
        value = restore(doc.get(ROOT_FIELDS[root]), load) or {}
        if root == "info" and isinstance(value, dict):
            value.pop("metrics", None)
            if "metrics_" in value:
                value["metrics"] = value.pop("metrics_")
        record[root] = value if isinstance(value, dict) else {}
    return record


def legacy_summaries(metrics: Any, run_ids: list[Any]) -> dict[Any, dict[str, dict[str, Any]]]:
    """Metric summaries of runs stored without them, from their series: one query for all of them.

    Computed here rather than by an aggregation: the rules (NaN skipped by
    ``min``/``max``, ``last`` at the greatest step) need more than ``$group`` offers
    everywhere, and these runs are finished, so their series no longer grow.
    """
    if not run_ids:
        return {}
    parts: dict[tuple[Any, str], list[tuple[int, Any, Mapping[str, Any]]]] = {}
    fields = {"run_id": 1, "name": 1, "part": 1, "steps": 1, "values": 1}
    for doc in metrics.find({"run_id": {"$in": run_ids}}, fields):
        parts.setdefault((doc["run_id"], doc.get("name", "")), []).append((int(doc.get("part", 0)), doc["_id"], doc))
    result: dict[Any, dict[str, dict[str, Any]]] = {}
    for (run_id, name), docs in parts.items():
        steps: list[int] = []
        values: list[float] = []
        for _part, _id, doc in sorted(docs, key=lambda d: (d[0], d[1])):
            steps.extend(doc.get("steps") or ())
            values.extend(float(v) for v in doc.get("values") or ())
        summary = fold_summary(None, steps[: len(values)], values[: len(steps)])
        if summary is not None:
            result.setdefault(run_id, {})[name] = {s: summary[s] for s in METRIC_SUMMARIES}
    return result


def order_fields(paths: Iterable[Path]) -> tuple[set[str], set[str]]:
    """The stored fields and roots :func:`summary_record` needs to resolve these paths (to sort before paging)."""
    fields = {"command", "status", "start_time", "stop_time", "heartbeat", "experiment.name", "host.hostname",
              "meta.comment", "meta.queue_time"}
    roots: set[str] = set()
    for path in paths:
        root = path[0]
        if root in ROOT_FIELDS:
            roots.add(root)
        elif root in ("config", "result"):
            fields.add(root if len(path) == 1 else f"{root}.{escape_key(path[1])}")
        elif root == "metrics":
            fields |= {"gnomon.metrics", "info.metrics"}
        elif root == "git":
            fields.add("experiment.repositories")
    return fields, roots


natural_order = natural_key  # the query layer's order of run ids


def stored_ids(run_ids: Iterable[str]) -> list[Any]:
    """The stored ``_id`` values a run id may be (gnomon and Sacred store digits as integers)."""
    wanted: list[Any] = []
    for run_id in run_ids:
        text = str(run_id)
        wanted.extend([int(text), text] if decimal_id(text) and len(text) < 19 else [text])
    return wanted


def sort_records(records: list[dict[str, Any]], order_by: Sequence[tuple[Path, bool]]) -> list[dict[str, Any]]:
    """The query layer's order: by each path (missing and None last either way), ties by natural run id."""
    records = sorted(records, key=lambda r: natural_order(r["run_id"]))
    for path, descending in reversed(order_by):
        present = [r for r in records if resolve(r, path) not in (MISSING, None)]
        missing = [r for r in records if resolve(r, path) in (MISSING, None)]
        present.sort(key=lambda r, p=path: sort_key(resolve(r, p)), reverse=descending)  # type: ignore[misc]
        records = present + missing
    return records
