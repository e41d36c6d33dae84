"""No password or token given on the command line is stored or logged anywhere.

A real script runs with database URLs that carry credentials (``-s``, ``-O``,
``-m``) against file storage, SQLite, PostgreSQL and MongoDB (SecantusDB); one
Mongo observer cannot log in, so its events go to the spool. The secret must
then appear in no stored file, row, document, spool row or line of output. The
spool itself is private to its owner, and git remotes lose their credentials.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from event_builders import started
from gnomon.events import utcnow
from gnomon.observers.sql.testing import DatabaseUnavailable, fresh_database
from gnomon.redaction import redact_url, scrub_secrets
from gnomon.spool import Spool
from mongo_server import db, db_name, mongo_server  # noqa: F401 - fixtures, injected by name

SECRET = "hunter2Zq"

SCRIPT = textwrap.dedent(
    """
    from gnomon import Experiment

    ex = Experiment("secrets")

    @ex.automain
    def main(_run):
        print("working")
        return 1
    """
)


@pytest.fixture
def postgres_url() -> Any:
    try:
        with fresh_database("postgresql") as url:
            yield url
    except DatabaseUnavailable as error:
        pytest.skip(str(error))


def run_script(folder: Path, python: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    script = folder / "exp.py"
    script.write_text(SCRIPT)
    return subprocess.run(
        [python, str(script), *args], cwd=folder, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def with_password(url: str, password: str) -> str:
    scheme, rest = url.split("://", 1)
    user, host = rest.split("@", 1)
    return f"{scheme}://{user}:{password}@{host}"


def test_passwords_given_on_the_command_line_are_never_stored_or_logged(
    tmp_path: Path, python: str, script_env: dict[str, str], spool_dir: Path,
    postgres_url: str, mongo_server: Any, db: Any, db_name: str,
) -> None:
    env = {**script_env, "GNOMON_START_TIMEOUT": "2", "GNOMON_DRAIN_TIMEOUT": "2"}
    pg = with_password(postgres_url, SECRET) + f"?sslmode=disable&password={SECRET}"  # trust: ignored
    mongo_login = f"mongodb://bob:{SECRET}@127.0.0.1:{mongo_server.port}/other?token={SECRET}"  # spooled
    result = run_script(
        tmp_path, python, env,
        "-F", "runs",
        "-s", pg,
        "-O", f"sqlite:///runs.db?token={SECRET}",
        "-O", mongo_server.url(db_name),
        "-m", mongo_login,
    )
    assert result.returncode == 0, result.stderr
    assert SECRET not in result.stdout + result.stderr

    # file storage and SQLite: every byte written, logs and write-ahead files included
    for path in [*(tmp_path / "runs").rglob("*"), *tmp_path.glob("runs.db*")]:
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
    # PostgreSQL: every table, every column, as text
    engine = sa.create_engine(postgres_url)
    with engine.connect() as conn:
        query = sa.text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        tables = [row[0] for row in conn.execute(query)]
        for table in tables:
            dump = "".join(str(row) for row in conn.execute(sa.text(f'SELECT * FROM "{table}"')))
            assert SECRET not in dump, table
        meta = conn.execute(sa.text("SELECT meta FROM runs")).scalar_one()
    engine.dispose()
    assert "://postgres@127.0.0.1:" in meta["options"]["--sql"] and "sslmode=disable" in meta["options"]["--sql"]
    assert meta["options"]["--mongo_db"] == f"mongodb://bob@127.0.0.1:{mongo_server.port}/other"
    # MongoDB: the run document stored by the observer that could log in
    [doc] = list(db.runs.find())
    assert SECRET not in repr(doc) and doc["meta"]["options"]["--observer"][0] == "sqlite:///runs.db"
    # the spool holds the started event of the observer that could not log in
    pending = Spool(spool_dir).pending()
    assert len(pending) == 1 and pending[0][2] == f"mongodb://bob@127.0.0.1:{mongo_server.port}/other"
    with sqlite3.connect(spool_dir / "spool.sqlite") as spool:
        kinds = [row[0] for row in spool.execute("SELECT kind FROM events")]
    assert "started" in kinds
    for path in spool_dir.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


def test_redaction_rules() -> None:
    """Passwords in URLs, secret query parameters and secret-named keys go; the rest stays."""
    assert scrub_secrets({"--sql": f"mysql://u:{SECRET}@h/db?ssl=1&api_key={SECRET}"}) == {"--sql": "mysql://u@h/db?ssl=1"}
    assert redact_url(f"see https://x:{SECRET}@h/p?token={SECRET}&a=1 too") == "see https://x@h/p?a=1 too"
    assert scrub_secrets({"password": SECRET, "db_password": SECRET, "n": [f"s://a:{SECRET}@b"]}) == {
        "password": "***", "db_password": "***", "n": ["s://a@b"]
    }


def test_an_observer_url_that_cannot_be_used_is_reported_without_its_password() -> None:
    from gnomon.errors import ObserverError
    from gnomon.observers.registry import observer_from_url

    with pytest.raises(ObserverError) as raised:
        observer_from_url(f"nosuchscheme://alice:{SECRET}@host/db?token={SECRET}")
    assert SECRET not in str(raised.value) and "alice@host" in str(raised.value)


def test_the_spool_is_private_to_its_owner(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        fresh = Spool(tmp_path / "fresh")
        event = started(time=utcnow(), experiment={}, host={}, meta={}, run_uid="u")
        fresh.write("u", "0-X", None, None, [event])
        widened = tmp_path / "widened"
        widened.mkdir(mode=0o755)
        (widened / "spool.sqlite").touch(mode=0o644)
        Spool(widened).pending()
        staging = Spool(tmp_path / "staged").staging_dir("u")
    finally:
        os.umask(old)
    for folder in (fresh.directory, widened, staging.parent.parent):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    for database in (fresh.path, widened / "spool.sqlite"):
        assert stat.S_IMODE(database.stat().st_mode) == 0o600, database
    assert not (tmp_path / "staged" / "spool.sqlite").exists()  # staging alone opens no database


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_git_remote_credentials_are_never_stored(tmp_path: Path, python: str, script_env: dict[str, str]) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    git("remote", "add", "origin", f"https://alice:{SECRET}@example.com/team/exp.git")
    (tmp_path / "exp.py").write_text(SCRIPT)
    git("add", "exp.py")
    git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "exp")
    result = run_script(tmp_path, python, script_env, "-F", "runs", "-s", "sqlite:///runs.db")
    assert result.returncode == 0, result.stderr
    run_json = (tmp_path / "runs" / "1" / "run.json").read_text()
    assert "https://example.com/team/exp.git" in run_json
    for path in [*(tmp_path / "runs").rglob("*"), *tmp_path.glob("runs.db*")]:
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
    assert SECRET not in result.stdout + result.stderr
