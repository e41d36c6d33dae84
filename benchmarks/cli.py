"""The ``gnomon`` command's read side, as whole processes, on a 10,000-run store.

Builds a synthetic store once (runs with a nested config and 3 metrics × 100
points, written through the real file-storage observer, as ``benchmarks/query.py``
does; cached in the scratch folder between invocations), then prints:

* ``gnomon --help``: whole process, median of 10 (target ≤ 0.15 s; MLflow's CLI
  takes about 1 s, mlflow#3511).
* ``gnomon ls -n 50`` on the warm store: whole process, median of 5 (target ≤ 0.35 s).
* ``gnomon export --to runs.jsonl`` of all 10,000 runs: whole process, and the
  command's own work in-process (target ≤ 1 s).
* whether pandas was imported by any of them (it must not be).

    python benchmarks/cli.py [--runs 10000] [--stores file,sqlite]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from stored_runs import populate

SCRATCH = Path(os.environ.get("GNOMON_BENCH_DIR", Path(tempfile.gettempdir()) / "gnomon-bench-cli"))


def store(kind: str, n: int) -> str:
    """The URL of a ``kind`` store holding ``n`` runs, built once and kept in the scratch folder."""
    SCRATCH.mkdir(parents=True, exist_ok=True)
    done = SCRATCH / f"{kind}-{n}.done"
    url = str(SCRATCH / f"file-{n}") if kind == "file" else f"sqlite:///{SCRATCH / f'sqlite-{n}.db'}"
    if not done.exists():
        print(f"building a {n:,}-run {kind} store in {SCRATCH} (once) ...", flush=True)
        if kind == "file":
            shutil.rmtree(url, ignore_errors=True)
            from gnomon.observers import FileStorageObserver

            observer: Any = FileStorageObserver(url)
        else:
            (SCRATCH / f"sqlite-{n}.db").unlink(missing_ok=True)
            from gnomon.observers import SqlObserver

            observer = SqlObserver(url)
        started = time.perf_counter()
        populate(observer, n)
        done.write_text("")
        print(f"  built in {time.perf_counter() - started:.1f} s", flush=True)
    return url


def _gnomon() -> list[str]:
    script = Path(sys.executable).with_name("gnomon")
    return [str(script)] if script.exists() else [sys.executable, "-m", "gnomon.cli.main"]


def whole_process(args: list[str], repeat: int) -> float:
    """Median wall time of ``gnomon ARGS`` as a fresh process, stdout piped."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run([*_gnomon(), *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def imports_pandas(args: list[str]) -> bool:
    code = (
        "import sys\nfrom gnomon.cli.main import main\n"
        f"try:\n    main({args!r}, standalone_mode=False)\nexcept SystemExit:\n    pass\n"
        "print('pandas' in sys.modules, file=sys.stderr)"
    )
    result = subprocess.run([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return result.stderr.strip().splitlines()[-1] == "True"


def in_process_export(url: str, target: Path, repeat: int = 3) -> float:
    from click.testing import CliRunner

    from gnomon.cli.main import main

    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = CliRunner().invoke(main, ["export", "-S", url, "--to", str(target)])
        times.append(time.perf_counter() - started)
        assert result.exit_code == 0, result.output
    return statistics.median(times)


def verdict(value: float, target: float) -> str:
    return f"{'ok' if value <= target else 'MISSED'} (target ≤ {target} s)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--stores", default="file", help="comma list of file, sqlite")
    options = parser.parse_args()
    help_time = whole_process(["--help"], 10)
    print(f"gnomon --help                      {help_time:6.3f} s  {verdict(help_time, 0.15)}")
    for kind in options.stores.split(","):
        url = store(kind, options.runs)
        whole_process(["ls", "-S", url, "-n", "50"], 1)  # warm the store's index
        ls_time = whole_process(["ls", "-S", url, "-n", "50"], 5)
        print(f"[{kind}] gnomon ls -n 50             {ls_time:6.3f} s  {verdict(ls_time, 0.35)}")
        target = SCRATCH / "export.jsonl"
        export_process = whole_process(["export", "-S", url, "--to", str(target)], 3)
        lines = sum(1 for _ in target.open(encoding="utf-8"))
        export_work = in_process_export(url, target)
        print(
            f"[{kind}] gnomon export --to .jsonl   {export_process:6.3f} s whole process, "
            f"{export_work:.3f} s in-process ({lines:,} runs)  {verdict(export_work, 1.0)}"
        )
        pandas = [
            args[0]
            for args in (["ls", "-n", "50"], ["export", "--to", str(target)], ["show", "1"])
            if imports_pandas([*args, "-S", url])
        ]
        print(f"[{kind}] commands importing pandas: {pandas or 'none'}")


if __name__ == "__main__":
    main()
