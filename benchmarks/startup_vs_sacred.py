"""Start-up against Sacred 0.8.7, in one run: hello run, import, run creation, SQLite.

Prints, for gnomon and Sacred side by side (median of N fresh processes each,
the two sides interleaved so machine noise hits both alike), seconds and the
ratio gnomon/Sacred of:

* **hello run, ``-F runs``**: wall-clock of ``python hello.py -F runs`` as a whole
  process, in a scratch git repository (a remote, the script committed), so git
  facts, host facts, sources and dependencies are all collected as in real use;
* **import**: ``import gnomon`` / ``import sacred``, timed inside the process;
* **create one run**: ``FileStorageObserver(dir).started_event(...)`` (Sacred's
  method, which gnomon's observer also has) inside a fresh process, into a folder
  already holding 0 and 2,000 runs: creating a run must not grow with the runs
  already there;
* **hello run into SQLite**: ``python hello.py -s sqlite:///runs.db`` into a
  database brought up to date by a first run.

Sacred 0.8.7 is installed once into a scratch virtualenv
(``$GNOMON_BENCH_DIR``, default ``/tmp``, ``/sacred-0.8.7-venv``) with pip from
PyPI, unless ``--sacred-python`` names an interpreter that has it. Bytecode is
cached for both sides (``PYTHONPYCACHEPREFIX`` in the scratch folder, a warm-up
process per case) as on a user's machine.

Targets: hello run ≤ 0.25× Sacred and ≤ 0.20 s; ``import gnomon`` ≤ 0.05 s;
create one run with 2,000 runs in the folder ≤ 20 ms; hello run into SQLite ≤ 0.30 s.

    python benchmarks/startup_vs_sacred.py [-n 5] [--editable] [--sacred-python PATH] [--only gnomon]

gnomon is measured as users get it, like Sacred: this checkout installed (not
editable) with ``pip install .[sql]`` into ``$GNOMON_BENCH_DIR/gnomon-plain-venv``.
``--editable`` measures the repository's ``.venv`` instead, whose editable install
and development packages add about 10 ms to every interpreter's start (``.pth``
import hooks run by ``site``).

The table's last row is the floor no Sacred-compatible run can go below: the
interpreter with the standard-library modules any such run needs (logging and
inspect for captured functions, click for the command line, subprocess for git,
platform for host facts, threading, pathlib, json) and orjson, imported and
nothing done.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from sides import (
    Side,
    Timed,
    failure,
    fmt_seconds,
    median,
    print_table,
    ratio_text,
    result_payload,
    run_status,
    run_timed,
    verdict,
    write_script,
)
from templates import HELLO

IMPORT = """\
import time
start = time.perf_counter()
import {pkg}
print("BENCH-RESULT", '{"seconds": %r}' % (time.perf_counter() - start))
"""

CREATE = """\
import datetime, json, os, sys, time
from {pkg}.observers import FileStorageObserver

ex_info = {"name": "hello", "base_dir": os.getcwd(), "sources": [], "dependencies": [],
           "repositories": [], "mainfile": "hello.py"}
host_info = {"hostname": "bench", "os": ["Linux", "Linux"], "python_version": "3",
             "cpu": "cpu", "ENV": {}}
config = {"recipient": "world", "seed": 1}
meta_info = {"command": "main", "options": {}}
start = time.perf_counter()
observer = FileStorageObserver(sys.argv[1])
if hasattr(observer, "started_event"):
    run_id = observer.started_event(
        ex_info=ex_info, command="main", host_info=host_info,
        start_time=datetime.datetime.utcnow(), config=config, meta_info=meta_info, _id=None,
    )
else:  # a gnomon without Sacred's method names: its own started event
    from gnomon.events import StartedEvent, freeze
    run_id = observer.on_started(StartedEvent(
        run_id=None, seq=0, time=datetime.datetime.now(datetime.timezone.utc),
        experiment=freeze(ex_info), command="main", host=freeze(host_info),
        config=freeze(config), meta=freeze(meta_info),
    ))
