"""A run folder's JSON files as the canonical records of the query API, through the form the index keeps.

The index (:mod:`.index`) stores, per run, the summary fields still in their
stored form (``config``, ``result``, ``info``, ``meta`` and ``host`` encoded as
:mod:`gnomon.serialize` wrote them, times as aware ISO strings) as one orjson
blob, so that reading 10,000 runs back is one ``orjson.loads`` each and a
:func:`gnomon.serialize.decode` only for the runs whose files hold tagged values.
Decoded values (numpy arrays, pandas objects) could not be stored as JSON anyway.

Files written by Sacred may hold bare ``NaN``/``Infinity`` tokens (``json.dump``'s
default) that strict parsers refuse: they are read with the standard library and
encoded the way gnomon stores such values, so they decode to the same floats.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from gnomon.serialize import decode, describe, encode

__all__ = [
    "DECODE_CONFIG",
    "DECODE_INFO",
    "DECODE_RUN",
    "NotARunError",
    "digest_prefix",
    "load_json",
    "record_from_row",
    "row_from_files",
]

#: Bits of the index's ``decode`` column: which stored parts hold tagged values.
DECODE_CONFIG, DECODE_RUN, DECODE_INFO = 1, 2, 4
_TYPE_MARK = b'"__type__"'
_TIME_KEYS = ("start_time", "stop_time", "heartbeat", "queue_time")
_HEX32 = re.compile(r"[0-9a-f]{32}")
_STORED_NAME = re.compile(r"_([0-9a-f]{32})$")


class NotARunError(ValueError):
    """A folder's files do not describe a run (unreadable JSON, or JSON of another shape)."""


def load_json(data: bytes, what: str) -> tuple[Any, bool]:
    """Parse a stored JSON file: ``(value in its stored form, whether it holds tagged values)``."""
    try:
        return orjson.loads(data), _TYPE_MARK in data
    except orjson.JSONDecodeError:
        pass
    try:  # Sacred's json.dump wrote NaN and Infinity as bare tokens
        value = json.loads(data)
    except (ValueError, RecursionError) as error:
        raise NotARunError(f"{what} is not valid JSON ({error})") from None
    return encode(value, fallback=describe), True


def _jsonpickled_datetime(value: Mapping[str, Any]) -> datetime | None:
    """A datetime Sacred stored through jsonpickle (queued runs' ``queue_time``), read without unpickling.

    jsonpickle keeps ``datetime.__reduce__()``: the type and the 10 bytes of its
    state (year as two bytes, month, day, hour, minute, second, microseconds as three).
    """
    reduce = value.get("__reduce__")
    if value.get("py/object") != "datetime.datetime" or not isinstance(reduce, list) or len(reduce) != 2:
        return None
    state = reduce[1]
    if not isinstance(state, list) or not state or not isinstance(state[0], str):
        return None
    try:
        raw = base64.b64decode(state[0], validate=True)
        if len(raw) != 10:
            return None
        return datetime(raw[0] * 256 + raw[1], raw[2], raw[3], raw[4], raw[5], raw[6], int.from_bytes(raw[7:10], "big"))
    except (ValueError, binascii.Error):
        return None


def _aware_iso(value: Any) -> str | None:
    """A stored time (naive UTC ISO text, as Sacred writes it) as aware ISO text; None if it is not one."""
    if isinstance(value, Mapping):
        time = _jsonpickled_datetime(value)
        return None if time is None else time.replace(tzinfo=UTC).isoformat()
    if not isinstance(value, str):
        return None
    try:
        time = datetime.fromisoformat(value)
    except ValueError:
        return None
    time = time.replace(tzinfo=UTC) if time.tzinfo is None else time.astimezone(UTC)
    return time.isoformat()


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def digest_prefix(stored: Any) -> str | None:
    """The content digest prefix in a stored copy's name (``<stem>_<32 hex><ext>``), or None."""
    if not isinstance(stored, str) or not stored:
        return None
    stem = os.path.splitext(os.path.basename(stored))[0]
    found = _STORED_NAME.search(stem)
    return found.group(1) if found else None


def source_pairs(experiment: Mapping[str, Any]) -> list[tuple[str, str | None]]:
    """``(path, digest)`` per source of a stored experiment block (gnomon's and Sacred's shapes)."""
    pairs: list[tuple[str, str | None]] = []
    for item in experiment.get("sources") or ():
        if isinstance(item, Mapping):  # Sacred's queued runs: jsonpickle's {"py/tuple": [...]}
            item = item.get("py/tuple")
        if not isinstance(item, list | tuple) or not item or not isinstance(item[0], str):
            continue
        second = item[1] if len(item) > 1 else None
        if isinstance(second, str) and _HEX32.fullmatch(second[:32]) and "/" not in second:
            pairs.append((item[0], second))
        else:
            pairs.append((item[0], digest_prefix(second)))
    return pairs


