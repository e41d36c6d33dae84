"""The two sides of a benchmark: gnomon and Sacred, each in its own interpreter.

Every benchmark script runs the *same* experiment script on both sides: the
script text is rendered from one template in which ``{pkg}`` becomes ``gnomon``
or ``sacred``, written to a fresh temporary directory per run, and run as a
separate process. gnomon runs under the current interpreter (or the repository's
``.venv``); Sacred under ``--sacred-python`` (default ``/work/sacred-venv/bin/python``,
made with ``python3 -m venv /work/sacred-venv && /work/sacred-venv/bin/pip install
'sacred==0.8.7' 'setuptools<82' numpy``). A side whose interpreter is missing or
cannot import its package is reported and left out; the other side still runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SACRED_PYTHON = "/work/sacred-venv/bin/python"
RESULT_MARKER = "BENCH-RESULT "


@dataclass(frozen=True)
class Side:
    """One framework under test: its name, the package to import and the interpreter."""

    name: str
    package: str
    python: str

    def render(self, template: str) -> str:
        """The experiment script for this side: ``{pkg}`` replaced by the package name."""
        return template.replace("{pkg}", self.package)


def add_side_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--gnomon-python`` and ``--sacred-python`` to a benchmark's parser."""
    parser.add_argument(
        "--gnomon-python",
        default=None,
        help="interpreter with gnomon installed (default: this one, else the repository's .venv)",
    )
    parser.add_argument(
        "--sacred-python",
        default=DEFAULT_SACRED_PYTHON,
        help=f"interpreter with sacred 0.8.7 installed (default: {DEFAULT_SACRED_PYTHON})",
    )
    parser.add_argument("--only", choices=["gnomon", "sacred"], help="run one side only")


def child_env(tmp: Path) -> dict[str, str]:
    """Environment for the measured processes: no PYTHONPATH, no terminal, private spool."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"PYTHONPATH", "PYTHONSTARTUP", "PYTHONHOME"}
    }
    env["GNOMON_SPOOL_DIR"] = str(tmp / "spool")
    env.pop("COLUMNS", None)
    return env


def _can_import(python: str, package: str) -> str | None:
    """None when ``python -c 'import package'`` works, else why not."""
    if not Path(python).exists():
        return f"{python} does not exist"
    try:
        result = subprocess.run(
            [python, "-c", f"import {package}"],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tempfile.gettempdir(),
            check=False,
        )
    except OSError as error:
        return f"{python} cannot run: {error}"
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no error output"])[-1]
        return f"{python} cannot import {package}: {last}"
    return None


def _gnomon_python(requested: str | None) -> str:
    if requested:
        return requested
    if _can_import(sys.executable, "gnomon") is None:
        return sys.executable
    venv = ROOT / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


_EDITABLE_PROBE = """
import json
from importlib.metadata import distribution
text = distribution("gnomon").read_text("direct_url.json") or "{}"
print(json.loads(text).get("dir_info", {}).get("editable", False))
"""


def is_editable(python: str) -> bool:
    """Whether gnomon is an editable (development) install in that interpreter."""
    result = subprocess.run(
        [python, "-c", _EDITABLE_PROBE],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tempfile.gettempdir(),
        check=False,
    )
    return result.stdout.strip() == "True"


def sides_from(args: argparse.Namespace) -> list[Side]:
    """The sides that can run, printing why any is left out."""
    candidates = [
        Side("gnomon", "gnomon", _gnomon_python(args.gnomon_python)),
        Side("sacred", "sacred", args.sacred_python),
    ]
    sides = []
    for side in candidates:
        if args.only and side.name != args.only:
            continue
        problem = _can_import(side.python, side.package)
        if problem:
            print(f"[{side.name}] left out: {problem}")
            if side.name == "sacred":
                print(
                    "[sacred] printing gnomon's figures only "
                    "(benchmarks/README.md says how to set Sacred up)"
                )
        else:
            print(f"[{side.name}] {side.python}")
            sides.append(side)
            if side.name == "gnomon" and is_editable(side.python):
                print(
                    "[gnomon] note: an editable install (its import hook and a development "
                    "environment's extra packages slow start-up); for the figures users get, "
                    "pass --gnomon-python of a virtualenv made with `pip install .`"
                )
    return sides


@contextmanager
def scratch(prefix: str) -> Iterator[Path]:
    """A temporary directory removed afterwards (resolved, so traced paths match)."""
    with tempfile.TemporaryDirectory(prefix=f"gnomon-bench-{prefix}-") as tmp:
        yield Path(os.path.realpath(tmp))


def write_script(directory: Path, name: str, text: str) -> Path:
    """Write an experiment script into its own directory and return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


