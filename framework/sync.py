"""Delivering the spool later: what ``gnomon sync`` does, as functions a program can call.

Each delivery (one run's events for one store) is replayed to an observer rebuilt
from the store's URL. What happens is told per delivery and counted the way a
person counts: runs by run, stores by store, events by event. Three outcomes:

* **delivered** — the store took everything;
* **pending** — the store is away (down, unreachable, not writable, no URL to
  rebuild it): the rest waits for the next sync, and other stores go on;
* **bad** — an entry cannot be read back, or the store rejects it for good: it is
  noted and stepped over, so it never holds back the rest; it stays in the spool
  until a later sync delivers it or the user discards it.

The exit status of ``gnomon sync`` is drawn from these (:data:`EXIT_CODES`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from gnomon.backlog import PendingDelivery, Selection, describe, kinds_text, store_key
from gnomon.redaction import redact_url
from gnomon.replay import one_line, replay
from gnomon.spool import BadEntry, Spool

__all__ = [
    "EXIT_BAD",
    "EXIT_CODES",
    "EXIT_OK",
    "EXIT_PENDING",
    "EXIT_SPOOL",
    "EXIT_USAGE",
    "Outcome",
    "SyncReport",
    "is_rejection",
    "pending",
    "retarget_problem",
    "sync",
]

EXIT_OK = 0
EXIT_PENDING = 1
EXIT_USAGE = 2
EXIT_BAD = 3
EXIT_SPOOL = 4

#: What each exit status of ``gnomon sync`` means (the help and the docs print this).
EXIT_CODES = {
    EXIT_OK: "everything selected was delivered (or discarded), or nothing waited",
    EXIT_PENDING: "some events wait still: a store could not be reached (try again later)",
    EXIT_USAGE: "the command line was wrong, or --discard was not confirmed with --yes",
    EXIT_BAD: "some entries are bad (unreadable, or rejected by their store): see --list",
    EXIT_SPOOL: "the spool itself cannot be read or written",
}

# Errors that say the store is away, by class name anywhere in the error's class
# hierarchy or its causes: the drivers are not imported here (SQLAlchemy, pymongo).
_AWAY = frozenset(
    {
        "OperationalError",  # SQL: server down, database missing, locked
        "InterfaceError",
        "DisconnectionError",
        "ConnectionFailure",  # pymongo: AutoReconnect, NetworkTimeout, ServerSelectionTimeoutError
        "ConfigurationError",
        "ExecutionTimeout",
        "WTimeoutError",
        "ServerUnreachable",  # an observer's own word for it
    }
)
# MongoDB's codes for a login that failed or lacks rights: the URL needs fixing, the data is fine.
_LOGIN_CODES = frozenset({13, 18})
# Errors that say the store rejects this event's data.
_REJECTED = frozenset(
    {"IntegrityError", "DataError", "InvalidDocument", "DocumentTooLarge", "WriteError", "SerializationError"}
)


def _chain(error: BaseException) -> list[BaseException]:
    """The error, what it was raised from or during, and the driver error SQLAlchemy wraps."""
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [error]
    while todo:
        current = todo.pop()
        if current is None or any(current is s for s in seen):
            continue
        seen.append(current)
        context = None if current.__suppress_context__ else current.__context__  # ``raise ... from None``
        wrapped = getattr(current, "orig", None)
        todo.extend((current.__cause__, context, wrapped if isinstance(wrapped, BaseException) else None))
    return seen


def is_rejection(error: BaseException) -> bool:
    """Whether an observer's error means its store rejects the event for good.

    An error of the connection or the file system — anywhere among its causes —
    means the store is away and the event waits. A data error of the driver, or a
    ``ValueError``/``TypeError``/``KeyError`` or ``ObserverError`` of the observer (a
    run its start never reached, an id another run holds), is a rejection. Anything
    else is taken to mean "away": waiting is never wrong, dropping is.
    """
    chain = _chain(error)
    for link in chain:
        names = {cls.__name__ for cls in type(link).__mro__}
        if isinstance(link, OSError) or names & _AWAY:
            return False
        if "OperationFailure" in names and getattr(link, "code", None) in _LOGIN_CODES:
            return False
    from gnomon.errors import ObserverError

    return any(
        isinstance(link, ValueError | TypeError | KeyError | ObserverError | UnicodeError)
        or {cls.__name__ for cls in type(link).__mro__} & _REJECTED
        for link in chain
    )


State = Literal["delivered", "pending", "bad", "would deliver"]


@dataclass
class Outcome:
    """What became of one delivery: one run's events for one store."""

    pending: PendingDelivery
    target: str | None
    state: State
    delivered: int = 0
    left: int = 0
    bad: list[BadEntry] = field(default_factory=list)
    reason: str = ""

    @property
    def target_label(self) -> str:
        """The store the events went (or would go) to, and the one they were meant for when it differs."""
        meant = self.pending.store
        target = redact_url(self.target) if self.target is not None else meant
        label = target or f"observer {self.pending.spooled.observer_key} (no URL)"
        if meant is not None and target is not None and store_key(target) != store_key(meant):
            label += f" (instead of {meant})"
        return label

    @property
    def message(self) -> str:
        """One line for a person: the run, the store, what happened and why."""
        head = f"{self.pending.describe_run()} -> {self.target_label}"
        if self.state == "would deliver":
            text = f"would deliver {_events(self.pending.events)} ({kinds_text(self.pending.spooled.kinds)})"
            if self.pending.spooled.bad:
                text += f"; {_entries(len(self.pending.spooled.bad))} failed before"
            return f"{head}: {text}"
        parts = [f"delivered {_events(self.delivered)}"]
        if self.left:
            parts.append(f"{_events(self.left)} left pending")
        if self.bad:
            parts.append(f"{_entries(len(self.bad))} set aside")
        text = f"{head}: {', '.join(parts)}"
        if self.reason:
            text += f": {self.reason}"
        return text


