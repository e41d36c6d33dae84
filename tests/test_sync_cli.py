"""``gnomon sync`` as a user manages the spool: list, select, deliver, re-target, discard, exit codes.

Stores are real: file storage and SQLite on disk, PostgreSQL on the shared test
server. A file store is "down" while its folder's parent is a plain file (no
folder can be made there, whoever runs the test) and "up" once that file is gone.
"""

from __future__ import annotations

import json
import os
import pty
import sqlite3
import subprocess
import textwrap
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from event_builders import completed, heartbeat, output, started
from gnomon.backlog import Selection, store_key
from gnomon.cli.main import main
from gnomon.events import Event
from gnomon.spool import Spool
from gnomon.sync import EXIT_BAD, EXIT_OK, EXIT_PENDING, EXIT_SPOOL, EXIT_USAGE, is_rejection, pending

STARTED = datetime(2024, 5, 1, 12, 0, 3, tzinfo=UTC)


def run_events(run_id: str | None = "1", name: str = "demo", user_id: str | None = None) -> list[Event]:
    """A whole run, as the spool keeps it for an observer that never took its start.

    The start carries no id (or the user's ``-i`` id); the later events carry the id
    another observer of the run gave it, which is the id the user was shown.
    """
    start = started(
        user_id,
        time=STARTED,
        experiment={
            "name": name,
            "sources": [],
            "dependencies": [],
            "repositories": [],
            "mainfile": f"{name}.py",
            "base_dir": "/tmp",
        },
        host={},
        config={"a": 1},
        meta={},
    )
    later_id = user_id or run_id
    return [
        start,
        output(later_id, 1, "hello\n", time=STARTED),
        heartbeat(later_id, 2, info={"x": 1}, time=STARTED),
        completed(later_id, 3, result=42, time=STARTED),
    ]


def spool_run(
    spool_dir: Path,
    url: str,
    events: list[Event] | None = None,
    run_uid: str | None = None,
    key: str = "0-FileStorageObserver",
) -> str:
    run_uid = run_uid or uuid.uuid4().hex
    Spool(spool_dir).write(run_uid, key, url, None, events or run_events())
    return run_uid


def corrupt(spool_dir: Path, run_uid: str, seq: int) -> None:
    with sqlite3.connect(spool_dir / "spool.sqlite") as db:
        db.execute("UPDATE events SET payload = ? WHERE run_uid = ? AND seq = ?", (b"{not json", run_uid, seq))


def gnomon(*args: str, stdin: str | None = None) -> Any:
    return CliRunner().invoke(main, ["sync", *args], input=stdin)


def down_store(tmp_path: Path, name: str = "runs") -> tuple[Path, str]:
    """A file store that cannot be written: its parent folder is a plain file."""
    blocker = tmp_path / f"{name}-mount"
    blocker.write_text("not a folder")
    return blocker, f"file://{blocker / name}"


def stored_runs(folder: Path) -> dict[str, dict[str, Any]]:
    return {
        p.parent.name: json.loads(p.read_text()) for p in folder.glob("*/run.json") if not p.parent.name.startswith("_")
    }


# ---------------------------------------------------------------- --list


def test_list_names_runs_stores_counts_and_ages_as_the_user_knows_them(spool_dir: Path, tmp_path: Path) -> None:
    _, down = down_store(tmp_path)
    uid = spool_run(spool_dir, down)
    result = gnomon("--list")
    assert result.exit_code == EXIT_OK, result.output
    header, row, summary = result.stdout.splitlines()
    assert header.split() == ["RUN", "EXPERIMENT", "STARTED", "(UTC)", "STORE", "EVENTS", "BAD", "OLDEST"]
    assert row.split()[:6] == ["1", "demo", "2024-05-01", "12:00:03", down, "4"]
    assert row.split()[6] == "0" and row.split()[7].isdigit()
    assert summary == "1 run to 1 store: 4 events waiting, 0 bad."
    assert uid not in result.stdout and uid[:8] not in result.stdout  # the run has an id: no uid shown

    data = json.loads(gnomon("--list", "--json").stdout)
    assert data == [
        {
            "run_id": "1",
            "run_uid": uid,
            "experiment": "demo",
            "started": "2024-05-01T12:00:03+00:00",
            "store": down,
            "events": 4,
            "kinds": {"started": 1, "output": 1, "heartbeat": 1, "completed": 1},
            "bad": [],
            "oldest": data[0]["oldest"],
            "age_seconds": data[0]["age_seconds"],
        }
    ]
    assert 0 <= data[0]["age_seconds"] < 600


