"""Observers record runs: files (built in), MongoDB and SQL (extras), and your own.

``FileStorageObserver`` needs nothing installed; ``MongoObserver`` and
``SqlObserver`` load their drivers only when used, so ``import gnomon.observers``
stays cheap and tells you which extra to install when one is missing.
"""

from __future__ import annotations

from typing import Any

from gnomon.observers.base import Observer, RunObserver, SacredObserverAdapter, as_observer, td_format
from gnomon.sacred_gaps import MISSING_OBSERVERS, missing_observer_message

__all__ = [
    "FileStorageObserver",
    "MongoObserver",
    "Observer",
    "QueuedMongoObserver",
    "RunObserver",
    "SacredObserverAdapter",
    "SqlObserver",
    "as_observer",
    "td_format",
]

_LAZY = {
    "FileStorageObserver": ("gnomon.observers.file.observer", None),
    "MongoObserver": ("gnomon.observers.mongo", "mongo"),
    "QueuedMongoObserver": ("gnomon.observers.mongo", "mongo"),
    "SqlObserver": ("gnomon.observers.sql", "sql"),
}


def __getattr__(name: str) -> Any:
    if name in MISSING_OBSERVERS:
        raise ImportError(missing_observer_message(name), name=f"gnomon.observers.{name}")
    if name not in _LAZY:
        raise AttributeError(f"module 'gnomon.observers' has no attribute {name!r}")
    module_name, extra = _LAZY[name]
    import importlib

    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if extra is None or (error.name or "").startswith("gnomon"):
            raise
        raise ImportError(
            f"{name} needs the '{error.name}' package: install it with pip install 'gnomon[{extra}]'"
        ) from error
    return getattr(module, name)
