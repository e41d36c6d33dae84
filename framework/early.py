"""Start-up facts that wait on a child process, begun early and collected when needed.

A run's start asks ``git status`` whether the tree is dirty, ``uname -p`` (inside
:func:`platform.platform`) for the processor and ``nvidia-smi`` for the GPUs.
Each is a few milliseconds of waiting, and each can be begun as soon as the run
is, on a thread of its own, while the config is resolved and the sources and
dependencies are scanned. The caller that needs a fact collects it: it waits for
that thread, or computes the fact itself when nothing was begun. An error is
raised in the collecting thread, as if the fact had been computed there.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

__all__ = ["begin", "collect"]

T = TypeVar("T")

_lock = threading.Lock()
_pending: dict[Hashable, _Pending] = {}


class _Pending(threading.Thread):
    def __init__(self, func: Callable[[], Any]) -> None:
        super().__init__(name="gnomon-start-facts", daemon=True)
        self.func = func
        self.value: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.value = self.func()
        except BaseException as error:  # noqa: BLE001 - handed to the collecting thread
            self.error = error


def begin(key: Hashable, func: Callable[[], Any]) -> None:
    """Start computing ``func()`` for ``key`` now (replacing a result nobody collected)."""
    pending = _Pending(func)
    pending.start()  # before another thread can find it and join it
    with _lock:
        _pending[key] = pending


def collect(key: Hashable, func: Callable[[], T]) -> T:
    """``func()``'s result: the one begun for ``key`` (used once), else computed now."""
    with _lock:
        pending = _pending.pop(key, None)
    if pending is None:
        return func()
    pending.join()
    if pending.error is not None:
        raise pending.error
    return pending.value  # type: ignore[no-any-return]
