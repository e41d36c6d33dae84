"""Helpers for testing code that uses gnomon, and for gnomon's own tests.

``RecordingObserver`` keeps every event it receives, so a test can run an
experiment and assert on exactly what observers were told, without any storage.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

from gnomon.events import Event, thaw
from gnomon.observers.base import Observer

__all__ = ["RecordingObserver", "run_experiment"]


class RecordingObserver(Observer):
    """Records every event; optionally assigns run ids (``assign_id``) like a storage would."""

    def __init__(self, priority: int = 0, assign_id: str | None = None) -> None:
        self.priority = priority
        self.assign_id = assign_id
        self.events: list[Event] = []
        self._lock = threading.Lock()

    def handle(self, event: Event) -> Any:
        """Keep the event; answer started/queued with ``assign_id``."""
        with self._lock:
            self.events.append(event)
        if event.kind in ("started", "queued"):
            return self.assign_id
        return None

    @property
    def kinds(self) -> list[str]:
        """The kinds of the events received, in order."""
        return [e.kind for e in self.events]

    def of_kind(self, kind: str) -> list[Event]:
        """The events of one kind, in order."""
        return [e for e in self.events if e.kind == kind]

    @property
    def output(self) -> str:
        """The whole captured output, reassembled from output events."""
        return "".join(e.text for e in self.of_kind("output"))  # type: ignore[attr-defined]

    def metrics(self) -> dict[str, dict[str, list[Any]]]:
        """Every metric point received: {name: {"steps": [...], "values": [...], "timestamps": [...]}}."""
        merged: dict[str, dict[str, list[Any]]] = {}
        for event in self.of_kind("metrics"):
            for name, series in event.series.items():  # type: ignore[attr-defined]
                entry = merged.setdefault(name, {"steps": [], "values": [], "timestamps": []})
                entry["steps"].extend(series.steps)
                entry["values"].extend(series.values)
                entry["timestamps"].extend(series.timestamps)
        return merged

    @property
    def info(self) -> dict[str, Any] | None:
        """The last info a heartbeat carried."""
        infos = [e.info for e in self.of_kind("heartbeat") if e.info is not None]  # type: ignore[attr-defined]
        return thaw(infos[-1]) if infos else None

    @property
    def final(self) -> Event | None:
        """The completed/failed/interrupted event, if any arrived."""
        finals = [e for e in self.events if e.kind in ("completed", "failed", "interrupted")]
        return finals[-1] if finals else None


def run_experiment(
    experiment: Any,
    command_name: str | None = None,
    config_updates: Mapping[str, Any] | None = None,
    named_configs: Sequence[str] = (),
    options: Mapping[str, Any] | None = None,
) -> tuple[Any, RecordingObserver]:
    """Run ``experiment`` with a :class:`RecordingObserver` attached; return (run, observer)."""
    observer = RecordingObserver()
    experiment.observers.append(observer)
    try:
        run = experiment.run(
            command_name,
            config_updates=dict(config_updates or {}),
            named_configs=list(named_configs),
            options=dict(options or {}),
        )
    finally:
        experiment.observers.remove(observer)
    return run, observer
