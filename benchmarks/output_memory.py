"""Output memory: peak memory of a run printing 100 MB and 300 MB, against no gnomon.

The program prints SIZE megabytes as lines of 100 bytes, as fast as it can, with
stdout and stderr going to /dev/null. It runs twice per size, each time as its own
process:

* without gnomon: the same loop in a plain script;
* as a gnomon run with file storage, in each capture mode asked for (default ``tee``):

    python out.py with megabytes=SIZE -F STORAGE -C MODE

For each it reports the peak resident memory of the process (``ru_maxrss`` from
``wait4``, so children are not mixed up), the time taken, and for gnomon how far its
peak lies above the plain script's and whether ``cout.txt`` holds every byte.

Target: a gnomon run's peak stays within 100 MB of the plain script's, at any size
(memory must not grow with the output: ``_run.captured_out`` reads it back from disk).

    python benchmarks/output_memory.py [--sizes 100,300] [--modes tee,fd,sys]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from sides import ROOT, find_run_dir, print_table, scratch, verdict, write_script
from templates import OUTPUT_MEMORY, for_gnomon

PLAIN = """\
import sys

line = "x" * 99
for _ in range(int(sys.argv[1]) * 10_000):
    print(line)
"""

EXPERIMENT = for_gnomon(OUTPUT_MEMORY)

TARGET_MB = 100.0


@dataclass
class Peak:
    """One measured process."""

    megabytes: float
    seconds: float
    returncode: int


def measure(argv: list[str], cwd: Path) -> Peak:
    """Run ``argv`` with output to /dev/null; its own peak memory and duration."""
    start = time.perf_counter()
    with open(os.devnull, "wb") as null:
        proc = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=null, stderr=null)
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return Peak(usage.ru_maxrss / 1024, time.perf_counter() - start, proc.returncode)


def gnomon_python(requested: str | None) -> str:
    if requested:
        return requested
    venv = ROOT / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100,300", help="megabytes to print, comma-separated")
    parser.add_argument("--modes", default="tee", help="capture modes, comma-separated (no, sys, fd, tee)")
    parser.add_argument("--gnomon-python", default=None, help="interpreter with gnomon installed")
    args = parser.parse_args()
    python = gnomon_python(args.gnomon_python)
    sizes = [int(s) for s in args.sizes.split(",")]
    modes = args.modes.split(",")

    rows: list[list[str]] = []
    ok = True
    with scratch("output-memory") as tmp:
        plain = write_script(tmp / "plain", "plain.py", PLAIN)
        experiment = write_script(tmp / "exp", "out.py", EXPERIMENT)
        for size in sizes:
            base = measure([python, str(plain), str(size)], plain.parent)
            rows.append(
                [f"{size} MB", "without gnomon", f"{base.megabytes:7.1f} MB", "", f"{base.seconds:6.1f} s", "", ""]
            )
            for mode in modes:
                storage = tmp / f"runs-{size}-{mode}"
                argv = [python, str(experiment), "with", f"megabytes={size}", "-F", str(storage), "-C", mode]
                peak = measure(argv, experiment.parent)
                run_dir = find_run_dir(storage)
                cout = run_dir / "cout.txt" if run_dir else None
                stored = cout.stat().st_size if cout and cout.exists() else 0
                complete = mode == "no" or stored >= size * 10_000 * 100
                above = peak.megabytes - base.megabytes
                met = verdict(above, TARGET_MB)
                ok = ok and peak.returncode == 0 and complete and met == "MET"
                rows.append(
                    [
                        f"{size} MB",
                        f"gnomon -C {mode}",
                        f"{peak.megabytes:7.1f} MB",
                        f"{above:+7.1f} MB",
                        f"{peak.seconds:6.1f} s",
                        "yes" if complete else f"NO ({stored} bytes)",
                        met,
                    ]
                )
    print_table(
        f"Peak memory of a run printing lines of 100 bytes (target: ≤ {TARGET_MB:.0f} MB above the plain script)",
        ["printed", "program", "peak RSS", "above plain", "time", "cout.txt complete", "target"],
        rows,
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
