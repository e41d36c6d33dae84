"""Whether a run that says RUNNING is still alive: ``DIED`` is derived on read, the same way for every store.

A process killed outright (SIGKILL, a lost node, an OOM kill) never records an
end, so its run stays ``RUNNING`` forever in every backend. A reader calls it
``DIED`` once its last sign of life (the heartbeat, or the start for a run killed
before its first beat) is older than ``died_after``: by default three beat
intervals of that run (recorded in ``meta.beat_interval``), and never less than
:data:`DEFAULT_DIED_AFTER` so a busy machine's late beat is not a death. Nothing
is written: the recorded status stays as the run left it (``recorded_status``).

A reader on the run's own host needs no wait: when the recorded process id is
gone from this machine, the run is ``DIED`` at once. (A reused process id can
only make a dead run look alive for the usual threshold, never the reverse.)
"""

from __future__ import annotations

import os
import platform
from collections.abc import Mapping
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from gnomon.query.tree import (
    And,
    Cmp,
    Const,
    Exists,
    In,
    LastSeenBefore,
    Node,
    Not,
    Or,
)

__all__ = ["DEFAULT_DIED_AFTER", "died_after_for", "effective_status", "rewrite_status"]

#: Seconds without a sign of life after which a RUNNING run is DIED, at the least (Omniboard's figure).
DEFAULT_DIED_AFTER = 120.0
_BEATS = 3


def died_after_for(record: Mapping[str, Any], died_after: float | None) -> float:
    """The silence, in seconds, after which this run counts as dead."""
    if died_after is not None:
        return died_after
    beat = record.get("beat_interval")
    if isinstance(beat, int | float) and not isinstance(beat, bool) and beat > 0:
        return max(DEFAULT_DIED_AFTER, _BEATS * float(beat))
    return DEFAULT_DIED_AFTER


@lru_cache(maxsize=1)
def _this_host() -> str:
    return platform.node()


def _process_gone(record: Mapping[str, Any]) -> bool:
    """Whether the run ran on this host under a process id that no longer exists here."""
    pid = record.get("pid")
    if type(pid) is not int or pid <= 0 or not record.get("hostname") or record["hostname"] != _this_host():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # it exists, under another user
        return False
    return False


def effective_status(record: Mapping[str, Any], now: datetime, died_after: float | None) -> str:
    """``DIED`` for a RUNNING run silent for too long or whose process is gone, else the recorded status."""
    status = record.get("recorded_status") or "UNKNOWN"
    if status != "RUNNING":
        return str(status)
    if _process_gone(record):
        return "DIED"
    seen = record.get("heartbeat") or record.get("start_time")
    if seen is None:
        return status
    silence = (now - seen).total_seconds()
    return "DIED" if silence > died_after_for(record, died_after) else status


def rewrite_status(node: Node, now: datetime, died_after: float | None) -> tuple[Node, frozenset[Node]]:
    """The tree with ``status`` atoms in terms of ``recorded_status`` and :class:`LastSeenBefore`.

    The second value holds the atoms a backend must not be given: the caller
    treats them as ones it cannot compile (relaxing them) and checks every record
    again in memory. Whether a RUNNING run died depends on what a backend cannot
    see (each run's own beat interval, whether its process still exists on this
    host), so the :class:`LastSeenBefore` atom is always among them; so are
    orderings, prefixes and patterns on ``status`` (``status < "F"``).
    """
    threshold = died_after if died_after is not None else DEFAULT_DIED_AFTER
    silent = LastSeenBefore(now - timedelta(seconds=threshold))
    approximate: set[Node] = {silent}
    running = Cmp(("recorded_status",), "eq", "RUNNING")

    def one(status: Any) -> Node:
        if status == "DIED":
            return And((running, silent))
        if status == "RUNNING":
            return And((running, Not(silent)))
        return Cmp(("recorded_status",), "eq", status)

    def walk(item: Node) -> Node:
        if isinstance(item, And):
            return And(tuple(walk(i) for i in item.items))
        if isinstance(item, Or):
            return Or(tuple(walk(i) for i in item.items))
        if isinstance(item, Not):
            return Not(walk(item.item))
        if isinstance(item, Const | LastSeenBefore) or item.path != ("status",):
            return item
        if isinstance(item, Cmp) and item.op == "eq":
            return Const(False) if item.value is None else one(item.value)
        if isinstance(item, In):
            return Or(tuple(Const(False) if v is None else one(v) for v in item.values))
        if isinstance(item, Exists):
            return Const(True)
        # Orderings, prefixes and patterns on the status: left to the in-memory check.
        approximate.add(item)
        return item

    return walk(node), frozenset(approximate)
