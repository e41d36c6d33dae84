"""Output volume: a run printing 20 MB with 0.5 s heartbeats, gnomon versus Sacred.

The experiment prints LINES lines of WIDTH bytes (default 200,000 × 100 bytes
= 20 MB) spread over a few seconds, the last one a marker line, with stdout
redirected to a file (not a terminal, so Python block-buffers it) and
``-b 0.5`` heartbeats:

    python out.py with lines=200000 width=100 seconds=5 -F STORAGE -b 0.5 > stdout.txt

For each side it reports

* bytes written under the storage directory, counted from the write system
  calls of the process and its children (``strace -f -y``, every write to a
  file whose path lies under STORAGE, temporary files of atomic replaces
  included), against the size of the output: a framework that re-sends the
  whole output on every heartbeat writes many times the output;
* whether ``cout.txt`` holds the whole output and ends with the last line.

Targets: gnomon writes at most 1.1× the output, and loses no byte.

    python benchmarks/output_volume.py [--lines 200000] [--width 100] [--seconds 5]
                                       [--sacred-python PATH]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sides import (
    Side,
    add_side_options,
    child_env,
    failure,
    find_run_dir,
    fmt_seconds,
    print_table,
    run_status,
    run_timed,
    scratch,
    sides_from,
    verdict,
    write_script,
)
from templates import OUTPUT_VOLUME as SCRIPT

TARGET_RATIO = 1.1
WRITE_CALLS = "write,writev,pwrite64,pwritev,pwritev2,sendfile,copy_file_range"
_RETURN = re.compile(r"\)\s+=\s+(\d+)\s*$")
_FD_PATH = re.compile(r"\d+<([^>]*)>")
# A line the script printed (cout.txt may also hold the framework's own log lines).
_PRINTED = re.compile(rb"^(?:\d{10} x*|LAST-LINE z*)$", re.MULTILINE)


@dataclass
class Outcome:
    """What one side's runs showed."""

    seconds: float | None = None
    status: str | None = None
    cout_bytes: int = 0
    lines_kept: int = 0
    last_line_kept: bool = False
    stdout_bytes: int = 0
    written: int | None = None
    final_bytes: int = 0
    trace_note: str = ""


def last_line(width: int) -> str:
    """The marker line the script prints last (without its newline)."""
    return "LAST-LINE " + "z" * (width - 11)


def command(side: Side, script: Path, storage: Path, args: argparse.Namespace) -> list[str]:
    """The measured command line (the same on both sides)."""
    return [
        side.python, script.name, "with", f"lines={args.lines}", f"width={args.width}",
        f"seconds={args.seconds}", "-F", str(storage), "-b", "0.5",
    ]  # fmt: skip


def bytes_under(directory: Path) -> int:
    """Total size of the files under a directory now."""
    return (
        sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())
        if directory.exists()
        else 0
    )


def traced_bytes(trace_dir: Path, storage: Path) -> int:
    """Sum of bytes that write-like calls put into files under ``storage``."""
    prefix = str(storage) + "/"
    total = 0
    for trace in trace_dir.iterdir():
        for line in trace.read_text(encoding="utf-8", errors="replace").splitlines():
            returned = _RETURN.search(line)
            if not returned:
                continue
            paths = _FD_PATH.findall(line)
            # copy_file_range(fd_in, off_in, fd_out, ...) writes to its second fd.
            path = (
                (paths[1] if len(paths) > 1 else None)
                if line.startswith("copy_file_range")
                else (paths[0] if paths else None)
            )
            if path is not None and path.startswith(prefix):
                total += int(returned.group(1))
    return total


