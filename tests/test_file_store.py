"""FileRunStore: file storage folders (gnomon's and Sacred's) read back as the query API's canonical records."""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import shutil
import threading
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from event_builders import T0, at, metrics, series, started
from gnomon.errors import RunNotFoundError, StoreError
from gnomon.events import MetricsEvent
from gnomon.observers.file import output as output_module
from gnomon.observers.file.observer import FileStorageObserver
from gnomon.observers.file.store import FileRunStore
from gnomon.query.protocol import RunStore
from gnomon.query.tree import Cmp, Const, Exists
from gnomon.run import Run
from sacred_fixtures import file_store_copy

OLD = time.time() - 3600  # an mtime old enough for a folder to count as foreign, not as being created
REPOS = [{"url": "https://example.invalid/p.git", "commit": "abc123", "dirty": True}]


def record_run(
    basedir: Path,
    main: Any,
    *,
    config: dict[str, Any],
    name: str = "exp",
    meta: dict[str, Any] | None = None,
    repositories: list[dict[str, Any]] | None = None,
    beat: float = 10.0,
) -> Run:
    """One run recorded through the real FileStorageObserver."""
    run: Run

    def body() -> Any:
        return main(run)

    run = Run(
        config=config,
        main_function=body,
        command="train",
        observers=[FileStorageObserver(str(basedir))],
        experiment_info={
            "name": name,
            "base_dir": str(basedir.parent),
            "sources": [],
            "dependencies": [],
            "repositories": repositories or [],
        },
        host_info={"hostname": "box", "os": ["Linux", "x"]},
        meta_info=dict(meta or {}),
    )
    run.beat_interval = beat
    run.capture_mode = "sys"
    with contextlib.suppress(ValueError):  # the failing fixture run
        run()
    return run


