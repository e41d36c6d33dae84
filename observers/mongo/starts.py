"""The start of a run in MongoDB: the run document, and the run it may already be.

A start event can arrive twice (a retry after the connection broke, ``gnomon
sync`` of a spooled event): the document it was stored as is found by its
``gnomon.start_key`` (start time, command, host) and not stored again. A start
that names an id finds the queued run it starts, or another run under that id
(refused, or replaced with ``overwrite``). An id another observer suggested is
taken only when it is free here.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from gnomon.errors import ObserverError
from gnomon.events import QueuedEvent, StartedEvent, thaw
from gnomon.observers.mongo.documents import FORMAT, spill_large, to_bson
from gnomon.observers.mongo.files import FileStore
from gnomon.observers.mongo.run_state import doc_id_of
from gnomon.observers.mongo.url import scrub_credentials

__all__ = ["base_document", "existing_run", "own_number"]

_Start = TypeVar("_Start", StartedEvent, QueuedEvent)


def base_document(event: StartedEvent | QueuedEvent, store: FileStore) -> dict[str, Any]:
    """What a queued and a started run document share: experiment (sources stored), command, host, config, meta."""
    experiment = thaw(event.experiment)
    experiment["sources"] = store.sources(experiment)
    config = spill_large(to_bson(event.config), lambda k, v: store.value("new", f"config.{k}", v))
    return {
        "format": FORMAT,
        "experiment": to_bson(experiment),
        "command": event.command,
        "host": to_bson(event.host),
        "config": config,
        "meta": to_bson(scrub_credentials(thaw(event.meta))),
    }


def existing_run(
    db: Any, runs_name: str, metrics_name: str, event: StartedEvent | QueuedEvent, key: str, overwrite: Any
) -> dict[str, Any] | None:
    """The document this start event was already stored as, or the queued run it starts."""
    runs = db[runs_name]
    if event.run_id is None and overwrite is None:
        return runs.find_one({"gnomon.start_key": key}, {"status": 1, "gnomon": 1})  # type: ignore[no-any-return]
    doc_id = doc_id_of(event.run_id if event.run_id is not None else overwrite)
    doc = runs.find_one({"_id": doc_id}, {"status": 1, "gnomon": 1})
    if doc is None or (doc.get("gnomon") or {}).get("start_key") == key:
        return doc  # type: ignore[no-any-return]
    if doc.get("status") == "QUEUED" and event.kind == "started":
        return doc  # type: ignore[no-any-return]
    if overwrite is not None:
        runs.delete_one({"_id": doc_id})
        db[metrics_name].delete_many({"run_id": doc_id})
        return None
    raise ObserverError(
        f"{db.name}.{runs_name} already holds another run with _id {doc_id!r} "
        f"(status {doc.get('status')!r}); choose another id or remove that run"
    )


def own_number(runs: Any, event: _Start, key: str, overwrite: Any) -> _Start:
    """The event as this database records it: without another observer's id it cannot take."""
    if not event.id_suggested or overwrite is not None:
        return event
    doc = runs.find_one({"_id": doc_id_of(event.run_id)}, {"gnomon": 1})
    if doc is None or (doc.get("gnomon") or {}).get("start_key") == key:
        return event
    return dataclasses.replace(event, run_id=None, id_suggested=False)  # numbered here
