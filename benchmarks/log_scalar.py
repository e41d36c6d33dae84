"""Metric logging: 100,000 ``_run.log_scalar`` calls with file storage, gnomon versus Sacred.

The experiment's main function logs ``_run.log_scalar("loss", float(i))`` for
i in 0..N-1 and returns. Inside the script, ``t0`` is taken just before the
loop, ``loop`` just after it, and ``t1`` once ``ex.run()`` has returned and every
observer has been joined, i.e. when the run is complete and, by contract,
every point is on disk. Right at ``t1`` the script reads ``metrics.json`` and
counts the points, so a point written later (at interpreter exit) does not
count. Reported per side, median over the repetitions:

* µs per call    = (loop - t0) / N   what the training loop pays;
* µs per point   = (t1 - t0) / N     including the final flush to disk.

Target: gnomon ≤ 1 µs per point (Sacred 0.8.7 was measured at 7.9).

    python benchmarks/log_scalar.py [-n 100000] [-r 3] [--sacred-python PATH]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sides import (
    Side,
    add_side_options,
    child_env,
    failure,
    fmt_seconds,
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
import os
import sys
import time

from {pkg} import Experiment
from {pkg}.observers import FileStorageObserver

STORAGE = sys.argv[1]
N = int(sys.argv[2])

ex = Experiment("log_scalar")
ex.observers.append(FileStorageObserver(STORAGE))
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
    path = os.path.join(STORAGE, str(run._id), "metrics.json")
    try:
        with open(path, encoding="utf-8") as stream:
            loss = json.load(stream).get("loss", {})
    except (OSError, ValueError) as error:
        loss = {"error": repr(error)}
    values = loss.get("values", [])
    print("BENCH-RESULT " + json.dumps({
        "status": run.status,
        "t0_to_loop": marks["loop"] - marks["t0"],
        "t0_to_t1": t1 - marks["t0"],
        "points_at_t1": len(values),
        "steps_ok": loss.get("steps", [])[:1] == [0] and loss.get("steps", [])[-1:] == [N - 1],
        "values_ok": values[:1] == [0.0] and values[-1:] == [float(N - 1)],
        "error": loss.get("error"),
    }))
"""

TARGET_US_PER_POINT = 1.0
SACRED_REFERENCE_US = 7.9


def one_run(side: Side, tmp: Path, index: int, points: int) -> dict[str, object]:
    """Run the script once; returns its BENCH-RESULT payload plus the process time."""
    workdir = tmp / f"{side.name}-{index}"
    script = write_script(workdir, "log_scalar_exp.py", side.render(SCRIPT))
    storage = workdir / "runs"
    timed = run_timed(
        [side.python, script.name, str(storage), str(points)], cwd=workdir, env=child_env(workdir)
    )
    if timed.returncode != 0:
        raise RuntimeError(failure(side, f"run #{index}", timed))
    payload = result_payload(timed.stdout)
    payload["process"] = timed.seconds
    return payload


def _cell(value: float | None, in_microseconds: bool) -> str:
    if value is None:
        return "-"
    return f"{value:8.2f} µs" if in_microseconds else fmt_seconds(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "-n",
        "--points",
        type=int,
        default=100_000,
        help="log_scalar calls per run (default 100000)",
    )
    parser.add_argument("-r", "--repeat", type=int, default=3, help="runs per side (default 3)")
    add_side_options(parser)
    args = parser.parse_args(argv)

    sides = sides_from(args)
    if not sides:
        print("no side can run")
        return 1
    results: dict[str, list[dict[str, object]]] = {s.name: [] for s in sides}
    broken: dict[str, str] = {}
    with scratch("log-scalar") as tmp:
        for index in range(args.repeat):
            for side in sides:
                if side.name in broken:
                    continue
                try:
                    results[side.name].append(one_run(side, tmp, index, args.points))
                except (RuntimeError, ValueError) as error:
                    broken[side.name] = str(error)
    for name, message in broken.items():
        print(f"\n{message}\n[{name}] left out of the figures")

    def med(name: str, key: str) -> float | None:
        values = [float(r[key]) for r in results.get(name, [])]  # type: ignore[arg-type]
        return median(values) if values and name not in broken else None

    n = args.points
    rows = []
    for label, key, in_microseconds in (
        ("µs per call, inside the loop", "t0_to_loop", True),
        ("µs per point, incl. final flush", "t0_to_t1", True),
        ("loop start to run complete", "t0_to_t1", False),
        ("whole process", "process", False),
    ):
        g, s = med("gnomon", key), med("sacred", key)
        if in_microseconds:
            g = g / n * 1e6 if g is not None else None
            s = s / n * 1e6 if s is not None else None
        rows.append([label, _cell(g, in_microseconds), _cell(s, in_microseconds), ratio_text(g, s)])
    print_table(
        f"{n:,} log_scalar calls, file storage, median of {args.repeat} runs",
        ["measurement", "gnomon", "sacred 0.8.7", "gnomon/sacred"],
        rows,
    )

    ok = not broken
    print()
    for name, runs in results.items():
        if name in broken:
            continue
        for i, r in enumerate(runs):
            complete = r["points_at_t1"] == n and r["steps_ok"] and r["values_ok"]
            ok = ok and bool(complete) and r["status"] == "COMPLETED"
            print(
                f"[{name}] run {i}: status {r['status']}, "
                f"metrics.json holds {r['points_at_t1']:,} of {n:,} points at t1"
                + ("" if complete else " -- INCOMPLETE")
                + (f" ({r['error']})" if r.get("error") else "")
            )
    g = med("gnomon", "t0_to_t1")
    per_point = g / n * 1e6 if g is not None else None
    print(
        f"\ntarget: gnomon <= {TARGET_US_PER_POINT} µs per point including the flush "
        f"(Sacred measured {SACRED_REFERENCE_US}): {verdict(per_point, TARGET_US_PER_POINT)}"
        + (f" ({per_point:.2f} µs)" if per_point is not None else "")
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
