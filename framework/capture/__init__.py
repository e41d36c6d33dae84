r"""Output capture: what a run prints, recorded while it runs.

Four modes, chosen by ``SETTINGS.CAPTURE_MODE`` or ``--capture``:

``no``
    nothing is recorded.
``sys``
    ``sys.stdout``/``sys.stderr`` are replaced by proxies that write through to the
    original streams and record the text. Python-level writes only; works everywhere.
``fd``
    as ``sys``, and file descriptors 1 and 2 point into a pipe that is read back, so
    C extensions and subprocesses are recorded too; nothing reaches the terminal
    (batch jobs).
``tee``
    like ``fd``, and every byte still reaches the terminal. The default on Linux.

What the terminal receives under ``tee`` is what it would receive without capture:
the same bytes in the same order (:mod:`gnomon.capture.pipes` says how, and where the
one exception lies). The stored order is the order of the writes.

Several runs may capture at once in one process (runs in threads); each records its
own threads' output (:mod:`gnomon.capture.hub` states the rule).

:class:`OutputFolder` folds ``\r`` and ``\b`` the way a terminal shows them, so a
progress bar that redraws itself ten thousand times is stored as its final line;
:class:`Transcript` holds a run's whole output on disk once it grows.
"""

from __future__ import annotations

from gnomon.capture.folding import OutputFolder, apply_backspaces_and_linefeeds
from gnomon.capture.modes import CAPTURE_MODES, Capture, start_capture
from gnomon.capture.streams import flush_all
from gnomon.capture.transcript import Transcript

__all__ = [
    "CAPTURE_MODES",
    "Capture",
    "OutputFolder",
    "Transcript",
    "apply_backspaces_and_linefeeds",
    "flush_all",
    "start_capture",
]
