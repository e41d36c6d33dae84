"""Artifacts a run staged but may never have handed over: a journal beside the snapshots.

``add_artifact`` returns once the file is copied into the spool's staging folder;
its observers store it later, on their own threads. A run killed outright in
between (SIGKILL, the machine's out-of-memory killer) would lose the event that
names the snapshot, and with it the artifact. So the run appends each artifact
event to a journal in its staging folder (``.artifacts.jsonl``: per line the
event and, per observer, its key, URL and run id): one ``write`` to a file opened
once per run -- no file created per artifact, no database transaction, no fsync
(the page cache outlives the process) -- so the call stays about as cheap as the
copy itself.

While the run lives it holds an exclusive ``flock`` on that journal; the kernel
drops the lock when the process dies, however it dies. When the run ends
normally the journal is removed (the observers took the events, or the spool
holds them). ``gnomon sync`` moves the journal of every run whose lock is free
into the spool, where its events are delivered like any other spooled event;
stores keep an artifact once per run and name, so an artifact delivered both
before the kill and again by sync is stored once.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from gnomon.errors import SpoolError
from gnomon.events import ArtifactEvent, Event, event_from_dict, event_to_dict

if TYPE_CHECKING:
    from gnomon.spool import Spool

__all__ = ["JOURNAL", "hold", "note", "recover", "release"]

log = logging.getLogger("gnomon.spool")

JOURNAL = ".artifacts.jsonl"


def hold(staging: str) -> int | None:
    """Open (and lock, where flock exists) the journal of a live run's artifacts; its descriptor."""
    try:
        fd = os.open(os.path.join(staging, JOURNAL), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    except OSError as error:
        log.debug("Could not open the artifact journal in %s: %s", staging, error)
        return None
    try:
        import fcntl
    except ImportError:  # no flock (Windows): the journal is kept but never taken as a dead run's
        return fd
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def note(fd: int, event: ArtifactEvent, observers: Sequence[tuple[str, str | None, str | None]]) -> None:
    """Append an artifact event to the journal: ``(key, url, run id)`` per observer, one line, one write."""
    line = orjson.dumps({"event": event_to_dict(event), "observers": [list(o) for o in observers]}, default=str)
    os.write(fd, line + b"\n")


def release(staging: Path, fd: int | None) -> None:
    """The run ended normally: its journal is no longer needed, and its lock goes with it."""
    with contextlib.suppress(OSError):
        os.unlink(staging / JOURNAL)
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)


def _dead(journal: Path) -> bool:
    """Whether no live process holds the run's lock (taken, then let go at once)."""
    try:
        import fcntl
    except ImportError:
        return False
    try:
        fd = os.open(journal, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    finally:
        os.close(fd)
    return True


def _entries(journal: Path) -> Iterator[tuple[Event, list[Any]]]:
    """The complete, readable lines of a journal (a line torn by the kill is skipped)."""
    for raw in journal.read_bytes().splitlines(keepends=True):
        if not raw.endswith(b"\n"):
            break
        try:
            data = orjson.loads(raw)
            yield event_from_dict(data["event"]), list(data["observers"])
        except (ValueError, KeyError, TypeError) as error:
            log.warning("Skipping an unreadable line of the artifact journal %s: %s", journal, error)


def recover(spool: Spool) -> int:
    """Move the journals of runs that died into the spool; how many events were added."""
    root = spool.directory / "staging"
    try:
        journals = [Path(entry.path) / JOURNAL for entry in os.scandir(root) if entry.is_dir()]
    except OSError:
        return 0
    added = 0
    for journal in journals:
        if not journal.exists() or not _dead(journal):
            continue
        try:
            for event, observers in _entries(journal):
                for key, url, run_id in observers:
                    added += spool.write(journal.parent.name, key, url, run_id, [event])
        except (OSError, SpoolError) as error:  # the journal stays for the next sync
            log.warning("Could not move the artifact journal %s into the spool: %s", journal, error)
            continue
        with contextlib.suppress(OSError):
            journal.unlink()
    return added
