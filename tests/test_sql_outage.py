"""A database that goes down mid-run: the run is not slowed, events are spooled, sync makes it whole.

One scenario, run against every engine through the ``server`` fixture, which
gives a database of the test's own that it can take away and give back:

* PostgreSQL: a private cluster in a temporary folder (``initdb``/``pg_ctl``),
  stopped with ``pg_ctl stop -m immediate`` and started again;
* MariaDB: a private server in a temporary folder (``mariadb-install-db``,
  ``mariadbd``), stopped with SIGTERM and started again on the same port;
* SQLite: the file stays, but another process's connection holds it with
  ``BEGIN EXCLUSIVE`` (a backup, a long transaction), so no write can get in.

The shared test servers are never stopped.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import pytest

pytest.importorskip("sqlalchemy", reason="the SQL observer needs gnomon[sql]")

from gnomon.observers.sql import SqlObserver, SqlReader
from gnomon.observers.sql.url import engine_url
from gnomon.run import Run
from gnomon.settings import SETTINGS
from gnomon.spool import Spool
from gnomon.sync import SyncReport, sync


class Outage(Protocol):
    """A database the test can take away (``stop``) and give back (``start``)."""

    url: str

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def remove(self) -> None: ...


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tail(path: Path) -> str:
    return path.read_text(errors="replace")[-2000:] if path.exists() else ""


def _binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


class PrivatePostgres:
    """A PostgreSQL cluster of our own on a free port, run as the ``postgres`` user when we are root."""

    def __init__(self) -> None:
        initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
        if initdb is None or pg_ctl is None:
            pytest.skip("initdb/pg_ctl not found: install the PostgreSQL server package")
        self.pg_ctl = pg_ctl
        self.root = Path(tempfile.mkdtemp(prefix="gnomon-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.prefix: list[str] = []
        if os.geteuid() == 0:
            runuser = shutil.which("runuser")
            if runuser is None:
                pytest.skip("running as root without runuser: cannot start PostgreSQL as another user")
            shutil.chown(self.root, "postgres", "postgres")
            self.prefix = [runuser, "-u", "postgres", "--"]
        self._run([initdb, "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8"])
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, argv: list[str]) -> None:
        result = subprocess.run(self.prefix + argv, capture_output=True, text=True)
        if result.returncode != 0:
            tail = _tail(self.root / "server.log")
            raise RuntimeError(f"{argv[0]} failed: {result.stdout}{result.stderr}\n{tail}")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run([self.pg_ctl, "-D", str(self.data), "-l", str(self.root / "server.log"), "-o", options, "-w", "start"])

    def stop(self) -> None:
        self._run([self.pg_ctl, "-D", str(self.data), "-m", "immediate", "-w", "stop"])

    def remove(self) -> None:
        subprocess.run([*self.prefix, self.pg_ctl, "-D", str(self.data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)


class PrivateMariaDB:
    """A MariaDB server of our own: its own data folder, socket and free port, root without password."""

    def __init__(self) -> None:
        install, server = shutil.which("mariadb-install-db"), shutil.which("mariadbd", path="/usr/sbin:/usr/bin")
        if install is None or server is None:
            pytest.skip("mariadb-install-db/mariadbd not found: install the MariaDB server package")
        pytest.importorskip("pymysql", reason="MariaDB needs the PyMySQL driver")
        self.server = server
        self.root = Path(tempfile.mkdtemp(prefix="gnomon-maria-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.as_root = ["--user=root"] if os.geteuid() == 0 else []
        result = subprocess.run(
            [install, "--no-defaults", f"--datadir={self.data}", "--auth-root-authentication-method=normal",
             "--skip-test-db", *self.as_root],
            capture_output=True, text=True, timeout=120,
        )
        if result.returncode != 0:
            raise RuntimeError(f"mariadb-install-db failed: {result.stdout}{result.stderr}")
        self.process: subprocess.Popen[bytes] | None = None
        self.url = f"mysql://root@127.0.0.1:{self.port}/test"

    def _ping(self) -> bool:
        import pymysql

        try:
            pymysql.connect(host="127.0.0.1", port=self.port, user="root", connect_timeout=2).close()
        except pymysql.err.OperationalError:
            return False
        return True

    def start(self) -> None:
        log = self.root / "server.log"
        self.process = subprocess.Popen(
            [self.server, "--no-defaults", f"--datadir={self.data}", f"--socket={self.root / 'sock'}",
             f"--port={self.port}", "--bind-address=127.0.0.1", f"--pid-file={self.root / 'pid'}",
             f"--log-error={log}", "--skip-log-bin", "--innodb-buffer-pool-size=64M",
             "--innodb-log-file-size=16M", "--innodb-flush-log-at-trx-commit=2", *self.as_root],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while not self._ping():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"mariadbd did not start: {_tail(log)}")
            time.sleep(0.1)
        import pymysql

        connection = pymysql.connect(host="127.0.0.1", port=self.port, user="root")
        try:
            with connection.cursor() as cursor:
                cursor.execute("CREATE DATABASE IF NOT EXISTS test CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
        finally:
            connection.close()

    def stop(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self.process = None

    def remove(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
        shutil.rmtree(self.root, ignore_errors=True)


class LockedSqlite:
    """An SQLite file that another connection can hold locked (``BEGIN EXCLUSIVE``) for a while."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="gnomon-sqlite-"))
        self.url = f"sqlite:///{self.root / 'runs.db'}"
        self.holder: sqlite3.Connection | None = None

    def start(self) -> None:
        if self.holder is not None:
            self.holder.rollback()
            self.holder.close()
            self.holder = None

    def stop(self) -> None:
        holder = sqlite3.connect(self.root / "runs.db", timeout=30, isolation_level=None, check_same_thread=False)
        holder.execute("BEGIN EXCLUSIVE")  # waits for a write in progress, then keeps every writer out
        self.holder = holder

    def remove(self) -> None:
        self.start()
        shutil.rmtree(self.root, ignore_errors=True)


