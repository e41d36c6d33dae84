"""Finished runs written straight through an observer's event methods: the stores the read benchmarks read.

benchmarks/query.py and benchmarks/cli.py measure reading the same kind of store
(a config of nested sections, three metrics of POINTS points each, a heartbeat
and a result per run), so both build it here: figures from the two stay
comparable. Writing events directly skips running thousands of experiments.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

METRICS = ("loss", "val/loss", "acc")
POINTS = 100


def run_config(i: int) -> dict[str, Any]:
    """The config of the ``i``-th run: nested sections, values that vary with ``i``."""
    return {
        "seed": i,
        "lr": 10 ** -(1 + i % 4),
        "batch_size": 2 ** (4 + i % 5),
        "epochs": 10,
        "model": {
            "name": ["mlp", "cnn", "rnn"][i % 3],
            "depth": 2 + i % 6,
            "width": [64, 128],
            "dropout": 0.1 * (i % 5),
            "act": {"name": "relu", "slope": 0.01},
        },
        "optim": {"name": ["adam", "sgd"][i % 2], "beta1": 0.9, "beta2": 0.999, "weight_decay": 1e-4},
        "data": {"path": f"/data/set-{i % 7}", "augment": bool(i % 2), "split": [0.8, 0.1, 0.1]},
    }


def populate(observer: Any, n: int, start_index: int = 0) -> None:
    """Write ``n`` finished runs (the ``start_index``-th on) through ``observer``, then close it."""
    from gnomon.events import CompletedEvent, HeartbeatEvent, MetricSeries, MetricsEvent, StartedEvent, freeze

    base = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(start_index, start_index + n):
        t0 = base + timedelta(minutes=i)
        experiment = {
            "name": f"exp{i % 4}",
            "sources": [],
            "dependencies": [],
            "repositories": [],
            "base_dir": "/b",
            "mainfile": "m.py",
        }
        run_id = observer.on_started(
            StartedEvent(
                run_id=None,
                seq=0,
                time=t0,
                experiment=freeze(experiment),
                command="main",
                host=freeze({"hostname": f"node{i % 9}", "os": ["Linux", "x"], "python_version": "3.11"}),
                config=freeze(run_config(i)),
                meta=freeze({"command": "main", "options": {}, "beat_interval": 10.0, "pid": 1}),
            )
        )
        stamp = t0.timestamp()
        series = {
            name: MetricSeries(
                list(range(POINTS)),
                [1.0 / (k + 1 + j + i % 10) for j in range(POINTS)],
                [stamp + j for j in range(POINTS)],
            )
            for k, name in enumerate(METRICS)
        }
        observer.on_metrics(MetricsEvent(run_id=run_id, seq=1, time=t0, series=MappingProxyType(series)))
        observer.on_heartbeat(
            HeartbeatEvent(run_id=run_id, seq=2, time=t0 + timedelta(seconds=50), info=freeze({"n": i}))
        )
        observer.on_completed(CompletedEvent(run_id=run_id, seq=3, time=t0 + timedelta(seconds=60), result=float(i)))
    if hasattr(observer, "flush"):
        observer.flush()
    observer.close()
