"""The cycle collector and the framework's start-up objects.

By the time a run's main function is called, the process holds tens of thousands
of objects that live until it exits: modules, classes, functions, the script's
own module-level state. Python's cycle collector walks all of them again in every
full collection during the run and twice more while the interpreter shuts down;
for a short run that walk costs more than recording it (about 10 ms of a 0.1 s
hello-world run). :func:`gc.freeze` moves them out of the collector's reach once.

Reference counting still frees every frozen object that stops being used; only a
reference *cycle* that existed before the freeze and is dropped later is kept
until the process exits. That is why it happens once per process, at the first
run's start, when what exists is imports and module-level state, and why
``SETTINGS.FREEZE_STARTUP_OBJECTS = False`` turns it off.
"""

from __future__ import annotations

import gc

__all__ = ["freeze_startup_objects"]

_frozen = False


def freeze_startup_objects() -> None:
    """Freeze what the process holds now, the first time a run starts (later calls do nothing)."""
    global _frozen
    if _frozen:
        return
    _frozen = True
    from gnomon.settings import SETTINGS

    if SETTINGS.FREEZE_STARTUP_OBJECTS:
        gc.freeze()
