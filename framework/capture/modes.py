"""The capture modes: what a run records, and what still reaches the terminal."""

from __future__ import annotations

from collections.abc import Callable

from gnomon.capture.hub import HUB
from gnomon.errors import ConfigError
from gnomon.spelling import did_you_mean

__all__ = ["CAPTURE_MODES", "Capture", "start_capture"]

CAPTURE_MODES = ("no", "sys", "fd", "tee")
# How long a read waits for output on its way through the pipes (seconds).
_COLLECT_WAIT = 0.5


class Capture:
    """Records a run's output; subclasses are the modes.

    ``read()`` is called from the heartbeat thread and returns the raw text written
    since the previous ``read()``; ``stop()`` stops recording and returns the rest.
    Together they return every character written between ``start()`` and ``stop()``
    by the threads of the run (see :mod:`gnomon.capture.hub` for which those are).
    """

    mode = "no"
    #: Text written through ``sys.stdout``/``sys.stderr`` is recorded.
    records_python = False
    #: Bytes written to descriptors 1 and 2 (C code, subprocesses) are recorded.
    records_fds = False
    #: What is recorded still reaches the terminal.
    echoes = True

    def __init__(self) -> None:
        self._started = False
        self._stopped = False
        self.attached = False  # set by the hub
        self._pending: list[str] = []
        #: Adds text to what the next ``read()`` returns; the hub calls it, under its
        #: lock, for every write, so it is the list's own ``append``.
        self.record: Callable[[str], None] = self._pending.append

    def start(self) -> None:
        """Begin capturing for the calling thread; a capture can be started only once."""
        if self._started:
            raise RuntimeError(f"This {self.mode!r} output capture was already started; create a new one.")
        self._started = True
        HUB.attach(self)

    def read(self) -> str:
        """Return the text written since the last ``read()`` and forget it."""
        if self._started and not self._stopped:
            HUB.collect(wait=_COLLECT_WAIT)
        # No lock: others only ever append, so the first ``count`` pieces stay put.
        pending = self._pending
        count = len(pending)
        text = "".join(pending[:count])
        del pending[:count]
        return text

    @property
    def waiting(self) -> int:
        """Characters recorded since the last ``read()``: a run ships early when many wait."""
        return sum(map(len, self._pending))

    def stop(self) -> str:
        """Stop capturing, restore the streams when no other run needs them, return the rest."""
        if self._started and not self._stopped:
            HUB.detach(self)
            self._stopped = True
        return self.read()

    def __enter__(self) -> Capture:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class NoCapture(Capture):
    """Records nothing (``--capture no``); the run's threads print as if gnomon were not there."""

    mode = "no"


class SysCapture(Capture):
    """Python-level capture through stand-ins for ``sys.stdout`` and ``sys.stderr``."""

    mode = "sys"
    records_python = True


class FdCapture(Capture):
    """Descriptor-level capture of fds 1 and 2; nothing reaches the terminal."""

    mode = "fd"
    records_python = True
    records_fds = True
    echoes = False


class TeeCapture(FdCapture):
    """Descriptor-level capture that also writes everything through to the terminal."""

    mode = "tee"
    echoes = True


_MODES: dict[str, type[Capture]] = {
    "no": NoCapture,
    "sys": SysCapture,
    "fd": FdCapture,
    "tee": TeeCapture,
}


def start_capture(mode: str) -> Capture:
    """Create the capture for ``mode`` and start it for the calling thread; ``stop()`` it at the end."""
    try:
        kind = _MODES[mode]
    except (KeyError, TypeError):
        hint = did_you_mean(str(mode), CAPTURE_MODES)
        valid = ", ".join(repr(m) for m in CAPTURE_MODES)
        raise ConfigError(f"Unknown capture mode {mode!r}; use one of {valid}.{hint}") from None
    capture = kind()
    capture.start()
    return capture