def test_list_shows_the_store_without_its_password(spool_dir: Path) -> None:
    spool_run(spool_dir, "postgresql://lab:s3cret@127.0.0.1:1/x?token=abc", key="0-SqlObserver")
    result = gnomon("--list")
    assert "postgresql://lab@127.0.0.1:1/x" in result.stdout
    assert "s3cret" not in result.stdout and "abc" not in result.stdout


def test_a_run_without_any_id_is_named_by_experiment_start_and_uid_prefix(spool_dir: Path, tmp_path: Path) -> None:
    _, down = down_store(tmp_path)
    uid = spool_run(spool_dir, down, run_events(run_id=None, name="nameless"))
    result = gnomon("--list")
    row = result.stdout.splitlines()[1]
    assert row.split()[:4] == [uid[:8], "nameless", "2024-05-01", "12:00:03"]
    assert "shown by the start of its uid" in result.stdout
    assert uid not in result.stdout  # never the whole internal uid
    assert "1 run to 1 store" in gnomon("--list", "--run", uid[:8]).stdout
    assert "Nothing waits for --run " in gnomon("--list", "--run", uid[:3]).stdout  # too short to be a uid


def test_list_of_an_empty_spool(tmp_path: Path) -> None:
    result = gnomon("--spool", str(tmp_path / "none"), "--list")
    assert result.exit_code == EXIT_OK
    assert result.stdout == "Nothing waits in the spool.\n"
    assert gnomon("--spool", str(tmp_path / "none"), "--list", "--json").stdout == "[]\n"


# ---------------------------------------------------------------- delivery, counting, exit codes


def test_one_run_for_two_stores_is_counted_as_one_run_to_two_stores(spool_dir: Path, tmp_path: Path) -> None:
    uid = uuid.uuid4().hex
    spool_run(spool_dir, f"file://{tmp_path / 'a'}", run_uid=uid, key="0-FileStorageObserver")
    spool_run(spool_dir, f"sqlite:///{tmp_path / 'b.db'}", run_uid=uid, key="1-SqlObserver")
    assert "1 run to 2 stores: 8 events waiting, 0 bad." in gnomon("--list").stdout
    dry = gnomon("--dry-run")
    assert dry.exit_code == EXIT_OK
    assert dry.stdout.splitlines()[-1] == "Dry run: would deliver 8 events of 1 run to 2 stores; nothing was delivered."
    assert "run 1 (demo, started 2024-05-01 12:00:03 UTC) -> file://" in dry.stdout
    assert "would deliver 4 events (started, output, heartbeat, completed)" in dry.stdout
    assert uid[:8] not in dry.stdout
    assert not (tmp_path / "a").exists()

    result = gnomon()
    assert result.exit_code == EXIT_OK, result.output
    assert result.stdout.splitlines()[-1] == "1 run to 2 stores: 8 events delivered, 0 left pending, 0 bad."
    assert stored_runs(tmp_path / "a")["1"]["status"] == "COMPLETED"
    with sqlite3.connect(tmp_path / "b.db") as db:
        assert db.execute("SELECT status FROM runs").fetchall() == [("COMPLETED",)]
    again = gnomon()
    assert again.exit_code == EXIT_OK and again.stdout == "Nothing waits in the spool.\n"


