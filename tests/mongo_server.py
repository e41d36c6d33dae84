"""A real MongoDB wire-protocol server for the Mongo tests: SecantusDB over TCP.

No ``mongod`` can be installed where the tests run, so they start SecantusDB (a
MongoDB wire-protocol server over WiredTiger; GPL, a test-only dependency) and talk
to it with pymongo over a real socket. One server per test module; every test gets
a database of its own. Outage tests stop a server and start another one on the same
storage path (and, when it is free, the same port).

Each server is a child process, not threads of the test process: a server that
stalls can always be killed, so it costs one test a failure instead of holding
every later test (and the suite's teardown) until the time limits hit. Before
each test the module's server is pinged; one that stopped answering is replaced.

Test modules load these fixtures with ``from mongo_server import ...``: tests/ is on
pytest's ``pythonpath`` (pyproject.toml), though it is not a package.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pymongo")
pytest.importorskip("secantus")

import pymongo
from pymongo.errors import PyMongoError

START_TIMEOUT = 60.0  # seconds for a server process to answer its first ping
STOP_TIMEOUT = 15.0  # seconds for a clean shutdown before the process is killed


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _answers(uri: str, timeout_ms: int) -> bool:
    client: pymongo.MongoClient[Any] = pymongo.MongoClient(
        uri, serverSelectionTimeoutMS=timeout_ms, connectTimeoutMS=timeout_ms, socketTimeoutMS=timeout_ms
    )
    try:
        client.admin.command("ping")
        return True
    except PyMongoError:
        return False
    finally:
        client.close()


class MongoServer:
    """One SecantusDB server process; ``stop()`` and ``start()`` may be repeated.

    ``storage_path=None``: SecantusDB's ephemeral storage (no journal to flush,
    which makes bulk writes several times faster), gone with the process; a path
    given is kept, so a server started again finds the data the last one stored.
    """

    def __init__(self, storage_path: str | Path | None = None, port: int = 0) -> None:
        self.storage_path = None if storage_path is None else Path(storage_path)
        self.port = port
        self._process: subprocess.Popen[bytes] | None = None
        self._home: Path | None = None  # the running server's config and log

    def start(self) -> MongoServer:
        self._home = Path(tempfile.mkdtemp(prefix="gnomon-mongo-"))
        failures = []
        for attempt in range(3):
            port = self.port if self.port and attempt == 0 else _free_port()
            error = self._launch(port, self._home)
            if error is None:
                self.port = port
                return self
            failures.append(error)
        self.stop()
        raise RuntimeError("SecantusDB did not start:\n" + "\n".join(failures))

    def _launch(self, port: int, home: Path) -> str | None:
        """Start a server on ``port``; None once it answers, else what went wrong."""
        config = home / "secantusd.toml"
        config.write_text("")  # an explicit, empty config: no secantusd.toml of the machine applies
        log_path = home / "server.log"
        storage = ":memory:" if self.storage_path is None else str(self.storage_path)
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                [
                    sys.executable, "-m", "secantus", "--config", str(config), "--host", "127.0.0.1",
                    "--port", str(port), "--storage-path", storage, "--log-level", "WARNING",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + START_TIMEOUT
        uri = f"mongodb://127.0.0.1:{port}/"
        while time.monotonic() < deadline:
            if process.poll() is not None:
                break
            if _answers(uri, 500):
                self._process = process
                return None
            time.sleep(0.05)
        _end(process)
        tail = log_path.read_text(errors="replace")[-2000:]
        return f"port {port}: exit status {process.returncode}; its log ends with:\n{tail}"

    def stop(self) -> None:
        if self._process is not None:
            _end(self._process)
            self._process = None
        if self._home is not None:
            shutil.rmtree(self._home, ignore_errors=True)
            self._home = None

    def restart_if_silent(self) -> None:
        """Replace a server that no longer answers a ping (its data is lost)."""
        if self._process is not None and _answers(self.uri, 10_000):
            return
        # Said on stderr, not as a warning: the suite turns warnings into errors, and
        # the point is to let this test run on a working server.
        print(f"the SecantusDB server on port {self.port} stopped answering; starting a new one", file=sys.stderr)
        self.stop()
        self.start()

    @property
    def uri(self) -> str:
        """``mongodb://127.0.0.1:PORT/``."""
        return f"mongodb://127.0.0.1:{self.port}/"

    def url(self, db_name: str, **query: Any) -> str:
        """An observer URL for a database on this server."""
        from urllib.parse import urlencode

        text = f"mongodb://127.0.0.1:{self.port}/{db_name}"
        return f"{text}?{urlencode(query)}" if query else text


def _end(process: subprocess.Popen[bytes]) -> None:
    """Stop a server process: a clean shutdown if it takes one, else kill it."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def mongo_server() -> Iterator[MongoServer]:
    """A SecantusDB server with scratch storage, for the test module."""
    server = MongoServer().start()
    yield server
    server.stop()


@pytest.fixture
def db_name() -> str:
    """A fresh database name for this test."""
    return "t" + uuid.uuid4().hex[:12]


@pytest.fixture
def db(mongo_server: MongoServer, db_name: str) -> Iterator[Any]:
    """This test's (empty) database, on a server that answers.

    Its own client, made after the check: a replaced server may listen on a new port.
    """
    mongo_server.restart_if_silent()
    client: pymongo.MongoClient[Any] = pymongo.MongoClient(
        mongo_server.uri, serverSelectionTimeoutMS=5000, socketTimeoutMS=60_000
    )
    yield client[db_name]
    client.close()
