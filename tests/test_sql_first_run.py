"""The first run into a new SQL database creates its schema silently; later runs do no migration work."""

from __future__ import annotations

import logging
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("sqlalchemy", reason="the SQL observer needs gnomon[sql]")

from gnomon.errors import ObserverError
from gnomon.observers.sql import SqlObserver, SqlReader
from gnomon.observers.sql.testing import BACKENDS, DatabaseUnavailable, fresh_database

HELLO = """\
import sys
from gnomon import Experiment

ex = Experiment("hello")


@ex.automain
def main():
    print("hello from the run")
    print("alembic imported:", "alembic" in sys.modules)
"""

ALEMBIC_WORDS = ("alembic.runtime", "Context impl", "Will assume", "Running upgrade", "setup plugin")


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest):
    try:
        with fresh_database(request.param) as url:
            yield url
    except DatabaseUnavailable as error:
        pytest.skip(str(error))


@pytest.mark.timeout(180)
def test_migrations_are_silent_and_an_up_to_date_database_costs_no_migration_work(
    db_url: str, tmp_path: Path, script_env: dict[str, str]
) -> None:
    script = tmp_path / "hello.py"
    script.write_text(HELLO)

    def run() -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, str(script), "-s", db_url], cwd=tmp_path, env=script_env,
            capture_output=True, text=True, timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return done

    first = run()  # creates the schema
    second = run()  # the database is current
    for done in (first, second):
        shown = done.stdout + done.stderr
        assert not [word for word in ALEMBIC_WORDS if word in shown], shown
    assert "alembic imported: True" in first.stdout
    assert "alembic imported: False" in second.stdout  # not even imported: no migration work

    reader = SqlReader(db_url)
    try:
        runs = reader.run_ids()
        outputs = [reader.run(run_id)["captured_out"] for run_id in runs]
    finally:
        reader.close()
    assert len(runs) == 2
    assert "hello from the run\nalembic imported: True\n" in outputs[0]
    assert "hello from the run\nalembic imported: False\n" in outputs[1]
    for output in outputs:  # the run's stored output holds nothing of Alembic's log
        assert not [word for word in ALEMBIC_WORDS if word in output], output


def test_a_failed_migration_shows_what_alembic_logged(tmp_path: Path) -> None:
    path = tmp_path / "clash.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE experiments (unrelated INTEGER)")  # not gnomon's table
    import alembic.command  # noqa: F401 - it adds its own handler when imported

    alembic_logger = logging.getLogger("alembic")
    handlers, propagate = list(alembic_logger.handlers), alembic_logger.propagate
    observer = SqlObserver(f"sqlite:///{path}")
    try:
        with pytest.raises(ObserverError) as raised:
            observer.engine  # noqa: B018
    finally:
        observer.close()
    message = str(raised.value)
    assert str(path) in message and "table experiments already exists" in message
    assert "Alembic's log:" in message and "Running upgrade  -> 0001" in message
    assert "setup plugin" not in message
    # the application's logging is as it was
    assert alembic_logger.handlers == handlers and alembic_logger.propagate == propagate