def test_a_store_that_is_down_then_up(spool_dir: Path, tmp_path: Path) -> None:
    blocker, down = down_store(tmp_path)
    spool_run(spool_dir, down)
    spool_run(spool_dir, down, run_events(run_id="2"))
    result = gnomon()
    assert result.exit_code == EXIT_PENDING, result.output
    first, second, summary = result.stdout.splitlines()
    assert "run 1 (demo" in first and "4 events left pending: the store is away:" in first
    assert "not tried again" in second  # one store found down is not asked again in the same sync
    assert summary == "2 runs to 1 store: 0 events delivered, 8 left pending, 0 bad."
    assert "2 runs to 1 store: 8 events waiting" in gnomon("--list").stdout

    blocker.unlink()  # the store is back
    result = gnomon()
    assert result.exit_code == EXIT_OK, result.output
    assert result.stdout.splitlines()[-1] == "2 runs to 1 store: 8 events delivered, 0 left pending, 0 bad."
    assert {r["status"] for r in stored_runs(blocker / "runs").values()} == {"COMPLETED"}


def test_a_bad_entry_is_set_aside_and_the_rest_delivered(spool_dir: Path, tmp_path: Path) -> None:
    store = tmp_path / "runs"
    broken = spool_run(spool_dir, f"file://{store}", run_events(run_id="1"))
    spool_run(spool_dir, f"file://{store}", run_events(run_id="2", name="other"))
    corrupt(spool_dir, broken, seq=2)  # its heartbeat cannot be read back
    result = gnomon()
    assert result.exit_code == EXIT_BAD, result.output
    assert "delivered 3 events, 1 bad entry set aside: event 2 (heartbeat) cannot be read back" in result.stdout
    assert result.stdout.splitlines()[-1] == "2 runs to 1 store: 7 events delivered, 0 left pending, 1 bad."
    runs = stored_runs(store)
    assert sorted(r["experiment"]["name"] for r in runs.values()) == ["demo", "other"]
    assert {r["status"] for r in runs.values()} == {"COMPLETED"}  # the run's end got through

    listing = gnomon("--list")
    assert "1 run to 1 store: 1 event waiting, 1 bad." in listing.stdout
    assert "bad: run 1 (demo, started 2024-05-01 12:00:03 UTC) -> file://" in listing.stdout
    assert "event 2 (heartbeat) cannot be read back: JSONDecodeError" in listing.stdout
    assert json.loads(gnomon("--list", "--json").stdout)[0]["bad"][0]["kind"] == "heartbeat"

    again = gnomon()  # bad entries stay bad until the user discards them
    assert again.exit_code == EXIT_BAD
    assert again.stdout.splitlines()[-1] == "1 run to 1 store: 0 events delivered, 0 left pending, 1 bad."
    gone = gnomon("--discard", "--run", "1", "--yes")
    assert gone.exit_code == EXIT_OK, gone.output
    assert gone.stdout.splitlines()[-1] == "Discarded 1 event of 1 run."
    final = gnomon()
    assert final.exit_code == EXIT_OK and final.stdout == "Nothing waits in the spool.\n"


def test_a_bad_start_holds_back_only_its_own_run(spool_dir: Path, tmp_path: Path) -> None:
    store = tmp_path / "runs"
    broken = spool_run(spool_dir, f"file://{store}", run_events(run_id="1"))
    spool_run(spool_dir, f"file://{store}", run_events(run_id="2", name="other"))
    corrupt(spool_dir, broken, seq=0)
    result = gnomon()
    assert result.exit_code == EXIT_BAD
    assert "3 events left pending, 1 bad entry set aside: event 0 (started) cannot be read back" in result.stdout
    assert "the rest waits behind this start" in result.stdout
    assert [r["experiment"]["name"] for r in stored_runs(store).values()] == ["other"]


