"""Shared fixtures: every test gets default settings and its own spool directory."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from gnomon import host, settings


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Fresh settings and host-info gatherers, and a private spool so no test writes to the user's data directory."""
    spool = tmp_path_factory.mktemp("spool")
    monkeypatch.setenv("GNOMON_SPOOL_DIR", str(spool))
    settings.reset()
    host.reset()
    yield spool
    settings.reset()
    host.reset()


@pytest.fixture(autouse=True)
def _restore_logging() -> None:
    """Experiments attach a stderr handler to the root logger, as Sacred's do; undo it per test."""
    import logging

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture
def spool_dir(_isolated_settings: Path) -> Path:
    """The spool directory this test's runs write undelivered events to."""
    return _isolated_settings


@pytest.fixture
def python() -> str:
    """The interpreter to run experiment scripts with in subprocess tests."""
    return sys.executable


@pytest.fixture
def script_env(spool_dir: Path) -> dict[str, str]:
    """Environment for subprocess runs: same spool, unbuffered Python off (realistic)."""
    env = dict(os.environ)
    env["GNOMON_SPOOL_DIR"] = str(spool_dir)
    env.pop("PYTHONUNBUFFERED", None)
    return env
