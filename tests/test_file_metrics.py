"""metrics.json in Sacred's form, assembled from serialized pieces: the same bytes
whether built in memory during the run or rebuilt from metrics.jsonl later."""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gnomon.events import MetricSeries
from gnomon.observers.file import layout as file_layout
from gnomon.observers.file.layout import iso_json_array
from gnomon.observers.file.metrics import METRICS_JSON, MetricsLog


def isoformat(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, UTC).replace(tzinfo=None).isoformat()


STAMPS = [
    0.0,
    1.0,
    1714566646.0,  # whole second: no fraction, as isoformat() writes it
    1714566646.000125,
    1714566646.9999996,  # rounds up into the next second
    1714566647.5,
    *(random.Random(4).uniform(0, 4e9) for _ in range(2000)),
]


@pytest.mark.parametrize("naive_utc", [True, False], ids=["utcfromtimestamp", "aware-then-cut"])
def test_timestamps_are_written_as_isoformat_writes_them(naive_utc: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if not naive_utc:  # the path taken from Python 3.12 on
        monkeypatch.setattr(file_layout, "_NAIVE_UTC_FROM_TIMESTAMP", None)
    elif file_layout._NAIVE_UTC_FROM_TIMESTAMP is None:
        pytest.skip("datetime.utcfromtimestamp is deprecated on this Python")
    assert json.loads(iso_json_array(STAMPS)) == [isoformat(s) for s in STAMPS]
    assert json.loads(iso_json_array([])) == []


def test_a_damaged_timestamp_becomes_null_and_the_others_stay() -> None:
    stamps = [1714566646.5, None, float("nan"), 1e300, "x", 1714566647.25]
    assert json.loads(iso_json_array(stamps)) == [  # type: ignore[arg-type]
        "2024-05-01T12:30:46.500000", None, None, None, None, "2024-05-01T12:30:47.250000"
    ]


def series(values: list[float], first_step: int, start: float) -> MetricSeries:
    return MetricSeries(
        list(range(first_step, first_step + len(values))), values, [start + i / 8 for i in range(len(values))]
    )


def test_metrics_json_from_memory_equals_the_one_rebuilt_from_the_log(tmp_path: Path) -> None:
    live = MetricsLog(tmp_path)
    live.append(1, {"loss": series([1.0, 0.5], 0, 1714566646.0), "ünï": series([3], 0, 1714566646.0)})
    live.append(2, {"loss": series([float("nan"), 0.25], 2, 1714566647.0)})
    live.append(3, {"acc": series([0.9], 0, 1714566648.0), "empty": MetricSeries([], [], [])})
    live.append(2, {"loss": series([9.0], 9, 1714566649.0)})  # a replay: skipped
    live.materialize()
    from_memory = (tmp_path / METRICS_JSON).read_bytes()

    MetricsLog.resume(tmp_path).materialize()  # e.g. `gnomon sync` in a new process
    assert (tmp_path / METRICS_JSON).read_bytes() == from_memory

    stored = json.loads(from_memory)
    assert list(stored) == ["acc", "loss", "ünï"]  # sorted keys, as Sacred wrote them
    assert stored["loss"]["steps"] == [0, 1, 2, 3]
    assert stored["loss"]["values"] == [1.0, 0.5, None, 0.25]  # NaN: strict JSON null
    assert stored["loss"]["timestamps"] == [
        "2024-05-01T12:30:46", "2024-05-01T12:30:46.125000", "2024-05-01T12:30:47", "2024-05-01T12:30:47.125000"
    ]
    assert stored["ünï"] == {"steps": [0], "timestamps": ["2024-05-01T12:30:46"], "values": [3]}
    assert list(stored["acc"]) == ["steps", "timestamps", "values"]
    log_lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [line["seq"] for line in log_lines] == [1, 2, 3]
    assert log_lines[1]["series"]["loss"]["values"][0] is None
    assert math.isclose(log_lines[0]["series"]["loss"]["timestamps"][1], 1714566646.125)


def test_no_metric_is_an_empty_object(tmp_path: Path) -> None:
    MetricsLog(tmp_path).materialize()
    assert (tmp_path / METRICS_JSON).read_bytes() == b"{}\n"


def test_a_batch_whose_append_failed_is_counted_once_when_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gnomon.observers.file import metrics as file_metrics

    log = MetricsLog(tmp_path)
    log.append(1, {"loss": series([1.0], 0, 1714566646.0)})
    real_append = file_metrics.append_exactly

    def disk_full(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(file_metrics, "append_exactly", disk_full)
    with pytest.raises(OSError, match="No space"):
        log.append(2, {"loss": series([2.0], 1, 1714566647.0)})
    monkeypatch.setattr(file_metrics, "append_exactly", real_append)
    log.append(2, {"loss": series([2.0], 1, 1714566647.0)})  # the delivery is retried
    log.materialize()
    assert json.loads((tmp_path / METRICS_JSON).read_bytes())["loss"]["values"] == [1.0, 2.0]
    assert log.points == 2


def test_a_log_line_without_some_columns_still_gives_valid_json(tmp_path: Path) -> None:
    (tmp_path / "metrics.jsonl").write_bytes(
        b'{"seq":1,"series":{"m":{"values":[1.0,2.0]}}}\n'
        b'{"seq":2,"series":{"m":{"steps":[2],"values":[3.0],"timestamps":[1714566646.5]}}}\n'
    )
    MetricsLog.resume(tmp_path).materialize()
    stored = json.loads((tmp_path / METRICS_JSON).read_bytes())
    assert stored == {"m": {"steps": [2], "timestamps": ["2024-05-01T12:30:46.500000"], "values": [1.0, 2.0, 3.0]}}


@pytest.mark.parametrize("pieces", [3, 5000], ids=["one-writev", "more-pieces-than-writev-takes"])
def test_append_writes_every_piece_in_order_even_when_a_write_is_cut_short(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pieces: int
) -> None:
    import os

    real_write = os.write

    def short_write(fd: int, data: bytes) -> int:  # the kernel may take less than asked
        return real_write(fd, bytes(data)[: max(1, len(data) // 3)])

    monkeypatch.setattr(os, "write", short_write)
    if hasattr(os, "writev"):
        monkeypatch.setattr(os, "writev", lambda fd, chunks: real_write(fd, bytes(chunks[0])[:2]))
    path = tmp_path / "log"
    path.write_bytes(b"before\n")
    chunks = [b"%d," % i for i in range(pieces)]
    file_layout.append_exactly(path, *chunks, memoryview(b"end\n"))
    assert path.read_bytes() == b"before\n" + b"".join(chunks) + b"end\n"


def test_an_append_that_fails_leaves_the_file_as_it_was(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    real_write = os.write
    calls = []

    def fill_the_disk(fd: int, data: bytes) -> int:
        calls.append(len(data))
        if len(calls) > 1:
            raise OSError(28, "No space left on device")
        return real_write(fd, bytes(data)[:5])

    monkeypatch.setattr(os, "write", fill_the_disk)
    monkeypatch.delattr(os, "writev", raising=False)
    path = tmp_path / "log"
    path.write_bytes(b"before\n")
    with pytest.raises(OSError, match="No space"):
        file_layout.append_exactly(path, b"a torn ", b"record\n")
    assert path.read_bytes() == b"before\n"