seconds = time.perf_counter() - start
print("BENCH-RESULT", json.dumps({"seconds": seconds, "id": str(run_id)}))
"""

EXISTING_RUNS = 2000
TARGETS = {
    "hello": ("hello run, -F runs", 0.20, 0.25),
    "import": ("import", 0.05, None),
    "create0": ("create one run, 0 runs in the folder", 0.02, None),
    "create2000": (f"create one run, {EXISTING_RUNS:,} runs in the folder", 0.02, None),
    "sqlite": ("hello run into SQLite", 0.30, None),
}
#: Not a target: what the hello run cannot go below (gnomon's interpreter, the modules any run needs).
FLOOR = ("floor: interpreter + modules any run needs", "floor")
FLOOR_MODULES = (
    "logging, inspect, click, pathlib, threading, datetime, json, orjson, subprocess, platform, "
    "ctypes, signal, random, typing, dataclasses, uuid"
)
SACRED_REQUIREMENTS = ["sacred==0.8.7", "setuptools<82", "numpy", "sqlalchemy"]


def bench_dir() -> Path:
    return Path(os.environ.get("GNOMON_BENCH_DIR") or tempfile.gettempdir())


def sacred_python(requested: str | None) -> str:
    """An interpreter with Sacred 0.8.7: the one asked for, else a scratch venv made once."""
    if requested:
        return requested
    venv = bench_dir() / "sacred-0.8.7-venv"
    python = venv / "bin" / "python"
    probe = [str(python), "-c", "import sacred, sqlalchemy; assert sacred.__version__ == '0.8.7'"]
    if python.exists() and subprocess.run(probe, capture_output=True, check=False).returncode == 0:
        return str(python)
    print(f"[sacred] installing {' '.join(SACRED_REQUIREMENTS)} into {venv} (once)")
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", *SACRED_REQUIREMENTS], check=True)
    return str(python)


def plain_gnomon_python() -> str:
    """A virtualenv with this checkout installed as users get it (``pip install .[sql]``).

    Made once in the bench folder; later calls reinstall the checkout's code only.
    """
    root = Path(__file__).resolve().parents[1]
    venv = bench_dir() / "gnomon-plain-venv"
    python = venv / "bin" / "python"
    if not python.exists():
        print(f"[gnomon] installing this checkout with its [sql] extra into {venv} (once)")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", f"{root}[sql]"], check=True)
    else:
        print(f"[gnomon] reinstalling this checkout into {venv}")
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall", str(root)],
            check=True,
        )
    return str(python)


def gnomon_python(requested: str | None, plain: bool = False) -> str:
    if requested:
        return requested
    if plain:
        return plain_gnomon_python()
    root = Path(__file__).resolve().parents[1]
    venv = root / ".venv" / "bin" / "python"
    probe = subprocess.run([sys.executable, "-c", "import gnomon"], capture_output=True, check=False)
    return sys.executable if probe.returncode == 0 or not venv.exists() else str(venv)


def environment(tmp: Path) -> dict[str, str]:
    """The measured processes' environment: bytecode cached in the scratch folder."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"PYTHONPATH", "PYTHONSTARTUP", "PYTHONHOME", "PYTHONDONTWRITEBYTECODE", "COLUMNS"}
    }
    env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
    env["GNOMON_SPOOL_DIR"] = str(tmp / "spool")
    return env


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=Bench", "-c", "user.email=bench@example.com", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


def scratch_repo(side: Side, root: Path) -> Path:
    """A git repository holding the side's hello script, committed, with a remote."""
    repo = root / f"{side.name}-repo"
    write_script(repo, "hello.py", side.render(HELLO))
    git(repo, "init", "-q")
    git(repo, "remote", "add", "origin", "https://example.com/bench/hello.git")
    git(repo, "add", "hello.py")
    git(repo, "commit", "-q", "-m", "hello")
    return repo


def fill_storage(folder: Path, runs: int) -> None:
    """A file storage folder with ``runs`` finished runs in Sacred's layout."""
    folder.mkdir(parents=True)
    run_json = json.dumps({"status": "COMPLETED", "command": "main", "experiment": {"name": "hello"}})
    for i in range(1, runs + 1):
        run = folder / str(i)
        run.mkdir()
        (run / "run.json").write_text(run_json)
        (run / "config.json").write_text('{"recipient": "world", "seed": 1}')
        (run / "cout.txt").write_text("Hello, world!\n")
        (run / "metrics.json").write_text("{}")


class Bench:
    """Runs each case for each side and keeps the seconds of every repetition."""

    def __init__(self, sides: list[Side], tmp: Path) -> None:
        self.sides = sides
        self.tmp = tmp
        self.env = environment(tmp)
        self.repos = {side.name: scratch_repo(side, tmp) for side in sides}
        self.times: dict[tuple[str, str], list[float]] = {}
        self.counter = 0
        for side in sides:
            for runs in (0, EXISTING_RUNS):
                fill_storage(tmp / f"{side.name}-storage-{runs}", runs)
            write_script(tmp / f"{side.name}-snippets", "create.py", side.render(CREATE))
            write_script(tmp / f"{side.name}-snippets", "import_time.py", side.render(IMPORT))

    def _fresh(self, side: Side, kind: str) -> Path:
        self.counter += 1
        return self.tmp / f"{side.name}-{kind}-{self.counter}"

    def measure(self, side: Side, kind: str) -> float:
        """One process of one case; returns its seconds (raises on any failure)."""
        repo = self.repos[side.name]
        snippets = self.tmp / f"{side.name}-snippets"
        if kind == "hello":
            storage = self._fresh(side, kind)
            timed = run_timed([side.python, "hello.py", "-F", str(storage)], cwd=repo, env=self.env)
            self._check(side, kind, timed)
            if run_status(storage) != "COMPLETED":
                raise RuntimeError(f"[{side.name}] hello run stored no COMPLETED run in {storage}")
            return timed.seconds
        if kind == "sqlite":
            url = f"sqlite:///{self.tmp / (side.name + '-runs.db')}"
            timed = run_timed([side.python, "hello.py", "-s", url], cwd=repo, env=self.env)
            self._check(side, kind, timed)
            return timed.seconds
        if kind == "floor":
            timed = run_timed([side.python, "-c", f"import {FLOOR_MODULES}"], cwd=repo, env=self.env)
            self._check(side, kind, timed)
            return timed.seconds
        if kind == "import":
            timed = run_timed([side.python, str(snippets / "import_time.py")], cwd=repo, env=self.env)
        else:
            runs = 0 if kind == "create0" else EXISTING_RUNS
            storage = self.tmp / f"{side.name}-storage-{runs}"
            argv = [side.python, str(snippets / "create.py"), str(storage)]
            timed = run_timed(argv, cwd=repo, env=self.env)
        self._check(side, kind, timed)
        payload = result_payload(timed.stdout)
        if kind.startswith("create") and not (storage / str(payload["id"]) / "run.json").is_file():
            raise RuntimeError(f"[{side.name}] {kind}: run {payload['id']} has no run.json")
        return float(payload["seconds"])  # type: ignore[arg-type]

    def _check(self, side: Side, kind: str, timed: Timed) -> None:
        if timed.returncode != 0:
            raise RuntimeError(failure(side, kind, timed))

    def run(self, kinds: list[str], n: int) -> None:
        for kind in kinds:
            sides = [s for s in self.sides if kind != "floor" or s.name == "gnomon"]
            for side in sides:
                self.measure(side, kind)  # warm-up: bytecode cache, database schema
            for _ in range(n):
                for side in sides:
                    self.times.setdefault((side.name, kind), []).append(self.measure(side, kind))

    def median_of(self, side: str, kind: str) -> float | None:
        values = self.times.get((side, kind))
        return median(values) if values else None


