"""Reading back the metric series of one run holding 1,000,000 points (target: under 1 s).

The points are written through the observer (one batch event of 1M points),
then ``SqlReader.metric_series`` is timed, fetching steps, values and timestamps.

    python benchmarks/sql_read_series.py [sqlite] [postgresql] [mariadb]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from types import MappingProxyType

POINTS = 1_000_000


def bench(backend: str) -> None:
    from gnomon.events import MetricSeries, MetricsEvent, StartedEvent, freeze
    from gnomon.observers.sql import SqlObserver, SqlReader
    from gnomon.observers.sql.testing import DatabaseUnavailable, fresh_database

    try:
        database = fresh_database(backend)
        url = database.__enter__()
    except DatabaseUnavailable as error:
        print(f"{backend:<11} skipped: {error}")
        return
    try:
        observer = SqlObserver(url)
        now = datetime.now(UTC)
        run_id = observer.on_started(
            StartedEvent(
                run_id=None, seq=0, time=now, experiment=freeze({"name": "bench"}), command="main",
                host=freeze({}), config=freeze({}), meta=freeze({}),
            )
        )
        stamp = now.timestamp()
        series = MetricSeries(list(range(POINTS)), [i * 0.5 for i in range(POINTS)], [stamp + i * 1e-3 for i in range(POINTS)])
        start = time.perf_counter()
        observer.on_metrics(MetricsEvent(run_id=run_id, seq=1, time=now, series=MappingProxyType({"loss": series})))
        written = time.perf_counter() - start
        observer.close()
        reader = SqlReader(url)
        reader.metric_series(run_id, "loss")  # warm the connection pool (not the data: fresh each call)
        start = time.perf_counter()
        steps, values, _stamps = reader.metric_series(run_id, "loss")
        took = time.perf_counter() - start
        reader.close()
        assert len(steps) == POINTS
        assert values[-1] == (POINTS - 1) * 0.5
        print(f"{backend:<11} read {POINTS} points of one series: {took:.3f} s (written in {written:.3f} s)")
    finally:
        database.__exit__(None, None, None)


def main() -> None:
    os.environ.setdefault("GNOMON_SPOOL_DIR", tempfile.mkdtemp(prefix="gnomon-bench-spool-"))
    for backend in sys.argv[1:] or ["sqlite", "postgresql"]:
        bench(backend)


if __name__ == "__main__":
    main()
