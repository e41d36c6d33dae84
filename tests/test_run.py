"""The run lifecycle through the Run object: events, statuses, exit paths, nothing lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest

from gnomon.errors import GnomonInterrupt, TimeoutInterrupt
from gnomon.events import FINAL_KINDS
from gnomon.run import Run
from gnomon.testing import RecordingObserver


def make_run(main, *, observers=None, beat=0.05, capture="sys", **kwargs):
    run = Run(config={"seed": 1, "lr": 0.1}, main_function=main, observers=observers or [], **kwargs)
    run.beat_interval = beat
    run.capture_mode = capture
    return run


def assert_well_ordered(observer: RecordingObserver) -> None:
    kinds = observer.kinds
    assert kinds[0] in ("started", "queued")
    assert sum(k in FINAL_KINDS for k in kinds) == 1 and kinds[-1] in FINAL_KINDS
    seqs = [e.seq for e in observer.events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


def test_completed_run_records_output_metrics_info_and_result() -> None:
    observer = RecordingObserver(assign_id="run-1")

    def main():
        print("first line")
        run.log_scalar("loss", np.float32(0.5))
        run.log_scalar("loss", 0.25)
        run.log_scalar("acc", 0.9, step=10)
        run.info["best"] = np.array([1.0, 2.0])
        return {"score": 3}

    run = make_run(main, observers=[observer])
    assert run() == {"score": 3}
    assert run.status == "COMPLETED" and run._id == "run-1"
    assert_well_ordered(observer)
    assert observer.output == "first line\n"
    assert observer.metrics()["loss"]["steps"] == [0, 1]
    assert observer.metrics()["loss"]["values"] == [0.5, 0.25]
    assert observer.metrics()["acc"]["steps"] == [10]
    assert observer.info == {"best": {"__type__": "ndarray", "dtype": "<f8", "shape": [2], "values": [1.0, 2.0]}}
    assert observer.final.result == {"score": 3}
    assert all(e.run_id == "run-1" for e in observer.events[1:])


def test_print_then_raise_is_failed_with_output_and_trace() -> None:
    observer = RecordingObserver()

    def main():
        print("about to fail")
        raise ValueError("broken")

    run = make_run(main, observers=[observer], beat=10)
    with pytest.raises(ValueError, match="broken"):
        run()
    assert run.status == "FAILED"
    assert observer.kinds[-1] == "failed"
    assert "about to fail\n" in observer.output
    assert any("ValueError: broken" in line for line in observer.final.fail_trace)


@pytest.mark.parametrize(("code", "status"), [(0, "COMPLETED"), (None, "COMPLETED"), (3, "FAILED")])
def test_sys_exit(code, status) -> None:
    observer = RecordingObserver()

    def main():
        print("bye")
        sys.exit(code)

    run = make_run(main, observers=[observer])
    with pytest.raises(SystemExit):
        run()
    assert run.status == status
    assert observer.final.kind == status.lower() and observer.output == "bye\n"


@pytest.mark.parametrize(("error", "status"), [(KeyboardInterrupt, "INTERRUPTED"), (TimeoutInterrupt, "TIMEOUT")])
def test_interrupts_record_their_status(error, status) -> None:
    class Custom(GnomonInterrupt):
        STATUS = "PREEMPTED"

    observer = RecordingObserver()
    for exc, expected in ((error, status), (Custom, "PREEMPTED")):
        observer.events.clear()

        def main(exc=exc):
            print("working")
            raise exc()

        run = make_run(main, observers=[observer])
        with pytest.raises(exc):
            run()
        assert run.status == expected
        assert observer.final.kind == "interrupted" and observer.final.status == expected
        assert observer.output == "working\n"


def test_no_heartbeat_loses_nothing() -> None:
    observer = RecordingObserver()

    def main():
        print("a")
        run.log_scalar("m", 1)
        run.info["k"] = "v"
        return 5

    run = make_run(main, observers=[observer], beat=0)
    run()
    assert observer.kinds == ["started", "output", "metrics", "heartbeat", "completed"]
    assert observer.output == "a\n" and observer.info == {"k": "v"} and observer.metrics()["m"]["values"] == [1]


def test_progress_bars_are_folded_and_partial_last_line_kept() -> None:
    observer = RecordingObserver()

    def main():
        for i in range(5):
            sys.stdout.write(f"\r{i * 20}%")
        sys.stdout.write("\rdone\nno newline at the end")

    make_run(main, observers=[observer])()
    assert observer.output == "done\nno newline at the end"


def test_output_offsets_are_contiguous() -> None:
    observer = RecordingObserver()
    done = threading.Event()

    def main():
        for i in range(200):
            print(f"line {i}")
            if i % 50 == 0:
                done.wait(0.06)

    make_run(main, observers=[observer], beat=0.02)()
    offset = 0
    for event in observer.of_kind("output"):
        assert event.offset == offset
        offset += len(event.text)
    assert observer.output == "".join(f"line {i}\n" for i in range(200))


def test_info_is_sent_only_when_changed() -> None:
    observer = RecordingObserver()
    gate = threading.Event()

    def main():
        run.info["a"] = 1
        gate.wait(0.3)

    run = make_run(main, observers=[observer], beat=0.05)
    run()
    infos = [e.info for e in observer.of_kind("heartbeat") if e.info is not None]
    assert len(infos) == 1 and infos[0] == {"a": 1}


def test_unserialisable_info_and_result_are_kept_as_text() -> None:
    observer = RecordingObserver()

    class Odd:
        def __repr__(self):
            return "<odd>"

    def main():
        run.info["thing"] = Odd()
        return Odd()

    run = make_run(main, observers=[observer])
    run()
    assert observer.final.result["repr"] == "<odd>"
    assert observer.info["thing"]["repr"] == "<odd>"


def test_artifact_is_snapshotted_and_resource_hashed(tmp_path: Path) -> None:
    observer = RecordingObserver()
    model = tmp_path / "model.txt"
    data = tmp_path / "data.csv"
    data.write_text("x,y\n")

    def main():
        model.write_text("v1")
        run.add_artifact(model, metadata={"epoch": 1})
        model.write_text("v2 changed after adding")
        with run.open_resource(data) as handle:
            assert handle.read() == "x,y\n"

    run = make_run(main, observers=[observer])
    run()
    (artifact,) = observer.of_kind("artifact")
    assert artifact.name == "model.txt" and artifact.content_type == "text/plain"
    assert artifact.metadata == {"epoch": 1} and artifact.source == str(model)
    (resource,) = observer.of_kind("resource")
    assert resource.filename == str(data) and len(resource.digest) == 64


def test_observers_are_called_by_priority_and_first_id_wins() -> None:
    low = RecordingObserver(priority=1, assign_id="low")
    high = RecordingObserver(priority=50, assign_id="high")
    run = make_run(lambda: None, observers=[low, high])
    run()
    assert run._id == "high"
    # each observer sees the events under the id it chose itself
    assert {e.run_id for e in low.events[1:]} == {"low"}
    assert low.of_kind("started")[0].run_id == "high"


def test_payloads_are_read_only() -> None:
    class Mutator(RecordingObserver):
        def on_started(self, event):
            event.config["lr"] = 99

    spy = RecordingObserver(priority=-1)
    run = make_run(lambda: None, observers=[RecordingObserver(priority=5), spy])
    run.observers.insert(0, Mutator(priority=10))
    run()
    assert spy.of_kind("started")[0].config["lr"] == 0.1


def test_unobserved_and_queue_only() -> None:
    observer = RecordingObserver()
    run = make_run(lambda: 1, observers=[observer])
    run.unobserved = True
    assert run() == 1 and observer.events == []

    called = []
    queued = make_run(lambda: called.append(1), observers=[observer])
    queued.queue_only = True
    assert queued() is None
    assert observer.kinds == ["queued"] and called == [] and queued.status == "QUEUED"


def test_a_run_executes_once() -> None:
    run = make_run(lambda: None)
    run()
    with pytest.raises(RuntimeError, match="once"):
        run()


SIGTERM_SCRIPT = """
import sys, time
from gnomon.run import Run
from gnomon.observers.base import Observer