_SERVERS = {"sqlite": LockedSqlite, "postgresql": PrivatePostgres, "mariadb": PrivateMariaDB}


@pytest.fixture(params=sorted(_SERVERS))
def server(request: pytest.FixtureRequest) -> Iterator[Outage]:
    """A private database of each engine, up; it is removed (killed first) whatever the test did."""
    outage: Outage = _SERVERS[request.param]()
    try:
        outage.start()
        yield outage
    finally:
        _await_workers()
        outage.remove()


def _await_workers(timeout: float = 30) -> None:
    """Let observer threads still waiting on the database when the run ended finish."""
    deadline = time.monotonic() + timeout
    for thread in threading.enumerate():
        if thread.name.startswith("gnomon-observer-"):
            thread.join(max(0.0, deadline - time.monotonic()))


def _sync(url: str) -> SyncReport:
    """``gnomon sync`` through the observer registry (by the stored, password-free URL).

    Until the package's entry points register the SQL schemes (an editable
    install made before they were added), the observer is built from the same URL
    directly.
    """
    from importlib.metadata import entry_points

    from gnomon.observers.registry import available_schemes, reset

    reset()
    scheme = engine_url(url).drivername
    if any(ep.name == scheme for ep in entry_points(group="gnomon.observers")):
        assert scheme in available_schemes()
        return sync()
    return sync(observer_factory=lambda url, key: SqlObserver.from_url(url))


def _await_output(url: str, text: str, timeout: float = 20) -> None:
    reader = SqlReader(url)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ids = reader.run_ids()
            if ids and reader.output(ids[0]) == text:
                return
            time.sleep(0.02)
        raise AssertionError(f"the output {text!r} never reached the database")
    finally:
        reader.close()


def _assert_whole(url: str, run_id: str, expected_out: str, points: int) -> None:
    reader = SqlReader(url)
    try:
        assert reader.run_ids() == [run_id]
        record = reader.run(run_id)
        assert record["status"] == "COMPLETED" and record["result"] == "done"
        assert record["captured_out"] == expected_out
        steps, values, _ = reader.metric_series(run_id, "loss")
        assert steps == list(range(points)) and values == [float(i) for i in range(points)]
        assert record["info"] == {"phase": "after"}
    finally:
        reader.close()


@pytest.mark.timeout(120)
def test_server_down_mid_run_is_spooled_and_synced(server: Outage, spool_dir: Path) -> None:
    SETTINGS.START_TIMEOUT = 5
    SETTINGS.DRAIN_TIMEOUT = 1
    observer = SqlObserver(server.url)
    timings: list[float] = []

    def main() -> str:
        for i in range(1000):
            run.log_scalar("loss", float(i))
        print("before the outage")
        run.info["phase"] = "before"
        _await_output(server.url, "before the outage\n")  # part of the run is stored before the outage
        server.stop()
        start = time.perf_counter()
        for i in range(1000, 21000):
            run.log_scalar("loss", float(i))
        for i in range(200):
            print(f"during {i}")
        timings.append(time.perf_counter() - start)
        run.info["phase"] = "after"
        return "done"

    run = Run(config={"x": 1}, main_function=main, observers=[observer])
    run.beat_interval = 0.05
    run.capture_mode = "sys"
    began = time.perf_counter()
    assert run() == "done" and run.status == "COMPLETED"
    assert timings[0] < 0.5  # logging and printing did not wait for the database
    assert time.perf_counter() - began < 15  # the run ended after the bounded drain time
    observer.close()
    assert Spool(spool_dir).pending(), "undelivered events must be spooled"

    server.start()
    report = _sync(server.url)
    assert report.failed == 0, report.messages
    _await_workers()  # a write that waited out the outage may land now: it must change nothing
    expected = "before the outage\n" + "".join(f"during {i}\n" for i in range(200))
    _assert_whole(server.url, run._id, expected, 21000)
    assert Spool(spool_dir).pending() == []
    again = _sync(server.url)
    assert again.delivered == 0
    _assert_whole(server.url, run._id, expected, 21000)


@pytest.mark.timeout(120)
def test_server_down_from_the_start(server: Outage, spool_dir: Path) -> None:
    SETTINGS.START_TIMEOUT = 0.5
    SETTINGS.DRAIN_TIMEOUT = 0.5
    server.stop()
    observer = SqlObserver(server.url)

    def main() -> str:
        for i in range(100):
            run.log_scalar("loss", float(i))
        print("offline")
        run.info["phase"] = "after"
        return "done"

    run = Run(config={}, main_function=main, observers=[observer])
    run.capture_mode = "sys"
    assert run() == "done"
    observer.close()
    server.start()
    report = _sync(server.url)
    assert report.failed == 0 and report.delivered > 0, report.messages
    _await_workers()  # a start that waited out the outage may land now: still one run
    reader = SqlReader(server.url)
    (run_id,) = reader.run_ids()
    reader.close()
    _assert_whole(server.url, run_id, "offline\n", 100)
    assert _sync(server.url).delivered == 0
