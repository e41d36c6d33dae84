"""Every claim of docs/migrating_from_sacred.md, checked the way a user would meet it."""

from __future__ import annotations

import http.server
import json
import re
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import ClassVar

import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "migrating_from_sacred.md"

SCRIPT = textwrap.dedent(
    """
    from gnomon import Experiment

    ex = Experiment("migrating")

    @ex.config
    def cfg():
        message = "hello"

    @ex.automain
    def main(message, _run):
        print(message)
        _run.log_scalar("loss", 0.5)
        return type(_run._id).__name__
    """
)


def section(title: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def run(tmp_path: Path, env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "exp.py"
    script.write_text(SCRIPT)
    return subprocess.run(
        [sys.executable, str(script), *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=timeout
    )


# ------------------------------------------------------------------------------ the imports --


def test_every_gnomon_import_of_the_table_works() -> None:
    rows = re.findall(r"^\| `(from sacred[^`]+)` \| `(from gnomon[^`]+)` \|$", section("The imports"), re.M)
    assert len(rows) >= 8
    for _sacred, gnomon in rows:
        exec(gnomon, {})  # the doc's own import lines


# --------------------------------------------------------------------------- the command line --

VALUES = {
    "--file_storage": "runs", "--mongo_db": "db", "--sql": "sqlite:///runs.db", "--id": "7", "--name": "other",
    "--comment": "why", "--capture": "sys", "--loglevel": "ERROR", "--priority": "2", "--beat-interval": "5",
}  # fmt: skip


def flags() -> list[tuple[str, str]]:
    found = re.findall(r"`(-\w)/(--[\w-]+)`", section("The command line"))
    assert len(found) == 17
    return found


@pytest.mark.parametrize(("short", "long"), flags())
def test_every_sacred_flag_is_taken_under_both_names(tmp_path: Path, script_env: dict[str, str], short: str, long: str) -> None:
    for flag in (short, long):
        args = [flag, VALUES[long]] if long in VALUES else [flag]
        # print_config runs no observer and no main function: only the parsing is checked
        result = run(tmp_path, script_env, "print_config", *args)
        assert "No such option" not in result.stderr, result.stderr
        assert result.returncode == 0 or long == "--enforce_clean", result.stderr  # no git repository here


def test_a_value_that_is_no_literal_is_a_string_and_a_split_update_says_so(
    tmp_path: Path, script_env: dict[str, str]
) -> None:
    quoted = run(tmp_path, script_env, "-u", "with", "message=Ciao world!")
    assert quoted.returncode == 0 and quoted.stdout == "Ciao world!\n"
    bare = run(tmp_path, script_env, "-u", "with", "message=hello")
    assert bare.stdout == "hello\n"
    split = run(tmp_path, script_env, "-u", "with", "message=Ciao", "world!")
    assert split.returncode != 0
    assert "quote the whole update: 'message=Ciao world!'" in split.stderr
    assert "Traceback" not in split.stderr


def test_sql_takes_urls_only(tmp_path: Path, script_env: dict[str, str]) -> None:
    result = run(tmp_path, script_env, "-s", "runs.db")
    assert result.returncode != 0 and "Did you mean sqlite:///runs.db?" in result.stderr
    assert not (tmp_path / "runs.db").exists()


# ---------------------------------------------------------------------------- what is stored --


def test_file_storage_keeps_sacreds_folder_per_run(tmp_path: Path, script_env: dict[str, str]) -> None:
    assert run(tmp_path, script_env, "-F", "runs").returncode == 0
    folder = tmp_path / "runs" / "1"
    for name in ("run.json", "config.json", "cout.txt", "metrics.json", "info.json"):
        assert (folder / name).is_file(), name
    record = json.loads((folder / "run.json").read_text())
    assert record["status"] == "COMPLETED" and record["result"] == "str"  # "1", as Sacred's file storage gives it
    assert {"experiment", "host", "command", "meta", "start_time", "stop_time", "heartbeat"} <= set(record)
    assert json.loads((folder / "config.json").read_text())["message"] == "hello"
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["loss"]["values"] == [0.5] and metrics["loss"]["steps"] == [0]
    assert (tmp_path / "runs" / "_sources").is_dir()


def test_mongo_run_ids_are_integers_inside_the_run(tmp_path: Path, script_env: dict[str, str]) -> None:
    pytest.importorskip("pymongo")
    from mongo_server import MongoServer

    server = MongoServer().start()
    try:
        result = run(tmp_path, script_env, "-O", server.url("migrating"))
        assert result.returncode == 0, result.stderr
        import pymongo

        with pymongo.MongoClient(server.uri) as client:
            (doc,) = client["migrating"]["runs"].find({})
        assert doc["_id"] == 1 and doc["result"] == "int"
    finally:
        server.stop()


def test_sql_stores_metrics(tmp_path: Path, script_env: dict[str, str]) -> None:
    assert run(tmp_path, script_env, "-s", f"sqlite:///{tmp_path / 'runs.db'}").returncode == 0
    import gnomon

    with gnomon.open(f"sqlite:///{tmp_path / 'runs.db'}") as store:
        assert store.runs().metrics("loss")["value"].tolist() == [0.5]


# ---------------------------------------------------------------------------- what is better --


def test_a_database_that_is_down_costs_the_run_nothing_and_sync_lists_it(
    tmp_path: Path, script_env: dict[str, str]
) -> None:
    start = time.monotonic()
    result = run(tmp_path, script_env, "-s", "postgresql://gnomon@127.0.0.1:1/nothing_here")
    assert result.returncode == 0 and result.stdout == "hello\n", result.stderr
    assert time.monotonic() - start < 10  # a refused connection is not waited for
    listed = subprocess.run(
        [sys.executable, "-m", "gnomon", "sync", "--list"], env=script_env, capture_output=True, text=True, timeout=60
    )
    assert "127.0.0.1:1" in listed.stdout, listed.stdout + listed.stderr


def test_runs_read_back_as_dataframes(tmp_path: Path, script_env: dict[str, str]) -> None:
    pytest.importorskip("pandas")
    assert run(tmp_path, script_env, "-F", "runs", "with", "message=other").returncode == 0
    import gnomon

    with gnomon.open(str(tmp_path / "runs")) as store:
        frame = store.runs().df()
        assert frame["config.message"].tolist() == ["other"]
        assert store.run("1").metric("loss")["value"].tolist() == [0.5]


def test_an_observer_that_raises_does_not_crash_the_run(tmp_path: Path, script_env: dict[str, str]) -> None:
    script = tmp_path / "raising.py"
    script.write_text(
        SCRIPT.replace(
            'ex = Experiment("migrating")',
            'ex = Experiment("migrating")\n'
            "from gnomon.observers import Observer\n"
            "class Broken(Observer):\n"
            "    def on_started(self, event):\n"
            "        raise RuntimeError('the disk is full')\n"
            "ex.observers.append(Broken())\n",
        )
    )
    result = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=script_env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0 and result.stdout == "hello\n", result.stderr
    assert result.stderr.count("the disk is full") == 1


# ------------------------------------------------------------------ what gnomon does not have --


@pytest.mark.parametrize("flag", ["-t", "--tiny_db", "-S", "--s3"])
def test_sacred_flags_for_missing_observers_name_the_alternative(
    tmp_path: Path, script_env: dict[str, str], flag: str
) -> None:
    result = run(tmp_path, script_env, flag, "somewhere")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "migrating_from_sacred" in result.stderr and ("-F" in result.stderr or "sqlite" in result.stderr)


def test_missing_observer_classes_raise_an_import_error_that_names_the_alternative() -> None:
    names = re.findall(r"`(\w+(?:Observer|Reader))`", section("What gnomon does not have").split("\n\n")[1])
    assert {"TinyDbObserver", "TinyDbReader", "S3Observer", "SlackObserver", "TelegramObserver"} <= set(names)
    for name in names:
        with pytest.raises(ImportError, match="migrating_from_sacred"):
            exec(f"from gnomon.observers import {name}", {})


class _Hook(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, str]]] = []

    def do_POST(self) -> None:  # the handler's API
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Hook.received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_the_webhook_recipe_posts_when_a_run_ends(tmp_path: Path, script_env: dict[str, str]) -> None:
    (recipe,) = re.findall(r"```python\n(.*?)```", section("What gnomon does not have"), re.S)
    server = http.server.HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        (tmp_path / "notify.py").write_text(recipe)
        script = tmp_path / "notified.py"
        script.write_text(
            SCRIPT.replace(
                'ex = Experiment("migrating")',
                'ex = Experiment("migrating")\n'
                "from notify import WebhookNotifier\n"
                f"ex.observers.append(WebhookNotifier('http://127.0.0.1:{server.server_port}/hook'))\n",
            )
        )
        result = subprocess.run(
            [sys.executable, str(script), "-F", "runs"],
            cwd=tmp_path, env=script_env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert _Hook.received == [{"text": "run 1 completed: str"}]
    finally:
        server.shutdown()
        server.server_close()
