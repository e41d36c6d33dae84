"""Draining the log_scalar buffer while another thread logs loses and repeats nothing."""

from __future__ import annotations

import threading

from gnomon.metrics import MetricsBuffer


def test_points_drained_while_another_thread_logs_arrive_once_and_in_order() -> None:
    buffer = MetricsBuffer()
    count = 200_000
    done = threading.Event()

    def log() -> None:
        for i in range(count):
            buffer.log_scalar("loss", float(i))
            if i % 3 == 0:
                buffer.log_scalar("acc", i, step=i)
        done.set()

    steps: dict[str, list[int]] = {"loss": [], "acc": []}
    values: dict[str, list[float]] = {"loss": [], "acc": []}
    drains = 0
    writer = threading.Thread(target=log)
    writer.start()
    while not done.is_set() or len(buffer):
        for name, series in buffer.drain().items():
            steps[name] += series.steps
            values[name] += series.values
            assert len(series.steps) == len(series.values) == len(series.timestamps)
        drains += 1
    writer.join()

    assert drains > 1 and len(buffer) == 0 and buffer.drain() == {}
    assert steps["loss"] == list(range(count)) and values["loss"] == [float(i) for i in range(count)]
    assert steps["acc"] == list(range(0, count, 3)) == values["acc"]
