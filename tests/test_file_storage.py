"""FileStorageObserver: Sacred's layout, written atomically, safe under concurrency and replay."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import subprocess
import sys
import textwrap
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from event_builders import (
    T0,
    artifact,
    at,
    completed,
    failed,
    heartbeat,
    interrupted,
    metrics,
    output,
    queued,
    resource,
    started,
)
from gnomon.errors import ObserverError
from gnomon.events import (
    ArtifactEvent,
    StartedEvent,
)
from gnomon.observers.file.layout import HINT_FILE, allocate_run_dir, atomic_write
from gnomon.observers.file.observer import FileStorageObserver
from gnomon.provenance import get_digest
from gnomon.run import Run

LOG = "gnomon.observers.file.observer"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """An experiment's folder with two source files."""
    root = tmp_path / "project"
    (root / "pkg").mkdir(parents=True)
    (root / "exp.py").write_text("print('hello')\n")
    (root / "pkg" / "helpers.py").write_text("X = 1\n")
    return root


def experiment_info(project: Path) -> dict[str, Any]:
    return {
        "name": "exp",
        "base_dir": str(project),
        "sources": [
            ["exp.py", get_digest(project / "exp.py")],
            ["pkg/helpers.py", get_digest(project / "pkg" / "helpers.py")],
        ],
        "dependencies": ["numpy==1.26.0"],
        "repositories": [],
        "mainfile": "exp.py",
    }


def project_start(
    project: Path, run_id: str | None = None, *, time: datetime = T0, command: str = "main"
) -> StartedEvent:
    """The start of a run of the project's experiment."""
    return started(
        run_id,
        time=time,
        experiment=experiment_info(project),
        command=command,
        host={"hostname": "box", "os": ["Linux", "Linux-6"], "python_version": "3.11.7"},
        config={"lr": 0.1, "layers": [1, 2], "nested": {"b": 2, "a": 1}, "seed": 7},
        meta={"command": command, "options": {"--beat-interval": None}, "comment": "c"},
    )


def read(path: Path) -> Any:
    return json.loads(path.read_text())


def no_temp_files(root: Path) -> list[Path]:
    return list(root.rglob("*.tmp"))


def test_golden_layout(tmp_path: Path, project: Path) -> None:
    basedir = tmp_path / "runs"
    obs = FileStorageObserver(basedir)
    event = project_start(project)
    run_id = obs.on_started(event)
    assert run_id == "1"
    run_dir = basedir / "1"
    obs.on_output(output(run_id, 1, "hello\n"))
    obs.on_metrics(metrics(run_id, 2, loss=[1.0, 0.5]))
    obs.on_heartbeat(
        heartbeat(run_id, 3, info={"k": [1]})
    )
    data = tmp_path / "data.csv"
    data.write_text("a,b\n")
    obs.on_resource(
        resource(run_id, 4, str(data), get_digest(data))
    )
    snapshot = tmp_path / "snap-model.bin"
    snapshot.write_bytes(b"\x00weights")
    obs.on_artifact(
        artifact(run_id, 5, "model.bin", str(snapshot), source="/x/model.bin", digest=get_digest(snapshot), size=8)
    )
    obs.on_completed(completed(run_id, 6, result={"acc": 0.9}))

    run = read(run_dir / "run.json")
    digest_exp = get_digest(project / "exp.py")[:32]
    digest_helpers = get_digest(project / "pkg" / "helpers.py")[:32]
    stored_resource = str(basedir / "_resources" / f"data_{get_digest(data)[:32]}.csv")
    assert run == {
        "experiment": {
            "name": "exp",
            "base_dir": str(project),
            "sources": [
                ["exp.py", f"_sources/exp_{digest_exp}.py"],
                ["pkg/helpers.py", f"_sources/helpers_{digest_helpers}.py"],
            ],
            "dependencies": ["numpy==1.26.0"],
            "repositories": [],
            "mainfile": "exp.py",
        },
        "command": "main",
        "host": {"hostname": "box", "os": ["Linux", "Linux-6"], "python_version": "3.11.7"},
        "start_time": "2024-05-01T12:00:00.123456",
        "meta": {"command": "main", "options": {"--beat-interval": None}, "comment": "c"},
        "status": "COMPLETED",
        "resources": [[str(data), stored_resource]],
        "artifacts": ["model.bin"],
        "heartbeat": "2024-05-01T12:00:03.123456",
        "result": {"acc": 0.9},
        "stop_time": "2024-05-01T12:00:06.123456",
    }
    # Sacred's formatting: sorted keys, two-space indent.
    config_text = (run_dir / "config.json").read_text()
    assert (
        config_text
        == json.dumps(
            {"lr": 0.1, "layers": [1, 2], "nested": {"b": 2, "a": 1}, "seed": 7},
            sort_keys=True,
            indent=2,
        )
        + "\n"
    )
    assert read(run_dir / "metrics.json") == {
        "loss": {
            "steps": [0, 1],
            "values": [1.0, 0.5],
            "timestamps": ["2024-05-01T12:00:02.123456", "2024-05-01T12:00:02.123456"],
        }
    }
    assert (run_dir / "cout.txt").read_text() == "hello\n"
    assert read(run_dir / "info.json") == {"k": [1]}
    assert (run_dir / "model.bin").read_bytes() == b"\x00weights"
    assert (basedir / "_sources" / f"exp_{digest_exp}.py").read_text() == "print('hello')\n"
    assert Path(stored_resource).read_text() == "a,b\n"
    assert not no_temp_files(basedir)
    # The event's payload is untouched (Sacred bug #8): sources still carry digests.
    assert event.experiment["sources"][0][1] == get_digest(project / "exp.py")
    assert obs.dir == str(run_dir)