def same(a: Any, b: Any) -> bool:
    """Equality in which NaN equals NaN (records hold NaN summaries and config values)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b) and type(a) is type(b)


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    """Three runs: completed with specials and git, failed, and one with an artifact and a resource."""
    basedir = tmp_path / "runs"
    data = tmp_path / "data.csv"
    data.write_text("x,y\n1,2\n")

    def first(run: Run) -> Any:
        print("héllo ✓")
        for step, value in enumerate([3.0, 1.0, math.nan, 2.0]):
            run.log_scalar("loss", value, step)
        run.log_scalar("val/acc.top1", 0.5, 0)
        run.info["best"] = {"step": 1}
        return {"score": math.inf, "pair": (1, 2)}

    def second(run: Run) -> Any:
        run.log_scalar("loss", 9.0, 0)
        raise ValueError("boom")

    def third(run: Run) -> Any:
        out = tmp_path / "model.bin"
        out.write_bytes(b"weights" * 10)
        run.add_artifact(str(out), "model.bin")
        run.add_resource(str(data))
        return 3

    record_run(
        basedir,
        first,
        config={
            "lr": 0.1,
            "model": {"depth": 4, "layers": [1, 2]},
            "nan": math.nan,
            "big": 2**70,
            "flag": True,
            "none": None,
        },
        meta={"comment": "baseline"},
        repositories=REPOS,
    )
    record_run(basedir, second, config={"lr": 1.0}, name="other")
    record_run(basedir, third, config={"lr": 0.5})
    return basedir


def test_records_are_canonical(store_dir: Path) -> None:
    store = FileRunStore(store_dir)
    assert isinstance(store, RunStore)
    records = store.summaries(None)
    assert [r["run_id"] for r in records] == ["1", "2", "3"]
    first, second, third = records
    stored = json.loads((store_dir / "1" / "run.json").read_text())
    start = datetime.fromisoformat(stored["start_time"]).replace(tzinfo=UTC)
    assert first["start_time"] == start and first["start_time"].tzinfo is not None
    assert first["stop_time"] == datetime.fromisoformat(stored["stop_time"]).replace(tzinfo=UTC)
    assert first["experiment"] == "exp" and first["command"] == "train"
    assert first["recorded_status"] == "COMPLETED" and second["recorded_status"] == "FAILED"
    assert first["hostname"] == "box" and first["comment"] == "baseline" and second["comment"] is None
    assert first["git"] == {"commit": "abc123", "dirty": True} and second["git"] is None
    assert first["beat_interval"] == 10.0 and first["pid"] == os.getpid()
    assert first["queue_time"] is None
    config = first["config"]
    assert config["big"] == 2**70 and math.isnan(config["nan"]) and config["model"] == {"depth": 4, "layers": [1, 2]}
    assert config["flag"] is True and config["none"] is None
    assert first["result"] == {"score": math.inf, "pair": (1, 2)}
    assert first["tags"] is None and first["notes"] is None
    loss = first["metrics"]["loss"]
    assert loss == {"last": 2.0, "min": 1.0, "max": 3.0, "count": 4, "last_step": 3}
    assert first["metrics"]["val/acc.top1"]["last"] == 0.5
    assert second["metrics"] == {"loss": {"last": 9.0, "min": 9.0, "max": 9.0, "count": 1, "last_step": 0}}
    assert third["result"] == 3 and third["metrics"] == {}
    assert "info" not in first
    with_roots = store.summaries(None, roots=frozenset({"info", "meta", "host"}))[0]
    assert with_roots["info"] == {"best": {"step": 1}}
    assert with_roots["host"]["os"] == ["Linux", "x"] and with_roots["meta"]["comment"] == "baseline"
    assert store.count(None) == 3
    # filters are evaluated here by the reference predicate; tags and notes are left to the query layer
    assert [r["run_id"] for r in store.summaries(Cmp(("config", "lr"), "lt", 0.6))] == ["1", "3"]
    assert store.count(Exists(("info", "best"))) == 1
    assert store.summaries(Const(True), limit=1, offset=1)[0]["run_id"] == "2"
    assert not store.supports(Exists(("tags",))) and store.supports(Cmp(("config", "lr"), "lt", 1))
    store.close()


def test_run_record_lists_artifacts_from_run_json(store_dir: Path, tmp_path: Path) -> None:
    (store_dir / "3" / "stray.bin").write_bytes(b"not an artifact")
    store = FileRunStore(store_dir)
    run = store.run("3")
    assert [a.name for a in run["artifacts"]] == ["model.bin"]  # not metrics.jsonl, not stray.bin
    artifact = run["artifacts"][0]
    digest = hashlib.sha256(b"weights" * 10).hexdigest()
    assert artifact.size == 70 and artifact.digest is None  # not hashed just to list the run
    assert store.artifact_digest("3", "model.bin") == digest
    assert store.run("3")["artifacts"][0].digest == digest  # hashed once, then known
    resource = run["resources"][0]
    assert resource.filename == str(tmp_path / "data.csv")
    assert resource.digest == hashlib.sha256(b"x,y\n1,2\n").hexdigest()[:32]
    assert run["info"] == {} and run["host"]["hostname"] == "box" and run["experiment_info"]["name"] == "exp"
    assert run["fail_trace"] is None
    with store.open_artifact("3", "model.bin") as f:
        assert f.read() == b"weights" * 10
    with pytest.raises(KeyError, match="stray"):
        store.open_artifact("3", "stray.bin")
    failed = store.run("2")
    assert failed["fail_trace"][-1].strip() == "ValueError: boom"
    assert failed["recorded_status"] == "FAILED"
    for missing in ("9", "_resources", "../runs", ""):
        with pytest.raises(RunNotFoundError):
            store.run(missing)


def test_series_sorted_with_nan_and_step_range(store_dir: Path) -> None:
    store = FileRunStore(store_dir)
    (series,) = store.series(["1"], ["loss"])
    assert list(series.steps) == [0, 1, 2, 3]
    assert series.values[:2] == [3.0, 1.0] and math.isnan(series.values[2]) and series.values[3] == 2.0
    start = store.summaries(None)[0]["start_time"].timestamp()
    assert all(start - 1 < t < start + 60 for t in series.times)
    (part,) = store.series(["1"], ["loss"], steps=(1, 2))
    assert list(part.steps) == [1, 2]
    everything = store.series(["1", "2", "404"])
    assert [(s.run_id, s.name) for s in everything] == [("1", "loss"), ("1", "val/acc.top1"), ("2", "loss")]


def observed_run(basedir: Path) -> tuple[FileStorageObserver, str]:
    obs = FileStorageObserver(str(basedir))
    experiment = {"name": "live", "base_dir": str(basedir), "sources": [], "dependencies": [], "repositories": []}
    run_id = obs.on_started(started(experiment=experiment, config={"lr": 0.1}, meta={}))
    return obs, run_id


def points(run_id: str, seq: int, steps: list[int], values: list[float]) -> MetricsEvent:
    """A batch of ``loss`` points, stamped ``seq`` seconds after the start."""
    return metrics(run_id, seq, loss=series(values, steps=steps, stamp=at(seq).timestamp()), time=T0)


def test_refresh_while_a_run_logs_reads_only_new_bytes(tmp_path: Path) -> None:
    basedir = tmp_path / "runs"
    obs, run_id = observed_run(basedir)
    log = basedir / run_id / "metrics.jsonl"
    obs.on_metrics(points(run_id, 1, list(range(100)), [float(i) for i in range(100)]))
    store = FileRunStore(basedir)
    assert store.summaries(None)[0]["metrics"]["loss"]["last"] == 99.0
    read_before, size_before = store.index.log_bytes_read, log.stat().st_size
    assert read_before == size_before
    assert store.summaries(None)[0]["metrics"]["loss"]["count"] == 100  # nothing new: nothing read
    assert store.index.log_bytes_read == read_before
    obs.on_metrics(points(run_id, 2, [100, 101], [0.5, 7.0]))
    metrics = store.summaries(None)[0]["metrics"]["loss"]
    assert metrics == {"last": 7.0, "min": 0.0, "max": 99.0, "count": 102, "last_step": 101}
    assert store.index.log_bytes_read - read_before == log.stat().st_size - size_before  # only the new line
    # a torn last line (being written) is left for later, then read once complete
    line = b'{"seq":3,"series":{"loss":{"steps":[102],"values":[-1.0],"timestamps":[1714564800.0]}}}\n'
    with open(log, "ab") as f:
        f.write(line[:30])
    assert store.summaries(None)[0]["metrics"]["loss"]["count"] == 102
    with open(log, "ab") as f:
        f.write(line[30:])
    assert store.summaries(None)[0]["metrics"]["loss"] == {
        "last": -1.0,
        "min": -1.0,
        "max": 99.0,
        "count": 103,
        "last_step": 102,
    }
    # a replayed batch (same seq, appended by a second process) counts once
    obs.on_metrics(points(run_id, 2, [100, 101], [0.5, 7.0]))
    with open(log, "ab") as f:
        f.write(b'{"seq":2,"series":{"loss":{"steps":[100],"values":[0.5],"timestamps":[1714564800.0]}}}\n')
    assert store.summaries(None)[0]["metrics"]["loss"]["count"] == 103
    # another process's store sees the same, from the index the first one wrote
    assert same(FileRunStore(basedir).summaries(None), store.summaries(None))


def test_new_changed_and_deleted_runs_are_seen(store_dir: Path) -> None:
    store = FileRunStore(store_dir)
    assert store.refresh()[0] == ["1", "2", "3"]
    assert store.refresh() == ([], [], [])
    record_run(store_dir, lambda run: 4, config={"lr": 4})
    assert store.refresh() == (["4"], [], [])
    entry = json.loads((store_dir / "2" / "run.json").read_text())
    entry["status"] = "INTERRUPTED"
    (store_dir / "2" / "run.json").write_text(json.dumps(entry))  # in place, as Sacred writes it
    shutil.rmtree(store_dir / "3")
    assert store.refresh() == ([], ["2"], ["3"])
    assert [r["recorded_status"] for r in store.summaries(None)] == ["COMPLETED", "INTERRUPTED", "COMPLETED"]


def test_deleting_the_index_changes_no_answer(store_dir: Path) -> None:
    store = FileRunStore(store_dir)
    warm = store.summaries(None, roots=frozenset({"info", "meta", "host"}))
    runs = [store.run(i) for i in ("1", "2", "3")]
    store.close()
    assert (store_dir / "_gnomon" / "index.sqlite").exists()
    shutil.rmtree(store_dir / "_gnomon")
    cold = FileRunStore(store_dir)
    assert same(cold.summaries(None, roots=frozenset({"info", "meta", "host"})), warm)
    assert all(same(str(cold.run(i)), str(r)) for i, r in zip(("1", "2", "3"), runs, strict=True))


def test_a_corrupt_index_is_rebuilt_with_one_warning(store_dir: Path) -> None:
    store = FileRunStore(store_dir)
    expected = store.summaries(None)
    store.close()
    index = store_dir / "_gnomon" / "index.sqlite"
    index.write_bytes(b"this is not a database" * 100)
    with pytest.warns(RuntimeWarning, match="damaged") as caught:
        rebuilt = FileRunStore(store_dir)
    assert len(caught) == 1
    assert same(rebuilt.summaries(None), expected)  # no second warning (warnings are errors here)


def test_a_read_only_folder_keeps_its_index_in_the_user_cache(
    store_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    expected = FileRunStore(store_dir, cache_dir=tmp_path / "elsewhere").summaries(None)
    # _gnomon cannot be a folder here (a file took its name): as with a read-only share, the cache is used
    (store_dir / "_gnomon").write_text("")
    store = FileRunStore(store_dir)
    assert store.index.location is not None and str(store.index.location).startswith(str(tmp_path / "cache"))
    assert same(store.summaries(None), expected)
    (store_dir / "_gnomon").unlink()
    store_dir.chmod(0o555)
    try:
        if os.access(store_dir, os.W_OK):
            pytest.skip("running as a user who can write anywhere: chmod does not make the folder read-only")
        again = FileRunStore(store_dir)
        assert same(again.summaries(None), expected)
        assert not (store_dir / "_gnomon").exists()
        with pytest.raises(StoreError, match="annotations"):
            again.set_annotations("1", tags=["x"])
    finally:
        store_dir.chmod(0o755)


def test_corrupt_and_foreign_folders_are_skipped_with_one_warning_each(store_dir: Path) -> None:
    (store_dir / "plots").mkdir()
    (store_dir / "plots" / "a.png").write_bytes(b"png")
    (store_dir / "7").mkdir()
    (store_dir / "7" / "run.json").write_text('{"status": "RUNN')
    (store_dir / "8").mkdir()
    (store_dir / "8" / "run.json").write_text("[1, 2]")
    (store_dir / "9").mkdir()
    (store_dir / "9" / "run.json").write_text('{"status": "COMPLETED"}')
    (store_dir / "9" / "config.json").write_text("{oops")
    for folder in ("plots", "7", "8", "9"):
        for path in (store_dir / folder).iterdir():
            os.utime(path, (OLD, OLD))
        os.utime(store_dir / folder, (OLD, OLD))
    (store_dir / "10").mkdir()  # a run being created right now: not warned about
    (store_dir / "_private").mkdir()
    (store_dir / ".hidden").mkdir()
    store = FileRunStore(store_dir)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert [r["run_id"] for r in store.summaries(None)] == ["1", "2", "3"]
        assert store.count(None) == 3
        store.summaries(None)
    messages = sorted(str(w.message) for w in caught)
    assert len(messages) == 4, messages
    for name, why in (("7", "not valid JSON"), ("8", "holds no run"), ("9", "config.json"), ("plots", "no run.json")):
        assert any(f"{store_dir / name} is skipped" in m and why in m for m in messages), (name, messages)


def test_annotations_survive_the_run_writing_and_ending(tmp_path: Path) -> None:
    basedir = tmp_path / "runs"
    record_run(basedir, lambda run: 0, config={})
    seen: dict[str, Any] = {}

    def main(run: Run) -> int:
        store = FileRunStore(basedir)
        while not (basedir / "2" / "run.json").exists():
            time.sleep(0.01)
        store.set_annotations("2", tags=["keep", "me"], notes="written while running")
        store.set_annotations("2", notes="second thought")  # tags stay
        heartbeat = json.loads((basedir / "2" / "run.json").read_text())["heartbeat"]
        for step in range(30):
            run.log_scalar("x", step, step)
            time.sleep(0.01)
        seen["beats"] = heartbeat != json.loads((basedir / "2" / "run.json").read_text())["heartbeat"]
        store.close()
        return 1

    record_run(basedir, main, config={}, beat=0.01)
    assert seen["beats"]
    store = FileRunStore(basedir)
    first, second = store.summaries(None)
    assert second["recorded_status"] == "COMPLETED"
    assert (second["tags"], second["notes"]) == (["keep", "me"], "second thought")
    assert (first["tags"], first["notes"]) == (None, None)
    assert store.run("2")["tags"] == ["keep", "me"]
    store.set_annotations("1", tags=[])
    assert store.summaries(None)[0]["tags"] == [] and store.summaries(None)[0]["notes"] is None
    assert json.loads((basedir / "_gnomon" / "annotations" / "2.json").read_text())["notes"] == "second thought"
    with pytest.raises(RunNotFoundError):
        store.set_annotations("404", tags=["x"])


def test_lineage_by_digest_and_by_path(tmp_path: Path) -> None:
    basedir = tmp_path / "runs"
    model = tmp_path / "model.bin"

    def producer(run: Run) -> None:
        model.write_bytes(b"trained weights")
        run.add_artifact(str(model), "model.bin")

    def consumer(run: Run) -> None:
        copy = tmp_path / "downloaded.bin"
        copy.write_bytes(b"trained weights")  # the same content, elsewhere: linked by its digest
        with run.open_resource(str(copy), "rb"):
            pass
        features = tmp_path / "features.csv"
        features.write_text("f\n1\n")
        run.add_artifact(str(features), "features.csv")

    def final(run: Run) -> None:
        run.add_resource(str(basedir / "2" / "features.csv"))  # read from B's folder: linked by its path

    for main in (producer, consumer, final):
        record_run(basedir, main, config={})
    record_run(basedir, lambda run: None, config={})  # unrelated
    store = FileRunStore(basedir)
    up = store.lineage_edges(["3"], upstream=True, downstream=False)
    assert [(e.source, e.artifact, e.target) for e in up] == [("2", "features.csv", "3")]
    up = store.lineage_edges(["2"], upstream=True, downstream=False)
    assert [(e.source, e.artifact, e.target) for e in up] == [("1", "model.bin", "2")]
    assert up[0].digest == hashlib.sha256(b"trained weights").hexdigest()
    assert up[0].resource == str(tmp_path / "downloaded.bin")
    down = store.lineage_edges(["1"], upstream=False, downstream=True)
    assert [(e.source, e.target) for e in down] == [("1", "2")]
    both = store.lineage_edges(["2"], upstream=True, downstream=True)
    assert sorted((e.source, e.target) for e in both) == [("1", "2"), ("2", "3")]
    assert store.lineage_edges(["4"], upstream=True, downstream=True) == []


def test_output_by_character_offsets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    basedir = tmp_path / "runs"
    _, run_id = observed_run(basedir)
    text = "".join(f"ligne {i}: héllo ✓ 𝄞 wörld\n" for i in range(200))
    (basedir / run_id / "cout.txt").write_bytes(text.encode())
    monkeypatch.setattr(output_module, "MARK_BYTES", 97)  # many marks, chunks that split characters
    store = FileRunStore(basedir)
    assert store.output_length(run_id) == len(text)
    for offset, limit in ((0, 10), (5, 1), (1234, 77), (len(text) - 3, 100), (len(text), 5), (100, None)):
        assert store.output(run_id, offset, limit) == text[offset:][:limit], (offset, limit)
    assert store.output(run_id) == text
    more = "tail ✓ ünï\n"
    with open(basedir / run_id / "cout.txt", "ab") as f:
        f.write(more.encode() + "✓".encode()[:2])  # the last character is not complete yet
    assert store.output_length(run_id) == len(text) + len(more)
    assert store.output(run_id, len(text) - 2) == text[-2:] + more
    with pytest.raises(RunNotFoundError):
        store.output("404")


def test_sacred_written_folder(tmp_path: Path) -> None:
    basedir = file_store_copy(tmp_path)
    store = FileRunStore(basedir)
    records = {r["run_id"]: r for r in store.summaries(None)}
    assert {k: r["recorded_status"] for k, r in records.items()} == {
        "1": "COMPLETED",
        "2": "COMPLETED",
        "3": "FAILED",
        "4": "INTERRUPTED",
        "5": "COMPLETED",
        "6": "QUEUED",
    }
    first = records["1"]
    assert first["beat_interval"] is None and first["pid"] is None
    assert first["experiment"] == "fixture_experiment" and first["comment"] == "baseline run"
    assert first["git"]["commit"] == "78511f6de2a5bfa2e94ca46b916bf0f527c7b0bb"
    assert first["metrics"]["loss"]["count"] == 20
    assert records["6"]["queue_time"] is not None and records["6"]["start_time"] is None
    sacred_metrics = json.loads((basedir / "1" / "metrics.json").read_text())
    for name, column in sacred_metrics.items():
        values = [v for v in column["values"] if not math.isnan(v)]
        assert first["metrics"][name]["max"] == max(values) and first["metrics"][name]["count"] == len(column["values"])
        (series,) = store.series(["1"], [name])
        assert list(series.steps) == column["steps"]
        stamp = datetime.fromisoformat(column["timestamps"][0]).replace(tzinfo=UTC).timestamp()
        assert series.times[0] == stamp
    # Sacred names stored copies by MD5: run 2 read run 1's predictions.csv
    edges = store.lineage_edges(["2"], upstream=True, downstream=False)
    assert [(e.source, e.artifact, e.target) for e in edges] == [("1", "predictions.csv", "2")]
    queued = store.run("6")
    assert [(s.path, s.digest) for s in queued["sources"]] == [("experiment.py", "9187e758dbb5b017da561101a1431ba4")]
    assert store.run("1")["sources"][0].digest == "9187e758dbb5b017da561101a1431ba4"


def test_sacred_bare_nan_tokens_and_no_jsonl(tmp_path: Path) -> None:
    basedir = tmp_path / "runs"
    run_dir = basedir / "1"
    run_dir.mkdir(parents=True)
    (run_dir / "run.json").write_text(
        json.dumps(
            {
                "status": "RUNNING",
                "command": "main",
                "experiment": {"name": "sacred"},
                "meta": {},
                "host": {"hostname": "h"},
                "start_time": "2024-05-01T12:00:00",
                "heartbeat": None,
                "result": float("nan"),
                "artifacts": [],
                "resources": [],
            }
        )
    )
    (run_dir / "config.json").write_text('{"lr": NaN, "big": Infinity}')
    (run_dir / "metrics.json").write_text(
        '{"m": {"steps": [0, 1, 2], "values": [1.0, Infinity, NaN], "timestamps": '
        '["2024-05-01T12:00:01", "2024-05-01T12:00:02.5", "2024-05-01T12:00:03"]}}'
    )
    store = FileRunStore(basedir)
    (record,) = store.summaries(None)
    assert math.isnan(record["config"]["lr"]) and record["config"]["big"] == math.inf
    assert math.isnan(record["result"]) and record["heartbeat"] is None
    assert record["start_time"] == datetime(2024, 5, 1, 12, tzinfo=UTC)
    assert record["metrics"]["m"]["max"] == math.inf and math.isnan(record["metrics"]["m"]["last"])
    (series,) = store.series(["1"])
    assert (
        series.values[1] == math.inf
        and series.times[1] == datetime(2024, 5, 1, 12, 0, 2, 500000, tzinfo=UTC).timestamp()
    )
    # Sacred rewrites metrics.json in place: the summary follows
    (run_dir / "metrics.json").write_text(
        '{"m": {"steps": [0, 1, 2, 3], "values": [1.0, Infinity, NaN, -5], '
        '"timestamps": ["2024-05-01T12:00:01", "2024-05-01T12:00:02.5", '
        '"2024-05-01T12:00:03", "2024-05-01T12:00:04"]}}'
    )
    assert store.summaries(None)[0]["metrics"]["m"] == {
        "last": -5.0,
        "min": -5.0,
        "max": math.inf,
        "count": 4,
        "last_step": 3,
    }


def test_opening_by_url_and_missing_folders(tmp_path: Path, store_dir: Path) -> None:
    assert FileRunStore.from_url(f"file://{store_dir}").count(None) == 3
    assert FileRunStore.from_url(str(store_dir)).url == f"file://{store_dir}"
    with pytest.raises(StoreError, match="nowhere"):
        FileRunStore.from_url(f"file://{tmp_path / 'nowhere'}")
    (tmp_path / "a-file").write_text("")
    with pytest.raises(StoreError, match="not a folder"):
        FileRunStore(tmp_path / "a-file")


def test_concurrent_refreshes_agree(store_dir: Path) -> None:
    results: list[Any] = []
    errors: list[BaseException] = []

    def read() -> None:
        try:
            store = FileRunStore(store_dir)
            for _ in range(5):
                results.append(orjson.dumps([r["run_id"] for r in store.summaries(None)]))
            store.close()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=read) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and set(results) == {b'["1","2","3"]'}


# ---------------------------------------------------------------------- order and limit in the index --


def write_sacred_run(basedir: Path, name: str, **fields: Any) -> Path:
    """A run folder as Sacred's FileStorageObserver leaves it (naive UTC times; queued runs have no start)."""
    folder = basedir / name
    folder.mkdir(parents=True)
    run = {
        "status": fields.get("status", "COMPLETED"),
        "command": "main",
        "experiment": {"name": fields["experiment"]} if fields.get("experiment") else {},
        "meta": {"queue_time": fields["queue_time"]} if fields.get("queue_time") else {},
        "host": {"hostname": "h"},
        "start_time": fields.get("start_time"),
        "stop_time": fields.get("stop_time"),
        "heartbeat": fields.get("stop_time"),
        "result": fields.get("result", 1),
        "artifacts": [],
        "resources": [],
    }
    (folder / "run.json").write_text(json.dumps({k: v for k, v in run.items() if v is not None}))
    (folder / "config.json").write_text(json.dumps({"lr": fields.get("lr", 0.1)}))
    return folder