def test_an_entry_the_store_refuses_is_set_aside(spool_dir: Path, tmp_path: Path) -> None:
    """Run 7 (chosen with -i) meets a folder 7 that holds another run: file storage refuses it for good."""
    store = tmp_path / "runs"
    (store / "7").mkdir(parents=True)
    (store / "7" / "run.json").write_text(json.dumps({"status": "COMPLETED", "start_time": "2020-01-01T00:00:00"}))
    spool_run(spool_dir, f"file://{store}", run_events(user_id="7"))
    spool_run(spool_dir, f"file://{store}", run_events(run_id="8", name="other"))
    result = gnomon()
    assert result.exit_code == EXIT_BAD, result.output
    assert "event 0 (started) rejected by the store: ObserverError: run folder" in result.stdout
    assert result.stdout.splitlines()[-1] == "2 runs to 1 store: 4 events delivered, 3 left pending, 1 bad."
    assert "1 run to 1 store: 4 events waiting, 1 bad." in gnomon("--list").stdout


def test_a_bad_entry_and_a_store_away_together_exit_3(spool_dir: Path, tmp_path: Path) -> None:
    _, down = down_store(tmp_path)
    broken = spool_run(spool_dir, f"file://{tmp_path / 'runs'}")
    corrupt(spool_dir, broken, seq=1)
    spool_run(spool_dir, down, run_events(run_id="2"))
    result = gnomon()
    assert result.exit_code == EXIT_BAD
    assert result.stdout.splitlines()[-1] == "2 runs to 2 stores: 3 events delivered, 4 left pending, 1 bad."


def test_an_unreadable_spool_exits_4(tmp_path: Path) -> None:
    (tmp_path / "spool").mkdir()
    (tmp_path / "spool" / "spool.sqlite").write_bytes(b"this is not a database" * 100)
    result = gnomon("--spool", str(tmp_path / "spool"))
    assert result.exit_code == EXIT_SPOOL
    assert "spool" in result.stderr and "Traceback" not in result.output


def test_nothing_to_do_is_success(tmp_path: Path) -> None:
    result = gnomon("--spool", str(tmp_path / "empty"))
    assert result.exit_code == EXIT_OK and result.stdout == "Nothing waits in the spool.\n"


# ---------------------------------------------------------------- selection


