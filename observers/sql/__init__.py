"""The SQL observer: SQLite, PostgreSQL and MariaDB/MySQL through SQLAlchemy 2 (``gnomon[sql]``).

``SqlObserver`` writes; ``SqlReader`` reads a stored run back. SQLAlchemy is
imported here, so ``gnomon.observers`` imports this package only when
``SqlObserver`` is asked for.
"""

from __future__ import annotations

from gnomon.observers.sql.observer import DEFAULT_SQL_PRIORITY, SqlObserver
from gnomon.observers.sql.reader import SqlReader

__all__ = ["DEFAULT_SQL_PRIORITY", "SqlObserver", "SqlReader"]
