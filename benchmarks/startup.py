"""Whole-process start-up: a hello-world run with file storage, gnomon versus Sacred.

Measures, for each side, the median wall-clock time of N processes of

* ``python -c pass``               (the interpreter alone),
* ``python -c "import <pkg>"``     (importing the framework),
* ``python hello.py -F <tmpdir>``  (a complete recorded run: config, capture,
  host and source collection, file storage, completion),

with the two sides interleaved so that machine noise hits both alike. Each
process runs in a fresh directory holding only its script; every hello-world
run is checked (exit status 0, run.json says COMPLETED, the greeting is in
cout.txt). Target: gnomon's hello-world run takes at most half of Sacred's.

    python benchmarks/startup.py [-n 10] [--sacred-python PATH]
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
    find_run_dir,
    fmt_seconds,
    median,
    print_table,
    ratio_text,
    run_status,
    run_timed,
    scratch,
    sides_from,
    verdict,
    write_script,
)
from templates import HELLO

TARGET = 0.5  # gnomon / Sacred, hello-world run


def measure(side: Side, kind: str, tmp: Path, index: int) -> float:
    """One process of one kind; returns its wall-clock seconds (raises on failure)."""
    workdir = tmp / f"{side.name}-{kind}-{index}"
    workdir.mkdir()
    env = child_env(workdir)
    if kind == "pass":
        argv = [side.python, "-c", "pass"]
    elif kind == "import":
        argv = [side.python, "-c", f"import {side.package}"]
    else:
        write_script(workdir, "hello.py", side.render(HELLO))
        argv = [side.python, "hello.py", "-F", str(workdir / "runs")]
    timed = run_timed(argv, cwd=workdir, env=env)
    if timed.returncode != 0:
        raise RuntimeError(failure(side, f"{kind} #{index}", timed))
    if kind == "hello":
        storage = workdir / "runs"
        status = run_status(storage)
        run_dir = find_run_dir(storage)
        cout = (
            (run_dir / "cout.txt").read_text(encoding="utf-8")
            if run_dir and (run_dir / "cout.txt").is_file()
            else ""
        )
        if status != "COMPLETED":
            raise RuntimeError(
                f"[{side.name}] hello #{index}: run.json status {status!r}\n{timed.stderr}"
            )
        if "Hello, world!" not in cout:
            LOST_GREETING[side.name] = LOST_GREETING.get(side.name, 0) + 1
    return timed.seconds


#: Hello-world runs whose cout.txt lacks the greeting, by side (recorded, not fatal:
#: Sacred loses output written just before the run ends when stdout is not a terminal).
LOST_GREETING: dict[str, int] = {}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "-n", "--runs", type=int, default=10, help="processes per measurement and side (default 10)"
    )
    add_side_options(parser)
    args = parser.parse_args(argv)

    sides = sides_from(args)
    if not sides:
        print("no side can run")
        return 1
    kinds = ["pass", "import", "hello"]
    times: dict[tuple[str, str], list[float]] = {(s.name, k): [] for s in sides for k in kinds}
    broken: dict[str, str] = {}

    with scratch("startup") as tmp:
        # One warm-up process of each kind per side (bytecode caches, page cache).
        for side in sides:
            for kind in kinds:
                try:
                    measure(side, kind, tmp, -1)
                except RuntimeError as error:
                    broken.setdefault(side.name, str(error))
        for index in range(args.runs):
            for kind in kinds:
                for side in sides:
                    if side.name in broken:
                        continue
                    try:
                        times[(side.name, kind)].append(measure(side, kind, tmp, index))
                    except RuntimeError as error:
                        broken[side.name] = str(error)

    for name, message in broken.items():
        print(f"\n{message}\n[{name}] left out of the figures")
    alive = [s.name for s in sides if s.name not in broken]

    def med(name: str, kind: str) -> float | None:
        values = times.get((name, kind), [])
        return median(values) if name in alive and values else None

    labels = {
        "pass": "python -c pass",
        "import": "python -c 'import <pkg>'",
        "hello": "python hello.py -F DIR",
    }
    rows = []
    for kind in kinds:
        g, s = med("gnomon", kind), med("sacred", kind)
        rows.append(
            [
                labels[kind],
                fmt_seconds(g) if g is not None else "-",
                fmt_seconds(s) if s is not None else "-",
                ratio_text(g, s),
            ]
        )
    for kind in ("import", "hello"):
        g = med("gnomon", kind)
        s = med("sacred", kind)
        gp, sp = med("gnomon", "pass"), med("sacred", "pass")
        g_net = g - gp if g is not None and gp is not None else None
        s_net = s - sp if s is not None and sp is not None else None
        rows.append(
            [
                f"{labels[kind]} minus interpreter",
                fmt_seconds(g_net) if g_net is not None else "-",
                fmt_seconds(s_net) if s_net is not None else "-",
                ratio_text(g_net, s_net),
            ]
        )
    print_table(
        f"Start-up, median of {args.runs} processes per cell (wall clock)",
        ["measurement", "gnomon", "sacred 0.8.7", "gnomon/sacred"],
        rows,
    )
    for name in alive:
        lost = LOST_GREETING.get(name, 0)
        print(
            f"[{name}] hello-world runs whose cout.txt lacks the greeting: "
            f"{lost} of {args.runs + 1}"
        )
    g, s = med("gnomon", "hello"), med("sacred", "hello")
    ratio = g / s if g is not None and s is not None else None
    print(
        f"\ntarget: gnomon hello-world run <= {TARGET}x Sacred's: {verdict(ratio, TARGET)}"
        + (f" ({ratio:.2f}x)" if ratio is not None else "")
    )
    return 0 if not broken else 1


if __name__ == "__main__":
    sys.exit(main())
