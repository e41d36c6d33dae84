"""A value inside a stored JSON document (config, info, meta, host, result), as SQL sees it, per dialect.

The filter compiler asks the same questions on every backend: is the value there,
is it JSON null, a given boolean, which number, which string, a list holding an
element. The answers come from each database's JSON type function (SQLite
``json_type``, PostgreSQL ``jsonb_typeof``, MariaDB ``JSON_TYPE``), so a ``true``
is never the number 1 and ``"1"`` is never a number.

Records hold decoded documents (:func:`gnomon.serialize.decode`): a tagged object
such as ``{"__type__": "datetime", "value": ...}`` is a datetime there, not a
mapping, so a path that goes *through* one finds nothing. Every accessor checks
the containers along its path for a tag that decodes and then counts the value as
missing, as the record does. (A dict with non-string keys, tagged ``"dict"``,
decodes to a mapping whose string keys SQL cannot see; such dicts are not valid
config and rare elsewhere.)
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from gnomon.query.tree import Path

__all__ = ["document_value"]


def _decodable_tags() -> tuple[str, ...]:
    from gnomon.decoding import DECODED_TAGS

    return tuple(sorted(DECODED_TAGS))


def _path(keys: Path) -> str:
    return "$" + "".join(f'."{k}"' for k in keys)


def document_value(dialect: str, column: Any, keys: Path) -> Any:
    """The accessor for ``keys`` inside ``column`` on ``dialect`` (``sqlite``, ``postgresql``, ``mysql``)."""
    return {"sqlite": _Sqlite, "postgresql": _Postgres, "mysql": _Mysql}[dialect](column, keys)


class _Sqlite:
    """``json_type``/``json_extract`` with a ``$."key"`` path."""

    def __init__(self, column: Any, keys: Path) -> None:
        self.column, self.path = column, _path(keys)
        tags = _decodable_tags()
        guards = []
        for i in range(len(keys)):
            tag = _path((*keys[:i], "__type__"))
            guards.append(
                sa.func.coalesce(
                    sa.and_(sa.func.json_type(column, tag) == "text", sa.func.json_extract(column, tag).in_(tags)),
                    sa.false(),
                )
                == sa.false()
            )
        raw = sa.func.json_type(column, self.path)
        self.type = sa.case((sa.and_(*guards), raw)) if guards else raw

    def exists(self) -> Any:
        return self.type.is_not(None)

    def is_null(self) -> Any:
        return self.type == "null"

    def is_bool(self, value: bool) -> Any:
        return self.type == ("true" if value else "false")

    def number(self) -> Any:
        return sa.case((self.type.in_(("integer", "real")), sa.func.json_extract(self.column, self.path)))

    def string(self) -> Any:
        return sa.case((self.type == "text", sa.func.json_extract(self.column, self.path)))

    def contains(self, value: Any) -> Any:
        each = sa.func.json_each(self.column, self.path).table_valued("type", "value").alias("je")
        if value is None:
            match = each.c.type == "null"
        elif isinstance(value, bool):
            match = each.c.type == ("true" if value else "false")
        elif isinstance(value, str):
            match = sa.and_(each.c.type == "text", each.c.value == sa.literal(value, sa.Text))
        else:
            match = sa.and_(each.c.type.in_(("integer", "real")), each.c.value == sa.literal(value))
        return sa.and_(self.type == "array", sa.exists(sa.select(sa.literal(1)).select_from(each).where(match)))


def _pg_at(column: Any, keys: Path) -> Any:
    value = column
    for key in keys:  # text keys only: ``#>`` would index arrays with numeric-looking keys
        value = value.op("->", return_type=postgresql.JSONB)(sa.cast(sa.literal(key), sa.Text))
    return value


class _Postgres:
    """JSONB reached with ``->`` and text keys."""

    def __init__(self, column: Any, keys: Path) -> None:
        self.value = _pg_at(column, keys)
        tags = _decodable_tags()
        guards = []
        for i in range(len(keys)):
            tag = _pg_at(column, (*keys[:i], "__type__"))
            text = tag.op("#>>", return_type=sa.Text)(sa.literal_column("'{}'"))
            guards.append(
                sa.func.coalesce(sa.and_(sa.func.jsonb_typeof(tag) == "string", text.in_(tags)), sa.false())
                == sa.false()
            )
        raw = sa.func.jsonb_typeof(self.value)
        self.type = sa.case((sa.and_(*guards), raw)) if guards else raw

    def exists(self) -> Any:
        return self.type.is_not(None)

    def is_null(self) -> Any:
        return self.type == "null"

    def is_bool(self, value: bool) -> Any:
        return sa.and_(self.type == "boolean", sa.cast(self.value, sa.Text) == ("true" if value else "false"))

    def number(self) -> Any:
        return sa.case((self.type == "number", sa.cast(self.value, sa.Double)))

    def string(self) -> Any:
        text = self.value.op("#>>", return_type=sa.Text)(sa.literal_column("'{}'"))
        return sa.case((self.type == "string", text))

    def contains(self, value: Any) -> Any:
        # jsonb containment compares numbers by value (1 matches 1.0) and never
        # looks into nested arrays for a scalar
        probe = sa.cast(sa.literal(json.dumps([value])), postgresql.JSONB)
        return sa.and_(self.type == "array", self.value.op("@>", return_type=sa.Boolean)(probe))


class _Mysql:
    """MariaDB/MySQL JSON (LONGTEXT): ``JSON_EXTRACT``, ``JSON_TYPE``, ``JSON_VALUE``."""

    def __init__(self, column: Any, keys: Path) -> None:
        self.column, self.path = column, _path(keys)
        tags = _decodable_tags()
        guards = []
        for i in range(len(keys)):
            tag = _path((*keys[:i], "__type__"))
            guards.append(
                sa.func.coalesce(
                    sa.and_(
                        sa.func.JSON_TYPE(sa.func.JSON_EXTRACT(column, tag)) == "STRING",
                        sa.cast(sa.func.JSON_VALUE(column, tag), sa.LargeBinary).in_(
                            [sa.cast(sa.literal(t), sa.LargeBinary) for t in tags]
                        ),
                    ),
                    sa.false(),
                )
                == sa.false()
            )
        self.extracted = sa.func.JSON_EXTRACT(column, self.path)
        raw = sa.func.JSON_TYPE(self.extracted)
        self.type = sa.case((sa.and_(*guards), raw)) if guards else raw

    def exists(self) -> Any:
        return self.type.is_not(None)

    def is_null(self) -> Any:
        return self.type == "NULL"

    def is_bool(self, value: bool) -> Any:
        wanted = sa.cast(sa.literal("true" if value else "false"), sa.LargeBinary)
        return sa.and_(self.type == "BOOLEAN", sa.cast(self.extracted, sa.LargeBinary) == wanted)

    def number(self) -> Any:
        # SQLAlchemy renders no CAST(... AS DOUBLE) for MariaDB; adding a double converts
        as_double = sa.func.JSON_VALUE(self.column, self.path) + sa.literal_column("0e0")
        return sa.case((self.type.in_(("INTEGER", "DOUBLE", "UNSIGNED INTEGER")), as_double))

    def string(self) -> Any:
        return sa.case((self.type == "STRING", sa.func.JSON_VALUE(self.column, self.path)))

    def contains(self, value: Any) -> Any:
        # JSON_CONTAINS also looks into nested arrays ([[1]] contains 1): walk the elements instead
        params: list[Any] = [sa.bindparam("p", self.path + "[*]", unique=True)]
        element = "JSON_TYPE(jt.j)"
        if value is None:
            match = f"{element} = 'NULL'"
        elif isinstance(value, bool):
            match = f"{element} = 'BOOLEAN' AND CAST(jt.j AS BINARY) = " + ("'true'" if value else "'false'")
        elif isinstance(value, str):
            match = f"{element} = 'STRING' AND CAST(JSON_VALUE(jt.j, '$') AS BINARY) = CAST(:v AS BINARY)"
            params.append(sa.bindparam("v", value, unique=True))
        else:
            match = f"{element} IN ('INTEGER', 'DOUBLE', 'UNSIGNED INTEGER') AND JSON_VALUE(jt.j, '$') + 0e0 = :v"
            params.append(sa.bindparam("v", value, unique=True))
        column = f"{self.column.table.name}.{self.column.name}"
        clause = sa.text(
            f"EXISTS (SELECT 1 FROM JSON_TABLE({column}, :p COLUMNS (j JSON PATH '$')) AS jt WHERE {match})"
        ).bindparams(*params)
        return sa.and_(self.type == "ARRAY", clause)
