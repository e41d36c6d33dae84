"""The ``gnomon`` command: --version, --help and ``gnomon sync`` against a real spool."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from importlib.metadata import version

from click.testing import CliRunner

from event_builders import heartbeat, started
from gnomon.cli.main import main
from gnomon.spool import Spool


def _spool_run(spool_dir, url, run_uid="a1b2c3d4e5f6a7b8"):
    now = datetime.now(UTC)
    events = [
        started(
            time=now,
            experiment={
                "name": "demo",
                "sources": [],
                "dependencies": [],
                "repositories": [],
                "mainfile": "demo.py",
                "base_dir": "/tmp",
            },
            host={},
            config={"a": 1},
            meta={},
        ),
        heartbeat(None, 1, info={"x": 1}, time=now),
    ]
    Spool(spool_dir).write(run_uid, "observer-0", url, None, events)
    return run_uid


def test_version():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert result.stdout == f"gnomon {version('gnomon')}\n"


def test_help_lists_sync():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    assert "sync" in result.stdout
    assert "Deliver events" in result.stdout


def test_sync_help():
    result = CliRunner().invoke(main, ["sync", "--help"])
    assert result.exit_code == 0
    for text in (
        "--spool DIR",
        "--observer URL",
        "--dry-run",
        "Deliver events that observers could not take",
    ):
        assert text in result.stdout


def test_sync_with_nothing_spooled(tmp_path):
    result = CliRunner().invoke(main, ["sync", "--spool", str(tmp_path / "empty")])
    assert result.exit_code == 0, result.output
    assert result.stdout == "Nothing waits in the spool.\n"


def test_sync_dry_run_then_delivery(tmp_path):
    spool_dir = tmp_path / "spool"
    runs = tmp_path / "runs"
    run_uid = _spool_run(spool_dir, f"file://{runs}")
    dry = CliRunner().invoke(main, ["sync", "--spool", str(spool_dir), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert f"run without id {run_uid[:8]} (demo, started " in dry.stdout
    assert "Dry run: would deliver 2 events of 1 run to 1 store; nothing was delivered." in dry.stdout
    assert not runs.exists()

    result = CliRunner().invoke(main, ["sync", "--spool", str(spool_dir)])
    assert result.exit_code == 0, result.output
    assert "1 run to 1 store: 2 events delivered, 0 left pending, 0 bad." in result.stdout
    assert (runs / "1" / "run.json").is_file()

    again = CliRunner().invoke(main, ["sync", "--spool", str(spool_dir)])
    assert again.stdout == "Nothing waits in the spool.\n"


def test_sync_failure_exits_1(tmp_path):
    spool_dir = tmp_path / "spool"
    _spool_run(spool_dir, "nosuchscheme://somewhere")
    result = CliRunner().invoke(main, ["sync", "--spool", str(spool_dir)])
    assert result.exit_code == 1
    assert "2 events left pending: the store cannot be opened: UnknownObserverError" in result.stdout
    assert "1 run to 1 store: 0 events delivered, 2 left pending, 0 bad." in result.stdout


def test_console_script_is_installed_and_cheap():
    """``gnomon --help`` runs as a program; ``import gnomon`` does not load the CLI."""
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, gnomon; print('gnomon.cli.script' in sys.modules, 'click' in sys.modules)",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.split() == ["False", "False"]
    result = subprocess.run(
        [sys.executable, "-m", "gnomon.cli.main", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "sync" in result.stdout