class Journal(Observer):
    def handle(self, event):
        with open(sys.argv[1], "a") as f:
            f.write(event.kind + " " + repr(getattr(event, "text", getattr(event, "status", ""))) + "\\n")
        return "1" if event.kind == "started" else None

def main():
    for i in range(3):
        print("tick", i)
    print("ready", flush=True)
    time.sleep(60)

run = Run(config={}, main_function=main, observers=[Journal()])
run.capture_mode = "{mode}"
run.beat_interval = 30
run()
"""


@pytest.mark.parametrize("mode", ["sys", "tee"])
def test_sigterm_interrupts_and_keeps_the_tail(tmp_path: Path, script_env, mode) -> None:
    script = tmp_path / "long.py"
    script.write_text(SIGTERM_SCRIPT.replace("{mode}", mode))
    journal = tmp_path / "journal.txt"
    with subprocess.Popen(
        [sys.executable, str(script), str(journal)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=script_env
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            if b"ready" in line:
                break
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
    text = journal.read_text()
    assert "tick 2" in text and "ready" in text
    assert text.strip().splitlines()[-1] == "interrupted 'INTERRUPTED'"


def test_block_buffered_stdout_loses_no_line(tmp_path: Path, script_env) -> None:
    script = tmp_path / "buffered.py"
    script.write_text(
        textwrap.dedent(
            """
            import sys
            from gnomon.run import Run
            from gnomon.testing import RecordingObserver
            rec = RecordingObserver()
            def main():
                for i in range(20000):
                    print(f"line {i}")
            run = Run(config={}, main_function=main, observers=[rec])
            run.capture_mode = "fd"
            run.beat_interval = 0.05
            run()
            sys.stderr.write(str(rec.output.count("\\n")) + "|" + rec.output.splitlines()[-1])
            """
        )
    )
    out = subprocess.run([sys.executable, str(script)], capture_output=True, env=script_env, timeout=60, check=True)
    assert out.stderr.decode().strip().endswith("20000|line 19999")
    assert os.path.exists(script)


def test_many_points_are_shipped_before_the_next_beat(monkeypatch: pytest.MonkeyPatch) -> None:
    import gnomon.heartbeat

    monkeypatch.setattr(gnomon.heartbeat, "METRICS_EARLY_BATCH", 1000)
    observer = RecordingObserver()
    gate = threading.Event()

    def main():
        for i in range(5000):
            run.log_scalar("x", i)
        gate.wait(0.5)  # the beat is 60 s away: only the early batch can ship them

    run = make_run(main, observers=[observer], beat=60)
    run()
    first = observer.of_kind("metrics")[0]
    assert (observer.final.time - first.time).total_seconds() > 0.2  # shipped while main waited
    assert len(first.series["x"].values) >= 1000
    assert observer.metrics()["x"]["values"] == list(range(5000))


SLOW_OBSERVER_SCRIPT = """
import sys, time
from gnomon.run import Run
from gnomon.observers.base import Observer

