"""Reading runs back with the query API, on every store, against the floors users have today.

Builds synthetic stores once (runs with a nested config and 3 metrics × 100 points,
written through the real observers; cached between invocations in the scratch folder
and in databases named ``gnomon_bench_query_<n>``), then prints, in one run:

* R1: 2,000 runs → DataFrame (config + metric summaries), warm, per store; against a
  hand-written file walk (orjson + flatten + DataFrame), a raw pymongo ``find`` of the
  same fields, and Incense (when installed) on the same Mongo data.
* R2: the same on a cold file store (no ``_gnomon`` index).
* R3: 10,000 runs → DataFrame, warm, per store.  R4: refresh after one new run among 10k.
* R6: metric series of 500 runs × 2 metrics: backend queries counted.
* R7: a 1,000,000-point metric → ≤ 4,000 points, cold and warm.

    python benchmarks/query.py [--stores file,sqlite,postgresql,mariadb,mongodb] [--sizes 2000,10000]

Targets: R1 ≤ 0.15 s (file, SQL) and ≤ 1.5× the raw find (Mongo); R2 ≤ 1.0 s; R3 ≤ 0.5 s;
R4 ≤ 0.15 s; R6 ≤ 2 queries; R7 ≤ 0.1 s warm.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

from stored_runs import POINTS, populate

SCRATCH = Path(os.environ.get("GNOMON_BENCH_DIR", Path(tempfile.gettempdir()) / "gnomon-bench-query"))
PG = os.environ.get("GNOMON_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
MY = os.environ.get("GNOMON_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test")


def median_time(fn: Callable[[], Any], repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


# ------------------------------------------------------------------ the data --


def _sql_url(kind: str, n: int) -> str:
    import sqlalchemy as sa

    from gnomon.observers.sql.url import engine_url

    admin_url = engine_url(PG if kind == "postgresql" else MY)
    name = f"gnomon_bench_query_{n}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if kind == "postgresql":
            exists = conn.exec_driver_sql(f"SELECT 1 FROM pg_database WHERE datname = '{name}'").first()
            if not exists:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        else:
            conn.exec_driver_sql(f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    admin.dispose()
    return admin_url.set(database=name).render_as_string(hide_password=False)


@contextlib.contextmanager
def mongo_server() -> Iterator[str]:
    """A SecantusDB server on a free port, with its data in the scratch folder (kept between runs)."""
    import socket

    import pymongo

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    folder = SCRATCH / "mongo"
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "secantusd.toml"
    config.write_text("")  # an explicit, empty config: no machine-wide one applies
    (folder / "data").mkdir(exist_ok=True)
    process = subprocess.Popen(
        [sys.executable, "-m", "secantus", "--config", str(config), "--host", "127.0.0.1", "--port", str(port),
         "--storage-path", str(folder / "data"), "--log-level", "WARNING"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
    )
    url = f"mongodb://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            pymongo.MongoClient(url, serverSelectionTimeoutMS=500).admin.command("ping")
            break
        except pymongo.errors.PyMongoError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise SystemExit("SecantusDB did not start; see `python -m secantus --help`") from None
            time.sleep(0.2)
    try:
        yield url
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()


def store_url(kind: str, n: int, mongo: str | None) -> str:
    """The URL of a store of ``kind`` holding ``n`` runs, built on first use."""
    import gnomon

    if kind == "file":
        url = str(SCRATCH / f"file-{n}")
    elif kind == "sqlite":
        SCRATCH.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{SCRATCH / f'sqlite-{n}.db'}"
    elif kind in ("postgresql", "mariadb"):
        url = _sql_url(kind, n)
    else:
        url = f"{mongo}/gnomon_bench_query_{n}"
    try:
        with gnomon.open(url) as store:
            have = store.runs().count()
    except gnomon.StoreError:
        have = 0
    if have != n:
        print(f"  building {kind} store of {n} runs (had {have}) ...", flush=True)
        started = time.perf_counter()
        _wipe(kind, url)
        populate(_observer(kind, url), n)
        print(f"  built in {time.perf_counter() - started:.0f} s", flush=True)
    return url


def _observer(kind: str, url: str) -> Any:
    from gnomon.observers import FileStorageObserver, MongoObserver, SqlObserver

    if kind == "file":
        return FileStorageObserver(url)
    return MongoObserver(url) if kind == "mongodb" else SqlObserver(url)


def _wipe(kind: str, url: str) -> None:
    if kind == "file":
        shutil.rmtree(url, ignore_errors=True)
    elif kind == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(url.removeprefix("sqlite:///") + suffix).unlink(missing_ok=True)
    elif kind == "mongodb":
        import pymongo

        base, _, db = url.rpartition("/")
        pymongo.MongoClient(base).drop_database(db)
    else:
        import sqlalchemy as sa

        from gnomon.observers.sql.url import engine_url

        engine = sa.create_engine(engine_url(url))
        meta = sa.MetaData()
        meta.reflect(engine)
        meta.drop_all(engine)
        engine.dispose()


# --------------------------------------------------------------- the floors --


def file_walk(folder: str) -> Any:
    """What a user writes by hand: read run.json, config.json and metrics.json of every run, flatten, DataFrame."""
    import orjson
    import pandas as pd

    rows = []
    for entry in os.scandir(folder):
        if not entry.name.isdigit():
            continue
        run = orjson.loads(Path(entry.path, "run.json").read_bytes())
        config = orjson.loads(Path(entry.path, "config.json").read_bytes())
        metrics = orjson.loads(Path(entry.path, "metrics.json").read_bytes())
        row = {"run_id": entry.name, "status": run.get("status"), "start_time": run.get("start_time")}
        stack = [("config", config)]
        while stack:
            prefix, value = stack.pop()
            for key, item in value.items():
                if isinstance(item, dict):
                    stack.append((f"{prefix}.{key}", item))
                else:
                    row[f"{prefix}.{key}"] = item
        for name, series in metrics.items():
            values = series["values"]
            row[f"metrics.{name}.last"] = values[-1]
            row[f"metrics.{name}.min"] = min(values)
            row[f"metrics.{name}.max"] = max(values)
        rows.append(row)
    return pd.DataFrame.from_records(rows, index="run_id")


def raw_find(url: str) -> Any:
    import pandas as pd
    import pymongo

    base, _, db = url.rpartition("/")
    client = pymongo.MongoClient(base)
    docs = list(client[db].runs.find({}, {"config": 1, "status": 1, "start_time": 1, "stop_time": 1, "heartbeat": 1,
                                           "experiment.name": 1, "host.hostname": 1, "result": 1, "gnomon": 1}))
    client.close()
    return pd.json_normalize(docs)


INCENSE = """
import sys, time
from incense import ExperimentLoader
base, db = sys.argv[1], sys.argv[2]
loader = ExperimentLoader(mongo_uri=base, db_name=db)
start = time.perf_counter()
frame = loader.find_all().project(on=["config.lr", "config.model.depth", {"metrics.loss": min}])
print(time.perf_counter() - start, len(frame))
"""


def incense_time(url: str, python: str) -> float | None:
    """Incense's ``find_all().project(...)`` on the same database, timed in its own environment (it needs Sacred)."""
    if not Path(python).exists():
        return None
    base, _, db = url.rpartition("/")
    done = subprocess.run([python, "-c", INCENSE, base, db], capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        print(f"  (Incense failed: {done.stderr.strip().splitlines()[-1:]})")
        return None
    return float(done.stdout.split()[0])


# ---------------------------------------------------------------- measuring --


def df_time(url: str, repeat: int = 5) -> float:
    import gnomon

    with gnomon.open(url) as store:
        store.runs().df()  # warm: indexes, connections, caches
        return median_time(lambda: store.runs().df(), repeat)


def count_queries(kind: str, url: str) -> int:
    """Backend queries made by ``runs(limit=500).metrics([...])`` (SQL statements or Mongo commands)."""
    import gnomon

    with gnomon.open(url) as store:
        runs = store.runs(limit=500, order_by="start_time")
        runs.rows()
        counter = {"n": 0}
        if kind in ("sqlite", "postgresql", "mariadb"):
            import sqlalchemy as sa

            engine = store.backend.engine

            def count(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
                if statement.lstrip().upper().startswith(("SELECT", "WITH")):  # not BEGIN, PRAGMA ...
                    counter["n"] += 1

            sa.event.listen(engine, "before_cursor_execute", count)
            frame = runs.metrics(["loss", "acc"])
            sa.event.remove(engine, "before_cursor_execute", count)
        elif kind == "mongodb":
            from pymongo import monitoring

            class Listener(monitoring.CommandListener):
                def started(self, event: Any) -> None:
                    if event.command_name in ("find", "aggregate", "getMore"):
                        counter["n"] += 1

                def succeeded(self, event: Any) -> None: ...

                def failed(self, event: Any) -> None: ...

            listener = Listener()
            monitoring.register(listener)
            # A listener only sees clients made after registering it: open the store again.
            with gnomon.open(url) as counted:
                counted_runs = counted.runs(limit=500, order_by="start_time")
                counted_runs.rows()
                counter["n"] = 0
                frame = counted_runs.metrics(["loss", "acc"])
            monitoring._LISTENERS.command_listeners.remove(listener)
        else:
            frame = runs.metrics(["loss", "acc"])
            counter["n"] = -1  # file storage reads files, not queries
        assert len(frame) == min(500, len(runs.ids)) * 2 * POINTS, len(frame)
    return counter["n"]


def big_series(kind: str, mongo: str | None) -> tuple[float, float, int]:
    """Cold and warm seconds to read a 1M-point metric as ≤ 4,000 points, and the points returned."""
    import gnomon
    from gnomon.events import MetricSeries, MetricsEvent, StartedEvent, freeze

    n = 1_000_000
    if kind == "file":
        url = str(SCRATCH / "file-big")
    elif kind == "sqlite":
        url = f"sqlite:///{SCRATCH / 'sqlite-big.db'}"
    elif kind == "mongodb":
        url = f"{mongo}/gnomon_bench_query_big"
    else:
        url = _sql_url(kind, 1)
    try:
        with gnomon.open(url) as store:
            have = store.runs().count()
    except gnomon.StoreError:
        have = 0
    if have != 1:
        _wipe(kind, url)
        observer = _observer(kind, url)
        t0 = datetime(2026, 1, 1, tzinfo=UTC)
        run_id = observer.on_started(StartedEvent(
            run_id=None, seq=0, time=t0, experiment=freeze({"name": "big"}), command="main", host=freeze({}),
            config=freeze({}), meta=freeze({})))
        for chunk in range(10):
            lo = chunk * (n // 10)
            steps = list(range(lo, lo + n // 10))
            series = MetricSeries(steps, [float(s % 1000) for s in steps], [t0.timestamp() + s * 1e-3 for s in steps])
            observer.on_metrics(MetricsEvent(run_id=run_id, seq=1 + chunk, time=t0, series=MappingProxyType({"loss": series})))
        observer.close()
    with gnomon.open(url) as store:
        run = next(iter(store.runs()))
        start = time.perf_counter()
        frame = run.metric("loss", max_points=4000)
        cold = time.perf_counter() - start
        warm = median_time(lambda: run.metric("loss", max_points=4000), 5)
    return cold, warm, len(frame)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stores", default="file,sqlite,postgresql,mariadb,mongodb")
    parser.add_argument("--sizes", default="2000,10000")
    parser.add_argument(
        "--incense-python", default="/tmp/sacred-venv/bin/python",
        help="an interpreter with Incense installed (pip install incense), run on the Mongo store",
    )
    args = parser.parse_args()
    os.environ.setdefault("GNOMON_SPOOL_DIR", str(SCRATCH / "spool"))
    kinds = args.stores.split(",")
    sizes = [int(s) for s in args.sizes.split(",")]
    SCRATCH.mkdir(parents=True, exist_ok=True)
    mongo_context = mongo_server() if "mongodb" in kinds else contextlib.nullcontext(None)
    with mongo_context as mongo:
        results: dict[tuple[str, int], float] = {}
        for n in sizes:
            print(f"\n== {n} runs → DataFrame (config + metric summaries), warm, median of 5")
            for kind in kinds:
                url = store_url(kind, n, mongo)
                took = df_time(url)
                results[(kind, n)] = took
                target = 0.15 if n <= 2000 else 0.5
                line = f"  {kind:<11} {took:7.3f} s"
                if kind == "file":
                    walk = median_time(lambda u=url: file_walk(u), 3)
                    line += f"   hand-written file walk {walk:.3f} s (ratio {took / walk:.2f}×)"
                if kind == "mongodb":
                    find = median_time(lambda u=url: raw_find(u), 5)
                    line += f"   raw find {find:.3f} s (ratio {took / find:.2f}×, target ≤ 1.5×)"
                    inc = incense_time(url, args.incense_python) if n <= 2000 else None
                    if inc is not None:
                        line += f"   Incense {inc:.3f} s (ratio {took / inc:.3f}×)"
                else:
                    line += f"   target ≤ {target} s {'met' if took <= target else 'MISSED'}"
                print(line, flush=True)
            if "file" in kinds:
                url = str(SCRATCH / f"file-{n}")
                import gnomon

                shutil.rmtree(Path(url, "_gnomon"), ignore_errors=True)
                start = time.perf_counter()
                with gnomon.open(url) as store:
                    store.runs().df()
                cold = time.perf_counter() - start
                print(f"  file, cold (no _gnomon index): {cold:.3f} s (target ≤ {1.0 if n <= 2000 else '-'} s)")
                with gnomon.open(url) as store:
                    runs = store.runs()
                    runs.df()
                    populate(_observer("file", url), 1, start_index=n)
                    start = time.perf_counter()
                    changes = runs.refresh()
                    took = time.perf_counter() - start
                    print(f"  file, refresh after one new run: {took:.3f} s ({len(changes.added)} added; target ≤ 0.15 s)")
                shutil.rmtree(Path(url, str(n + 1)))
        print("\n== metric series of 500 runs × 2 metrics: backend queries (target ≤ 2)")
        for kind in kinds:
            if kind == "file":
                continue
            print(f"  {kind:<11} {count_queries(kind, store_url(kind, sizes[0], mongo))} queries")
        print("\n== a 1,000,000-point metric → ≤ 4,000 points (target warm ≤ 0.1 s)")
        for kind in kinds:
            cold, warm, points = big_series(kind, mongo)
            print(f"  {kind:<11} cold {cold:.3f} s, warm {warm:.4f} s, {points} points")


if __name__ == "__main__":
    main()