class InMemoryOrder(FileRunStore):
    """The same folder, but sorted by the query layer in memory: the reference order."""

    def supports_order(self, path: tuple[str, ...]) -> bool:
        return False


@pytest.fixture
def ordered_dir(tmp_path: Path) -> Path:
    """70 runs with random start times: many ties, queued runs without one, ids such as 2, 10, 007, 7, a, B."""
    import random

    rng = random.Random(20240501)
    basedir = tmp_path / "runs"
    starts = [
        "2024-05-01T12:00:00",
        "2024-05-01T12:00:00.500000",
        "2024-05-01T12:00:00.000001",
        "2024-05-01T11:59:59.999999",
        "2023-12-31T23:00:00",
        "2024-05-02T00:00:00",
    ]
    names = [str(i) for i in range(1, 61)] + ["007", "7x", "a", "B", "b10", "b9", "z", "0", "00", "1000"]
    for name in names:
        queued = rng.random() < 0.2
        start = None if queued else rng.choice(starts)
        write_sacred_run(
            basedir,
            name,
            status="QUEUED" if queued else rng.choice(["COMPLETED", "FAILED", "RUNNING"]),
            start_time=start,
            stop_time=None if queued or rng.random() < 0.3 else rng.choice(starts),
            queue_time=rng.choice(starts) if queued else None,
            experiment=rng.choice(["x", "y", "ü", "Y", None]),
            lr=rng.choice([0.01, 0.1, 0.5, 1.0]),
        )
    return basedir


