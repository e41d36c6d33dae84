"""Keeping what an observer could not take in the spool, and saying exactly what could not be kept.

The spool is the last line of defence, and it can fail too: its disk fills up, or
one event holds a value that cannot be encoded. Then as much as possible is still
kept (a batch that fails is written again event by event, so one bad event or one
that does not fit costs only itself), and what is lost is described precisely --
how many output characters, from which offset, how many metric points, whether the
run's end was among them -- because "kept in the spool" must only ever be said of
events that are.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence

from gnomon.events import Event, MetricsEvent, OutputEvent

__all__ = ["FINAL_KINDS", "describe", "final_event", "keep"]

#: The kinds of event that record how a run ended.
FINAL_KINDS = frozenset({"completed", "failed", "interrupted"})

# Failures in a row after which the rest of a batch is not tried: a full disk
# refuses every event, and a long queue must not make the end of a run wait.
_MAX_FAILURES_IN_A_ROW = 20


def keep(write: Callable[[list[Event]], object], events: Sequence[Event]) -> tuple[list[Event], str]:
    """Spool ``events`` with ``write``: all at once, else one by one; returns ``(lost, why)``."""
    try:
        write(list(events))
        return [], ""
    except Exception as error:  # noqa: BLE001 - the reason is reported, nothing may raise here
        reasons = {_reason(error): None}
    lost: list[Event] = []
    failures = 0
    for event in events:
        if failures >= _MAX_FAILURES_IN_A_ROW:
            lost.append(event)
            continue
        try:
            write([event])
            failures = 0
        except Exception as error:  # noqa: BLE001
            failures += 1
            lost.append(event)
            reasons.setdefault(_reason(error), None)
    return lost, "; ".join(reasons)


def _reason(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


def final_event(events: Sequence[Event]) -> Event | None:
    """The event among ``events`` that records how the run ended, if any."""
    return next((e for e in events if e.kind in FINAL_KINDS), None)


def describe(events: Sequence[Event]) -> str:
    """What ``events`` held, for a person: counts by kind, output characters and metric points."""
    parts = []
    outputs = [e for e in events if isinstance(e, OutputEvent)]
    if outputs:
        chars = sum(len(e.text) for e in outputs)
        start = min(e.offset for e in outputs)
        parts.append(f"{len(outputs)} output event(s) ({chars:,} characters from character {start:,} on)")
    metrics = [e for e in events if isinstance(e, MetricsEvent)]
    if metrics:
        points = sum(len(s.values) for e in metrics for s in e.series.values())
        names = sorted({name for e in metrics for name in e.series})
        shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
        parts.append(f"{len(metrics)} metrics event(s) ({points:,} points of {shown})")
    kinds = Counter(e.kind for e in events if not isinstance(e, OutputEvent | MetricsEvent))
    for kind, count in sorted(kinds.items()):
        parts.append(f"the {kind} event" if kind in FINAL_KINDS else f"{count} {kind} event(s)")
    return ", ".join(parts)
