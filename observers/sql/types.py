"""Column types that mean the same on SQLite, PostgreSQL and MariaDB/MySQL.

The migrations import these too, so a type is defined once. What differs per
backend is handled here: MySQL's ``DATETIME`` drops fractions of a second unless
asked (``fsp=6``), its ``BLOB``/``TEXT`` stop at 64 KiB, and only PostgreSQL has a
binary JSON type (``JSONB``) worth using.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

__all__ = ["Blob", "Id", "Json", "LongText", "UtcDateTime"]

# The PostgreSQL and MySQL type modules are imported only when an engine of that
# dialect asks for its column types (``load_dialect_impl``): importing the two
# dialect packages would cost every SQLite run ~40 ms of start-up for types it
# never uses.

#: Surrogate keys: 64-bit, but INTEGER on SQLite so the key is the rowid (autoincrement).
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class _Json(sa.types.TypeDecorator[Any]):
    """JSON documents (config, info, meta, host, result): JSONB on PostgreSQL."""

    impl = sa.JSON
    cache_ok = True
    # As sa.JSON: a Python None is stored as JSON null, and documents are not hashable.
    should_evaluate_none = True
    hashable = False

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine[Any]:
        """JSONB on PostgreSQL (indexable, compact), JSON elsewhere."""
        if dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import JSONB

            return dialect.type_descriptor(JSONB())
        return dialect.type_descriptor(sa.JSON())


class _LongText(sa.types.TypeDecorator[str]):
    """Text of any length (output chunks, paths): LONGTEXT on MySQL/MariaDB."""

    impl = sa.Text
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name in ("mysql", "mariadb"):
            from sqlalchemy.dialects.mysql import LONGTEXT

            return dialect.type_descriptor(LONGTEXT())
        return dialect.type_descriptor(sa.Text())


class _Blob(sa.types.TypeDecorator[bytes]):
    """Binary chunks of stored files: LONGBLOB on MySQL/MariaDB, BYTEA on PostgreSQL."""

    impl = sa.LargeBinary
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name in ("mysql", "mariadb"):
            from sqlalchemy.dialects.mysql import LONGBLOB

            return dialect.type_descriptor(LONGBLOB())
        return dialect.type_descriptor(sa.LargeBinary())


#: JSON documents (config, info, meta, host, result): JSONB on PostgreSQL.
Json = _Json()

#: Text of any length (output chunks, paths): LONGTEXT on MySQL/MariaDB.
LongText = _LongText()

#: Binary chunks of stored files: LONGBLOB on MySQL/MariaDB, BYTEA on PostgreSQL.
Blob = _Blob()


class UtcDateTime(sa.types.TypeDecorator[datetime]):
    """A tz-aware UTC datetime in, a tz-aware UTC datetime out, microseconds kept.

    PostgreSQL stores ``timestamptz``; SQLite and MySQL/MariaDB store naive UTC
    (``DATETIME(6)`` on MySQL, which would otherwise round to whole seconds).
    """

    impl = sa.DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine[Any]:
        """PostgreSQL's TIMESTAMP WITH TIME ZONE, MariaDB's DATETIME(6), else a plain DateTime."""
        if dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import TIMESTAMP

            return dialect.type_descriptor(TIMESTAMP(timezone=True))
        if dialect.name in ("mysql", "mariadb"):
            from sqlalchemy.dialects.mysql import DATETIME

            return dialect.type_descriptor(DATETIME(fsp=6))
        return dialect.type_descriptor(sa.DateTime())

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        """A tz-aware UTC time as the column holds it (naive UTC where the column has no zone)."""
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value if dialect.name == "postgresql" else value.replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        """Back to a tz-aware UTC time, whatever the database kept."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