ORDERS = [
    "-start_time",
    "start_time",
    "-stop_time",
    "heartbeat",
    "-queue_time",
    "experiment",
    "-experiment",
    "id",
    "-id",
    ["experiment", "-start_time"],
    ["-stop_time", "start_time"],
    ["recorded_status", "-id"],
]
WHERES = [None, "config.lr < 0.5", 'experiment == "x" or config.lr == 1', 'status == "COMPLETED"']


@pytest.mark.parametrize("nulls_last", [True, False], ids=["nulls-last", "is-null"])
def test_ordered_limited_listing_equals_the_query_layers_order(
    ordered_dir: Path, nulls_last: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gnomon.observers.file import index_schema
    from gnomon.query.store import Store

    monkeypatch.setattr(index_schema, "_NULLS_LAST", nulls_last)  # SQLite before 3.30 has no NULLS LAST
    pushed, reference = Store(FileRunStore(ordered_dir)), Store(InMemoryOrder(ordered_dir))
    assert pushed.backend.supports_order(("start_time",)) and pushed.backend.supports_order(("id",))
    assert not pushed.backend.supports_order(("config", "lr")) and not pushed.backend.supports_order(("status",))
    assert reference.runs(order_by="-start_time").count() == 70
    for order in ORDERS:
        for where in WHERES:
            expected = reference.runs(where, order_by=order).ids
            for limit in (None, 0, 1, 7, 50, 100):
                got = pushed.runs(where, order_by=order, limit=limit).ids
                assert got == expected[:limit], (order, where, limit)
    # the natural order of ids, and missing start times last in both directions
    ascending = pushed.runs(order_by="start_time").ids
    queued = [r["run_id"] for r in pushed.backend.summaries(None) if r["start_time"] is None]
    assert queued and set(ascending[-len(queued) :]) == set(queued)
    assert set(pushed.runs(order_by="-start_time").ids[-len(queued) :]) == set(queued)
    assert pushed.runs(order_by="id").ids[:5] == ["0", "00", "1", "2", "3"]
    assert pushed.runs(order_by="id").ids[-7:] == ["1000", "7x", "B", "a", "b10", "b9", "z"]


def test_offsets_and_filters_on_the_backend_directly(ordered_dir: Path) -> None:
    store, reference = FileRunStore(ordered_dir), InMemoryOrder(ordered_dir)
    where = Cmp(("config", "lr"), "lt", 0.5)
    for order_by in ([(("start_time",), True)], [(("start_time",), False), (("id",), True)], []):
        for condition in (None, where):
            whole = [r["run_id"] for r in store.summaries(condition, order_by=order_by)]
            assert whole == [r["run_id"] for r in reference.summaries(condition, order_by=order_by)]
            for offset, limit in ((0, 5), (3, 5), (60, 20), (100, 5), (4, None)):
                part = store.summaries(condition, order_by=order_by, limit=limit, offset=offset)
                assert [r["run_id"] for r in part] == whole[offset:][:limit], (order_by, condition, offset, limit)
    assert store.count(None) == 70
    assert store.count(where) == len(store.summaries(where)) == len(reference.summaries(where))
    roots = store.summaries(where, order_by=[(("start_time",), True)], limit=3, roots=frozenset({"host"}))
    assert [r["host"] for r in roots] == [{"hostname": "h"}] * 3 and "info" not in roots[0]


def test_only_the_runs_returned_are_decoded(ordered_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gnomon.observers.file import store as store_module

    store = FileRunStore(ordered_dir)
    store.refresh()
    decoded: list[str] = []
    original = store_module.record_from_row

    def counting(run_id: str, *args: Any) -> dict[str, Any]:
        decoded.append(run_id)
        return original(run_id, *args)

    monkeypatch.setattr(store_module, "record_from_row", counting)
    latest = store.summaries(None, order_by=[(("start_time",), True)], limit=5)
    assert decoded == [r["run_id"] for r in latest]
    decoded.clear()
    store.summaries(Cmp(("config", "lr"), "lt", 0.5), order_by=[(("start_time",), True)], limit=3)
    assert 3 <= len(decoded) < 70  # decoded in order until three matched
    decoded.clear()
    assert store.count(None) == 70 and not decoded


OLD_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE state (name TEXT PRIMARY KEY, sig BLOB NOT NULL, racy INTEGER NOT NULL, ok INTEGER NOT NULL,
    problem TEXT, log_offset INTEGER);
CREATE TABLE records (name TEXT PRIMARY KEY, record BLOB, bits INTEGER, metrics BLOB);
CREATE TABLE details (name TEXT PRIMARY KEY, roots BLOB, links BLOB, seqs BLOB);
CREATE TABLE outputs (name TEXT PRIMARY KEY, ino INTEGER, bytes INTEGER, chars INTEGER, marks BLOB);
CREATE TABLE digests (path TEXT PRIMARY KEY, sig BLOB, sha256 TEXT, md5 TEXT);
INSERT INTO meta VALUES ('version', '1');
"""


def test_an_index_of_the_previous_format_is_rebuilt(store_dir: Path) -> None:
    import sqlite3

    from gnomon.observers.file.index_schema import VERSION
    from gnomon.observers.file.signatures import Listing

    store = FileRunStore(store_dir)
    expected = store.summaries(None, order_by=[(("start_time",), True)])
    store.close()
    index = store_dir / "_gnomon" / "index.sqlite"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{index}{suffix}").unlink(missing_ok=True)
    with Listing(str(store_dir)) as listing:
        signature = listing.signature("1")
    old = sqlite3.connect(index)
    old.executescript(OLD_SCHEMA)
    # a version-1 row that a reader trusting it would return as it is
    old.execute("INSERT INTO state VALUES ('1', ?, 0, 1, NULL, 0)", (signature,))
    old.execute("INSERT INTO records VALUES ('1', ?, 0, NULL)", (b'{"stale": true}',))
    old.commit()
    old.close()
    store = FileRunStore(store_dir)
    assert same(store.summaries(None, order_by=[(("start_time",), True)]), expected)
    assert [r["run_id"] for r in expected] == ["3", "2", "1"]
    assert store.index._db.execute("SELECT value FROM meta WHERE key = 'version'").fetchone() == (VERSION,)


@pytest.mark.parametrize("file", ["run.json", "config.json", "info.json", "metrics.json", "metrics.jsonl"])
def test_a_change_to_any_indexed_file_is_seen(tmp_path: Path, file: str) -> None:
    """In place (same size, another mtime) and atomically (same size and mtime, another inode)."""
    basedir = tmp_path / "runs"
    folder = write_sacred_run(basedir, "1", start_time="2024-05-01T12:00:00", result=1)
    write_sacred_run(basedir, "2", start_time="2024-05-01T12:00:00", result=2)
    (folder / "info.json").write_text('{"n": 1}')
    if file == "metrics.jsonl":
        (folder / "metrics.jsonl").write_bytes(
            b'{"seq":0,"series":{"m":{"steps":[0],"values":[1.0],"timestamps":[0]}}}\n'
        )
    else:
        (folder / "metrics.json").write_text('{"m": {"steps": [0], "values": [1.0], "timestamps": ["2024-05-01"]}}')
    settled = time.time() - 3600

    def age(path: Path, seconds: float) -> None:
        os.utime(path, (seconds, seconds))

    for path in folder.iterdir():
        age(path, settled)
    store = FileRunStore(basedir)
    assert store.refresh()[0] == ["1", "2"]

    def seen() -> Any:
        (record,) = [r for r in store.summaries(None, roots=frozenset({"info"})) if r["run_id"] == "1"]
        return record["result"], record["config"]["lr"], record["info"]["n"], record["metrics"]["m"]["last"]

    before = seen()
    target = folder / file
    text = target.read_bytes()
    if file == "metrics.jsonl":  # an append-only log: appended to, or replaced by another file
        with open(target, "ab") as f:
            f.write(b'{"seq":1,"series":{"m":{"steps":[1],"values":[2.0],"timestamps":[1]}}}\n')
        assert store.refresh() == ([], ["1"], []) and seen()[3] == 2.0
        replaced = target.with_suffix(".new")
        replaced.write_bytes(target.read_bytes().replace(b"[2.0]", b"[3.0]"))
        os.replace(replaced, target)
        assert store.refresh() == ([], ["1"], []) and seen()[3] == 3.0
        return
    old, new = {"run.json": (b'"result": 1', b'"result": 4'), "config.json": (b"0.1", b"0.4")}.get(file, (b"1", b"4"))
    changed = text.replace(old, new, 1)
    assert changed != text and len(changed) == len(text)
    with open(target, "r+b") as f:  # in place, as Sacred writes
        f.write(changed)
    age(target, settled + 1)
    assert store.refresh() == ([], ["1"], []) and seen() != before
    after_in_place = seen()
    replaced = target.with_name(file + ".new")
    replaced.write_bytes(text)  # the old content back, same size and mtime: only the inode differs
    age(replaced, settled + 1)
    os.replace(replaced, target)
    assert store.refresh() == ([], ["1"], []) and seen() == before != after_in_place
    assert store.refresh() == ([], [], [])


def test_stores_opened_at_once_on_a_new_folder_wait_for_each_other(store_dir: Path) -> None:
    """Switching a new index to WAL mode finds it locked by the others: that is waited for, never taken for damage."""

    def read(results: list[list[str]], errors: list[BaseException]) -> None:
        try:  # a "damaged index" warning is an error here (filterwarnings = error)
            store = FileRunStore(store_dir)
            results.append([r["run_id"] for r in store.summaries(None)])
            store.close()
        except BaseException as error:
            errors.append(error)

    for _ in range(15):
        shutil.rmtree(store_dir / "_gnomon", ignore_errors=True)
        results: list[list[str]] = []
        errors: list[BaseException] = []
        threads = [threading.Thread(target=read, args=(results, errors)) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors and results == [["1", "2", "3"]] * 4


def test_a_listing_by_ids_refreshes_and_decodes_only_those_runs(
    ordered_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gnomon.observers.file import store as store_module
    from gnomon.query.tree import And, In

    store = FileRunStore(ordered_dir)
    everything = store.summaries(None)
    by_id = {r["run_id"]: r for r in everything}
    decoded: list[str] = []
    original = store_module.record_from_row

    def counting(run_id: str, *args: Any) -> dict[str, Any]:
        decoded.append(run_id)
        return original(run_id, *args)

    monkeypatch.setattr(store_module, "record_from_row", counting)
    wanted = In(("id",), ("7", "3", "404", 7))  # an int never equals a run id
    found = store.summaries(wanted)
    assert [r["run_id"] for r in found] == ["3", "7"] and sorted(decoded) == ["3", "7"]
    assert same(found, [by_id["3"], by_id["7"]])
    decoded.clear()
    both = And((Cmp(("id",), "eq", "5"), Cmp(("config", "lr"), "ge", 0.0), In(("id",), ("5", "6"))))
    assert same(store.summaries(both), [r for r in everything if r["run_id"] == "5" and r["config"]["lr"] >= 0])
    assert decoded == ["5"]
    assert store.summaries(And((Cmp(("id",), "eq", "5"), Cmp(("id",), "eq", "6")))) == []
    assert store.count(In(("id",), ("1", "2"))) == 2
    # only the named runs are looked at: a change to another one waits for a full listing
    entry = json.loads((ordered_dir / "9" / "run.json").read_text())
    entry["status"] = "INTERRUPTED"
    (ordered_dir / "9" / "run.json").write_text(json.dumps(entry))
    assert store.summaries(In(("id",), ("9",)))[0]["recorded_status"] == "INTERRUPTED"  # a named run is fresh
    shutil.rmtree(ordered_dir / "8")
    assert store.summaries(In(("id",), ("8", "1")))[0]["run_id"] == "1"
    assert "8" not in {r["run_id"] for r in store.summaries(None)}


def test_long_series_are_read_from_binary_copies_that_follow_the_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("numpy")
    from gnomon.observers.file import series_files
    basedir = tmp_path / "runs"
    obs, run_id = observed_run(basedir)
    obs.on_metrics(points(run_id, 1, [0, 2, 1], [1.0, math.nan, math.inf]))
    store = FileRunStore(basedir)
    copies = basedir / "_gnomon" / "series" / run_id

    def read() -> tuple[list[int], list[float], list[float]]:
        (series,) = store.series([run_id], ["loss"])
        return list(series.steps), list(series.values), list(series.times)

    def parsed() -> tuple[list[int], list[float], list[float]]:
        cold = FileRunStore(basedir, cache_dir=tmp_path / f"elsewhere{len(list(tmp_path.iterdir()))}")
        cold.points.copies = None  # the log parsed, as without numpy
        (series,) = cold.series([run_id], ["loss"])
        return list(series.steps), list(series.values), list(series.times)

    first = read()
    assert first[0] == [0, 1, 2] and first[1][1] == math.inf and math.isnan(first[1][2])
    assert (copies / "state.json").exists() and len(list(copies.glob("*.npy"))) == 1
    assert str(read()) == str(first) == str(parsed())
    with monkeypatch.context() as patched:  # current copies: the log is not parsed again
        patched.setattr(series_files, "batches", None)
        assert str(read()) == str(first)
    log = basedir / run_id / "metrics.jsonl"
    # appended: read from where the last read stopped; a torn line waits; a replayed batch counts once
    obs.on_metrics(points(run_id, 2, [3, 4], [0.5, 7.0]))
    line = b'{"seq":3,"series":{"loss":{"steps":[5],"values":[-1.0],"timestamps":[1714564800.0]}}}\n'
    with open(log, "ab") as f:
        f.write(line[:30])
    assert read()[0] == [0, 1, 2, 3, 4] and str(read()) == str(parsed())
    with open(log, "ab") as f:
        f.write(line[30:] + b'{"seq":2,"series":{"loss":{"steps":[9],"values":[0.5],"timestamps":[1.0]}}}\n')
    grown = read()
    assert grown[0] == [0, 1, 2, 3, 4, 5] and grown[1][-1] == -1.0 and str(grown) == str(parsed())
    assert len(list(copies.glob("*.npy"))) == 1  # the replaced copies are gone
    (arrays,) = store.series([run_id], ["loss"], steps=(1, 4), arrays=True)
    assert arrays.steps.dtype.name == "int64" and arrays.steps.tolist() == [1, 2, 3, 4]  # type: ignore[attr-defined]
    # rewritten in place (another inode): rebuilt
    log.write_bytes(log.read_bytes().splitlines(keepends=True)[0])
    assert read()[0] == [0, 1, 2] and str(read()) == str(parsed())
    # a damaged copy, or no copies at all, changes no answer
    next(copies.glob("*.npy")).write_bytes(b"garbage")
    assert str(read()) == str(first)
    shutil.rmtree(basedir / "_gnomon")
    assert str(FileRunStore(basedir).series([run_id], ["loss"])[0].values) == str(first[1])  # type: ignore[index]


def test_steps_numpy_cannot_hold_are_parsed_as_before(tmp_path: Path) -> None:
    pytest.importorskip("numpy")
    basedir = tmp_path / "runs"
    obs, run_id = observed_run(basedir)
    obs.on_metrics(points(run_id, 1, [0, 1], [1.0, 2.0]))
    with open(basedir / run_id / "metrics.jsonl", "ab") as f:
        f.write(b'{"seq":5,"series":{"loss":{"steps":[2,18446744073709551615],"values":[3,4],"timestamps":[1,2]}}}\n')
    (series,) = FileRunStore(basedir).series([run_id], ["loss"])
    assert list(series.steps) == [0, 1, 2, 18446744073709551615] and list(series.values) == [1.0, 2.0, 3.0, 4.0]


def test_series_read_from_binary_copies_are_not_held_in_memory_again(tmp_path: Path) -> None:
    pytest.importorskip("numpy")
    import gnomon

    basedir = tmp_path / "runs"
    obs, run_id = observed_run(basedir)
    obs.on_metrics(points(run_id, 1, list(range(50)), [float(i) for i in range(50)]))
    with gnomon.open(str(basedir)) as store:
        assert store.run(run_id).metric("loss")["value"].tolist() == [float(i) for i in range(50)]
        assert store.backend.series_from_copies and store.series_cache.held_bytes == 0  # type: ignore[attr-defined]
        store.backend.points.copies = None  # type: ignore[attr-defined] # e.g. no writable place for them
        assert store.run(run_id).metric("loss")["value"].tolist() == [float(i) for i in range(50)]
        assert store.series_cache.held_bytes == 50 * 24


def test_a_large_log_is_summarised_from_the_series_copies_it_leaves_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("numpy")
    from gnomon.observers.file import index_rows, series_files

    monkeypatch.setattr(index_rows, "COPY_FROM_BYTES", 2000)  # a few batches count as large here
    basedir = tmp_path / "runs"
    obs, run_id = observed_run(basedir)
    steps = list(range(300))
    values = [math.nan if i % 7 == 0 else float((i * 37) % 101) for i in steps]
    obs.on_metrics(points(run_id, 1, steps[:150], values[:150]))
    obs.on_metrics(points(run_id, 2, [*steps[150:], 299], [*values[150:], -5.0]))  # the later point at step 299 wins
    obs.on_metrics(points(run_id, 2, [1000], [99.0]))  # a replay of batch 2: counted once

    store = FileRunStore(basedir)
    fast = store.summaries(None)[0]["metrics"]
    plain = FileRunStore(basedir, cache_dir=tmp_path / "plain")
    plain.index.series_copies = None  # the log parsed for the summaries alone
    assert fast == plain.summaries(None)[0]["metrics"]
    assert fast["loss"] == {"last": -5.0, "min": -5.0, "max": 100.0, "count": 301, "last_step": 299}
    copies = basedir / "_gnomon" / "series" / run_id
    assert (copies / "state.json").exists()  # left for the first plot of the run
    with monkeypatch.context() as patched:  # which then parses nothing
        patched.setattr(series_files, "batches", None)
        (series,) = store.series([run_id], ["loss"])
        assert len(series.steps) == 301
    # a small addition is read from where the copies stopped, without them
    obs.on_metrics(points(run_id, 3, [300], [-9.0]))
    assert store.summaries(None)[0]["metrics"]["loss"] == {
        "last": -9.0, "min": -9.0, "max": 100.0, "count": 302, "last_step": 300,
    }  # fmt: skip
    assert store.summaries(None)[0]["metrics"] == plain.summaries(None)[0]["metrics"]
