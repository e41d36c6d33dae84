"""Throw-away databases for tests: a fresh, empty database per test on each backend.

``fresh_database("postgresql")`` creates a database with a random name on the
server named by ``GNOMON_TEST_POSTGRES_URL`` (default
``postgresql://postgres@127.0.0.1:5432/test``), yields its URL and drops it
afterwards; ``"mariadb"`` does the same on ``GNOMON_TEST_MYSQL_URL`` (default
``mysql://root@127.0.0.1:3306/test``); ``"sqlite"`` yields a file in a temporary
folder. A server that cannot be reached raises :class:`DatabaseUnavailable`,
which a test suite turns into a skip with the reason.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from collections.abc import Iterator

import sqlalchemy as sa

from gnomon.observers.sql.url import engine_url

__all__ = ["BACKENDS", "DatabaseUnavailable", "fresh_database", "server_url"]

BACKENDS = ("sqlite", "postgresql", "mariadb")
_DEFAULTS = {
    "postgresql": ("GNOMON_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    "mariadb": ("GNOMON_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test"),
}


class DatabaseUnavailable(RuntimeError):
    """The test server for a backend cannot be reached (or its driver is missing)."""


def server_url(backend: str) -> sa.URL:
    """The URL of the test server of ``backend`` (from the environment or the default)."""
    variable, default = _DEFAULTS[backend]
    return engine_url(os.environ.get(variable, default))


@contextlib.contextmanager
def fresh_database(backend: str) -> Iterator[str]:
    """Yield the URL of a new empty database on ``backend``; drop it afterwards."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="gnomon-sql-") as folder:
            yield f"sqlite:///{folder}/runs.db"
        return
    admin_url = server_url(backend)
    name = "gnomon_test_" + uuid.uuid4().hex[:12]
    try:
        admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})
        with admin.connect() as conn:
            if backend == "postgresql":
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
            else:
                conn.exec_driver_sql(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    except (sa.exc.OperationalError, sa.exc.InterfaceError, ModuleNotFoundError) as error:
        raise DatabaseUnavailable(
            f"{backend} test server {admin_url.render_as_string(hide_password=True)} unreachable: {error}"
        ) from error
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            if backend == "postgresql":
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            else:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")
        admin.dispose()
