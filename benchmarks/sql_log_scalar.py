"""100,000 log_scalar calls into SQLite and PostgreSQL, the final flush included.

Prints, per backend, the time from the first ``log_scalar`` to the run's end with
every point committed (the run's drain waits for the observer), and the cost per
point. The database is created and migrated before timing: the figure is what a
training loop pays, not the one-off schema set-up. Compare: MLflow's batched
SQLite store takes about 13 s for the same work; Sacred's SQL observer stores no
metrics at all.

    python benchmarks/sql_log_scalar.py [sqlite] [postgresql] [mariadb]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

POINTS = 100_000


def bench(backend: str) -> None:
    from gnomon.observers.sql import SqlObserver, SqlReader
    from gnomon.observers.sql.testing import DatabaseUnavailable, fresh_database
    from gnomon.run import Run

    try:
        database = fresh_database(backend)
        url = database.__enter__()
    except DatabaseUnavailable as error:
        print(f"{backend:<11} skipped: {error}")
        return
    try:
        observer = SqlObserver(url)
        _ = observer.engine  # create and migrate the schema before timing
        clock: dict[str, float] = {}

        def main() -> None:
            clock["start"] = time.perf_counter()
            log = run.log_scalar
            for i in range(POINTS):
                log("loss", 1.0 / (i + 1))
            clock["logged"] = time.perf_counter()

        run = Run(config={}, main_function=main, observers=[observer])
        run.capture_mode = "no"
        run()
        end = time.perf_counter()
        observer.close()
        reader = SqlReader(url)
        stored = len(reader.metric_series(run._id, "loss")[0])
        reader.close()
        assert stored == POINTS, stored
        total = end - clock["start"]
        print(
            f"{backend:<11} {POINTS} log_scalar + final flush: {total:.3f} s "
            f"({total / POINTS * 1e6:.2f} µs/point; the calls alone {clock['logged'] - clock['start']:.3f} s)"
        )
    finally:
        database.__exit__(None, None, None)


def main() -> None:
    os.environ.setdefault("GNOMON_SPOOL_DIR", tempfile.mkdtemp(prefix="gnomon-bench-spool-"))
    for backend in sys.argv[1:] or ["sqlite", "postgresql"]:
        bench(backend)


if __name__ == "__main__":
    main()
