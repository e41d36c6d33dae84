"""The backend-independent parts of the query API: relaxing filters, liveness, sorting, downsampling."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from gnomon.query.liveness import DEFAULT_DIED_AFTER, effective_status, rewrite_status
from gnomon.query.predicate import evaluate
from gnomon.query.pushdown import relax
from gnomon.query.tree import And, Cmp, Const, LastSeenBefore, Matches, Not, Or

np = pytest.importorskip("numpy")

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_relax_replaces_unsupported_atoms_by_polarity():
    regex = Matches(("experiment",), "^a")
    lr = Cmp(("config", "lr"), "lt", 1)
    supported = lambda atom: atom != regex  # noqa: E731
    assert relax(And((lr, regex)), supported) == (lr, False)
    assert relax(And((lr, Not(regex))), supported) == (lr, False)
    assert relax(Or((lr, regex)), supported) == (Const(True), False)
    assert relax(Not(Or((lr, regex))), supported) == (Not(lr), False)
    assert relax(And((lr, Not(lr))), lambda a: True) == (And((lr, Not(lr))), True)


def test_relaxed_filters_match_a_superset():
    regex = Matches(("experiment",), "^a")
    lr = Cmp(("config", "lr"), "lt", 1)
    records = [
        {"run_id": str(i), "experiment": e, "config": {"lr": v}}
        for i, (e, v) in enumerate([("a", 0.5), ("b", 0.5), ("a", 2), ("b", 2), ("a", None)])
    ]
    for tree in (And((lr, regex)), Or((lr, Not(regex))), Not(And((lr, regex))), Not(Or((Not(lr), regex)))):
        relaxed, exact = relax(tree, lambda atom: atom != regex)
        assert not exact
        for record in records:
            if evaluate(tree, record):
                assert evaluate(relaxed, record), (tree, record)


def test_a_run_whose_process_is_gone_from_this_host_is_died_at_once():
    import subprocess
    import sys

    from gnomon.query.liveness import _this_host

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    record = {"recorded_status": "RUNNING", "heartbeat": NOW, "hostname": _this_host(), "pid": child.pid}
    assert effective_status(record, NOW, None) == "DIED"
    assert effective_status({**record, "pid": __import__("os").getpid()}, NOW, None) == "RUNNING"
    assert effective_status({**record, "hostname": "elsewhere"}, NOW, None) == "RUNNING"
    assert effective_status({**record, "pid": None}, NOW, None) == "RUNNING"


def test_died_after_defaults_to_three_beats_and_at_least_two_minutes():
    record = {"recorded_status": "RUNNING", "heartbeat": NOW - timedelta(seconds=150), "beat_interval": 10}
    assert effective_status(record, NOW, None) == "DIED"
    assert effective_status({**record, "beat_interval": 60}, NOW, None) == "RUNNING"  # 3 × 60 s > 150 s
    assert effective_status({**record, "heartbeat": None, "start_time": NOW - timedelta(seconds=121)}, NOW, None) == "DIED"
    assert effective_status({**record, "heartbeat": NOW - timedelta(seconds=119)}, NOW, None) == "RUNNING"
    assert effective_status({**record, "recorded_status": "COMPLETED"}, NOW, None) == "COMPLETED"
    assert effective_status(record, NOW, 200) == "RUNNING"
    assert DEFAULT_DIED_AFTER == 120


def test_liveness_is_left_to_memory_and_other_statuses_pushed_down():
    tree, approximate = rewrite_status(Cmp(("status",), "eq", "DIED"), NOW, None)
    silent = LastSeenBefore(NOW - timedelta(seconds=120))
    assert tree == And((Cmp(("recorded_status",), "eq", "RUNNING"), silent))
    assert approximate == {silent}
    _, approximate = rewrite_status(Cmp(("status",), "eq", "DIED"), NOW, 5.0)
    assert approximate == {LastSeenBefore(NOW - timedelta(seconds=5))}
    tree, _ = rewrite_status(Cmp(("status",), "eq", "FAILED"), NOW, None)
    assert tree == Cmp(("recorded_status",), "eq", "FAILED")


def test_downsampling_keeps_every_spike_and_the_ends():
    from gnomon.query.series import downsample

    n = 1_000_000
    x = np.arange(n, dtype=np.float64)
    values = np.sin(x / 5000.0)
    values[123_457] = 50.0
    values[777_777] = -50.0
    values[500_000] = np.nan
    keep, lows, highs = downsample(x, values, 4000)
    assert len(keep) <= 4000
    assert keep[0] == 0 and keep[-1] == n - 1
    assert 123_457 in keep and 777_777 in keep
    assert np.nanmax(values[keep]) == 50.0 and np.nanmin(values[keep]) == -50.0
    assert highs.max() == 50.0 and lows.min() == -50.0
    assert np.all(np.diff(keep) > 0)


def test_downsampling_bands_keep_infinities_and_mark_buckets_of_nan_only():
    from gnomon.query.series import downsample

    values = np.array([np.nan, np.inf, 1.0, 2.0] * 10 + [np.nan] * 40 + [-np.inf, 3.0] * 20)
    x = np.arange(len(values), dtype=np.float64)
    keep, lows, highs = downsample(x, values, 12)
    assert len(keep) <= 12
    assert np.isinf(highs[0]) and lows[0] == 1.0
    middle = (x[keep] >= 40) & (x[keep] < 80)
    assert middle.any() and np.isnan(lows[middle]).all() and np.isnan(highs[middle]).all()
    assert lows[-1] == -np.inf and highs[-1] == 3.0


def test_downsampling_a_short_series_keeps_it_whole():
    from gnomon.query.series import downsample

    keep, lows, highs = downsample(np.arange(10.0), np.arange(10.0), 4000)
    assert keep.tolist() == list(range(10)) and lows.tolist() == highs.tolist() == list(range(10))


def test_ema_smoothing_matches_tensorboard():
    from gnomon.query.series import parse_smoothing, smooth

    values = np.array([1.0, 2.0, math.nan, 4.0])
    smoothed = smooth(values, parse_smoothing("ema:0.5"))
    # TensorBoard: last = last * w + (1 - w) * v; debias by 1 - w ** n.
    assert smoothed[0] == pytest.approx(1.0)
    assert smoothed[1] == pytest.approx((0.5 * 1 * 0.5 + 0.5 * 2) / 0.75)
    assert math.isnan(smoothed[2])
    assert smoothed[3] == pytest.approx(((0.25 + 1) * 0.5 + 2) / 0.875)
    with pytest.raises(ValueError, match="ema"):
        parse_smoothing("ema:2")


def test_the_series_cache_is_bounded_by_bytes_least_recently_used_first():
    np = pytest.importorskip("numpy")
    from gnomon.query.series import Arrays, SeriesCache

    def arrays(n):  # 24 bytes a point
        return Arrays(np.arange(n, dtype=np.int64), np.zeros(n), np.zeros(n))

    assert SeriesCache().max_bytes == 64 * 2**20
    cache = SeriesCache(max_bytes=24 * 250)
    for name in ("a", "b"):
        cache.put("1", name, (100, 99), arrays(100))
    assert cache.held_bytes == 4800
    assert cache.get("1", "a", (100, 99)) is not None  # "a" now the most recently used
    assert cache.get("1", "a", (101, 100)) is None  # another stamp: the run logged more since
    cache.put("1", "c", (100, 99), arrays(100))
    assert cache.get("1", "b", (100, 99)) is None and cache.get("1", "a", (100, 99)) is not None
    assert cache.held_bytes == 4800
    cache.put("1", "a", (300, 299), arrays(300))  # larger than the bound: not kept, the old one dropped
    assert cache.get("1", "a", (100, 99)) is None and cache.held_bytes == 2400
    cache.max_bytes = 0
    cache.put("1", "d", (1, 0), arrays(1))
    assert cache.get("1", "d", (1, 0)) is None