def _events(n: int) -> str:
    return f"{n} event{'s' if n != 1 else ''}"


def _entries(n: int) -> str:
    return f"{n} bad entr{'ies' if n != 1 else 'y'}"


@dataclass
class SyncReport:
    """What one ``gnomon sync`` did, delivery by delivery, and the counts a person reads."""

    outcomes: list[Outcome] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    dry_run: bool = False

    @property
    def runs(self) -> int:
        """How many runs had events to deliver (one run to two stores is one run)."""
        return len({o.pending.run_uid for o in self.outcomes})

    @property
    def stores(self) -> int:
        """How many stores events went (or would go) to."""
        return len(
            {
                store_key(o.target) if o.target is not None else (o.pending.run_uid, o.pending.spooled.observer_key)
                for o in self.outcomes
            }
        )

    @property
    def delivered(self) -> int:
        """Events the stores took."""
        return sum(o.delivered for o in self.outcomes)

    @property
    def left(self) -> int:
        """Events that still wait for a store that was away."""
        return sum(o.left for o in self.outcomes)

    @property
    def bad(self) -> int:
        """Entries set aside: unreadable, or rejected by their store."""
        return sum(len(o.bad) for o in self.outcomes)

    @property
    def failed(self) -> int:
        """Deliveries that did not complete (a store away, or bad entries)."""
        return sum(o.state in ("pending", "bad") for o in self.outcomes)

    @property
    def exit_code(self) -> int:
        """:data:`EXIT_BAD` when bad entries remain, else :data:`EXIT_PENDING` when events wait, else 0."""
        if any(o.state == "bad" for o in self.outcomes):
            return EXIT_BAD
        if any(o.state == "pending" for o in self.outcomes):
            return EXIT_PENDING
        return EXIT_OK

    @property
    def summary(self) -> str:
        """The last line a person reads: ``1 run to 2 stores: 10 events delivered, 0 left pending, 0 bad.``."""
        runs = f"{self.runs} run{'s' if self.runs != 1 else ''}"
        stores = f"{self.stores} store{'s' if self.stores != 1 else ''}"
        if self.dry_run:
            waiting = sum(o.pending.events for o in self.outcomes)
            return f"Dry run: would deliver {_events(waiting)} of {runs} to {stores}; nothing was delivered."
        return f"{runs} to {stores}: {_events(self.delivered)} delivered, {self.left} left pending, {self.bad} bad."


def pending(
    spool_dir: str | os.PathLike[str] | None = None, selection: Selection | None = None
) -> list[PendingDelivery]:
    """What waits in the spool (for ``selection``), named as the user knows it."""
    selection = selection or Selection()
    return [p for p in describe(Spool(spool_dir).deliveries()) if selection.matches(p)]


