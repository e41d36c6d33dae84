"""The thread that records a run while it runs: heartbeats, and output and metrics in between.

It beats every ``beat_interval`` seconds (output, points, changed info and result),
and ships new output and points every :data:`SHIP_INTERVAL` in between, so a
process killed outright (SIGKILL, the OOM killer, power loss) has everything up to
about a second before its end in every store. Output and points also go early when
much of them waits, so memory stays bounded however long the beat interval.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Protocol

__all__ = ["Heartbeat", "Recorder"]

# Between heartbeats, metric points are shipped early once this many wait (checked
# this often, in seconds), so a fast logging loop never holds more than a bounded
# number of points in memory however long the beat interval.
METRICS_EARLY_BATCH = 200_000
METRICS_POLL_INTERVAL = 0.05
#: New output and metric points are shipped this often (seconds) whatever the beat interval.
SHIP_INTERVAL = 0.5
# Output is shipped early once this many characters wait, so a run that prints fast
# holds a few megabytes of it at most, not half a second's worth.
OUTPUT_EARLY_CHARS = 1_000_000


class Recorder(Protocol):
    """What the heartbeat drives: the run."""

    def _record_beat(self) -> None:
        """Record a heartbeat: new output and points, changed info, the result so far."""

    def _record_output(self) -> None:
        """Record new output and points."""

    def _record_metrics(self) -> None:
        """Record the points waiting."""

    def _unshipped(self) -> tuple[int, int]:
        """Characters of output and metric points not yet shipped."""


class Heartbeat:
    """Runs :class:`Recorder`'s recording in a daemon thread until stopped.

    Every call into the recorder happens under ``lock``, which the run also holds
    while it records its end, so the two never interleave.
    """

    def __init__(self, recorder: Recorder, interval: float, lock: threading.Lock) -> None:
        self.recorder = recorder
        self.interval = interval
        self.lock = lock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start beating; an interval of 0 or less records only at the end."""
        if self.interval <= 0:
            return
        self._thread = threading.Thread(target=self._loop, name="gnomon-heartbeat", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop beating and wait for the thread (unless called from it)."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=10)

    def _loop(self) -> None:
        ship_every = min(SHIP_INTERVAL, self.interval)
        next_beat = time.monotonic() + self.interval
        next_ship = time.monotonic() + ship_every
        while not self._stop.wait(min(METRICS_POLL_INTERVAL, max(0.0, min(next_beat, next_ship) - time.monotonic()))):
            try:
                with self.lock:
                    if self._stop.is_set():
                        return
                    now = time.monotonic()
                    if now >= next_beat:
                        self.recorder._record_beat()
                        next_beat = time.monotonic() + self.interval
                        next_ship = time.monotonic() + ship_every
                    elif now >= next_ship:
                        self.recorder._record_output()
                        next_ship = time.monotonic() + ship_every
                    else:
                        characters, points = self.recorder._unshipped()
                        if characters >= OUTPUT_EARLY_CHARS:
                            self.recorder._record_output()
                        elif points >= METRICS_EARLY_BATCH:
                            self.recorder._record_metrics()
            except Exception:  # a recording problem must not kill the run
                logging.getLogger("gnomon.run").exception("Heartbeat failed")
