"""What waits in the spool, in the terms its user knows: run, experiment, store, age.

The spool keys its rows by the run's uid and an observer key, which no person ever
saw. A person knows a run by the id it was given when it started (``Started run
with ID "7"``), or, when no store could give one, by its experiment and start time;
and a store by its URL. This module turns the spool's deliveries into that view,
and selects among them by run and store the way a person names them
(``--run 7 --store postgresql://db/lab``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from gnomon.redaction import redact_url
from gnomon.spool import SpooledDelivery

__all__ = ["PendingDelivery", "Selection", "age_text", "describe", "store_key"]

#: The shortest start of a run's uid that ``--run`` accepts: short ids like ``12``
#: must never select a run whose uid happens to start with them.
MIN_UID_PREFIX = 8


@dataclass(frozen=True, slots=True)
class PendingDelivery:
    """One run's undelivered events for one store, named as the user knows them."""

    spooled: SpooledDelivery
    run_id: str | None
    experiment: str | None
    started: datetime | None
    store: str | None

    @property
    def run_uid(self) -> str:
        """The run's uid (``meta.run_uid`` in every store)."""
        return self.spooled.run_uid

    @property
    def events(self) -> int:
        """How many events wait, bad ones included."""
        return self.spooled.events

    @property
    def oldest(self) -> datetime:
        """When the oldest of them was spooled."""
        return datetime.fromtimestamp(self.spooled.oldest, UTC)

    @property
    def run_label(self) -> str:
        """The run's id, or the start of its uid when no store gave it one."""
        return self.run_id if self.run_id is not None else self.run_uid[:MIN_UID_PREFIX]

    @property
    def store_label(self) -> str:
        """The store's URL without password, or what stands for an observer that has none."""
        return self.store or f"(no URL: {self.spooled.observer_key})"

    def describe_run(self) -> str:
        """``run 7 (demo, started 2024-05-01 12:00:03 UTC)``: how messages name the run."""
        name = f"run {self.run_id}" if self.run_id is not None else f"run without id {self.run_uid[:MIN_UID_PREFIX]}"
        details = [self.experiment or "experiment unknown"]
        if self.started is not None:
            details.append(f"started {time_text(self.started)} UTC")
        return f"{name} ({', '.join(details)})"

    def to_json(self, now: datetime | None = None) -> dict[str, Any]:
        """Plain data for ``gnomon sync --list --json``."""
        now = now or datetime.now(UTC)
        return {
            "run_id": self.run_id,
            "run_uid": self.run_uid,
            "experiment": self.experiment,
            "started": self.started.isoformat() if self.started else None,
            "store": self.store,
            "events": self.events,
            "kinds": dict(_count(self.spooled.kinds)),
            "bad": [{"seq": b.seq, "kind": b.kind, "problem": b.problem} for b in self.spooled.bad],
            "oldest": self.oldest.isoformat(),
            "age_seconds": round((now - self.oldest).total_seconds(), 3),
        }


def _count(kinds: Iterable[str]) -> list[tuple[str, int]]:
    counts: dict[str, int] = {}
    for kind in kinds:
        counts[kind] = counts.get(kind, 0) + 1
    return list(counts.items())


def kinds_text(kinds: Iterable[str]) -> str:
    """``started, output ×3, completed``: what a delivery holds, in order of first appearance."""
    return ", ".join(kind if n == 1 else f"{kind} ×{n}" for kind, n in _count(kinds))


def time_text(value: datetime) -> str:
    """A UTC time to the second, as tables show it."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def age_text(seconds: float) -> str:
    """``40 s``, ``12 min``, ``3 h``, ``2 d``: how long something has waited."""
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit}"
    return f"{max(0, int(seconds))} s"


def _decode(payload: bytes | None) -> dict[str, Any]:
    """An event's stored JSON, or nothing when it cannot be read (it is reported elsewhere)."""
    if payload is None:
        return {}
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


