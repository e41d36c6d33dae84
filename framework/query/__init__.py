"""Read runs back from any store: ``gnomon.open(url).runs(...)`` → rows, DataFrames, series, artifacts.

::

    store = gnomon.open("runs")                      # or sqlite:///runs.db, postgresql://…, mongodb://…/db
    best = store.runs('status == "COMPLETED" and config.lr < 1e-2', order_by="metrics.loss.min", limit=5)
    best.df(["config.lr", "metrics.loss.min"])
    store.run("12").metrics["loss"]                  # a Series indexed by step

Filters are parsed, never evaluated (:mod:`gnomon.query.grammar`); every backend
answers them the same way. pandas is needed only for DataFrames (the ``query``
extra); :meth:`RunSet.rows` gives the same data without it.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

from gnomon.errors import FilterError, GnomonError, ObserverError, RunNotFoundError, StoreError

if TYPE_CHECKING:
    from gnomon.query.lineage import Graph
    from gnomon.query.protocol import RunStore
    from gnomon.query.store import Changes, RunSet, Store
    from gnomon.query.stored_run import Artifact, Source
    from gnomon.query.stored_run import StoredRun as Run

__all__ = [
    "Artifact", "Changes", "FilterError", "Graph", "Run", "RunNotFoundError", "RunSet", "RunStore", "Source",
    "Store", "StoreError", "open",
]

_SACRED_MONGO = re.compile(r"^(?P<host>[\w.\-]+):(?P<port>\d+):(?P<db>[\w\-]+)$")
_LAZY = {
    "Artifact": "gnomon.query.stored_run",
    "Changes": "gnomon.query.store",
    "Graph": "gnomon.query.lineage",
    "Run": "gnomon.query.stored_run",
    "RunSet": "gnomon.query.store",
    "RunStore": "gnomon.query.protocol",
    "Source": "gnomon.query.stored_run",
    "Store": "gnomon.query.store",
}


def __getattr__(name: str) -> object:
    import importlib

    if name not in _LAZY:
        raise AttributeError(f"module 'gnomon.query' has no attribute {name!r}")
    module = importlib.import_module(_LAZY[name])
    return getattr(module, "StoredRun" if name == "Run" else name)


def open(url_or_path: str | os.PathLike[str], *, died_after: float | None = None) -> Store:  # noqa: A001
    """Open a store for reading, whatever wrote it.

    A file-storage folder (path or ``file://``), ``sqlite:///…``, ``postgresql://…``,
    ``mysql+pymysql://…`` (MariaDB/MySQL), ``mongodb://host:port/db`` or Sacred's
    ``host:port:db``.

    ``died_after`` (seconds) fixes when a silent RUNNING run counts as ``DIED``; by
    default three of its beat intervals, at least 120 s. A store that cannot be
    opened raises :class:`~gnomon.errors.StoreError` naming the URL (password hidden)
    and the fix.
    """
    from gnomon.observers.registry import store_class
    from gnomon.query.store import Store

    url = os.fspath(url_or_path).strip()
    if not url:
        raise StoreError("no store given: pass a folder, or a sqlite://, postgresql://, mysql:// or mongodb:// URL")
    sacred = _SACRED_MONGO.match(url)
    if sacred and not os.path.exists(url):
        url = f"mongodb://{sacred['host']}:{sacred['port']}/{sacred['db']}"
    try:
        cls = store_class(url)
    except ObserverError as error:
        from gnomon.redaction import redact_url

        raise StoreError(f"cannot open {redact_url(url)}: {error}") from None
    try:
        backend = cls.from_url(url)
    except GnomonError:
        raise
    except (ValueError, ImportError, OSError) as error:  # a malformed URL the backend's parser refused
        from gnomon.redaction import redact_url

        raise StoreError(f"cannot open {redact_url(url)}: {redact_url(str(error))}") from None
    if died_after is not None and died_after <= 0:
        raise ValueError(f"died_after must be a positive number of seconds, not {died_after}")
    return Store(backend, died_after=died_after)
