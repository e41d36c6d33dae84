"""Creating a run in a growing MongoDB: with 2,000 runs stored versus none, gnomon versus Sacred.

Each side runs RUNS empty experiments in one process against a fresh database and
reports the median time of ``ex.run()`` (id allocation, run document, sources,
end of the run); then 2,000 Sacred-shaped run documents (about 10 kB each) are
inserted and the same is measured again. A run's creation should not depend on
how many runs the database holds.

Target: gnomon's median with 2,000 runs at most 1.2× its median with none.

    python benchmarks/mongo_start_scaling.py [--runs 20] [--stored 2000]
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from mongo_side import mongo_server
from sides import (
    Side,
    add_side_options,
    child_env,
    failure,
    print_table,
    result_payload,
    run_timed,
    scratch,
    sides_from,
    verdict,
    write_script,
)

SCRIPT = """\
import json
import logging
import statistics
import sys
import time

from {pkg} import Experiment
from {pkg}.observers import MongoObserver

URL, DB, RUNS = sys.argv[1], sys.argv[2], int(sys.argv[3])
logging.getLogger().setLevel(logging.ERROR)
ex = Experiment("start_scaling")
ex.observers.append(MongoObserver(url=URL, db_name=DB))


@ex.main
def main():
    return 1


if __name__ == "__main__":
    ex.run()  # connection, indexes: not what is measured
    times = []
    for _ in range(RUNS):
        t0 = time.perf_counter()
        run = ex.run()
        for observer in ex.observers:
            join = getattr(observer, "join", None)
            if callable(join):
                join()
        times.append(time.perf_counter() - t0)
    print("BENCH-RESULT " + json.dumps({"median": statistics.median(times), "last_id": str(run._id)}))
"""

TARGET_RATIO = 1.2


def fill(db, count: int) -> None:
    """Insert ``count`` finished, Sacred-shaped run documents with the next integer ids."""
    last = db.runs.find_one(sort=[("_id", -1)]) or {"_id": 0}
    now = datetime.now(UTC)
    docs = [
        {
            "_id": last["_id"] + 1 + i, "format": "MongoObserver-0.7.0", "command": "main", "status": "COMPLETED",
            "experiment": {"name": "filler"}, "config": {"seed": i}, "start_time": now, "stop_time": now,
            "heartbeat": now, "captured_out": "x" * 10_000, "info": {}, "result": i, "artifacts": [], "resources": [],
        }
        for i in range(count)
    ]
    db.runs.insert_many(docs)


def measure(side: Side, tmp, url: str, db_name: str, runs: int, label: str) -> float:
    workdir = tmp / f"{side.name}-{label}"
    script = write_script(workdir, "start_exp.py", side.render(SCRIPT))
    timed = run_timed([side.python, script.name, url, db_name, str(runs)], cwd=workdir, env=child_env(workdir))
    if timed.returncode != 0:
        raise RuntimeError(failure(side, label, timed))
    return float(result_payload(timed.stdout)["median"])  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--stored", type=int, default=2000)
    add_side_options(parser)
    args = parser.parse_args(argv)
    import pymongo

    rows, ratios = [], {}
    with mongo_server() as (host, port), scratch("mongo-start") as tmp:
        client = pymongo.MongoClient(host, port)
        url = f"mongodb://{host}:{port}/?directConnection=true"
        for side in sides_from(args):
            db_name = f"start_{side.name}"
            try:
                empty = measure(side, tmp, url, db_name, args.runs, "empty")
                fill(client[db_name], args.stored)
                full = measure(side, tmp, url, db_name, args.runs, "full")
            except RuntimeError as error:
                print(error)
                continue
            ratios[side.name] = full / empty
            rows.append([side.name, f"{empty * 1e3:.1f} ms", f"{full * 1e3:.1f} ms", f"{full / empty:.2f}×"])
        client.close()
    print_table(
        f"median ex.run() of an empty experiment, {args.runs} runs per point",
        ["side", "no runs stored", f"{args.stored:,} more stored", "growth"],
        rows,
    )
    g = ratios.get("gnomon")
    print(f"\ntarget: gnomon's run creation grows at most {TARGET_RATIO}×: {verdict(g, TARGET_RATIO)}"
          + (f" ({g:.2f}×)" if g is not None else ""))
    return 0 if g is not None and g <= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
