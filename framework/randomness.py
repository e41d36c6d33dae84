"""Seeds: the run's root seed, the global generators, and per-function seed streams.

Every run has a root ``seed`` (config entry, random unless set). At the start of a
run it seeds ``random``, and numpy, torch and tensorflow *if they are already
imported* (gnomon never imports them just to seed them). Captured functions that
take ``_seed`` or ``_rnd`` get a fresh seed on each call from a stream of their own,
derived from the root seed (or their ingredient's own ``seed``) and the function's
identity (module, qualified name, ingredient path) - not from the order in which
functions were registered, so adding a captured function does not change the seeds
of the others.
"""

from __future__ import annotations

import importlib.util
import random
import sys
import threading
from typing import Any

from gnomon.digests import sha256

__all__ = ["SEED_RANGE", "SeedStream", "create_rnd", "derive_seed", "new_seed", "set_global_seed"]

SEED_RANGE = (1, 10**9)  # [low, high): the range of seeds gnomon draws


def new_seed() -> int:
    """A fresh random seed in ``SEED_RANGE`` (from the OS, unaffected by global seeding)."""
    return random.SystemRandom().randrange(*SEED_RANGE)


def derive_seed(seed: int, *names: str) -> int:
    """A seed in ``SEED_RANGE`` determined by ``seed`` and ``names`` alone."""
    text = "\x1f".join([str(int(seed)), *names]).encode("utf-8")
    number = int.from_bytes(sha256(text).digest()[:8], "big")
    low, high = SEED_RANGE
    return low + number % (high - low)


class SeedStream:
    """A thread-safe, deterministic sequence of seeds started from one seed."""

    def __init__(self, seed: int) -> None:
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    def next(self) -> int:
        """The next seed of the sequence."""
        with self._lock:
            return self._random.randrange(*SEED_RANGE)


def _numpy_available() -> bool:
    return "numpy" in sys.modules or importlib.util.find_spec("numpy") is not None


def create_rnd(seed: int) -> Any:
    """A random generator seeded with ``seed``.

    ``numpy.random.Generator`` when numpy is installed (``RandomState`` with
    ``SETTINGS.CONFIG.NUMPY_RANDOM_LEGACY_API``), else ``random.Random``.
    """
    if _numpy_available():
        import numpy as np

        from .settings import SETTINGS

        if SETTINGS.CONFIG.NUMPY_RANDOM_LEGACY_API:
            return np.random.RandomState(seed)
        return np.random.default_rng(seed)
    return random.Random(seed)


def set_global_seed(seed: int) -> None:
    """Seed ``random`` and every already-imported numpy, torch and tensorflow."""
    random.seed(seed)
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed(seed % 2**32)  # numpy takes [0, 2**32); seeds in SEED_RANGE pass as is
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)  # seeds every CUDA device too, lazily
    tensorflow = sys.modules.get("tensorflow")
    if tensorflow is not None:
        set_seed = getattr(getattr(tensorflow, "random", None), "set_seed", None)
        if set_seed is not None:
            set_seed(seed)
