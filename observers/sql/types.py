"""Column types that mean the same on SQLite, PostgreSQL and MariaDB/MySQL.

The migrations import these too, so a type is defined once. What differs per
backend is handled here: MySQL's ``DATETIME`` drops fractions of a second unless
asked (``fsp=6``), its ``BLOB``/``TEXT`` stop at 64 KiB, and only PostgreSQL has a
binary JSON type (``JSONB``) worth using.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql

__all__ = ["Blob", "Id", "Json", "LongText", "UtcDateTime"]

#: Surrogate keys: 64-bit, but INTEGER on SQLite so the key is the rowid (autoincrement).
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

#: JSON documents (config, info, meta, host, result): JSONB on PostgreSQL.
Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

#: Text of any length (output chunks, paths): LONGTEXT on MySQL/MariaDB.
LongText = sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")

#: Binary chunks of stored files: LONGBLOB on MySQL/MariaDB, BYTEA on PostgreSQL.
Blob = sa.LargeBinary().with_variant(mysql.LONGBLOB(), "mysql", "mariadb")


class UtcDateTime(sa.types.TypeDecorator[datetime]):
    """A tz-aware UTC datetime in, a tz-aware UTC datetime out, microseconds kept.

    PostgreSQL stores ``timestamptz``; SQLite and MySQL/MariaDB store naive UTC
    (``DATETIME(6)`` on MySQL, which would otherwise round to whole seconds).
    """

    impl = sa.DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.TIMESTAMP(timezone=True))
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(sa.DateTime())

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        value = value.astimezone(timezone.utc)
        return value if dialect.name == "postgresql" else value.replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)
