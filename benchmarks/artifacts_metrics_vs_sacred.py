"""add_artifact and log_scalar with file storage, gnomon against Sacred 0.8.7, in one run.

Prints, for gnomon and Sacred side by side (median of N fresh processes each, the
two sides interleaved so machine noise hits both alike), and the ratio
gnomon/Sacred of:

* **add_artifact of a 1 MB file, per call**: inside the experiment's main
  function, ``_run.add_artifact`` of one 1 MB file under 50 names, timed around
  the calls: what the training loop pays. gnomon copies the file into its staging
  folder (the stores hash and store it on their own threads); Sacred copies it
  into the run folder.
* **100k log_scalar, per point including the final flush**: the script of
  ``log_scalar.py``, ``t0`` before the loop to the run being complete with every
  point in ``metrics.json`` (checked), divided by the points.

Sacred 0.8.7 comes from ``--sacred-python`` or is installed once into a scratch
virtualenv by :func:`startup_vs_sacred.sacred_python`.

Targets: add_artifact ≤ 0.9× Sacred; log_scalar ≤ 0.05× Sacred per point.

    python benchmarks/artifacts_metrics_vs_sacred.py [-n 5] [--sacred-python PATH] [--only gnomon]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from log_scalar import one_run as log_scalar_run
from sides import (
    Side,
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
from startup_vs_sacred import sacred_python

ARTIFACT = """\
import json
import sys
import time

from {pkg} import Experiment
from {pkg}.observers import FileStorageObserver

ex = Experiment("artifacts")
ex.observers.append(FileStorageObserver(sys.argv[1]))
SOURCE, CALLS = sys.argv[2], int(sys.argv[3])
marks = {}


@ex.main
def main(_run):
    start = time.perf_counter()
    for i in range(CALLS):
        _run.add_artifact(SOURCE, name=f"model-{i}.bin")
    marks["calls"] = time.perf_counter() - start


if __name__ == "__main__":
    run = ex.run()
    print("BENCH-RESULT " + json.dumps({"status": run.status, "per_call": marks["calls"] / CALLS}))
"""

ARTIFACT_BYTES = 1_000_000
ARTIFACT_CALLS = 50
POINTS = 100_000
TARGETS = {"artifact": 0.9, "log_scalar": 0.05}


def artifact_run(side: Side, tmp: Path, index: int, source: Path) -> float:
    """Seconds per add_artifact call in one fresh process; checks every copy was stored."""
    workdir = tmp / f"artifact-{side.name}-{index}"
    script = write_script(workdir, "artifact_exp.py", side.render(ARTIFACT))
    storage = workdir / "runs"
    timed = run_timed(
        [side.python, script.name, str(storage), str(source), str(ARTIFACT_CALLS)],
        cwd=workdir,
        env=child_env(workdir),
    )
    if timed.returncode != 0:
        raise RuntimeError(failure(side, f"add_artifact run #{index}", timed))
    payload = result_payload(timed.stdout)
    (run_dir,) = [p for p in storage.iterdir() if p.name.isdigit()]
    stored = [p for p in run_dir.glob("model-*.bin") if p.stat().st_size == ARTIFACT_BYTES]
    if payload["status"] != "COMPLETED" or len(stored) != ARTIFACT_CALLS:
        raise RuntimeError(f"[{side.name}] add_artifact run #{index}: {len(stored)} of {ARTIFACT_CALLS} stored")
    return float(payload["per_call"])  # type: ignore[arg-type]


def point_run(side: Side, tmp: Path, index: int) -> float:
    """Seconds per point, loop start to run complete, in one fresh process; checks every point."""
    payload = log_scalar_run(side, tmp, index, POINTS)
    if payload["points_at_t1"] != POINTS or payload["status"] != "COMPLETED":
        raise RuntimeError(f"[{side.name}] log_scalar run #{index}: {payload['points_at_t1']} of {POINTS} points")
    return float(payload["t0_to_t1"]) / POINTS  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--repeat", type=int, default=5, help="fresh processes per side and row (default 5)")
    parser.add_argument("--gnomon-python", default=None, help="interpreter with gnomon (default: the repository's)")
    parser.add_argument("--sacred-python", default=None, help="interpreter with sacred 0.8.7 (default: a scratch venv)")
    parser.add_argument("--only", choices=["gnomon", "sacred"], help="run one side only")
    args = parser.parse_args(argv)
    if args.gnomon_python:  # the measured processes run in scratch folders
        args.gnomon_python = os.path.abspath(args.gnomon_python)
    if args.only != "gnomon":
        args.sacred_python = sacred_python(args.sacred_python)
    sides = sides_from(args)
    if not sides:
        print("no side can run")
        return 1

    results: dict[tuple[str, str], list[float]] = {}
    broken: dict[str, str] = {}
    with scratch("artifacts-metrics") as tmp:
        source = tmp / "model.bin"
        source.write_bytes(os.urandom(ARTIFACT_BYTES))
        for index in range(args.repeat):
            for row, measure in (
                ("artifact", lambda s, i: artifact_run(s, tmp, i, source)),
                ("log_scalar", lambda s, i: point_run(s, tmp, i)),
            ):
                for side in sides:
                    if side.name in broken:
                        continue
                    try:
                        results.setdefault((row, side.name), []).append(measure(side, index))
                    except (RuntimeError, ValueError, KeyError) as error:
                        broken[side.name] = str(error)
    for name, message in broken.items():
        print(f"\n{message}\n[{name}] left out of the figures")

    def med(row: str, name: str) -> float | None:
        values = results.get((row, name))
        return median(values) if values and name not in broken else None

    rows, verdicts = [], []
    for row, label, unit, scale in (
        ("artifact", "add_artifact of a 1 MB file, per call", "ms", 1e3),
        ("log_scalar", "100k log_scalar, per point incl. final flush", "µs", 1e6),
    ):
        g, s = med(row, "gnomon"), med(row, "sacred")
        cells = [f"{v * scale:8.2f} {unit}" if v is not None else "-" for v in (g, s)]
        rows.append([label, *cells, ratio_text(g, s)])
        ratio = g / s if g is not None and s else None
        verdicts.append(f"{label}: gnomon/sacred <= {TARGETS[row]}: {verdict(ratio, TARGETS[row])}")
    print_table(
        f"file storage, median of {args.repeat} fresh processes per side",
        ["measurement", "gnomon", "sacred 0.8.7", "gnomon/sacred"],
        rows,
    )
    print()
    print("\n".join(verdicts))
    return 0 if not broken else 1


if __name__ == "__main__":
    sys.exit(main())