def _started(data: dict[str, Any]) -> datetime | None:
    try:
        value = datetime.fromisoformat(str(data["time"]))
    except (KeyError, ValueError):
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def describe(spooled: Iterable[SpooledDelivery]) -> list[PendingDelivery]:
    """Name each delivery's run and store as the user knows them.

    The spool notes a run's names when its events are written; what it lacks (a
    spool of an older version) is read from the events, and what one delivery
    lacks another of the same run may hold, so the names are gathered per run.
    """
    spooled = list(spooled)
    by_run: dict[str, dict[str, Any]] = {}
    for delivery in spooled:
        known = by_run.setdefault(delivery.run_uid, {})
        run_id, experiment, started = delivery.names
        for name, value in (("run_id", run_id), ("experiment", experiment)):
            if value is not None:
                known.setdefault(name, value)
        if started is not None:
            known.setdefault("started", _started({"time": started}))
        # spools written before the names were noted: read them from the events
        start, last = _decode(delivery.start), _decode(delivery.last)
        run_id = start.get("run_id") or last.get("run_id")
        if run_id is not None and "run_id" not in known:
            known["run_id"] = str(run_id)
        if start:
            experiment = start.get("experiment")
            if isinstance(experiment, dict) and experiment.get("name") and "experiment" not in known:
                known["experiment"] = str(experiment["name"])
            if start.get("kind") == "started" and "started" not in known:
                known["started"] = _started(start)
    return [
        PendingDelivery(
            spooled=delivery,
            run_id=by_run[delivery.run_uid].get("run_id") or delivery.observer_run_id,
            experiment=by_run[delivery.run_uid].get("experiment"),
            started=by_run[delivery.run_uid].get("started"),
            store=redact_url(delivery.observer_url) if delivery.observer_url else None,
        )
        for delivery in spooled
    ]


def store_key(url: str) -> str:
    """A store URL in one spelling, so ``--store`` matches however the user writes it.

    The password, a SQLAlchemy driver (``postgresql+psycopg``) and a trailing ``/``
    do not matter; a bare folder is file storage (as ``-F`` takes it), and relative
    paths are made absolute, as the observers store them.
    """
    text = redact_url(url.strip())
    if "://" not in text:
        return "file://" + os.path.abspath(os.path.expanduser(text))
    scheme, rest = text.split("://", 1)
    scheme = scheme.lower().split("+", 1)[0]
    if scheme == "file":
        return "file://" + os.path.abspath(os.path.expanduser(rest.split("?", 1)[0]))
    if scheme == "sqlite" and rest.startswith("/") and rest != "/":
        path, _, query = rest[1:].partition("?")
        if path != ":memory:":
            path = os.path.abspath(os.path.expanduser(path))
        return f"sqlite:///{path}" + (f"?{query}" if query else "")
    return f"{scheme}://{rest.rstrip('/')}"


@dataclass(frozen=True, slots=True)
class Selection:
    """Which deliveries a command works on: all, or those of one run and/or one store."""

    run: str | None = None
    store: str | None = None

    @property
    def everything(self) -> bool:
        """Whether nothing narrows the selection."""
        return self.run is None and self.store is None

    def matches(self, pending: PendingDelivery) -> bool:
        """Whether ``pending`` is selected: by run id, store id, or the start of the run's uid."""
        if self.run is not None:
            ids = {pending.run_id, pending.spooled.observer_run_id}
            by_uid = len(self.run) >= MIN_UID_PREFIX and pending.run_uid.startswith(self.run.lower())
            if self.run not in ids and not by_uid:
                return False
        if self.store is not None:
            stored = pending.spooled.observer_url
            if stored is None or store_key(stored) != store_key(self.store):
                return False
        return True

    def __str__(self) -> str:
        parts = ([f"--run {self.run}"] if self.run is not None else []) + (
            [f"--store {redact_url(self.store)}"] if self.store is not None else []
        )
        return " ".join(parts) or "everything"
