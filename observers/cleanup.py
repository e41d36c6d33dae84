"""Closing an observer's connections when it is garbage-collected, off the collecting thread.

Observers are rarely closed explicitly, so each one that opens a client or an engine
closes it when it is collected. The collector runs finalizers in whatever thread
happens to trigger it: the training loop, or another observer's worker. Closing a
pymongo client whose server has gone first waits its whole server-selection timeout
to end its sessions, so a finalizer that closed in place could stall a later run
(or its other observers) for seconds. Here the closing happens on a daemon thread.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import weakref
from collections.abc import Callable
from typing import Any

__all__ = ["close_when_collected"]

logger = logging.getLogger("gnomon.observers")


def close_when_collected(owner: object, close: Callable[[], object], what: str) -> weakref.finalize[Any, Any]:
    """Call ``close()`` on a daemon thread once ``owner`` has been collected."""
    return weakref.finalize(owner, _close_in_background, close, what)


def _close_in_background(close: Callable[[], object], what: str) -> None:
    def run() -> None:
        try:
            close()
        except Exception as error:  # noqa: BLE001 - nothing is waiting for this: note it and go on
            logger.debug("closing the %s of a collected observer failed: %s", what, error)

    # RuntimeError: the interpreter is shutting down, and the OS closes the sockets.
    with contextlib.suppress(RuntimeError):
        threading.Thread(target=run, name=f"gnomon-close-{what}", daemon=True).start()