def test_failed_and_interrupted_record_status_and_trace(tmp_path: Path, project: Path) -> None:
    obs = FileStorageObserver(tmp_path)
    a = obs.on_started(project_start(project))
    obs.on_failed(
        failed(a, 1, ("Traceback\n", "ValueError: x\n"))
    )
    run = read(tmp_path / a / "run.json")
    assert run["status"] == "FAILED"
    assert run["fail_trace"] == ["Traceback\n", "ValueError: x\n"]
    assert run["stop_time"] == "2024-05-01T12:00:01.123456"
    b = obs.on_started(project_start(project, time=at(10)))
    obs.on_interrupted(interrupted(b, 1, "TIMEOUT", time=at(11)))
    assert read(tmp_path / b / "run.json")["status"] == "TIMEOUT"
    assert (a, b) == ("1", "2")


def test_strict_json_for_nan_result(tmp_path: Path, project: Path) -> None:
    obs = FileStorageObserver(tmp_path)
    run_id = obs.on_started(project_start(project))
    obs.on_completed(completed(run_id, 1, result=math.nan))
    text = (tmp_path / run_id / "run.json").read_text()
    assert "NaN" not in text
    assert json.loads(text)["result"] is None


def test_output_offsets_replay_overlap_and_gap(
    tmp_path: Path, project: Path, caplog: pytest.LogCaptureFixture
) -> None:
    obs = FileStorageObserver(tmp_path)
    run_id = obs.on_started(project_start(project))
    cout = tmp_path / run_id / "cout.txt"
    obs.on_output(output(run_id, 1, "héllo "))
    obs.on_output(output(run_id, 2, "wörld\n", 6))
    obs.on_output(output(run_id, 2, "wörld\n", 6))  # replayed: skipped
    obs.on_output(output(run_id, 1, "héllo ", 0))  # replayed: skipped
    assert cout.read_text() == "héllo wörld\n"
    obs.on_output(output(run_id, 3, "ld\nmore", 9))  # overlaps: only the new part
    assert cout.read_text() == "héllo wörld\nmore"
    with caplog.at_level(logging.WARNING, logger=LOG):
        obs.on_output(output(run_id, 5, "after gap", 20))
    assert "never arrived" in caplog.text
    obs.on_output(output(run_id, 6, "!", 29))  # continues after the gap, no new warning
    assert cout.read_text() == "héllo wörld\nmoreafter gap!"
    assert caplog.text.count("never arrived") == 1


