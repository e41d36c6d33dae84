"""A real MongoDB wire-protocol server for the Mongo tests: SecantusDB over TCP.

No ``mongod`` can be installed where the tests run, so they start SecantusDB (a
MongoDB wire-protocol server over WiredTiger; GPL, a test-only dependency) and talk
to it with pymongo over a real socket. One server per test module; every test gets
a database of its own. Outage tests stop a server and start another one on the same
storage path (and, when it is free, the same port).

Test modules load these fixtures with ``from mongo_server import ...`` after putting
this folder on ``sys.path`` (tests/ is not a package).
"""

from __future__ import annotations

import gc
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pymongo")
pytest.importorskip("secantus")

import pymongo  # noqa: E402
from secantus import SecantusDBServer  # noqa: E402


class MongoServer:
    """One SecantusDB server process-thread; ``stop()`` and ``start()`` may be repeated."""

    def __init__(self, storage_path: str | Path = ":memory:", port: int = 0) -> None:
        self.storage_path = str(storage_path)
        self.port = port
        self._server: Any = None

    def start(self) -> MongoServer:
        try:
            self._server = SecantusDBServer(storage_path=self.storage_path, port=self.port)
            self._server.start()
        except OSError:  # the old port is not free yet: take another one
            self._server = SecantusDBServer(storage_path=self.storage_path, port=0)
            self._server.start()
        self.port = int(self.uri.rstrip("/").rsplit(":", 1)[1])
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    @property
    def uri(self) -> str:
        """``mongodb://127.0.0.1:PORT/``."""
        return str(self._server.uri)

    def url(self, db_name: str, **query: Any) -> str:
        """An observer URL for a database on this server."""
        from urllib.parse import urlencode

        text = f"mongodb://127.0.0.1:{self.port}/{db_name}"
        return f"{text}?{urlencode(query)}" if query else text


@pytest.fixture(scope="module")
def mongo_server() -> Iterator[MongoServer]:
    """A SecantusDB server in memory, for the test module."""
    server = MongoServer().start()
    yield server
    gc.collect()  # observers close their clients when collected; the server waits for them
    server.stop()


@pytest.fixture(scope="module")
def mongo_client(mongo_server: MongoServer) -> Iterator[pymongo.MongoClient[Any]]:
    """A pymongo client of the module's server."""
    client: pymongo.MongoClient[Any] = pymongo.MongoClient(mongo_server.uri, serverSelectionTimeoutMS=5000)
    yield client
    client.close()


@pytest.fixture
def db_name() -> str:
    """A fresh database name for this test."""
    return "t" + uuid.uuid4().hex[:12]


@pytest.fixture
def db(mongo_client: pymongo.MongoClient[Any], db_name: str) -> Any:
    """This test's (empty) database."""
    return mongo_client[db_name]