def strace_problem() -> str | None:
    """None when strace can trace a child here, else why not."""
    if shutil.which("strace") is None:
        return "strace is not installed"
    try:
        probe = subprocess.run(
            ["strace", "-f", "-qq", "-e", "trace=write", "-o", "/dev/null", "true"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    except OSError as error:
        return f"strace cannot run: {error}"
    return None if probe.returncode == 0 else f"strace cannot trace here: {probe.stderr.strip()}"


def measure(side: Side, tmp: Path, args: argparse.Namespace, trace: bool) -> Outcome:
    """One plain run (time, completeness) and, if asked, one traced run (bytes written)."""
    outcome = Outcome()
    # Plain run: wall time and whether the output arrived whole.
    workdir = tmp / f"{side.name}-plain"
    script = write_script(workdir, "output_volume_exp.py", side.render(SCRIPT))
    storage = workdir / "runs"
    timed = run_timed(command(side, script, storage, args), cwd=workdir, env=child_env(workdir),
                      stdout_path=workdir / "stdout.txt")  # fmt: skip
    if timed.returncode != 0:
        raise RuntimeError(failure(side, "plain run", timed))
    outcome.seconds = timed.seconds
    outcome.status = run_status(storage)
    outcome.stdout_bytes = (workdir / "stdout.txt").stat().st_size
    run_dir = find_run_dir(storage)
    cout = run_dir / "cout.txt" if run_dir else None
    if cout is not None and cout.is_file():
        data = cout.read_bytes()
        outcome.cout_bytes = len(data)
        outcome.lines_kept = len(_PRINTED.findall(data))
        outcome.last_line_kept = last_line(args.width).encode() + b"\n" in data

    if trace:
        workdir = tmp / f"{side.name}-traced"
        script = write_script(workdir, "output_volume_exp.py", side.render(SCRIPT))
        storage = workdir / "runs"
        trace_dir = workdir / "trace"
        trace_dir.mkdir()
        argv = [
            "strace", "-f", "-ff", "-qq", "-y", "-s", "0", "--seccomp-bpf",
            "-e", f"trace={WRITE_CALLS}", "-e", "signal=none", "-o", str(trace_dir / "t"),
            "--", *command(side, script, storage, args),
        ]  # fmt: skip
        timed = run_timed(
            argv, cwd=workdir, env=child_env(workdir), stdout_path=workdir / "stdout.txt"
        )
        if timed.returncode != 0:
            raise RuntimeError(failure(side, "traced run", timed))
        outcome.written = traced_bytes(trace_dir, storage)
        outcome.final_bytes = bytes_under(storage)
    else:
        outcome.final_bytes = bytes_under(storage)
    return outcome


def _rows(args: argparse.Namespace, expected: int) -> list[tuple[str, Callable[[Outcome], str]]]:
    """Table rows: a label and how to show one side's outcome."""

    def written(o: Outcome) -> str:
        return f"{o.written / 1e6:.1f} MB" if o.written is not None else "not traced"

    def ratio(o: Outcome) -> str:
        return f"{o.written / expected:.2f}×" if o.written is not None else "-"

    def lines(o: Outcome) -> str:
        lost = args.lines - o.lines_kept
        return f"{o.lines_kept:,}" + (f" ({lost:,} lost)" if lost else "")

    return [
        ("run wall time (untraced)", lambda o: fmt_seconds(o.seconds or 0.0)),
        ("bytes written under storage", written),
        ("written / output", ratio),
        ("storage size at the end", lambda o: f"{o.final_bytes / 1e6:.1f} MB"),
        ("cout.txt size", lambda o: f"{o.cout_bytes:,} B"),
        ("printed lines in cout.txt", lines),
        ("last line in cout.txt", lambda o: "yes" if o.last_line_kept else "NO"),
        ("stdout passed through", lambda o: f"{o.stdout_bytes:,} B"),
        ("run.json status", lambda o: str(o.status)),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=200_000, help="lines printed (default 200000)")
    parser.add_argument(
        "--width", type=int, default=100, help="bytes per line, newline included (default 100)"
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=5.0,
        help="time over which the output is spread (default 5)",
    )
    add_side_options(parser)
    args = parser.parse_args(argv)
    if args.width < 12:
        parser.error("--width must be at least 12")

    sides = sides_from(args)
    if not sides:
        print("no side can run")
        return 1
    problem = strace_problem()
    if problem:
        print(
            f"write volume not measured: {problem}; showing the final size of the storage instead"
        )

    expected = args.lines * args.width
    outcomes: dict[str, Outcome] = {}
    broken: dict[str, str] = {}
    with scratch("output-volume") as tmp:
        for side in sides:
            try:
                outcomes[side.name] = measure(side, tmp, args, trace=problem is None)
            except RuntimeError as error:
                broken[side.name] = str(error)
    for name, message in broken.items():
        print(f"\n{message}\n[{name}] left out of the figures")

    rows = [["output printed", f"{expected / 1e6:.1f} MB", f"{expected / 1e6:.1f} MB"]]
    for label, show in _rows(args, expected):
        rows.append(
            [label, *(show(outcomes[n]) if n in outcomes else "-" for n in ("gnomon", "sacred"))]
        )
    print_table(
        f"{args.lines:,} lines of {args.width} B over {args.seconds:g} s, -b 0.5, stdout to a file",
        ["measurement", "gnomon", "sacred 0.8.7"],
        rows,
    )
    g = outcomes.get("gnomon")
    ratio = g.written / expected if g is not None and g.written is not None else None
    lossless = g is not None and g.lines_kept == args.lines and g.last_line_kept
    print(
        f"\ntarget: gnomon writes <= {TARGET_RATIO}x the output: {verdict(ratio, TARGET_RATIO)}"
        + (f" ({ratio:.2f}x)" if ratio is not None else "")
    )
    print(
        f"target: gnomon's cout.txt holds every printed line, the last one included: "
        f"{'not measured' if g is None else ('MET' if lossless else 'MISSED')}"
    )
    return (
        0
        if not broken and g is not None and lossless and (ratio is None or ratio <= TARGET_RATIO)
        else 1
    )


if __name__ == "__main__":
    sys.exit(main())