def test_metrics_replay_is_deduplicated_and_json_follows_every_batch(tmp_path: Path, project: Path) -> None:
    obs = FileStorageObserver(tmp_path)
    run_id = obs.on_started(project_start(project))
    run_dir = tmp_path / run_id
    obs.on_metrics(metrics(run_id, 1, loss=[4.0, 3.0]))
    assert read(run_dir / "metrics.json")["loss"]["values"] == [4.0, 3.0]
    obs.on_metrics(metrics(run_id, 2, loss=[2.0]))
    assert read(run_dir / "metrics.json")["loss"]["values"] == [4.0, 3.0, 2.0]
    obs.on_metrics(metrics(run_id, 2, loss=[2.0]))  # replay: skipped
    obs.on_metrics(metrics(run_id, 3, loss=[1.0], acc=[0.5]))
    assert read(run_dir / "metrics.json")["loss"]["values"] == [4.0, 3.0, 2.0, 1.0]
    obs.on_metrics(metrics(run_id, 1, loss=[4.0, 3.0]))  # old replay
    obs.on_completed(completed(run_id, 4))
    final = read(run_dir / "metrics.json")
    assert final["loss"]["values"] == [4.0, 3.0, 2.0, 1.0]
    assert final["acc"] == {
        "steps": [0],
        "values": [0.5],
        "timestamps": ["2024-05-01T12:00:03.123456"],
    }
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["seq"] for line in lines] == [1, 2, 3]


def test_resume_in_a_fresh_observer_instance(tmp_path: Path, project: Path) -> None:
    first = FileStorageObserver(tmp_path)
    run_id = first.on_started(project_start(project))
    first.on_output(output(run_id, 1, "ünïcode line\n"))
    first.on_metrics(metrics(run_id, 2, loss=[1.0]))
    first.close()
    # A crash tore the last metrics line: the resumed observer cuts it off.
    with open(tmp_path / run_id / "metrics.jsonl", "ab") as f:
        f.write(b'{"seq": 5, "ser')

    second = FileStorageObserver(tmp_path)  # e.g. `gnomon sync` in a new process
    second.on_output(output(run_id, 1, "ünïcode line\n", 0))  # replayed
    second.on_output(output(run_id, 3, "second\n", 13))
    second.on_metrics(metrics(run_id, 2, loss=[1.0]))  # replayed
    second.on_metrics(metrics(run_id, 5, loss=[0.5]))
    second.on_heartbeat(heartbeat(run_id, 6, result=3))
    second.on_completed(completed(run_id, 7, result=3))
    run_dir = tmp_path / run_id
    assert (run_dir / "cout.txt").read_text() == "ünïcode line\nsecond\n"
    assert read(run_dir / "metrics.json")["loss"]["values"] == [1.0, 0.5]
    run = read(run_dir / "run.json")
    assert (run["status"], run["result"], run["start_time"]) == (
        "COMPLETED",
        3,
        "2024-05-01T12:00:00.123456",
    )

    # Replaying the whole run again changes nothing; a late beat cannot undo the end.
    third = FileStorageObserver(tmp_path)
    assert third.on_started(project_start(project, run_id)) == run_id
    third.on_heartbeat(heartbeat(run_id, 6, result=1))
    assert read(run_dir / "run.json") == run
    third.on_completed(completed(run_id, 7, result=3))
    assert read(run_dir / "run.json") == run
    assert (run_dir / "cout.txt").read_text() == "ünïcode line\nsecond\n"


def test_event_for_a_run_never_started_here_is_an_error(tmp_path: Path) -> None:
    obs = FileStorageObserver(tmp_path)
    with pytest.raises(ObserverError, match="never"):
        obs.on_output(output("9", 1, "x"))


def test_given_id_of_another_run_is_refused(tmp_path: Path, project: Path) -> None:
    obs = FileStorageObserver(tmp_path)
    assert obs.on_started(project_start(project, "exp-a")) == "exp-a"
    with pytest.raises(ObserverError, match="already holds another run"):
        FileStorageObserver(tmp_path).on_started(project_start(project, "exp-a", time=at(60)))
    with pytest.raises(ObserverError, match="cannot name a run folder"):
        obs.on_started(project_start(project, "../escape"))


