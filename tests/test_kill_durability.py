"""What a run killed outright keeps: real SIGKILLs of client processes, a real SIGSTOP of a server.

The Mongo output file is written in an order where its ``fs.files`` document is the
commit point, so a kill between writing chunks and committing them leaves the output
readable up to what was committed, and a later writer (``gnomon sync``) carries on.
Output and metric points are shipped about every half second whatever the beat
interval, so a run killed after a few seconds has them in every store.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

# mongo_server first: it skips this module where pymongo or SecantusDB is missing.
from mongo_server import MongoServer, db, db_name, mongo_server  # noqa: F401 - fixtures, injected by name

# isort: split

import gridfs
import orjson

from event_builders import completed, output
from gnomon.observers import MongoObserver
from gnomon.observers.mongo.reader import MongoReader
from gnomon.sync import sync

LINE_CHARS = 100


def line(i: int) -> str:
    """Line ``i`` of the output the Mongo children print: 100 characters, numbered."""
    return f"{i:08d}" + "x" * (LINE_CHARS - 9) + "\n"


def printed(chars: int) -> str:
    """The first ``chars`` characters the children print."""
    return "".join(line(i) for i in range(chars // LINE_CHARS + 1))[:chars]


# A run printing into MongoDB. argv: url, lines to print, seconds to pause after
# each 100 (0.0005: about 20 MB/s), the beat interval, then a fault to inject from inside the client
# at an exact point of the output write ("kill-self N": SIGKILL itself once the
# Nth chunk write succeeded; "stop-server PID N": SIGSTOP the server as the Nth
# chunk write is sent), or "none".
MONGO_CHILD = """
import os, signal, sys, time
from pymongo import monitoring
from gnomon.observers import MongoObserver
from gnomon.run import Run
from gnomon.settings import SETTINGS

url, lines, pause, beat, fault = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), sys.argv[5:]
SETTINGS.DRAIN_TIMEOUT = 1.0

class Fault(monitoring.CommandListener):
    writes = {}  # request id -> number of the chunk write

    def started(self, event):
        if event.command_name == "update" and event.command.get("update") == "fs.chunks":
            Fault.writes[event.request_id] = len(Fault.writes) + 1
            if fault[0] == "stop-server" and len(Fault.writes) == int(fault[2]):
                os.kill(int(fault[1]), signal.SIGSTOP)

    def succeeded(self, event):
        if fault[0] == "kill-self" and Fault.writes.get(event.request_id) == int(fault[1]):
            os.kill(os.getpid(), signal.SIGKILL)

    def failed(self, event):
        pass

def line(i):
    return f"{i:08d}" + "x" * 91 + "\\n"

def main():
    for start in range(0, lines, 100):
        sys.stdout.write("".join(line(i) for i in range(start, start + 100)))
        time.sleep(pause)

run = Run(config={}, main_function=main, observers=[MongoObserver(url, event_listeners=[Fault()])])
run.beat_interval = beat
run.capture_mode = "sys"
run()
"""


FAST = ("10000000", "0.0005", "1.0")  # about 20 MB/s until killed
SLOW = ("20000", "0.005", "0.1")  # 2 MB in about a second


def start_child(tmp_path: Path, source: str, *args: str) -> subprocess.Popen[bytes]:
    """Start a script; its stderr goes to ``child.err`` (see :func:`said`)."""
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(source))
    with open(tmp_path / "child.err", "wb") as err:
        return subprocess.Popen(
            [sys.executable, str(script), *args], cwd=tmp_path, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=err,
        )


def said(tmp_path: Path) -> str:
    """The end of what the child wrote to stderr."""
    return (tmp_path / "child.err").read_text(errors="replace")[-3000:]


def output_file(database: Any) -> dict[str, Any]:
    return database["fs.files"].find_one({"filename": {"$regex": "^captured_out://"}}) or {}


def assert_carries_on(url: str, database: Any, stored: str) -> None:
    """A new writer (what ``gnomon sync`` does) continues the killed run's output and ends it."""
    observer = MongoObserver(url)
    now = datetime.now(UTC)
    observer.handle(output("1", 10**6, printed(len(stored) + 250)[len(stored) - 50 :], len(stored) - 50, time=now))
    observer.handle(completed("1", 10**6 + 1, time=now))
    observer.close()
    whole = printed(len(stored) + 250)
    assert database.runs.find_one({"_id": 1})["status"] == "COMPLETED"
    assert MongoReader(database).output(1) == whole
    assert gridfs.GridFS(database).get(output_file(database)["_id"]).read().decode() == whole