def row_from_files(
    run_bytes: bytes, config_bytes: bytes | None, info_bytes: bytes | None
) -> tuple[bytes, int, bytes, bytes]:
    """What the index keeps of a run: ``(record blob, decode bits, roots blob, links blob)``.

    Raises :class:`NotARunError` when run.json is not a run's record (no status).
    """
    run, tagged = load_json(run_bytes, "run.json")
    if not isinstance(run, dict) or not isinstance(run.get("status"), str):
        raise NotARunError("run.json holds no run (no 'status' string)")
    bits = DECODE_RUN if tagged else 0
    config: Any = {}
    if config_bytes is not None:
        config, tagged = load_json(config_bytes, "config.json")
        if not isinstance(config, dict):
            raise NotARunError("config.json is not a JSON object")
        bits |= DECODE_CONFIG if tagged else 0
    info: Any = {}
    if info_bytes is not None:
        info, tagged = load_json(info_bytes, "info.json")
        if not isinstance(info, dict):
            raise NotARunError("info.json is not a JSON object")
        bits |= DECODE_INFO if tagged else 0
    experiment = _dict(run.get("experiment"))
    meta = _dict(run.get("meta"))
    host = _dict(run.get("host"))
    repositories = experiment.get("repositories")
    first = repositories[0] if isinstance(repositories, list) and repositories else None
    git = None
    if isinstance(first, dict):
        dirty = first.get("dirty")
        git = {"commit": first.get("commit"), "dirty": dirty if isinstance(dirty, bool) else None}
    pid = meta.get("pid")
    name = experiment.get("name")
    command = run.get("command")
    hostname = host.get("hostname")
    comment = meta.get("comment")
    record = {
        "experiment": name if isinstance(name, str) else None,
        "command": command if isinstance(command, str) else None,
        "recorded_status": run["status"],
        "start_time": _aware_iso(run.get("start_time")),
        "stop_time": _aware_iso(run.get("stop_time")),
        "heartbeat": _aware_iso(run.get("heartbeat")),
        "queue_time": _aware_iso(meta.get("queue_time")),
        "hostname": hostname if isinstance(hostname, str) else None,
        "comment": comment if isinstance(comment, str) else None,
        "result": run.get("result"),
        "config": config,
        "git": git,
        "beat_interval": _number(meta.get("beat_interval")),
        "pid": pid if isinstance(pid, int) and not isinstance(pid, bool) else None,
    }
    artifacts = [a for a in run.get("artifacts") or () if isinstance(a, str)]
    resources = [
        [r[0], r[1] if len(r) > 1 and isinstance(r[1], str) else None]
        for r in run.get("resources") or ()
        if isinstance(r, list) and r and isinstance(r[0], str)
    ]
    links = {"artifacts": artifacts, "resources": resources}
    return (
        orjson.dumps(record),
        bits,
        orjson.dumps({"info": info, "meta": meta, "host": host}),
        orjson.dumps(links),
    )


def _special(value: Any) -> Any:
    return float(value) if isinstance(value, str) else value


def metrics_from_blob(blob: bytes | None) -> dict[str, dict[str, Any]]:
    """Metric summaries as the index keeps them (NaN and infinities as strings) with floats again."""
    if not blob:
        return {}
    metrics: dict[str, dict[str, Any]] = orjson.loads(blob)
    if b'NaN"' in blob or b'Infinity"' in blob:
        for summary in metrics.values():
            summary["last"] = _special(summary["last"])
            summary["min"] = _special(summary["min"])
            summary["max"] = _special(summary["max"])
    return metrics


def record_from_row(
    run_id: str,
    blob: bytes,
    bits: int,
    metrics_blob: bytes | None,
    roots_blob: bytes | None,
    roots: frozenset[str],
    annotation: tuple[list[str] | None, str | None] | None,
) -> dict[str, Any]:
    """The canonical SummaryRecord of one index row (with the asked-for ``roots`` blocks)."""
    record: dict[str, Any] = orjson.loads(blob)
    record["run_id"] = run_id
    for key in _TIME_KEYS:
        text = record[key]
        if text is not None:
            record[key] = datetime.fromisoformat(text)
    if bits & DECODE_CONFIG:
        record["config"] = decode(record["config"])
    if bits & DECODE_RUN:
        record["result"] = decode(record["result"])
    record["metrics"] = metrics_from_blob(metrics_blob)
    tags, notes = annotation if annotation is not None else (None, None)
    record["tags"] = list(tags) if tags is not None else None
    record["notes"] = notes
    if roots and roots_blob is not None:
        blocks = orjson.loads(roots_blob)
        for root in roots:
            if root in blocks:
                value = blocks[root]
                tagged = bits & (DECODE_INFO if root == "info" else DECODE_RUN)
                record[root] = decode(value) if tagged else value
    return record
