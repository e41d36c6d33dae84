"""Alembic environment: migrate the connection the store hands over (or the configured URL).

The store runs migrations programmatically (``gnomon.observers.sql.database``), holding
a lock so several processes opening a new database at once migrate it once. Run by
hand, ``alembic -x url=sqlite:///runs.db upgrade head`` with ``script_location``
pointing here works too.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from gnomon.observers.sql.schema import VERSION_TABLE, metadata

config = context.config


def _run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        render_as_batch=connection.dialect.name == "sqlite",
        transactional_ddl=connection.dialect.name != "mysql" and connection.dialect.name != "mariadb",
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )
    engine = sa.create_engine(url or "")
    with engine.connect() as conn:
        _run(conn)
        conn.commit()
    engine.dispose()
