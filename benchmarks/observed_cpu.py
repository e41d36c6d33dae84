"""CPU time of a hello-world run into an up-to-date database, against the same run unobserved.

Each case runs ``python hello.py`` N times as its own process and reports the
median CPU time (user + system, of the process and its children, from
``getrusage``) and what it adds to the unobserved run:

* unobserved (``-u``);
* SQLite, PostgreSQL and MariaDB databases already at the newest schema
  (created and migrated by one run before timing);
* PostgreSQL and MariaDB on a new, empty database (the first run creates the
  schema), for reference;
* the imports alone: ``import gnomon`` against importing the SQL observer with
  its SQLAlchemy dialect and driver, which no run into a database can avoid.

Every run is checked: exit status 0, its line printed, and for an up-to-date
database that Alembic was never imported (no migration work) and that nothing
Alembic logs reached the output. Target: a run into an up-to-date database costs
at most 0.2 s of CPU more than the unobserved run.

    python benchmarks/observed_cpu.py [-n 7] [--backends sqlite,postgresql,mariadb]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from templates import HELLO_MODULES, for_gnomon

HELLO = for_gnomon(HELLO_MODULES)

TARGET = 0.2  # seconds of CPU a run into an up-to-date database may add


def cpu_of(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), done


def check(name: str, done: subprocess.CompletedProcess[str], up_to_date: bool) -> str | None:
    if done.returncode != 0 or "hello from the run" not in done.stdout:
        return f"{name}: exit status {done.returncode}: {done.stderr[-2000:]}"
    if "alembic" in done.stderr.lower() or "Running upgrade" in done.stdout + done.stderr:
        return f"{name}: Alembic's log reached the output:\n{done.stderr[-2000:]}"
    if up_to_date and "alembic imported: True" in done.stdout:
        return f"{name}: an up-to-date database still imported Alembic"
    return None


class Bench:
    """Runs the hello-world script in a scratch folder and records what went wrong."""

    def __init__(self, folder: Path, n: int) -> None:
        self.folder = folder
        self.n = n
        # Bytecode is cached (in a scratch folder) as on a user's machine: a development
        # shell's PYTHONDONTWRITEBYTECODE would have every run compile its imports again.
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        self.env = {**env, "GNOMON_SPOOL_DIR": str(folder / "spool"), "PYTHONPYCACHEPREFIX": str(folder / "pycache")}
        self.problems: list[str] = []
        (folder / "hello.py").write_text(HELLO)
        for code in ("import gnomon.observers.sql.observer, sqlalchemy.dialects.postgresql.psycopg",):
            cpu_of([sys.executable, "-c", code], folder, self.env)  # warm the bytecode cache

    def series(self, name: str, flags: list[str], up_to_date: bool, n: int | None = None) -> float:
        """Median CPU seconds of ``n`` runs of the script with ``flags``."""
        times = []
        for _ in range(n or self.n):
            cpu, done = cpu_of([sys.executable, "hello.py", *flags], self.folder, self.env)
            times.append(cpu)
            problem = check(name, done, up_to_date)
            if problem:
                self.problems.append(problem)
        return statistics.median(times)

    def imports(self, code: str) -> float:
        return statistics.median(
            cpu_of([sys.executable, "-c", code], self.folder, self.env)[0] for _ in range(self.n)
        )


def backend_rows(bench: Bench, backend: str, base: float) -> list[tuple[str, float, str]]:
    """Up-to-date and (for servers) new-database figures of one backend."""
    from gnomon.observers.sql.testing import DatabaseUnavailable, fresh_database

    rows = []
    try:
        with fresh_database(backend) as url:
            bench.series(f"{backend} (new database)", ["-s", url], False, 1)  # creates the schema
            cpu = bench.series(f"{backend} up to date", ["-s", url], True)
        verdict = "meets" if cpu - base <= TARGET else "MISSES"
        rows.append((f"{backend}, up-to-date database", cpu, f"+{cpu - base:.2f} s  {verdict} ≤ +{TARGET} s"))
        if backend != "sqlite":
            firsts = []
            for _ in range(max(1, bench.n // 3)):
                with fresh_database(backend) as url:
                    firsts.append(bench.series(f"{backend} (new database)", ["-s", url], False, 1))
            first = statistics.median(firsts)
            rows.append((f"{backend}, new database (migration)", first, f"+{first - base:.2f} s  (once per database)"))
    except DatabaseUnavailable as error:
        rows.append((backend, float("nan"), f"skipped: {error}"))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=7, help="processes per case (default 7)")
    parser.add_argument("--backends", default="sqlite,postgresql,mariadb")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gnomon-cpu-") as tmp:
        bench = Bench(Path(tmp), args.n)
        bench.series("unobserved (warm-up)", ["-u"], False, 1)
        base = bench.series("unobserved", ["-u"], False)
        rows: list[tuple[str, float, str]] = [("unobserved", base, "")]
        for backend in [b for b in args.backends.split(",") if b]:
            rows += backend_rows(bench, backend, base)
        bare = bench.imports("import gnomon")
        sql = bench.imports("import gnomon.observers.sql.observer, sqlalchemy.dialects.postgresql.psycopg")
        rows.append(("imports: SQL observer + psycopg", sql, f"+{sql - bare:.2f} s over import gnomon"))
    print(f"CPU time (user + system) of a hello-world run, median of {args.n} processes:")
    for name, cpu, note in rows:
        print(f"  {name:<40} {cpu:6.2f} s  {note}")
    print(f"  (machine load average: {os.getloadavg()[0]:.2f})")
    for problem in bench.problems:
        print("PROBLEM:", problem)
    missed = any("MISSES" in note for _, _, note in rows)
    return 1 if bench.problems or missed else 0


if __name__ == "__main__":
    sys.exit(main())