_ALLOCATE = textwrap.dedent(
    """
    import os, sys, time
    from datetime import datetime, timezone
    from gnomon.events import StartedEvent, CompletedEvent
    from gnomon.observers.file.observer import FileStorageObserver
    basedir, gate = sys.argv[1], sys.argv[2]
    obs = FileStorageObserver(basedir)
    while not os.path.exists(gate):
        time.sleep(0.001)
    now = datetime.now(timezone.utc)
    event = StartedEvent(run_id=None, seq=0, time=now, experiment={},
                         command="p" + str(os.getpid()), host={}, config={}, meta={})
    run_id = obs.on_started(event)
    obs.on_completed(CompletedEvent(run_id=run_id, seq=1, time=now, result=os.getpid()))
    print(run_id)
    """
)


@pytest.mark.slow
def test_twenty_processes_allocate_distinct_ids(tmp_path: Path) -> None:
    basedir = tmp_path / "runs"
    gate = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _ALLOCATE, str(basedir), str(gate)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(20)
    ]
    gate.touch()
    results = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in results]
    ids = sorted(int(out.strip()) for out, _ in results)
    assert ids == list(range(1, 21))
    for run_id in ids:
        run = read(basedir / str(run_id) / "run.json")
        assert run["status"] == "COMPLETED"
        assert run["command"] == f"p{run['result']}"
    # The hint is only a hint: a slower process may have written an older value last.
    assert 2 <= int((basedir / HINT_FILE).read_text()) <= 21


def test_id_hint_is_used_but_never_trusted(tmp_path: Path) -> None:
    (tmp_path / "1").mkdir()
    (tmp_path / "7").mkdir()
    (tmp_path / "notes").mkdir()
    assert allocate_run_dir(tmp_path)[0] == "8"  # no hint: scan
    assert (tmp_path / HINT_FILE).read_text().strip() == "9"
    assert allocate_run_dir(tmp_path)[0] == "9"  # hint
    (tmp_path / HINT_FILE).write_text("5000\n")  # 4999 does not exist: distrusted
    assert allocate_run_dir(tmp_path)[0] == "10"
    (tmp_path / HINT_FILE).write_text("garbage")
    assert allocate_run_dir(tmp_path)[0] == "11"
    (tmp_path / HINT_FILE).write_text("8\n")  # stale (a racing writer): mkdir walks past 8..11
    assert allocate_run_dir(tmp_path)[0] == "12"


