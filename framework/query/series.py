"""Metric series: downsampling that keeps every spike, smoothing, and a cache of what was read.

A plot needs about two points per pixel, not a million. Uniform sampling drops a
one-step spike; here each of ``max_points / 4`` buckets of x keeps its first,
last, smallest and largest point (M4), so the drawn line's envelope is exactly
the full series' one, and each kept point carries its bucket's min and max for a
band. Smoothing (TensorBoard's de-biased EMA, or a Gaussian) runs on the whole
series before downsampling. numpy comes with the ``query`` extra; nothing here is
imported by ``import gnomon``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

__all__ = ["Arrays", "SeriesCache", "downsample", "parse_smoothing", "smooth"]


@dataclass(frozen=True, slots=True)
class Arrays:
    """One series as numpy arrays: steps (int64), values and times (float64, POSIX seconds)."""

    steps: np.ndarray
    values: np.ndarray
    times: np.ndarray

    @classmethod
    def of(cls, steps: Sequence[int], values: Sequence[float | None], times: Sequence[float]) -> Arrays:
        """From lists as backends read them (a None value becomes NaN)."""
        import numpy as np

        return cls(
            np.asarray(steps, dtype=np.int64),
            np.asarray([np.nan if v is None else v for v in values] if None in values else values, dtype=np.float64),
            np.asarray(times, dtype=np.float64),
        )

    def __len__(self) -> int:
        return len(self.steps)


def parse_smoothing(spec: str | None) -> tuple[str, float] | None:
    """``"ema:0.6"`` (weight in [0, 1)) or ``"gauss:3"`` (sigma in points); None for no smoothing."""
    if spec is None:
        return None
    kind, _, raw = spec.partition(":")
    try:
        amount = float(raw)
    except ValueError:
        amount = float("nan")
    if kind == "ema" and 0 <= amount < 1:
        return ("ema", amount)
    if kind == "gauss" and amount > 0:
        return ("gauss", amount)
    raise ValueError(
        f"smoothing {spec!r} is not understood: use 'ema:W' with 0 <= W < 1, or 'gauss:SIGMA' with SIGMA > 0"
    )


def smooth(values: np.ndarray, spec: tuple[str, float]) -> np.ndarray:
    """Smoothed values; NaN points stay NaN and do not spread."""
    import numpy as np

    kind, amount = spec
    finite = np.isfinite(values)
    if kind == "ema":
        # TensorBoard's de-biased exponential moving average, skipping non-finite points.
        out = np.full_like(values, np.nan)
        kept = values[finite]
        if len(kept):
            out[finite] = _ema(kept, amount) / (1 - amount ** np.arange(1, len(kept) + 1))
        return out
    radius = max(1, int(3 * amount))
    offsets = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (offsets / amount) ** 2)
    filled = np.where(finite, values, 0.0)
    num = np.convolve(filled, kernel, mode="same")
    den = np.convolve(finite.astype(np.float64), kernel, mode="same")
    with np.errstate(invalid="ignore", divide="ignore"):
        out = num / den
    out[~finite] = np.nan
    return out


def _ema(values: np.ndarray, weight: float) -> np.ndarray:
    """``last = last * weight + (1 - weight) * value`` over the values, from 0, without a Python loop per point.

    Within a block, ``last_i = w^(i+1) * carry + (1 - w) * sum_j w^(i-j) v_j``, a
    cumulative sum once the values are scaled by ``w^-j``; blocks are short enough
    that ``w^-j`` stays far from overflowing, and each block starts from the last
    value of the one before.
    """
    import math

    import numpy as np

    if weight == 0:
        return values.copy()
    block = max(1, min(len(values), int(200 / -math.log10(weight))))  # w ** -block <= 1e200
    powers = weight ** np.arange(block, dtype=np.float64)
    out = np.empty_like(values)
    carry = 0.0
    for start in range(0, len(values), block):
        chunk = values[start : start + block]
        scale = powers[: len(chunk)]
        last = weight * scale * carry + (1 - weight) * np.cumsum(chunk / scale) * scale
        out[start : start + len(chunk)] = last
        carry = float(last[-1])
    return out


def downsample(x: np.ndarray, values: np.ndarray, max_points: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices of the points to keep (sorted) and the min and max of each kept point's bucket.

    ``x`` must be sorted. Every bucket keeps its first, last, min and max point, so
    the result holds at most ``max_points`` points and every extreme of the series.
    """
    import numpy as np

    n = len(x)
    if n <= max_points:
        return np.arange(n), values.copy(), values.copy()
    buckets = max(1, max_points // 4)
    lo, hi = float(x[0]), float(x[-1])
    if hi > lo:  # buckets of equal width in x; x is sorted, so each is a slice
        edges = lo + (hi - lo) * np.arange(1, buckets) / buckets
        starts = np.searchsorted(x, edges, side="left")
    else:  # one x value: buckets of equal counts
        starts = np.arange(1, buckets) * n // buckets
    starts = np.unique(np.r_[0, starts])
    starts = starts[starts < n]
    stops = np.r_[starts[1:], n]
    nan = np.isnan(values)
    high = np.where(nan, -np.inf, values)
    low = np.where(nan, np.inf, values)
    picks = np.empty((4, len(starts)), dtype=np.int64)
    picks[0], picks[1] = starts, stops - 1
    # A loop over at most max_points / 4 slices: linear in the points, no sort.
    for i, (a, b) in enumerate(zip(starts.tolist(), stops.tolist(), strict=True)):
        picks[2, i] = a + int(low[a:b].argmin())
        picks[3, i] = a + int(high[a:b].argmax())
    mins, maxs = low[picks[2]], high[picks[3]]
    only_nan = np.add.reduceat(~nan, starts) == 0
    mins[only_nan] = np.nan
    maxs[only_nan] = np.nan
    keep = np.unique(picks)
    kept_bucket = np.searchsorted(starts, keep, side="right") - 1
    return keep, mins[kept_bucket], maxs[kept_bucket]


class SeriesCache:
    """Recently read series kept in memory, valid while the run's point count and last step are unchanged.

    A long-lived reader (the dashboard, a notebook) redraws the same finished series
    again and again; re-reading a million points each time would cost a second (file
    storage's binary copies make a re-read cheap, a database's still is not). Bounded
    by the bytes of the arrays held, least recently used dropped first: the default
    64 MiB is about 2.8M points, small beside a server's 200 MB, and ``max_bytes=0``
    keeps nothing.
    """

    def __init__(self, max_bytes: int = 64 * 2**20) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[tuple[str, str], tuple[Any, Arrays]] = OrderedDict()
        self._held = 0
        self._lock = threading.Lock()

    @property
    def held_bytes(self) -> int:
        """Bytes of arrays held now."""
        return self._held

    def get(self, run_id: str, name: str, stamp: Any) -> Arrays | None:
        """The series read before with this stamp, or None."""
        with self._lock:
            item = self._items.get((run_id, name))
            if item is None or item[0] != stamp:
                return None
            self._items.move_to_end((run_id, name))
            return item[1]

    def put(self, run_id: str, name: str, stamp: Any, arrays: Arrays) -> None:
        """Keep a series, dropping the least recently used ones while more than ``max_bytes`` are held."""
        size = _nbytes(arrays)
        with self._lock:
            old = self._items.pop((run_id, name), None)
            if old is not None:
                self._held -= _nbytes(old[1])
            if size > self.max_bytes:
                return
            self._items[(run_id, name)] = (stamp, arrays)
            self._held += size
            while self._held > self.max_bytes and self._items:
                _, (_, dropped) = self._items.popitem(last=False)
                self._held -= _nbytes(dropped)


def _nbytes(arrays: Arrays) -> int:
    return int(arrays.steps.nbytes + arrays.values.nbytes + arrays.times.nbytes)