def retarget_problem(deliveries: Iterable[PendingDelivery]) -> str | None:
    """Why sending ``deliveries`` to one other store would be ambiguous, or None.

    A run that waits for two stores owes each its own events (one may have taken
    the start before it went down); sending both to one new store would mix them.
    """
    stores: dict[str, list[str]] = {}
    labels: dict[str, str] = {}
    for delivery in deliveries:
        stores.setdefault(delivery.run_uid, []).append(delivery.store or delivery.spooled.observer_key)
        labels[delivery.run_uid] = delivery.describe_run()
    for run_uid, names in stores.items():
        if len(names) > 1:
            return (
                f"{labels[run_uid]} waits for {len(names)} stores ({', '.join(names)}); "
                "add --store URL to say whose events go to the new store"
            )
    return None


def _observer_from_url(url: str) -> Any:
    from gnomon.observers.registry import observer_from_url

    return observer_from_url(url)


def sync(
    spool_dir: str | os.PathLike[str] | None = None,
    observer_url: str | None = None,
    dry_run: bool = False,
    observer_factory: Callable[[str | None, str], Any] | None = None,
    *,
    selection: Selection | None = None,
) -> SyncReport:
    """Deliver what waits in the spool (or the part ``selection`` names) to its stores.

    Each observer is rebuilt from the URL stored with its events; ``observer_url``
    sends the selected events to another store instead (a database that moved), and
    is refused (``ValueError``) when a selected run waits for more than one store.
    ``observer_factory`` ``(url, observer_key) -> observer`` lets tests and programs
    supply the observer. A store found away is not asked again in the same sync.
    """
    spool = Spool(spool_dir)
    deliveries = pending(spool_dir, selection)
    report = SyncReport(dry_run=dry_run)
    if observer_url is not None:
        problem = retarget_problem(deliveries)
        if problem is not None:
            raise ValueError(f"Cannot send to {redact_url(observer_url)}: {problem}")
    away: dict[str, str] = {}
    for delivery in deliveries:
        target = observer_url or delivery.spooled.observer_url
        if dry_run:
            outcome = Outcome(delivery, target, "would deliver")
        else:
            outcome = _deliver(spool, delivery, target, observer_factory, away)
        report.outcomes.append(outcome)
        report.messages.append(outcome.message)
    return report


def _deliver(
    spool: Spool,
    delivery: PendingDelivery,
    target: str | None,
    observer_factory: Callable[[str | None, str], Any] | None,
    away: dict[str, str],
) -> Outcome:
    key = store_key(target) if target is not None else None
    if key is not None and key in away:
        return Outcome(delivery, target, "pending", left=delivery.events, reason=f"not tried again: {away[key]}")
    from gnomon.observers.base import as_observer

    try:
        if observer_factory is not None:
            observer = observer_factory(target, delivery.spooled.observer_key)
        elif target is None:
            return Outcome(
                delivery,
                target,
                "pending",
                left=delivery.events,
                reason="the observer has no URL to rebuild it from; send its events to one with "
                "--observer URL (and --run or --store)",
            )
        else:
            observer = _observer_from_url(target)
        target_observer = as_observer(observer)
    except Exception as error:  # noqa: BLE001 - one store that cannot be opened must not stop the others
        reason = f"the store cannot be opened: {one_line(error)}"
        if key is not None:
            away[key] = reason
        return Outcome(delivery, target, "pending", left=delivery.events, reason=reason)
    try:
        replayed = replay(
            spool, delivery.run_uid, delivery.spooled.observer_key, target_observer, rejected=is_rejection
        )
    finally:
        with contextlib.suppress(Exception):  # closing a store that went away cannot fail the sync
            target_observer.close()
    outcome = Outcome(delivery, target, "delivered", delivered=replayed.delivered, left=replayed.left, bad=replayed.bad)
    if replayed.bad:
        outcome.state = "bad"
        first = replayed.bad[0]
        outcome.reason = f"event {first.seq} ({first.kind}) {first.problem}"
        if replayed.blocked:
            outcome.reason += "; the rest waits behind this start"
    if replayed.outage is not None:
        reason = f"the store is away: {one_line(replayed.outage)}"
        outcome.state = "bad" if replayed.bad else "pending"
        outcome.reason = f"{outcome.reason}; {reason}" if outcome.reason else reason
        if key is not None:
            away[key] = reason
    return outcome