def test_run_and_store_select_what_is_delivered(spool_dir: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    spool_run(spool_dir, f"file://{first}", run_events(run_id="1"))
    spool_run(spool_dir, f"file://{first}", run_events(run_id="2"))
    spool_run(spool_dir, f"file://{second}", run_events(run_id="3"))

    only = gnomon("--run", "2")
    assert only.exit_code == EXIT_OK
    assert only.stdout.splitlines()[-1] == "1 run to 1 store: 4 events delivered, 0 left pending, 0 bad."
    assert [p.run_id for p in pending()] == ["1", "3"]

    by_folder = gnomon("--store", str(second))  # a folder names file storage, as -F takes it
    assert by_folder.exit_code == EXIT_OK, by_folder.output
    assert [p.run_id for p in pending()] == ["1"]
    assert "Nothing waits for --run 9; 1 other run waits" in gnomon("--run", "9").stdout
    assert gnomon("--store", f"file://{first}/").exit_code == EXIT_OK  # a trailing / does not matter
    assert pending() == []


def test_store_spellings_match() -> None:
    assert store_key("postgresql+psycopg://u:pw@h:5432/db") == store_key("postgresql://u@h:5432/db/")
    assert store_key("runs") == store_key(f"file://{os.path.abspath('runs')}")
    assert store_key("sqlite:///runs.db") == store_key(f"sqlite:///{os.path.abspath('runs.db')}")
    assert store_key("mysql://root@h/a") != store_key("mysql://root@h/b")
    assert str(Selection(run="1", store="postgresql://u:pw@h/db")) == "--run 1 --store postgresql://u@h/db"


# ---------------------------------------------------------------- --observer


def test_observer_needs_a_selection_and_one_store_per_run(spool_dir: Path, tmp_path: Path) -> None:
    uid = uuid.uuid4().hex
    _, down = down_store(tmp_path)
    spool_run(spool_dir, down, run_uid=uid)
    spool_run(spool_dir, f"sqlite:///{tmp_path / 'gone' / 'x.db'}", run_uid=uid, key="1-SqlObserver")
    moved = tmp_path / "moved"

    everything = gnomon("--observer", str(moved))
    assert everything.exit_code == EXIT_USAGE
    assert f"--observer sends events to {moved}, which no run waits for" in everything.stderr
    assert "name whose with --run ID and/or --store URL, or say --all" in everything.stderr
    ambiguous = gnomon("--observer", str(moved), "--run", "1")
    assert ambiguous.exit_code == EXIT_USAGE
    assert "run 1 (demo, started 2024-05-01 12:00:03 UTC) waits for 2 stores" in ambiguous.stderr
    assert "add --store URL" in ambiguous.stderr
    assert not moved.exists()

    dry = gnomon("--observer", str(moved), "--store", down, "--dry-run")
    assert f"-> {moved} (instead of {down}): would deliver 4 events" in dry.stdout
    result = gnomon("--observer", str(moved), "--store", down)
    assert result.exit_code == EXIT_OK, result.output
    assert result.stdout.splitlines()[-1] == "1 run to 1 store: 4 events delivered, 0 left pending, 0 bad."
    assert stored_runs(moved)["1"]["status"] == "COMPLETED"
    assert [p.store for p in pending()] == [f"sqlite:///{tmp_path / 'gone' / 'x.db'}"]  # the other store's events wait


def test_observer_with_all_sends_every_run(spool_dir: Path, tmp_path: Path) -> None:
    _, down = down_store(tmp_path)
    spool_run(spool_dir, down, run_events(run_id="1"))
    spool_run(spool_dir, down, run_events(run_id="2"))
    result = gnomon("--observer", f"sqlite:///{tmp_path / 'moved.db'}", "--all")
    assert result.exit_code == EXIT_OK, result.output
    assert result.stdout.splitlines()[-1] == "2 runs to 1 store: 8 events delivered, 0 left pending, 0 bad."


# ---------------------------------------------------------------- --discard


def test_discard_needs_a_selection_and_confirmation(spool_dir: Path, tmp_path: Path) -> None:
    _, down = down_store(tmp_path)
    spool_run(spool_dir, down, run_events(run_id="1"))
    keep = spool_run(spool_dir, down, run_events(run_id="2"))
    staging = Spool(spool_dir).staging_dir(keep)
    staging.mkdir(parents=True)
    (staging / "0-weights.bin").write_bytes(b"w")

    unnamed = gnomon("--discard")
    assert unnamed.exit_code == EXIT_USAGE and "--discard removes events for good" in unnamed.stderr
    unconfirmed = gnomon("--discard", "--run", "2")  # CliRunner's input is not a terminal
    assert unconfirmed.exit_code == EXIT_USAGE
    assert "without confirmation: the input is not a terminal. Add --yes" in unconfirmed.stderr
    dry = gnomon("--discard", "--run", "2", "--dry-run")
    assert dry.exit_code == EXIT_OK and "would discard 4 events of 1 run; nothing was discarded" in dry.stdout
    assert len(pending()) == 2

    done = gnomon("--discard", "--run", "2", "--yes")
    assert done.exit_code == EXIT_OK
    assert "run 2 (demo, started 2024-05-01 12:00:03 UTC) -> " in done.stdout
    assert [p.run_id for p in pending()] == ["1"]
    assert not staging.exists()  # its staged artifacts went with it
    assert gnomon("--discard", "--all", "--yes").exit_code == EXIT_OK
    assert pending() == []


def test_discard_asks_at_a_terminal(spool_dir: Path, tmp_path: Path, python: str) -> None:
    spool_run(spool_dir, f"file://{tmp_path / 'runs'}")

    def answer(text: str) -> tuple[int, str]:
        leader, follower = pty.openpty()
        process = subprocess.Popen(
            [python, "-m", "gnomon.cli.main", "sync", "--discard", "--all"],
            stdin=follower,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env={**os.environ, "GNOMON_SPOOL_DIR": str(spool_dir)},
        )
        os.close(follower)
        os.write(leader, text.encode())
        out, _ = process.communicate(timeout=120)
        os.close(leader)
        return process.returncode, out.decode()

    code, out = answer("n\n")
    assert code == EXIT_PENDING and "Discard 4 events of 1 run for good? [y/N]" in out and "Nothing discarded." in out
    assert len(pending()) == 1
    code, out = answer("y\n")
    assert code == EXIT_OK and "Discarded 4 events of 1 run." in out, out
    assert pending() == []


# ---------------------------------------------------------------- usage and help


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--json"], "--json goes with --list"),
        (["--list", "--dry-run"], "--list only shows what waits"),
        (["--all", "--run", "1"], "--all selects everything"),
        (["--discard", "--observer", "x", "--all"], "--discard removes events; --observer delivers them"),
        (["--yes"], "--yes confirms --discard"),
    ],
)
def test_usage_errors_exit_2(args: list[str], message: str) -> None:
    result = gnomon(*args)
    assert result.exit_code == EXIT_USAGE
    assert message in result.stderr


