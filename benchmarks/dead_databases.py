"""A 0.3 s run with databases that are not there: wall time of the whole process.

Each case runs ``python hello.py`` (the main function sleeps 0.3 s and prints a
line) N times as its own process and reports the median wall-clock time:

* unobserved (``-u``), for reference;
* one refused URL each: ``-s postgresql://...@127.0.0.1:<closed port>/x``,
  ``-s mysql+pymysql://...@127.0.0.1:<closed port>/x``, ``-m 127.0.0.1:<closed port>:x``;
* all three refused at once;
* all three pointing at a listening socket that never answers (a hung server),
  with the default ``CONNECT_TIMEOUT``.

Every run is checked: exit status 0, its line printed, "Completed after 0:00:00",
and each observer's events in a private spool. Target: every refused case
completes in at most 1.5 s. Before, one refused URL cost about 21 s (a 10 s wait at
the start, a 10 s drain at the end) and the hung server showed no warning until the
run ended.

    python benchmarks/dead_databases.py [-n 5]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from templates import HELLO_SLOW, for_gnomon

HELLO = for_gnomon(HELLO_SLOW)

TARGET = 1.5  # seconds for a 0.3 s run with refused database URLs


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def silent_server() -> object:
    """A port that accepts connections and never answers."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=128)
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(listener.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        for sock in [listener, *held]:
            with contextlib.suppress(OSError):
                sock.close()


def flags_for(kinds: list[str], port: int) -> list[str]:
    urls = {
        "postgresql": ["-s", f"postgresql://postgres@127.0.0.1:{port}/x"],
        "mariadb": ["-s", f"mysql+pymysql://root@127.0.0.1:{port}/x"],
        "mongodb": ["-m", f"127.0.0.1:{port}:x"],
    }
    return [flag for kind in kinds for flag in urls[kind]]


def spooled(spool: Path) -> int:
    """How many observer entries (run, observer) wait in the spool."""
    database = spool / "spool.sqlite"
    if not database.exists():
        return 0
    with contextlib.closing(sqlite3.connect(database)) as db:
        return int(db.execute("SELECT COUNT(DISTINCT run_uid || observer_key) FROM events").fetchone()[0])


def measure(folder: Path, name: str, flags: list[str], n: int, expect_spooled: int) -> tuple[float, list[str]]:
    walls: list[float] = []
    problems: list[str] = []
    for i in range(n):
        spool = folder / f"spool-{name.replace(' ', '-')}-{i}"
        env = {**os.environ, "GNOMON_SPOOL_DIR": str(spool)}
        began = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "hello.py", *flags], cwd=folder, env=env, capture_output=True, text=True, timeout=120
        )
        walls.append(time.perf_counter() - began)
        if done.returncode != 0 or "hello from the run" not in done.stdout:
            problems.append(f"{name}: exit status {done.returncode}: {done.stderr[-2000:]}")
        elif "Completed after 0:00:00" not in done.stderr:
            problems.append(f"{name}: the run's own duration includes a wait:\n{done.stderr[-2000:]}")
        elif spooled(spool) != expect_spooled:
            problems.append(f"{name}: {spooled(spool)} observer(s) in the spool, expected {expect_spooled}")
    return statistics.median(walls), problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=5, help="processes per case (default 5)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gnomon-dead-") as tmp:
        folder = Path(tmp)
        (folder / "hello.py").write_text(HELLO)
        rows: list[tuple[str, float, str]] = []
        problems: list[str] = []
        cases = [
            ("unobserved", ["-u"], 0, False),
            ("PostgreSQL refused", flags_for(["postgresql"], closed_port()), 1, True),
            ("MariaDB refused", flags_for(["mariadb"], closed_port()), 1, True),
            ("MongoDB refused", flags_for(["mongodb"], closed_port()), 1, True),
            ("all three refused", flags_for(["postgresql", "mariadb", "mongodb"], closed_port()), 3, True),
        ]
        for name, flags, expect, targeted in cases:
            wall, found = measure(folder, name, flags, args.n, expect)
            problems += found
            verdict = ("meets" if wall <= TARGET else "MISSES") + f" ≤ {TARGET} s" if targeted else ""
            rows.append((name, wall, verdict))
        with silent_server() as port:
            wall, found = measure(folder, "all three hung", flags_for(["postgresql", "mariadb", "mongodb"], port),
                                  args.n, 3)
            problems += found
            rows.append(("all three hung (CONNECT_TIMEOUT 3 s)", wall, "one wait for the three"))
    print(f"A 0.3 s run, whole process, median of {args.n} (wall clock):")
    for name, wall, verdict in rows:
        print(f"  {name:<38} {wall:6.2f} s  {verdict}")
    print(f"  (machine load average: {os.getloadavg()[0]:.2f})")
    for problem in problems:
        print("PROBLEM:", problem)
    missed = any(verdict.startswith("MISSES") for _, _, verdict in rows)
    return 1 if problems or missed else 0


if __name__ == "__main__":
    sys.exit(main())
