"""The log_scalar buffer: implicit steps, numbers only, and no point lost to a concurrent drain."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from gnomon.metrics import MetricsBuffer


def test_implicit_and_explicit_steps_per_metric() -> None:
    buffer = MetricsBuffer()
    buffer.log_scalar("loss", 1.0)
    buffer.log_scalar("loss", 0.5)
    buffer.log_scalar("acc", 0.1, step=10)
    buffer.log_scalar("acc", 0.2)
    first = buffer.drain()
    assert first["loss"].steps == [0, 1] and first["loss"].values == [1.0, 0.5]
    assert first["acc"].steps == [10, 11]
    buffer.log_scalar("loss", 0.25)  # steps continue across drains
    assert buffer.drain()["loss"].steps == [2]
    assert buffer.drain() == {}


def test_one_metric_under_equal_but_distinct_name_objects_keeps_every_point() -> None:
    buffer = MetricsBuffer()
    for i in range(5):
        buffer.log_scalar("".join(["lo", "ss"]), float(i))  # a new str object each time
    buffer.log_scalar("loss", 5.0, step=40)
    buffer.log_scalar("loss", 6.0)
    series = buffer.drain(final=True)
    assert list(series) == ["loss"]
    assert series["loss"].steps == [0, 1, 2, 3, 4, 40, 41]
    assert series["loss"].values == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]


def test_numbers_are_converted_and_non_numbers_refused() -> None:
    buffer = MetricsBuffer()
    buffer.log_scalar("a", np.float32(1.5))
    buffer.log_scalar("a", np.int64(2))
    buffer.log_scalar("a", np.array(3.0))
    buffer.log_scalar("a", True)
    buffer.log_scalar("a", 4, step=np.int64(9))
    series = buffer.drain()["a"]
    assert series.values == [1.5, 2, 3.0, 1, 4] and all(type(v) in (int, float) for v in series.values)
    assert series.steps == [0, 1, 2, 3, 9]
    with pytest.raises(TypeError, match="not a number"):
        buffer.log_scalar("a", "high")
    with pytest.raises(TypeError, match="metric name must be a str"):
        buffer.log_scalar(3, 1.0)


def test_concurrent_drains_lose_no_point() -> None:
    buffer = MetricsBuffer()
    received: list[float] = []
    done = threading.Event()

    def drainer() -> None:
        while not done.is_set():
            for series in buffer.drain().values():
                received.extend(series.values)

    thread = threading.Thread(target=drainer)
    thread.start()
    for i in range(200_000):
        buffer.log_scalar("x", float(i))
    done.set()
    thread.join()
    for series in buffer.drain().values():
        received.extend(series.values)
    assert received == [float(i) for i in range(200_000)]
