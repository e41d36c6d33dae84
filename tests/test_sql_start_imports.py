"""A run into SQLite imports neither the PostgreSQL nor the MySQL dialect of SQLAlchemy."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("sqlalchemy", reason="the SQL observer needs gnomon[sql]")

SCRIPT = """\
import sys
from gnomon import Experiment

ex = Experiment("hello")


@ex.automain
def main():
    loaded = [m for m in ("sqlalchemy.dialects.postgresql", "sqlalchemy.dialects.mysql",
                          "alembic") if m in sys.modules]
    print("other dialects loaded:", loaded)
"""


def run_into(db: Path, cwd: Path) -> str:
    result = subprocess.run(
        [sys.executable, "hello.py", "-s", f"sqlite:///{db}"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_a_sqlite_run_loads_no_other_dialect(tmp_path: Path) -> None:
    (tmp_path / "hello.py").write_text(SCRIPT)
    db = tmp_path / "runs.db"
    run_into(db, tmp_path)  # creates the schema (Alembic runs here)
    assert "other dialects loaded: []" in run_into(db, tmp_path).splitlines()

    import sqlalchemy as sa

    with sa.create_engine(f"sqlite:///{db}").connect() as conn:
        rows = conn.execute(sa.text("SELECT status, config FROM runs ORDER BY id")).all()
    assert [status for status, _ in rows] == ["COMPLETED", "COMPLETED"]
