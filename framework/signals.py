"""SIGTERM and Ctrl-C during a run: they end it INTERRUPTED, and never cut its recording short.

While the run executes, SIGTERM raises :class:`Terminated` in the main thread
(Ctrl-C raises KeyboardInterrupt as usual). Once the end is being recorded, both
wait: the last output, the final event and the queues are flushed (within the drain
time), then the signal takes effect. Handlers the user installed are left alone.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

from gnomon.errors import GnomonInterrupt

__all__ = ["Terminated", "install_signal_handlers"]


class Terminated(GnomonInterrupt):
    """Raised in the main thread when the process receives SIGTERM during a run."""

    STATUS = "INTERRUPTED"


def install_signal_handlers(finishing: Callable[[], bool], log: logging.Logger) -> Callable[[], None]:
    """Install the run's handlers; returns the function that restores the previous ones.

    ``finishing`` says whether the run is recording its end (signals then wait).
    Outside the main thread nothing is installed: Python delivers signals there only.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    deferred: list[int] = []
    installed: dict[int, Any] = {}

    def on_signal(signum: int, frame: Any) -> None:
        if finishing():
            deferred.append(signum)
            log.warning("Recording the end of the run first; the signal takes effect after it.")
            return
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise Terminated("Terminated by SIGTERM")

    for signum, default in ((signal.SIGTERM, signal.SIG_DFL), (signal.SIGINT, signal.default_int_handler)):
        previous = signal.getsignal(signum)
        if previous in (default, None):
            installed[signum] = previous
            signal.signal(signum, on_signal)

    def restore() -> None:
        for signum, previous in installed.items():
            signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
        if not deferred:
            return
        if signal.SIGTERM in deferred and signal.SIGTERM in installed:
            os.kill(os.getpid(), signal.SIGTERM)  # the default action: end the process
        elif sys.exc_info()[0] is None:
            raise KeyboardInterrupt  # the run itself completed; the user still asked to stop

    return restore