def test_help_documents_every_exit_status() -> None:
    result = gnomon("--help")
    for line in (
        "0  everything selected was delivered",
        "1  some events wait still",
        "2  the command line was wrong",
        "3  some entries are bad",
        "4  the spool itself cannot be read",
    ):
        assert line in result.stdout
    for option in ("--list", "--json", "--run ID", "--store URL", "--all", "--observer URL", "--discard", "--yes"):
        assert option in result.stdout


# ---------------------------------------------------------------- errors: away or refused


def test_errors_sort_into_away_and_refused() -> None:
    import sqlalchemy as sa

    from gnomon.errors import ObserverError

    def caused(error: BaseException, cause: BaseException) -> BaseException:
        error.__cause__ = cause
        return error

    assert not is_rejection(ConnectionError("gone"))
    assert not is_rejection(PermissionError("read-only"))
    assert not is_rejection(sqlite3.OperationalError("unable to open database file"))
    assert not is_rejection(sa.exc.OperationalError("SELECT 1", {}, ConnectionRefusedError()))
    assert not is_rejection(caused(ObserverError("MongoDB could not take it"), TimeoutError()))
    assert not is_rejection(RuntimeError("something else"))  # unknown: wait rather than drop
    assert is_rejection(ValueError("bad value"))
    assert is_rejection(ObserverError("run folder already holds another run"))
    assert is_rejection(sa.exc.IntegrityError("INSERT", {}, Exception("duplicate")))
    assert is_rejection(caused(ObserverError("MongoDB could not take it"), sa.exc.DataError("x", {}, Exception())))


# ---------------------------------------------------------------- end to end


