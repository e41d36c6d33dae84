"""What a file-storage run loads at its start, and the cycle collector's share of it.

Each module in :data:`NOT_AT_START` costs milliseconds at import and serves an
error path or a feature most runs never use (OpenSSL for large files, recursive
copies and deletes, temporary files past the in-memory output limit, sockets,
MIME types, random tokens, shell quoting for error messages, base64 beyond binascii). A hello-world run with ``-F`` must not load them.
(difflib is not in the list: click loads it itself when it tries ``-F`` as a long
option before the short one.)
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

NOT_AT_START = ("hashlib", "shutil", "socket", "tempfile", "mimetypes", "secrets", "shlex", "base64")

SCRIPT = """\
import gc
import json
import sys
from gnomon import Experiment, SETTINGS

ex = Experiment("hello")
FREEZE


@ex.config
def config():
    recipient = "world"


@ex.automain
def main(recipient):
    print(f"Hello, {recipient}!")
    print("REPORT", json.dumps({"loaded": sorted(sys.modules), "frozen": gc.get_freeze_count()}))
"""


def run_hello(tmp_path: Path, env: dict[str, str], freeze: str = "") -> dict[str, Any]:
    (tmp_path / "hello.py").write_text(SCRIPT.replace("FREEZE", freeze))
    result = subprocess.run(
        [sys.executable, "hello.py", "-F", str(tmp_path / "runs")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Hello, world!" in result.stdout
    assert (tmp_path / "runs" / "1" / "run.json").is_file()
    line = next(line for line in result.stdout.splitlines() if line.startswith("REPORT "))
    return json.loads(line.removeprefix("REPORT "))  # type: ignore[no-any-return]


def test_a_file_storage_run_loads_no_rarely_used_module(tmp_path: Path, script_env: dict[str, str]) -> None:
    loaded = set(run_hello(tmp_path, script_env)["loaded"])
    assert [m for m in NOT_AT_START if m in loaded] == []


def test_the_first_run_freezes_the_start_up_objects(tmp_path: Path, script_env: dict[str, str]) -> None:
    assert run_hello(tmp_path, script_env)["frozen"] > 1000


def test_the_freeze_can_be_turned_off(tmp_path: Path, script_env: dict[str, str]) -> None:
    report = run_hello(tmp_path, script_env, freeze="SETTINGS.FREEZE_STARTUP_OBJECTS = False")
    assert report["frozen"] == 0