def rows_of(bench: Bench) -> tuple[list[list[str]], bool]:
    rows = []
    met_all = True
    for kind, (label, limit, ratio_limit) in TARGETS.items():
        gnomon = bench.median_of("gnomon", kind)
        sacred = bench.median_of("sacred", kind)
        target = f"≤ {limit * 1000:.0f} ms" + (f", ≤ {ratio_limit}× Sacred" if ratio_limit else "")
        met = verdict(gnomon, limit)
        if ratio_limit and gnomon is not None and sacred:
            met = "MET" if met == "MET" and gnomon / sacred <= ratio_limit else "MISSED"
        met_all &= met != "MISSED"
        rows.append(
            [
                label,
                fmt_seconds(gnomon) if gnomon is not None else "-",
                fmt_seconds(sacred) if sacred is not None else "-",
                ratio_text(gnomon, sacred),
                target,
                met,
            ]
        )
    floor = bench.median_of("gnomon", "floor")
    sacred_hello = bench.median_of("sacred", "hello")
    if floor is not None:
        rows.append([FLOOR[0], fmt_seconds(floor), "-", ratio_text(floor, sacred_hello) + " of hello", "-", "-"])
    return rows, met_all


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=5, help="processes per case and side (default 5)")
    parser.add_argument("--gnomon-python", help="interpreter with gnomon (default: this one, else .venv)")
    parser.add_argument(
        "--editable",
        action="store_true",
        help="measure the repository's editable .venv instead of this checkout installed in a scratch venv",
    )
    parser.add_argument("--sacred-python", help="interpreter with sacred 0.8.7 (default: a scratch venv)")
    parser.add_argument("--only", choices=["gnomon", "sacred"], help="run one side only")
    parser.add_argument("--cases", default=",".join(TARGETS), help=f"comma-separated subset of {','.join(TARGETS)}")
    args = parser.parse_args(argv)
    kinds = [k for k in args.cases.split(",") if k]
    if "hello" in kinds:
        kinds.append(FLOOR[1])
    unknown = sorted(set(kinds) - set(TARGETS) - {FLOOR[1]})
    if unknown:
        parser.error(f"unknown case(s) {', '.join(unknown)}; choose from {', '.join(TARGETS)}")
    sides = []
    if args.only != "sacred":
        sides.append(Side("gnomon", "gnomon", gnomon_python(args.gnomon_python, plain=not args.editable)))
    if args.only != "gnomon":
        try:
            sides.append(Side("sacred", "sacred", sacred_python(args.sacred_python)))
        except (OSError, subprocess.CalledProcessError) as error:
            print(f"[sacred] left out: Sacred 0.8.7 could not be installed ({error}); gnomon only")
    for side in sides:
        print(f"[{side.name}] {side.python}")
    with tempfile.TemporaryDirectory(prefix="gnomon-bench-startup-", dir=bench_dir()) as tmp:
        bench = Bench(sides, Path(os.path.realpath(tmp)))
        try:
            bench.run(kinds, args.n)
        except RuntimeError as error:
            print(error)
            return 1
    rows, met_all = rows_of(bench)
    rows = [r for r, kind in zip(rows, [*TARGETS, FLOOR[1]], strict=False) if kind in kinds]
    print_table(
        f"Start-up, gnomon vs Sacred 0.8.7 (median of {args.n} processes each, load {os.getloadavg()[0]:.2f})",
        ["case", "gnomon", "sacred", "ratio", "target", "gnomon"],
        rows,
    )
    return 0 if met_all else 1


if __name__ == "__main__":
    sys.exit(main())
