"""Metric logging into MongoDB: 100,000 ``_run.log_scalar`` calls, gnomon versus Sacred.

Both sides run the same script with a MongoObserver on the same SecantusDB
server (a fresh database per run). ``t0`` is taken before the loop, ``t1`` once
``ex.run()`` returned and the observers were joined; right at ``t1`` the script
counts the points in the ``metrics`` collection, so only points stored by then
count. Reported per side, median over the repetitions: µs per point from ``t0`` to
``t1`` (loop plus final flush).

Target: gnomon at least 5× faster than Sacred (Sacred: 5.7 µs per point on SecantusDB).

    python benchmarks/mongo_log_scalar.py [-n 100000] [-r 3] [--sacred-python PATH]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mongo_side import mongo_server
from sides import (
    Side,
    add_side_options,
    child_env,
    failure,
    median,
    print_table,
    ratio_text,
    result_payload,
    run_timed,
    scratch,
    sides_from,
    verdict,
    write_script,
)

SCRIPT = """\
import json
import sys
import time

import pymongo
from {pkg} import Experiment
from {pkg}.observers import MongoObserver

URL, DB, N = sys.argv[1], sys.argv[2], int(sys.argv[3])
ex = Experiment("mongo_log_scalar")
ex.observers.append(MongoObserver(url=URL, db_name=DB))
marks = {}


@ex.main
def main(_run):
    marks["t0"] = time.perf_counter()
    for i in range(N):
        _run.log_scalar("loss", float(i))
    marks["loop"] = time.perf_counter()


if __name__ == "__main__":
    run = ex.run()
    for observer in ex.observers:
        join = getattr(observer, "join", None)
        if callable(join):
            join()
    t1 = time.perf_counter()
    client = pymongo.MongoClient(URL)
    points = sum(len(d["values"]) for d in client[DB].metrics.find({"name": "loss"}, {"values": 1}))
    client.close()
    print("BENCH-RESULT " + json.dumps({
        "status": run.status, "t0_to_loop": marks["loop"] - marks["t0"],
        "t0_to_t1": t1 - marks["t0"], "points_at_t1": points,
    }))
"""

TARGET_SPEEDUP = 5.0


def one_run(side: Side, tmp: Path, index: int, points: int, url: str) -> dict[str, object]:
    workdir = tmp / f"{side.name}-{index}"
    script = write_script(workdir, "mongo_log_scalar_exp.py", side.render(SCRIPT))
    timed = run_timed(
        [side.python, script.name, url, f"{side.name}{index}", str(points)], cwd=workdir, env=child_env(workdir)
    )
    if timed.returncode != 0:
        raise RuntimeError(failure(side, f"run #{index}", timed))
    return result_payload(timed.stdout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--points", type=int, default=100_000)
    parser.add_argument("-r", "--repeat", type=int, default=3)
    add_side_options(parser)
    args = parser.parse_args(argv)
    sides = sides_from(args)
    results: dict[str, list[dict[str, object]]] = {s.name: [] for s in sides}
    with mongo_server() as (host, port), scratch("mongo-log-scalar") as tmp:
        url = f"mongodb://{host}:{port}"
        for index in range(args.repeat):
            for side in sides:
                try:
                    results[side.name].append(one_run(side, tmp, index, args.points, url))
                except RuntimeError as error:
                    print(error)
    n = args.points

    def per_point(name: str, key: str) -> float | None:
        runs = results.get(name) or []
        return median([float(r[key]) for r in runs]) / n * 1e6 if runs else None  # type: ignore[arg-type]

    rows = []
    for label, key in (("µs per call, inside the loop", "t0_to_loop"), ("µs per point, incl. final flush", "t0_to_t1")):
        g, s = per_point("gnomon", key), per_point("sacred", key)
        rows.append([label, f"{g:.2f}" if g else "-", f"{s:.2f}" if s else "-", ratio_text(g, s)])
    print_table(f"{n:,} log_scalar calls into MongoDB (SecantusDB), median of {args.repeat}",
                ["measurement", "gnomon", "sacred 0.8.7", "gnomon/sacred"], rows)
    ok = True
    for name, runs in results.items():
        for i, r in enumerate(runs):
            complete = r["points_at_t1"] == n and r["status"] == "COMPLETED"
            ok = ok and (complete or name == "sacred")
            print(f"[{name}] run {i}: status {r['status']}, {r['points_at_t1']:,} of {n:,} points stored at t1")
    g, s = per_point("gnomon", "t0_to_t1"), per_point("sacred", "t0_to_t1")
    speedup = s / g if g and s else None
    print(f"\ntarget: gnomon >= {TARGET_SPEEDUP}x faster than Sacred per point incl. flush: "
          + (verdict(-speedup, -TARGET_SPEEDUP) + f" ({speedup:.1f}x)" if speedup else "not measured"))
    return 0 if ok and (speedup is None or speedup >= TARGET_SPEEDUP) else 1


if __name__ == "__main__":
    sys.exit(main())
