"""No 16 MB cliff: huge output, millions of metric points and huge info complete and read back whole."""

from __future__ import annotations

import sys

import pytest

# mongo_server first: it skips this module where pymongo or SecantusDB is missing.
from mongo_server import db, db_name, mongo_server  # noqa: F401 - fixtures, injected by name

# isort: split

from gnomon.observers import MongoObserver
from gnomon.observers.mongo.documents import CAPTURED_OUT_HEAD, CAPTURED_OUT_TAIL
from gnomon.observers.mongo.reader import MongoReader
from gnomon.run import Run
from gnomon.settings import SETTINGS

SIXTEEN_MB = 16 * 1024 * 1024


def run_with(observer: MongoObserver, main, beat: float = 0.5) -> Run:
    run = Run(config={}, main_function=main, observers=[observer])
    run.beat_interval = beat
    run.capture_mode = "sys"
    return run


def doc_size(db, run_id: int = 1) -> int:
    import bson

    return len(bson.encode(db.runs.find_one({"_id": run_id})))


@pytest.mark.slow
def test_a_run_printing_100_mb_completes_and_reads_back_in_full(mongo_server, db, db_name) -> None:
    SETTINGS.DRAIN_TIMEOUT = 120
    line = "x" * 99 + "\n"
    blocks = 1000

    def main() -> None:
        block = f"{line * 1000}"  # 100 kB
        for i in range(blocks):
            sys.stdout.write(f"{i:06d}" + block[6:])
        print("the end")

    run = run_with(MongoObserver(mongo_server.url(db_name)), main)
    run()
    doc = db.runs.find_one({"_id": 1})
    assert doc["status"] == "COMPLETED"
    assert doc_size(db) < 1024 * 1024
    assert len(doc["captured_out"]) < CAPTURED_OUT_HEAD + CAPTURED_OUT_TAIL + 200
    assert doc["captured_out"].endswith("the end\n") and doc["captured_out"].startswith("000000")
    output = MongoReader(db).output(1)
    assert len(output) == blocks * 100_000 + len("the end\n")
    assert output.endswith("x\nthe end\n")
    assert [output[i * 100_000 : i * 100_000 + 6] for i in (0, 1, 500, 999)] == ["000000", "000001", "000500", "000999"]
    import gridfs

    assert gridfs.GridFS(db).get(doc["gnomon"]["output_file"]).read().decode() == output


@pytest.mark.slow
def test_five_million_points_of_one_metric_complete_and_read_back(mongo_server, db, db_name) -> None:
    SETTINGS.DRAIN_TIMEOUT = 300
    n = 5_000_000

    def main() -> None:
        log = run.log_scalar
        for i in range(n):
            log("loss", i * 0.5)

    run = run_with(MongoObserver(mongo_server.url(db_name)), main)
    run()
    doc = db.runs.find_one({"_id": 1})
    assert doc["status"] == "COMPLETED"
    assert len(doc["info"]["metrics"]) == 50  # 100,000 points per document
    assert {m["name"] for m in doc["info"]["metrics"]} == {"loss"}
    sizes = [d["gnomon_count"] for d in db.metrics.find({}, {"gnomon_count": 1})]
    assert max(sizes) <= 100_000 and sum(sizes) == n
    series = MongoReader(db).metrics(1)["loss"]
    assert series["steps"] == list(range(n))
    assert series["values"][:3] == [0.0, 0.5, 1.0] and series["values"][-1] == (n - 1) * 0.5


def test_huge_info_and_result_stay_out_of_the_run_document(mongo_server, db, db_name) -> None:
    big = "y" * (20 * 1024 * 1024)
    many = {f"k{i}": "z" * 1000 for i in range(6000)}  # 6 MB in small entries

    def main() -> dict[str, str]:
        run.info["big"] = big
        run.info["small"] = 1
        run.info["many"] = many
        return {"blob": big}

    run = run_with(MongoObserver(mongo_server.url(db_name)), main, beat=0.05)
    assert run() == {"blob": big}
    doc = db.runs.find_one({"_id": 1})
    assert doc["status"] == "COMPLETED" and doc["info"]["small"] == 1
    assert doc["info"]["big"]["__type__"] == "gridfs"
    assert doc_size(db) < 2 * 1024 * 1024
    back = MongoReader(db).run(1)
    assert back["info"] == {"big": big, "small": 1, "many": many}
    assert back["result"] == {"blob": big}


def test_long_output_keeps_head_and_tail_in_captured_out(mongo_server, db, db_name) -> None:
    lines = [f"line {i:05d}\n" for i in range(20_000)]  # 220 kB

    def main() -> None:
        for text in lines:
            sys.stdout.write(text)

    run = run_with(MongoObserver(mongo_server.url(db_name)), main, beat=0.01)
    run()
    doc = db.runs.find_one({"_id": 1})
    whole = "".join(lines)
    assert doc["captured_out"].startswith(whole[:CAPTURED_OUT_HEAD])
    assert doc["captured_out"].endswith(whole[-CAPTURED_OUT_TAIL:])
    assert "characters not shown here" in doc["captured_out"]
    assert MongoReader(db).output(1) == whole
