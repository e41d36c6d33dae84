"""Run folders: which one a start event gets, and which observer of this process writes it.

A run's folder is named by its id: a new number (allocated safely among
concurrent processes, see :mod:`.layout`), the id the run was given, or one
another observer suggested. A start delivered again (a retry, ``gnomon sync``)
finds its own folder by the ``run.json`` inside. Two observers of one process
pointed at the same storage folder (Sacred's bug #22) would write each run twice:
the first to claim a run folder writes it, the other leaves it alone.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import weakref
from pathlib import Path
from typing import Any

from gnomon.events import QueuedEvent, StartedEvent
from gnomon.observers.file.layout import allocate_run_dir, iso, read_json, validate_run_id

__all__ = ["claim", "open_run_dir", "release", "same_run"]

# Run folders that an observer of this process is writing, so a second observer
# pointed at the same folder (Sacred bug #22) stays out of its way.
_CLAIMS: weakref.WeakValueDictionary[str, Any] = weakref.WeakValueDictionary()
_CLAIMS_LOCK = threading.Lock()


def claim(owner: object, path: Path) -> bool:
    """Take a run folder for ``owner``; False when another observer of this process writes it."""
    key = os.path.realpath(path)
    with _CLAIMS_LOCK:
        holder = _CLAIMS.get(key)
        if holder is not None and holder is not owner:
            return False
        _CLAIMS[key] = owner
        return True


def release(owner: object, path: Path) -> None:
    """Give a run folder up (the run ended or the observer closed)."""
    key = os.path.realpath(path)
    with _CLAIMS_LOCK:
        if _CLAIMS.get(key) is owner:
            del _CLAIMS[key]


def same_run(existing: dict[str, Any], event: StartedEvent | QueuedEvent) -> bool:
    """Whether a run.json found in a run's folder records the run of ``event``.

    The run's ``run_uid`` decides when both have one; runs stored without it are
    recognised by their start (or queue) time and command.
    """
    stored_uid = (existing.get("meta") or {}).get("run_uid")
    if stored_uid is not None and event.run_uid is not None:
        return bool(stored_uid == event.run_uid)
    if existing.get("command") != event.command:
        return False
    if event.kind == "queued":
        return bool((existing.get("meta") or {}).get("queue_time") == iso(event.time))
    return bool(existing.get("start_time") == iso(event.time))


def open_run_dir(
    base: Path, event: StartedEvent | QueuedEvent, own_ids: dict[str, str]
) -> tuple[str, Path, dict[str, Any] | None]:
    """Create the run's folder; return ``(id, path, run.json already there or None)``.

    An id another observer chose (``id_suggested``) that names a folder of
    another run here is not an error: the run gets a new numeric folder, which
    ``own_ids`` (run_uid -> id) remembers for the start's redeliveries.
    """
    if event.run_id is None:
        new_id, path = allocate_run_dir(base)
        return new_id, path, None
    if event.id_suggested and event.run_uid in own_ids:  # delivered again
        event = dataclasses.replace(event, run_id=own_ids[event.run_uid], id_suggested=False)
    run_id = validate_run_id(str(event.run_id))
    path = base / run_id
    base.mkdir(parents=True, exist_ok=True)
    try:
        os.mkdir(path)
    except FileExistsError:
        try:
            existing = read_json(path / "run.json")
        except FileNotFoundError:
            if not event.id_suggested:
                return run_id, path, None  # created but never written: ours to fill
            existing = None  # another process may be about to fill it
        if event.id_suggested and (existing is None or not same_run(existing, event)):
            new_id, path = allocate_run_dir(base)
            if event.run_uid is not None:
                own_ids[event.run_uid] = new_id
            return new_id, path, None
        return run_id, path, existing
    return run_id, path, None
