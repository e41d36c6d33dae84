"""The SQL schema: migrations build exactly the tables the code declares, once, under concurrency."""

from __future__ import annotations

import subprocess
import sys
import threading
from typing import Any

import pytest

pytest.importorskip("sqlalchemy", reason="the SQL observer needs gnomon[sql]")

import sqlalchemy as sa

from gnomon.observers.sql.database import MIGRATIONS_DIR, create_engine, current_revision, migrate
from gnomon.observers.sql.schema import HEAD_REVISION, VERSION_TABLE, metadata
from gnomon.observers.sql.testing import BACKENDS, DatabaseUnavailable, fresh_database
from gnomon.observers.sql.url import engine_url


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest) -> Any:
    try:
        database = fresh_database(request.param)
        url = database.__enter__()
    except DatabaseUnavailable as error:
        pytest.skip(str(error))
    try:
        yield url
    finally:
        database.__exit__(None, None, None)


def test_head_revision_is_the_newest_migration() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    assert ScriptDirectory.from_config(config).get_heads() == [HEAD_REVISION]


def test_migrated_database_matches_the_declared_schema(db_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = create_engine(engine_url(db_url))
    try:
        migrate(engine)
        with engine.connect() as conn:
            assert current_revision(conn) == HEAD_REVISION
            context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE, "compare_type": True})
            diff = compare_metadata(context, metadata)
            assert diff == []
            names = set(sa.inspect(conn).get_table_names())
        assert names == set(metadata.tables) | {VERSION_TABLE}
        migrate(engine)  # a current database is left alone
    finally:
        engine.dispose()


def test_many_openers_of_a_new_database_migrate_it_once(db_url: str) -> None:
    engines = [create_engine(engine_url(db_url)) for _ in range(8)]
    barrier = threading.Barrier(len(engines))
    errors: list[BaseException] = []

    def open_one(engine: sa.Engine) -> None:
        try:
            barrier.wait()
            migrate(engine)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=open_one, args=(e,)) for e in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        with engines[0].connect() as conn:
            rows = conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).all()
        assert rows == [(HEAD_REVISION,)]
    finally:
        for engine in engines:
            engine.dispose()


def test_import_gnomon_does_not_import_sqlalchemy() -> None:
    code = "import sys, gnomon, gnomon.observers; print('sqlalchemy' in sys.modules, 'alembic' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_upgrading_from_0001_fills_metric_summaries(db_url: str) -> None:
    """Points stored before revision 0002 get their summaries (NaN and infinities exact); the store upgrades too."""
    import math

    from alembic import command
    from alembic.config import Config

    from gnomon.observers.sql.store import SqlRunStore

    engine = create_engine(engine_url(db_url))
    try:
        with engine.connect() as conn:
            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS_DIR))
            config.attributes["connection"] = conn
            command.upgrade(config, "0001")
            conn.commit()
            assert current_revision(conn) == "0001"
            conn.execute(sa.text("INSERT INTO runs (run_id, status, output_length) VALUES ('1', 'COMPLETED', 0)"))
            run = conn.execute(sa.text("SELECT id FROM runs")).scalar()
            conn.execute(sa.text("INSERT INTO metrics (run, name) VALUES (:r, 'loss'), (:r, 'all/nan')"), {"r": run})
            keys = dict(conn.execute(sa.text("SELECT name, id FROM metrics")).all())
            points = [  # (metric, step, value, special) in logged order
                (keys["loss"], 0, 3.0, None), (keys["loss"], 2, None, "inf"), (keys["loss"], 2, 0.5, None),
                (keys["loss"], 1, None, "-inf"), (keys["loss"], 1, None, "nan"),
                (keys["all/nan"], 4, None, "nan"),
            ]
            columns = ("metric", "step", "value", "special", "timestamp")
            table = sa.table("metric_points", *(sa.column(c) for c in columns))
            conn.execute(
                sa.insert(table),
                [{"metric": m, "step": s, "value": v, "special": x, "timestamp": 0.0} for m, s, v, x in points],
            )
            conn.commit()
    finally:
        engine.dispose()
    store = SqlRunStore.from_url(db_url)  # a reader upgrades an older database, as the observer does
    try:
        (record,) = store.summaries(None)
        assert record["metrics"]["loss"] == {"last": 0.5, "min": -math.inf, "max": math.inf, "count": 5, "last_step": 2}
        nan = record["metrics"]["all/nan"]
        assert math.isnan(nan["last"])
        assert (nan["min"], nan["max"], nan["count"], nan["last_step"]) == (None, None, 1, 4)
    finally:
        store.close()
