"""File storage: Sacred's folder layout (:mod:`.observer`), its files and the read side.

``layout`` writes files atomically and allocates run ids; ``metrics`` keeps the
append-only metrics log and ``metrics.json``; ``content`` the content-addressed
``_sources/`` and ``_resources/``; ``report`` renders a run's template; ``url``
maps ``file://`` URLs. The query API reads a folder through ``store`` and its
disposable index under ``basedir/_gnomon/``.
"""

from __future__ import annotations

from gnomon.observers.file.observer import FileStorageObserver

__all__ = ["FileStorageObserver"]
