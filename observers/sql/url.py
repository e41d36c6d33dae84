"""Database URLs: the driver gnomon uses per scheme, and URLs safe to store and log.

``postgresql://`` means psycopg 3 and ``mysql://``/``mariadb://`` mean PyMySQL
(pure Python, maintained, no compiler or client library needed). A relative SQLite
path is made absolute, so ``gnomon sync`` run from another folder finds the file.

Passwords never leave the process that was given them: :func:`redact` drops the
password (and password-like query options) from a URL before it is logged or
written to the spool. To sync to a server that needs a password, pass
``gnomon sync --observer URL`` or let the driver find it (``PGPASSWORD`` or
``~/.pgpass`` for PostgreSQL; ``?read_default_file=~/.my.cnf`` for MySQL/MariaDB).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from gnomon.redaction import SECRET_QUERY_KEYS

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

__all__ = ["SCHEMES", "engine_url", "redact", "redact_remote"]

#: URL schemes the SQL observer registers.
SCHEMES = (
    "sqlite",
    "postgresql",
    "postgresql+psycopg",
    "mysql",
    "mysql+pymysql",
    "mariadb",
    "mariadb+pymysql",
)

_DEFAULT_DRIVERS = {"postgresql": "psycopg", "mysql": "pymysql", "mariadb": "pymysql"}
_SECRET_OPTIONS = SECRET_QUERY_KEYS  # query options dropped by redact(): gnomon's shared list


def engine_url(url: str | URL) -> URL:
    """The SQLAlchemy URL to connect with: default driver, absolute SQLite path, utf8mb4."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    backend, _, driver = parsed.drivername.partition("+")
    if not driver and backend in _DEFAULT_DRIVERS:
        parsed = parsed.set(drivername=f"{backend}+{_DEFAULT_DRIVERS[backend]}")
    if backend == "sqlite" and parsed.database and parsed.database not in (":memory:",) and not (
        parsed.database.startswith("file:")
    ):
        parsed = parsed.set(database=os.path.abspath(os.path.expanduser(parsed.database)))
    if backend in ("mysql", "mariadb") and "charset" not in parsed.query:
        parsed = parsed.update_query_dict({"charset": "utf8mb4"})
    return parsed


def redact(url: str | URL) -> str:
    """The URL as text with its password and secret query options removed."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    query = {k: v for k, v in parsed.query.items() if k.lower() not in _SECRET_OPTIONS}
    from sqlalchemy.engine import URL

    clean = URL.create(
        parsed.drivername,
        username=parsed.username,
        host=parsed.host,
        port=parsed.port,
        database=parsed.database,
        query=query,
    )
    return clean.render_as_string(hide_password=False)


def redact_remote(url: str) -> str:
    """A git remote (or any) URL without the ``user:password@`` part, safe to store."""
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if not parts.scheme or "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=host))