def test_a_real_run_against_a_dead_database_then_postgres_comes_up(
    spool_dir: Path, tmp_path: Path, python: str, script_env: dict[str, str]
) -> None:
    """A run records to files and to a PostgreSQL database that does not exist yet; sync waits, then delivers."""
    from gnomon.observers.sql.testing import DatabaseUnavailable, fresh_database, server_url

    sa = pytest.importorskip("sqlalchemy")
    try:
        with fresh_database("postgresql"):
            pass
    except DatabaseUnavailable as error:
        pytest.skip(str(error))
    name = "gnomon_test_" + uuid.uuid4().hex[:12]
    url = server_url("postgresql").set(database=name).render_as_string(hide_password=True)
    (tmp_path / "exp.py").write_text(
        textwrap.dedent(
            """
        from gnomon import Experiment
        ex = Experiment("outage_demo")

        @ex.automain
        def main(_run):
            print("working")
            _run.log_scalar("loss", 0.5)
            return 1
        """
        )
    )
    env = {**script_env, "GNOMON_START_TIMEOUT": "2", "GNOMON_DRAIN_TIMEOUT": "2"}
    done = subprocess.run(
        [python, "exp.py", "-F", "runs", "-s", url],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert 'Started run with ID "1"' in done.stderr

    listing = gnomon("--list").stdout
    assert listing.splitlines()[1].split()[:2] == ["1", "outage_demo"], listing
    assert f"{name}" in listing
    down = gnomon("--run", "1")
    assert down.exit_code == EXIT_PENDING, down.output
    assert "the store is away: OperationalError" in down.stdout

    admin = sa.create_engine(server_url("postgresql"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        # the store given again, with a password (trust authentication ignores it): no selection needed
        with_password = url.replace("postgres@", "postgres:s3cr3t-pw@")
        up = gnomon("--observer", with_password)
        assert up.exit_code == EXIT_OK, up.output
        assert up.stdout.splitlines()[-1].startswith("1 run to 1 store: ")
        assert "s3cr3t-pw" not in up.output and "(instead of" not in up.stdout
        assert pending() == []
        database = sa.create_engine(server_url("postgresql").set(database=name))
        try:
            with database.connect() as connection:
                rows = connection.exec_driver_sql("SELECT status FROM runs").fetchall()
        finally:
            database.dispose()
        assert rows == [("COMPLETED",)]
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def test_gnomon_sync_is_a_program(spool_dir: Path, tmp_path: Path, python: str, script_env: dict[str, str]) -> None:
    _, down = down_store(tmp_path)
    spool_run(spool_dir, down)
    result = subprocess.run(
        [python, "-m", "gnomon.cli.main", "sync"],
        env=script_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == EXIT_PENDING, result.stderr
    assert "4 events left pending" in result.stdout


def test_a_failed_login_is_not_a_bad_entry() -> None:
    """The spool keeps URLs without passwords: a sync that cannot log in must leave the events waiting."""
    pymongo = pytest.importorskip("pymongo")
    from gnomon.errors import ObserverError

    login = pymongo.errors.OperationFailure("Authentication failed.", code=18)
    wrapped = ObserverError("MongoDB could not take the started event")
    wrapped.__cause__ = login
    assert not is_rejection(wrapped)
    document = ObserverError("MongoDB could not take the metrics event")
    document.__cause__ = pymongo.errors.WriteError("Document failed validation", code=121)
    assert is_rejection(document)


def test_raise_from_none_hides_the_context(tmp_path: Path) -> None:
    from gnomon.errors import ObserverError

    def load() -> None:
        try:
            (tmp_path / "missing").read_text()
        except FileNotFoundError:
            raise ObserverError("run 1 has no run.json: its started event was never stored here") from None

    with pytest.raises(ObserverError) as raised:
        load()
    assert is_rejection(raised.value)


def test_a_spool_of_an_older_version_names_its_runs_from_the_events(spool_dir: Path, tmp_path: Path) -> None:
    """Spools written before the runs table existed: the names come from the stored events."""
    _, down = down_store(tmp_path)
    spool_run(spool_dir, down, run_events(run_id="5", name="legacy"))
    with sqlite3.connect(spool_dir / "spool.sqlite") as db:
        db.execute("DROP TABLE runs")
        db.execute("DROP TABLE problems")
    row = gnomon("--list").stdout.splitlines()[1]
    assert row.split()[:4] == ["5", "legacy", "2024-05-01", "12:00:03"]


def test_the_run_names_go_with_the_last_event(spool_dir: Path, tmp_path: Path) -> None:
    spool_run(spool_dir, f"file://{tmp_path / 'runs'}")
    assert gnomon().exit_code == EXIT_OK
    with sqlite3.connect(spool_dir / "spool.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM runs").fetchone() == (0,)
        assert db.execute("SELECT COUNT(*) FROM problems").fetchone() == (0,)