def test_two_observers_on_one_basedir_share_the_run(tmp_path: Path, project: Path) -> None:
    basedir = tmp_path / "runs"
    a = FileStorageObserver(basedir, priority=30)
    b = FileStorageObserver(basedir)  # e.g. one in code and one from -F
    run_id = a.on_started(project_start(project))
    assert b.on_started(project_start(project, run_id)) == run_id
    events = [
        output(run_id, 1, "line\n", 0),
        metrics(run_id, 2, loss=[1.0, 2.0]),
        heartbeat(run_id, 3, info={"i": 1}),
        completed(run_id, 4, result=1),
    ]

    def deliver(obs: FileStorageObserver) -> None:
        for event in events:
            obs.handle(event)

    threads = [threading.Thread(target=deliver, args=(o,)) for o in (b, a)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    run_dir = basedir / run_id
    assert sorted(p.name for p in basedir.iterdir()) == [".gnomon-next-id", "1", "_sources"]
    assert (run_dir / "cout.txt").read_text() == "line\n"
    assert read(run_dir / "metrics.json")["loss"]["values"] == [1.0, 2.0]
    assert read(run_dir / "run.json")["status"] == "COMPLETED"


def test_concurrent_runs_share_one_observer(tmp_path: Path, project: Path) -> None:
    obs = FileStorageObserver(tmp_path)

    def one_run(index: int) -> None:
        run_id = obs.on_started(project_start(project, time=at(index), command=f"c{index}"))
        for seq in range(1, 30):
            obs.on_output(output(run_id, seq, str(index % 10), seq - 1))
        obs.on_completed(completed(run_id, 99, result=index))

    threads = [threading.Thread(target=one_run, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for run_dir in sorted(p for p in tmp_path.iterdir() if p.name.isdigit()):
        run = read(run_dir / "run.json")
        assert (run_dir / "cout.txt").read_text() == str(run["result"] % 10) * 29
        assert run["command"] == f"c{run['result']}"


def test_sources_and_resources_are_stored_once(tmp_path: Path, project: Path) -> None:
    basedir = tmp_path / "runs"
    obs = FileStorageObserver(basedir)
    data = tmp_path / "data.txt"
    data.write_text("same")
    for index in range(3):
        run_id = obs.on_started(project_start(project, time=at(index)))
        for seq in (1, 2):  # the same resource twice in a run is listed once
            obs.on_resource(
                resource(run_id, seq, str(data), get_digest(data))
            )
        obs.on_completed(completed(run_id, 3))
        assert len(read(basedir / run_id / "run.json")["resources"]) == 1
    assert len(list((basedir / "_sources").iterdir())) == 2
    assert len(list((basedir / "_resources").iterdir())) == 1
    # A changed source is a new content-addressed file.
    (project / "exp.py").write_text("print('changed')\n")
    obs.on_started(project_start(project, time=at(9)))
    assert len(list((basedir / "_sources").iterdir())) == 3


def test_copy_sources_false_records_where_they_are(tmp_path: Path, project: Path) -> None:
    basedir = tmp_path / "runs"
    obs = FileStorageObserver(basedir, copy_sources=False)
    run_id = obs.on_started(project_start(project))
    sources = read(basedir / run_id / "run.json")["experiment"]["sources"]
    assert sources[0] == ["exp.py", os.path.relpath(project / "exp.py", basedir)]
    assert not (basedir / "_sources").exists()


def test_artifact_is_a_private_copy_and_reserved_names_are_not_overwritten(
    tmp_path: Path, project: Path, caplog: pytest.LogCaptureFixture
) -> None:
    obs = FileStorageObserver(tmp_path / "runs")
    run_id = obs.on_started(project_start(project))
    run_dir = tmp_path / "runs" / run_id

    def snapshot_of(seq: int, name: str, content: bytes) -> ArtifactEvent:
        snapshot = tmp_path / f"snapshot-{seq}"
        snapshot.write_bytes(content)
        return artifact(run_id, seq, name, str(snapshot), source=f"/somewhere/{name}", digest="d", size=len(content))

    event = snapshot_of(1, "plots/curve.png", b"png")
    obs.on_artifact(event)
    os.unlink(event.filename)  # the snapshot is gone; the stored copy stays
    assert (run_dir / "plots" / "curve.png").read_bytes() == b"png"
    obs.on_artifact(event)  # replay after the snapshot was removed: still fine
    with caplog.at_level(logging.WARNING, logger=LOG):
        obs.on_artifact(snapshot_of(2, "run.json", b"not the record"))
        obs.on_artifact(snapshot_of(3, "report.html", b"<p>mine</p>"))
        obs.on_artifact(snapshot_of(4, "../../escape.txt", b"x"))
    assert "reserved" in caplog.text
    assert "outside the run folder" in caplog.text
    run = read(run_dir / "run.json")
    assert run["artifacts"] == [
        "plots/curve.png",
        "artifact_run.json",
        "artifact_report.html",
        "escape.txt",
    ]
    assert (run_dir / "artifact_run.json").read_bytes() == b"not the record"
    assert (run_dir / "escape.txt").read_bytes() == b"x"
    assert not (tmp_path / "escape.txt").exists()


@pytest.mark.parametrize("kind", ["default", "str", "path"])
def test_report_rendering(tmp_path: Path, project: Path, kind: str) -> None:
    basedir = tmp_path / "runs"
    basedir.mkdir()
    body = "${run['status']} ${config['lr']} ${info['k']} ${cout.strip()} ${savedir}"
    if kind == "default":
        (basedir / "template.html").write_text(body)
        obs = FileStorageObserver(basedir)
        suffix = ".html"
    else:
        template = tmp_path / "report_template.md"
        template.write_text(body)
        obs = FileStorageObserver(basedir, template=str(template) if kind == "str" else template)
        suffix = ".md"
    run_id = obs.on_started(project_start(project))
    obs.on_output(output(run_id, 1, "out\n"))
    obs.on_heartbeat(heartbeat(run_id, 2, info={"k": "v"}))
    obs.on_completed(completed(run_id, 3))
    report = (basedir / run_id / f"report{suffix}").read_text()
    assert report == f"COMPLETED 0.1 v out {basedir / run_id}"


def test_broken_template_or_missing_mako_only_warns(
    tmp_path: Path, project: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "template.html").write_text("${undefined_name.attr}")
    obs = FileStorageObserver(tmp_path)
    with caplog.at_level(logging.WARNING, logger=LOG):
        run_id = obs.on_started(project_start(project))
        obs.on_completed(completed(run_id, 1))
    assert "report template" in caplog.text
    assert read(tmp_path / run_id / "run.json")["status"] == "COMPLETED"
    assert not (tmp_path / run_id / "report.html").exists()

    caplog.clear()
    monkeypatch.setitem(sys.modules, "mako.template", None)  # Mako not installed
    with caplog.at_level(logging.WARNING, logger=LOG):
        for index in range(2):
            run_id = obs.on_started(project_start(project, time=at(10 + index)))
            obs.on_completed(completed(run_id, 1, time=at(20)))
    assert caplog.text.count("gnomon[report]") == 1


def test_queued_run_copies_sources_and_is_taken_over(tmp_path: Path, project: Path) -> None:
    basedir = tmp_path / "runs"
    obs = FileStorageObserver(basedir)
    event = queued(experiment=experiment_info(project), config={"lr": 0.1}, meta={"priority": 3})
    run_id = obs.on_queued(event)
    run_dir = basedir / run_id
    run = read(run_dir / "run.json")
    assert sorted(run) == ["command", "experiment", "host", "meta", "status"]
    assert run["status"] == "QUEUED"
    assert run["meta"] == {"priority": 3, "queue_time": "2024-05-01T12:00:00.123456"}
    assert (run_dir / "sources" / "pkg" / "helpers.py").read_text() == "X = 1\n"
    assert obs.on_queued(dataclasses.replace(event, run_id=run_id)) == run_id  # replay accepted
    # A worker starts the queued run under its id.
    assert obs.on_started(project_start(project, run_id, time=at(5))) == run_id
    obs.on_completed(completed(run_id, 1, time=at(6)))
    assert read(run_dir / "run.json")["status"] == "COMPLETED"


def test_atomic_write_never_leaves_partial_files(tmp_path: Path) -> None:
    target = tmp_path / "run.json"
    atomic_write(target, b'{"a": 1}')
    with pytest.raises(TypeError):
        atomic_write(target, "not bytes")  # type: ignore[arg-type]
    assert read(target) == {"a": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.json"]


def test_flush_and_unwritable_folder_raise(tmp_path: Path, project: Path) -> None:
    obs = FileStorageObserver(tmp_path / "runs")
    run_id = obs.on_started(project_start(project))
    obs.on_output(output(run_id, 1, "x"))
    obs.flush()
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    with pytest.raises(
        OSError, match="file"
    ):  # never swallowed: the dispatcher retries, then spools
        FileStorageObserver(not_a_folder).on_started(project_start(project))
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as a user who can write anywhere")
        with pytest.raises(PermissionError):
            FileStorageObserver(locked).on_started(project_start(project))
    finally:
        locked.chmod(0o700)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("file:///abs/runs", "/abs/runs"),
        ("file://localhost/abs/runs", "/abs/runs"),
        ("file://rel/runs", "rel/runs"),
        ("file:rel/runs", "rel/runs"),
        ("plain/runs", "plain/runs"),
        ("file:///with%20space", "/with space"),
    ],
)
def test_from_url(url: str, expected: str) -> None:
    assert FileStorageObserver.from_url(url).basedir == os.path.abspath(expected)


def test_url_round_trip_keeps_options(tmp_path: Path) -> None:
    obs = FileStorageObserver(
        tmp_path, template=tmp_path / "t.html", priority=5, copy_sources=False
    )
    assert obs.to_url() == obs.url
    assert obs.url.startswith(f"file://{tmp_path}?")
    again = FileStorageObserver.from_url(obs.url)
    assert (again.basedir, again.priority, again.copy_sources, again.template) == (
        str(tmp_path),
        5,
        False,
        tmp_path / "t.html",
    )
    assert FileStorageObserver(tmp_path).url == f"file://{tmp_path}"
    assert FileStorageObserver.create_from(tmp_path, priority=3).priority == 3
    with pytest.raises(ObserverError, match="Did you mean 'priority'"):
        FileStorageObserver.from_url(f"file://{tmp_path}?priorty=3")


def test_end_to_end_with_a_run(tmp_path: Path, project: Path) -> None:
    basedir = tmp_path / "runs"
    artifact = tmp_path / "out.txt"

    def main() -> str:
        print("training")
        run.log_scalar("loss", 0.5)
        run.log_scalar("loss", 0.25)
        artifact.write_text("result file")
        run.add_artifact(artifact)
        artifact.unlink()
        run.info["best"] = 0.25
        return "done"

    observers = [FileStorageObserver(basedir), FileStorageObserver(basedir)]
    run = Run(
        config={"lr": 0.1},
        main_function=main,
        command="main",
        experiment_info=experiment_info(project),
        host_info={"hostname": "box"},
        meta_info={},
        observers=observers,
    )
    run.capture_mode = "sys"
    assert run() == "done"
    run_dir = basedir / run._id
    stored = read(run_dir / "run.json")
    assert stored["status"] == "COMPLETED"
    assert stored["result"] == "done"
    assert stored["artifacts"] == ["out.txt"]
    assert (run_dir / "out.txt").read_text() == "result file"
    assert "training" in (run_dir / "cout.txt").read_text()
    assert read(run_dir / "metrics.json")["loss"]["values"] == [0.5, 0.25]
    assert read(run_dir / "info.json") == {"best": 0.25}
    assert read(run_dir / "config.json") == {"lr": 0.1}
    assert sorted(p.name for p in basedir.iterdir()) == [".gnomon-next-id", run._id, "_sources"]
    assert not no_temp_files(basedir)


TORN_WRITE_SCRIPT = """
import resource, signal, sys
from datetime import datetime, timezone
from gnomon.events import MetricSeries, MetricsEvent, OutputEvent, StartedEvent
from gnomon.observers import FileStorageObserver

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a full file system answers EFBIG instead
now = datetime.now(timezone.utc)
obs = FileStorageObserver(sys.argv[1])
experiment = {"name": "x", "base_dir": sys.argv[1], "sources": [], "dependencies": [], "repositories": [],
              "mainfile": None}
rid = obs.on_started(StartedEvent(run_id=None, seq=0, time=now, experiment=experiment, command="main",
                                  host={}, config={}, meta={}))
text = "x" * 99_999 + "\\n"
points = MetricSeries(list(range(20_000)), [1.0] * 20_000, [1.7e9] * 20_000)
soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
resource.setrlimit(resource.RLIMIT_FSIZE, (60_000, hard))
for event in (OutputEvent(run_id=rid, seq=1, time=now, text=text, offset=0),
              MetricsEvent(run_id=rid, seq=2, time=now, series={"m": points})):
    try:
        obs.handle(event)
    except OSError:
        pass
    else:
        raise SystemExit("the write should have failed")
resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
obs.handle(OutputEvent(run_id=rid, seq=1, time=now, text=text, offset=0))  # the retry
obs.handle(MetricsEvent(run_id=rid, seq=2, time=now, series={"m": points}))
print(rid)
"""


def test_a_write_cut_short_by_a_full_disk_is_retried_exactly(tmp_path: Path) -> None:
    import subprocess
    import sys

    from gnomon.observers.file.metrics import MetricsLog

    script = tmp_path / "torn.py"
    script.write_text(TORN_WRITE_SCRIPT)
    runs = tmp_path / "runs"
    out = subprocess.run([sys.executable, str(script), str(runs)], capture_output=True, text=True, check=True)
    run_dir = runs / out.stdout.strip()
    assert (run_dir / "cout.txt").read_text() == "x" * 99_999 + "\n"
    assert MetricsLog.resume(run_dir).points == 20_000
