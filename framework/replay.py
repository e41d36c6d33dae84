"""Replaying one delivery from the spool: one run's events, in order, to one observer.

A store that is away stops the replay (the rest waits for the next sync); an entry
that cannot be read back, or that the store rejects for good, is noted in the
spool's ``problems`` table and stepped over, so one bad entry never holds back the
events after it. A bad start is the exception: no store can take a run's later
events without it, so they wait behind it.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from gnomon.events import event_from_dict
from gnomon.spool import BadEntry, Spool

__all__ = ["Replay", "one_line", "replay"]

_START_KINDS = ("started", "queued")


@dataclass
class Replay:
    """What one replay did: events delivered, left waiting, and set aside as bad.

    ``outage`` is the error that stopped it because the store is away; ``blocked``
    says that a bad start holds the run's other events back.
    """

    delivered: int = 0
    left: int = 0
    bad: list[BadEntry] = field(default_factory=list)
    outage: BaseException | None = None
    blocked: bool = False


def one_line(error: BaseException) -> str:
    """``OperationalError: connection refused``: an error on one line, without a driver's footnotes."""
    text = str(error).strip().split("\n", 1)[0].strip()
    if len(text) > 300:
        text = text[:299] + "…"
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def replay(
    spool: Spool,
    run_uid: str,
    observer_key: str,
    observer: Any,
    *,
    rejected: Callable[[BaseException], bool] = lambda error: False,
) -> Replay:
    """Deliver one run's events to ``observer`` in order, deleting each once accepted.

    ``rejected(error)`` says whether an error of the observer means the store
    rejects that event for good (it is noted as bad and stepped over) rather than
    that the store is away (the replay stops; the rest waits).
    """
    outcome = Replay()
    with spool.connect() as db:
        rows = list(
            db.execute(
                "SELECT id, seq, kind, observer_run_id, payload FROM events"
                " WHERE run_uid = ? AND observer_key = ? ORDER BY seq",
                (run_uid, observer_key),
            )
        )
        own_id = next((r[3] for r in rows if r[3] is not None), None)
        for index, (row_id, seq, kind, _, payload) in enumerate(rows):
            try:
                event = event_from_dict(orjson.loads(payload))
            except Exception as error:  # noqa: BLE001 - any way a row cannot be read makes it bad
                problem = f"cannot be read back: {one_line(error)}"
            else:
                if own_id is not None and event.run_id != own_id:
                    event = dataclasses.replace(event, run_id=own_id)
                try:
                    result = observer.handle(event)
                except Exception as error:  # noqa: BLE001 - sorted into "away" and "rejected"
                    if not rejected(error):
                        outcome.outage = error
                        outcome.left = len(rows) - index
                        break
                    problem = f"rejected by the store: {one_line(error)}"
                else:
                    if event.kind in _START_KINDS and result is not None:
                        own_id = str(result)
                        db.execute(
                            "UPDATE events SET observer_run_id = ? WHERE run_uid = ? AND observer_key = ?",
                            (own_id, run_uid, observer_key),
                        )
                    db.execute("DELETE FROM events WHERE id = ?", (row_id,))
                    db.execute("DELETE FROM problems WHERE event_id = ?", (row_id,))
                    outcome.delivered += 1
                    continue
            db.execute(
                "INSERT OR REPLACE INTO problems (event_id, problem, noted) VALUES (?, ?, ?)",
                (row_id, problem, time.time()),
            )
            outcome.bad.append(BadEntry(seq, kind, problem))
            if kind in _START_KINDS:
                outcome.blocked = True
                outcome.left = len(rows) - index - 1
                break
        flush = getattr(observer, "flush", None)
        if flush is not None and outcome.delivered:
            try:
                flush()
            except Exception as error:  # noqa: BLE001 - reported like any store that went away
                outcome.outage = outcome.outage or error
    spool.tidy(run_uid)
    return outcome