class SlowJournal(Observer):
    def handle(self, event):
        time.sleep(0.3)
        with open(sys.argv[1], "a") as f:
            f.write(event.kind + " " + repr(getattr(event, "text", getattr(event, "status", ""))) + "\\n")
        return "1" if event.kind == "started" else None

def main():
    print("the last words", flush=True)
    time.sleep(60)

run = Run(config={}, main_function=main, observers=[SlowJournal()])
run.capture_mode = "sys"
run.beat_interval = 30
run()
"""


@pytest.mark.parametrize("signals", [(signal.SIGTERM, signal.SIGTERM), (signal.SIGINT, signal.SIGINT)])
def test_a_second_signal_waits_for_the_end_to_be_recorded(tmp_path: Path, script_env, signals) -> None:
    script = tmp_path / "slow.py"
    script.write_text(SLOW_OBSERVER_SCRIPT)
    journal = tmp_path / "journal.txt"
    with subprocess.Popen(
        [sys.executable, str(script), str(journal)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=script_env
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            if b"the last words" in line:
                break
        process.send_signal(signals[0])
        threading.Event().wait(0.5)  # the observer is still taking the final events
        process.send_signal(signals[1])
        process.communicate(timeout=60)
    lines = journal.read_text().splitlines()
    assert "the last words" in "".join(lines)
    assert lines[-1] == "interrupted 'INTERRUPTED'"