def test_a_client_killed_between_writing_chunks_and_committing_them(mongo_server, db, db_name, tmp_path) -> None:
    child = start_child(tmp_path, MONGO_CHILD, mongo_server.url(db_name), *FAST, "kill-self", "4")
    assert child.wait(60) == -signal.SIGKILL, said(tmp_path)
    stored = MongoReader(db).output(1)
    assert len(stored) > 64 * 1024
    assert stored == printed(len(stored))
    assert_carries_on(mongo_server.url(db_name), db, stored)


def chunks_landing(database: Any) -> bool:
    """Whether chunks lie past the output file's committed length: a write is under way."""
    doc = output_file(database)
    if not doc:
        return False
    committed = -(-int(doc["length"]) // int(doc["chunkSize"]))
    return database["fs.chunks"].count_documents({"files_id": doc["_id"], "n": {"$gte": committed}}) > 0


@pytest.mark.parametrize("after_bytes", [256 * 1024, 1024 * 1024, 3 * 1024 * 1024])
def test_a_client_killed_while_printing_fast_reads_back_a_prefix(mongo_server, db, db_name, tmp_path, after_bytes) -> None:
    child = start_child(tmp_path, MONGO_CHILD, mongo_server.url(db_name), *FAST, "none")
    try:
        deadline = time.monotonic() + 60
        while int(output_file(db).get("length") or 0) < after_bytes or not chunks_landing(db):
            assert time.monotonic() < deadline and child.poll() is None, said(tmp_path)
            time.sleep(0.005)
    finally:
        child.kill()  # while chunks of the output are being written
        child.wait()
    stored = MongoReader(db).output(1)
    assert len(stored) >= after_bytes
    assert stored == printed(len(stored))
    assert MongoReader(db).run(1)["captured_out"] == stored
    from gnomon.observers.mongo.store import MongoRunStore

    store = MongoRunStore(db)  # the query API's reader, paging from an offset
    assert store.output_length("1") == len(stored) and store.output("1", 1000, 500) == stored[1000:1500]
    assert_carries_on(mongo_server.url(db_name), db, stored)


def test_a_server_stopped_mid_write_then_the_client_ends_and_sync_completes_the_run(tmp_path, db_name) -> None:
    server = MongoServer().start()  # a private server: this test stops it
    pid = server._process.pid  # type: ignore[union-attr]
    try:
        child = start_child(tmp_path, MONGO_CHILD, server.url(db_name), *SLOW, "stop-server", str(pid), "3")
        assert child.wait(60) == 0, said(tmp_path)
        os.kill(pid, signal.SIGCONT)  # the write the client sent lands now, its commit never will
        import pymongo

        client: pymongo.MongoClient[Any] = pymongo.MongoClient(server.uri, serverSelectionTimeoutMS=10_000)
        database = client[db_name]
        deadline = time.monotonic() + 10
        while database["fs.chunks"].count_documents({}) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        stored = MongoReader(database).output(1)
        assert stored == printed(len(stored)) and len(stored) >= 64 * 1024
        assert database.runs.find_one({"_id": 1})["status"] == "RUNNING"

        report = sync()
        assert report.failed == 0, report.messages
        assert database.runs.find_one({"_id": 1})["status"] == "COMPLETED"
        whole = printed(int(SLOW[0]) * LINE_CHARS)
        assert MongoReader(database).output(1) == whole
        assert gridfs.GridFS(database).get(output_file(database)["_id"]).read().decode() == whole
        client.close()
    finally:
        os.kill(pid, signal.SIGCONT)
        server.stop()


# A run with the default 10 s beat, recorded by file storage, SQLite and MongoDB,
# printing and logging a point every 2 ms; it notes its progress in a file that is
# not captured. argv: runs folder, SQLite URL, Mongo URL, progress file.
DEFAULT_BEAT_CHILD = """
import sys, time
from gnomon import Experiment
from gnomon.observers import FileStorageObserver, MongoObserver, SqlObserver

ex = Experiment("killed")
ex.observers += [FileStorageObserver(sys.argv[1]), SqlObserver(sys.argv[2]), MongoObserver(sys.argv[3])]

@ex.main
def main(_run):
    with open(sys.argv[4], "w") as progress:
        i = 0
        while True:
            print(f"line {i}")
            _run.log_scalar("loss", i * 0.5)
            progress.write(f"{i}\\n")
            progress.flush()
            i += 1
            time.sleep(0.002)

ex.run()
"""


def numbered(output: str) -> list[int]:
    """The numbers of the ``line N`` lines of an output (log lines are captured too)."""
    return [int(text[5:]) for text in output.splitlines() if text.startswith("line ")]


def progress(path: Path) -> int:
    """How many lines the child had printed (and points logged) when it last noted it."""
    try:
        lines = path.read_text().split()
    except FileNotFoundError:
        return 0
    return int(lines[-1]) + 1 if lines else 0


def test_a_run_killed_before_its_first_beat_keeps_output_and_points_in_every_store(
    mongo_server, db, db_name, tmp_path
) -> None:
    from gnomon.observers.sql.reader import SqlReader

    runs, sqlite_url, notes = tmp_path / "runs", f"sqlite:///{tmp_path / 'runs.db'}", tmp_path / "progress"
    child = start_child(tmp_path, DEFAULT_BEAT_CHILD, str(runs), sqlite_url, mongo_server.url(db_name), str(notes))
    try:
        deadline = time.monotonic() + 60
        while progress(notes) == 0:
            assert time.monotonic() < deadline and child.poll() is None, said(tmp_path)
            time.sleep(0.02)
        time.sleep(1.5)
        produced = progress(notes)  # everything up to here was produced at least 1.5 s before the kill
        time.sleep(1.5)
    finally:
        child.kill()
        child.wait()
    def complete(output: str) -> bool:
        lines = numbered(output)
        return len(lines) >= produced and lines == list(range(len(lines)))

    (run_dir,) = [p for p in runs.iterdir() if p.name.isdigit()]
    assert complete((run_dir / "cout.txt").read_text())
    loss = orjson.loads((run_dir / "metrics.json").read_bytes())["loss"]
    assert loss["values"][:produced] == [i * 0.5 for i in range(produced)]
    assert len(loss["steps"]) == len(loss["timestamps"]) == len(loss["values"])
    assert orjson.loads((run_dir / "run.json").read_bytes())["heartbeat"] is None  # the beat keeps its 10 s

    reader = SqlReader(sqlite_url)
    try:
        (run_id,) = reader.run_ids()
        assert complete(reader.output(run_id))
        assert reader.metrics(run_id)["loss"]["values"][:produced] == [i * 0.5 for i in range(produced)]
    finally:
        reader.close()

    (run_id,) = list(MongoReader(db).run_ids())
    assert complete(MongoReader(db).output(run_id))
    assert MongoReader(db).metrics(run_id)["loss"]["values"][:produced] == [i * 0.5 for i in range(produced)]


# -- metrics.json follows the log at a cost proportional to the points -------------------------


def test_metrics_json_follows_every_batch_and_is_rewritten_rarely(tmp_path, monkeypatch) -> None:
    from gnomon.events import MetricSeries
    from gnomon.observers.file import metrics as file_metrics

    monkeypatch.setattr(file_metrics, "REWRITE_INTERVAL", 0.0)
    rewrites = []
    real_write = file_metrics.atomic_write
    monkeypatch.setattr(file_metrics, "atomic_write", lambda *a, **k: (rewrites.append(1), real_write(*a, **k)))
    log = file_metrics.MetricsLog(tmp_path)
    expected: dict[str, list[float]] = {}
    for seq in range(1500):
        batch = {}
        for name in ("loss", "acc", f"late{seq // 500}"):  # a new metric every 500 batches
            values = [seq + i / 100 for i in range(seq % 7 * 5)]
            if values:
                first = len(expected.setdefault(name, []))
                expected[name] += values
                batch[name] = MetricSeries(list(range(first, first + len(values))), values, [1.7e9 + v for v in values])
        log.append(seq, batch)
        log.refresh()
        if seq % 100 == 99:  # valid JSON holding every point so far, arrays of equal length
            stored = orjson.loads((tmp_path / "metrics.json").read_bytes())
            assert {k: v["values"] for k, v in stored.items()} == expected
            assert all(len(v["steps"]) == len(v["timestamps"]) == len(v["values"]) for v in stored.values())
    points = sum(map(len, expected.values()))
    assert points > 50_000 and len(rewrites) <= 20  # the room grows with the arrays: few rewrites
    live = (tmp_path / "metrics.json").stat().st_size
    log.materialize()
    assert live <= 4 * (tmp_path / "metrics.json").stat().st_size  # the room is at most about twice the points
    assert {k: v["values"] for k, v in orjson.loads((tmp_path / "metrics.json").read_bytes()).items()} == expected


def test_a_large_metrics_json_is_rewritten_at_most_once_a_second(tmp_path, monkeypatch) -> None:
    from gnomon.events import MetricSeries
    from gnomon.observers.file import metrics as file_metrics

    monkeypatch.setattr(file_metrics, "SMALL_REWRITE", 0)
    log = file_metrics.MetricsLog(tmp_path)
    log.append(1, {"loss": MetricSeries([0, 1], [0.5, 0.25], [1.7e9, 1.7e9])})
    log.refresh()  # within a second of the start: held back
    assert not (tmp_path / "metrics.json").exists()
    log.rewritten_at -= file_metrics.REWRITE_INTERVAL
    log.refresh()
    assert orjson.loads((tmp_path / "metrics.json").read_bytes())["loss"]["values"] == [0.5, 0.25]


# -- output files written by earlier versions, torn by a kill ------------------------------------


def test_a_torn_output_file_of_an_earlier_version_is_read_and_continued(mongo_server, db, db_name) -> None:
    from bson import ObjectId

    from gnomon.observers.mongo.output import OUTPUT_CHUNK_SIZE, read_output

    file_id, text = ObjectId(), printed(100_000)
    db["fs.files"].insert_one({  # committed: 70,000 bytes; the second chunk was rewritten past them
        "_id": file_id, "length": 70_000, "chunkSize": OUTPUT_CHUNK_SIZE, "uploadDate": datetime.now(UTC),
        "metadata": {"chars": 70_000, "run_id": 7},
    })
    for n in (0, 1):
        db["fs.chunks"].insert_one({"files_id": file_id, "n": n, "data": text[n * 65536 : (n + 1) * 65536].encode()})
    assert read_output(db, "fs", file_id) == text[:70_000]
    with pytest.raises(gridfs.errors.CorruptGridFile):
        gridfs.GridFS(db).get(file_id).read()

    from gnomon.observers.mongo.output import OutputFile

    output = OutputFile.resume(db, "fs", file_id)
    assert output.append(text[69_000:], 69_000) == text[70_000:]
    assert read_output(db, "fs", file_id) == text
    output.close()
    assert gridfs.GridFS(db).get(file_id).read().decode() == text
