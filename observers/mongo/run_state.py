"""What MongoObserver keeps per run it writes, and how it picks up a run it did not start.

A run's state (its output file and ``captured_out`` window, its metrics writer,
the ``info`` entries and result as stored) lives in memory while the run is
written; events of a run this process has not seen start (``gnomon sync`` in a new
process, a retry after the connection broke) resume it from what the database holds.
Heartbeats ``$set`` only the ``info`` entries and the result that changed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from gnomon.errors import ObserverError
from gnomon.events import thaw, utcnow
from gnomon.observers.mongo.documents import (
    CAPTURED_OUT_HEAD,
    CAPTURED_OUT_TAIL,
    OutputWindow,
    bson_date,
    bson_size,
    spill_large,
    to_bson,
)
from gnomon.observers.mongo.files import FileStore
from gnomon.observers.mongo.metrics import MetricsWriter
from gnomon.observers.mongo.output import OutputFile

__all__ = ["RunState", "doc_id_of", "info_changes", "result_update", "resume", "window_of"]

logger = logging.getLogger("gnomon.observers.mongo")


@dataclass
class RunState:
    """What the observer remembers about a run it is writing."""

    run_id: Any
    output: OutputFile
    window: OutputWindow
    metrics: MetricsWriter
    info: dict[str, Any] = field(default_factory=dict)  # BSON-ready entries as stored
    result: bytes | None = None
    pending: dict[str, Any] = field(default_factory=dict)  # $set fields not yet written
    stopped: bool = False


def doc_id_of(run_id: Any) -> Any:
    """Gnomon's string run id as the stored ``_id`` (digits are stored as integers)."""
    if isinstance(run_id, str) and run_id.isdigit():
        return int(run_id)
    return run_id


def encoded(value: Any) -> bytes:
    import bson

    return bson.encode({"v": value})


def window_of(output: OutputFile) -> OutputWindow:
    """The ``captured_out`` window of an output file (read back when resuming)."""
    head, tail = output.text_window(CAPTURED_OUT_HEAD, CAPTURED_OUT_TAIL) if output.chars else ("", "")
    note = f" file {output.file_id} (field gnomon.output_file)"
    return OutputWindow(head, tail, output.chars, file_note=note)


def resume(db: Any, db_name: str, runs_name: str, metrics_name: str, run_id: Any) -> RunState:
    """The state of a run whose start is stored, read back from the database."""
    doc_id = doc_id_of(run_id)
    doc = db[runs_name].find_one(
        {"_id": doc_id}, {"gnomon": 1, "captured_out": 1, "info": 1, "stop_time": 1, "result": 1}
    )
    if doc is None or not (doc.get("gnomon") or {}).get("output_file"):
        raise ObserverError(
            f"run {run_id!r} is not in {db_name}.{runs_name}: its started event was "
            "never stored there, so later events cannot be added (deliver the spool in order)"
        )
    output_id = doc["gnomon"]["output_file"]
    output = OutputFile.create(
        db, "fs", f"captured_out://{runs_name}/{doc_id}", doc_id, bson_date(utcnow()), output_id
    )
    info = dict(doc.get("info") or {})
    info.pop("metrics", None)
    state = RunState(
        run_id=doc_id, output=output,
        window=window_of(output),
        metrics=MetricsWriter.resume(db[metrics_name], db[runs_name], doc_id),
        info=info, result=encoded(doc.get("result")), stopped=doc.get("stop_time") is not None,
    )  # fmt: skip
    if state.window.text() != doc.get("captured_out"):
        state.pending["captured_out"] = state.window.text()
    return state


def info_changes(state: RunState, info: Any, store: FileStore) -> tuple[dict[str, Any], dict[str, Any]]:
    """``$set`` and ``$unset`` for the ``info`` entries that changed."""
    entries = to_bson(info)
    if "metrics" in entries:
        logger.warning(
            "run %s: info['metrics'] is where the metric documents are listed; your entry is stored "
            "as info['metrics_'] instead", state.run_id,
        )  # fmt: skip
        entries["metrics_"] = entries.pop("metrics")
    entries = spill_large(entries, lambda k, v: store.value(state.run_id, f"info.{k}", v))
    sets = {
        f"info.{k}": v for k, v in entries.items()
        if k not in state.info or encoded(state.info[k]) != encoded(v)
    }  # fmt: skip
    unsets = {f"info.{k}": "" for k in state.info if k not in entries}
    state.info = entries
    return sets, unsets


def result_update(state: RunState, result: Any, store: FileStore) -> dict[str, Any]:
    """``{"result": ...}`` when the result changed since it was last stored, else nothing."""
    value = to_bson(thaw(result))
    stored = encoded(value)
    if stored == state.result:
        return {}
    state.result = stored
    if bson_size(value) > 1024 * 1024:
        value = store.value(state.run_id, "result", value)
    return {"result": value}