@dataclass
class Timed:
    """A finished process and its wall-clock duration."""

    seconds: float
    returncode: int
    stdout: str
    stderr: str


def run_timed(
    argv: Sequence[str],
    cwd: Path,
    env: dict[str, str],
    stdout_path: Path | None = None,
    timeout: float = 600,
) -> Timed:
    """Run a process to completion; stdout goes to a file (never a terminal) or is captured."""
    out_file = open(stdout_path, "wb") if stdout_path else None  # noqa: SIM115 - closed below
    try:
        start = time.perf_counter()
        result = subprocess.run(
            list(argv),
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out_file if out_file else subprocess.PIPE,
            stderr=subprocess.PIPE,
            timeout=timeout,
            check=False,
        )
        seconds = time.perf_counter() - start
    finally:
        if out_file:
            out_file.close()
    stdout = "" if out_file else result.stdout.decode("utf-8", "replace")
    return Timed(seconds, result.returncode, stdout, result.stderr.decode("utf-8", "replace"))


def failure(side: Side, what: str, timed: Timed) -> str:
    """A short description of a failed process, with the end of its output."""
    tail = "\n".join((timed.stderr or timed.stdout).strip().splitlines()[-15:])
    return f"[{side.name}] {what} failed (exit status {timed.returncode}):\n{tail}"


def result_payload(stdout: str) -> dict[str, object]:
    """The JSON a measured script printed after ``BENCH-RESULT``."""
    for line in reversed(stdout.splitlines()):
        if line.startswith(RESULT_MARKER):
            payload = json.loads(line[len(RESULT_MARKER) :])
            assert isinstance(payload, dict)
            return payload
    raise ValueError("the script printed no BENCH-RESULT line")


def find_run_dir(storage: Path) -> Path | None:
    """The single run folder under a file-storage directory, if there is one."""
    runs = (
        sorted(p for p in storage.iterdir() if p.is_dir() and not p.name.startswith("_"))
        if storage.is_dir()
        else []
    )
    return runs[0] if len(runs) == 1 else None


def run_status(storage: Path) -> str | None:
    """The status recorded in the single run's run.json (None if there is none)."""
    run_dir = find_run_dir(storage)
    if run_dir is None or not (run_dir / "run.json").is_file():
        return None
    status = json.loads((run_dir / "run.json").read_text(encoding="utf-8")).get("status")
    return str(status) if status is not None else None


def median(values: Sequence[float]) -> float:
    """The median of a non-empty sequence."""
    return statistics.median(values)


def fmt_seconds(seconds: float) -> str:
    """Seconds in the unit that reads best."""
    return f"{seconds * 1000:8.1f} ms" if seconds < 10 else f"{seconds:8.2f} s "


def ratio_text(gnomon: float | None, sacred: float | None) -> str:
    """gnomon / Sacred as ``0.42×``, or a dash when a side is missing."""
    if gnomon is None or sacred is None or sacred == 0:
        return "      -"
    return f"{gnomon / sacred:6.2f}×"


def verdict(value: float | None, target: float, lower_is_better: bool = True) -> str:
    """MET / MISSED for a target, or 'not measured'."""
    if value is None:
        return "not measured"
    met = value <= target if lower_is_better else value >= target
    return "MET" if met else "MISSED"


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Print an aligned plain-text table."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    print(f"\n{title}")
    print("  " + "  ".join(str(h).ljust(w) for h, w in zip(header, widths, strict=True)))
    print("  " + "  ".join("-" * w for w in widths))
    for row in rows:
        print("  " + "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))
