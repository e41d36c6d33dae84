"""Delivery: failing and slow observers never harm the run; the spool and sync make them whole."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from gnomon.observers.base import Observer
from gnomon.run import Run
from gnomon.settings import SETTINGS
from gnomon.spool import Spool
from gnomon.sync import sync
from gnomon.testing import RecordingObserver


class Flaky(RecordingObserver):
    """Raises on every call while ``broken`` is set; records what it accepted."""

    def __init__(self, broken: bool = True, **kwargs) -> None:
        super().__init__(**kwargs)
        self.broken = broken
        self.calls = 0

    def handle(self, event):
        self.calls += 1
        if self.broken:
            raise ConnectionError("database went away")
        return super().handle(event)


def run_with(observers, main=None, beat=0.02):
    def default_main():
        print("hello")
        for i in range(100):
            run.log_scalar("loss", 1.0 / (i + 1))
        run.info["done"] = True
        return "ok"

    run = Run(config={"seed": 1}, main_function=main or default_main, observers=observers)
    run.beat_interval = beat
    run.capture_mode = "sys"
    return run


def test_observer_that_always_raises_is_spooled_and_synced(spool_dir: Path, caplog) -> None:
    SETTINGS.DRAIN_TIMEOUT = 2  # long enough for the healthy observer on a busy machine
    SETTINGS.START_TIMEOUT = 0.5
    flaky = Flaky(priority=10, assign_id="flaky-id")
    healthy = RecordingObserver(assign_id="7")
    run = run_with([flaky, healthy])
    assert run() == "ok"
    assert run.status == "COMPLETED" and run._id == "7"
    # the healthy observer got everything
    assert healthy.kinds[0] == "started" and healthy.kinds[-1] == "completed"
    assert healthy.output == "hello\n" and len(healthy.metrics()["loss"]["values"]) == 100
    # the failure was reported once, by name, and so was what the spool keeps
    warnings = [r for r in caplog.records if "Flaky" in r.getMessage() and r.levelname == "WARNING"]
    assert len(warnings) == 2
    assert "could not record the start of the run (ConnectionError: database went away)" in warnings[0].getMessage()
    assert "gnomon sync" in warnings[0].getMessage()
    assert "kept in" in warnings[1].getMessage() and "gnomon sync" in warnings[1].getMessage()
    assert flaky.calls > 1  # it was retried
    # the spool holds all its events
    (pending,) = Spool(spool_dir).pending()
    assert pending[0] == run.run_uid and pending[3] == len(healthy.events)

    # once the observer works, sync delivers everything, in order, exactly once
    flaky.broken = False
    report = sync(observer_factory=lambda url, key: flaky)
    assert report.failed == 0 and report.delivered == len(healthy.events)
    assert flaky.kinds == healthy.kinds
    assert flaky.output == "hello\n" and flaky.metrics()["loss"]["values"] == healthy.metrics()["loss"]["values"]
    # the observer's own id is used for the rest of the run's events
    assert {e.run_id for e in flaky.events[1:]} == {"flaky-id"}
    assert Spool(spool_dir).pending() == []
    again = sync(observer_factory=lambda url, key: flaky)
    assert again.delivered == 0 and flaky.kinds == healthy.kinds


def test_slow_observer_does_not_slow_the_run() -> None:
    SETTINGS.DRAIN_TIMEOUT = 30

    class Slow(RecordingObserver):
        def on_metrics(self, event):
            time.sleep(0.3)

        def handle(self, event):
            super().handle(event)
            method = getattr(self, "on_" + event.kind, None)
            if method:
                method(event)

    slow = Slow()
    timings = []

    def main():
        start = time.perf_counter()
        for i in range(20000):
            run.log_scalar("x", i)
        timings.append(time.perf_counter() - start)
        time.sleep(0.1)

    run = run_with([slow], main=main, beat=0.01)
    run()
    assert timings[0] < 0.5
    assert slow.kinds[-1] == "completed"
    assert len(slow.metrics()["x"]["values"]) == 20000


def test_observer_recovering_mid_run_receives_everything() -> None:
    SETTINGS.DRAIN_TIMEOUT = 10
    flaky = Flaky(broken=False)
    gate = threading.Event()

    def main():
        flaky.broken = True
        print("during outage")
        gate.wait(0.3)
        flaky.broken = False
        print("after")

    run = run_with([flaky], main=main)
    run()
    assert flaky.kinds[-1] == "completed"
    assert flaky.output == "during outage\nafter\n"


def test_full_queue_spills_to_the_spool_in_order(spool_dir: Path) -> None:
    SETTINGS.QUEUE_SIZE = 3
    SETTINGS.DRAIN_TIMEOUT = 0.3
    SETTINGS.START_TIMEOUT = 0.2
    flaky = Flaky()

    def main():
        for i in range(10):
            run.log_scalar("x", i)
            run.info["i"] = i
            time.sleep(0.02)

    run = run_with([flaky], main=main, beat=0.005)
    run()
    flaky.broken = False
    report = sync(observer_factory=lambda url, key: flaky)
    assert report.failed == 0
    assert flaky.kinds[0] == "started" and flaky.kinds[-1] == "completed"
    seqs = [e.seq for e in flaky.events]
    assert seqs == sorted(seqs)
    assert flaky.metrics()["x"]["values"] == list(range(10))


def test_sync_without_url_reports_clearly(spool_dir: Path) -> None:
    SETTINGS.DRAIN_TIMEOUT = 0.2
    SETTINGS.START_TIMEOUT = 0.2
    run_with([Flaky()])()
    report = sync()
    assert report.failed == 1 and report.delivered == 0
    assert "--observer" in report.messages[0]


def test_artifact_snapshot_survives_until_synced(tmp_path: Path, spool_dir: Path) -> None:
    SETTINGS.DRAIN_TIMEOUT = 0.2
    SETTINGS.START_TIMEOUT = 0.2
    flaky = Flaky()
    target = tmp_path / "weights.bin"

    def main():
        target.write_bytes(b"\x00" * 1000)
        run.add_artifact(target)
        target.unlink()

    run = run_with([flaky], main=main)
    run()
    staging = Spool(spool_dir).staging_dir(run.run_uid)
    assert len(list(staging.iterdir())) == 1
    received = []

    class Reader(Observer):
        def on_artifact(self, event):
            received.append(Path(event.filename).read_bytes())

    assert sync(observer_factory=lambda url, key: Reader()).failed == 0
    assert received == [b"\x00" * 1000]
    assert not staging.exists()


def test_started_timeout_does_not_block_and_id_comes_from_next_observer() -> None:
    SETTINGS.START_TIMEOUT = 0.2
    SETTINGS.DRAIN_TIMEOUT = 5
    release = threading.Event()

    class Hanging(RecordingObserver):
        def handle(self, event):
            if event.kind == "started":
                release.wait(2)
            return super().handle(event)

    hanging = Hanging(priority=100, assign_id="late")
    other = RecordingObserver(assign_id="5")
    start = time.perf_counter()
    run = run_with([hanging, other], main=lambda: release.set())
    run()
    assert run._id == "5"
    assert time.perf_counter() - start < 5
    assert hanging.kinds[-1] == "completed"


@pytest.mark.parametrize("kind", ["sys", "no"])
def test_sacred_style_observer_gets_full_output_each_beat(kind) -> None:
    from gnomon.observers import RunObserver

    class SacredStyle(RunObserver):
        def __init__(self):
            self.beats = []
            self.metrics = []
            self.started = None
            self.completed = None

        def started_event(self, ex_info, command, host_info, start_time, config, meta_info, _id):
            self.started = (command, config, _id)
            config["mutated"] = True  # must not leak to other observers
            return 11

        def heartbeat_event(self, info, captured_out, beat_time, result):
            self.beats.append((captured_out, result))

        def log_metrics(self, metrics_by_name, info):
            self.metrics.append(metrics_by_name)

        def completed_event(self, stop_time, result):
            self.completed = (stop_time, result)

    sacred = SacredStyle()
    sacred.priority = 5
    spy = RecordingObserver()
    run = run_with([sacred, spy])
    run.capture_mode = kind
    run()
    assert run._id == 11  # the id as the observer returned it, as in Sacred
    assert sacred.started[0] == "main" and sacred.started[1] == {"seed": 1, "mutated": True}
    assert "mutated" not in spy.of_kind("started")[0].config
    if kind == "sys":
        assert sacred.beats[-1][0] == "hello\n"
    assert sacred.beats[-1][1] == "ok"
    assert sum(len(m["loss"]["values"]) for m in sacred.metrics) == 100
    assert sacred.completed[1] == "ok" and sacred.completed[0].tzinfo is None


def test_sacred_observer_failing_in_log_metrics_gets_its_points_on_retry() -> None:
    from gnomon.observers import RunObserver

    class FailsOnce(RunObserver):
        def __init__(self):
            self.points = []
            self.failed = False

        def log_metrics(self, metrics_by_name, info):
            if not self.failed:
                self.failed = True
                raise ConnectionError("first call fails")
            self.points.extend(metrics_by_name["loss"]["values"])

    observer = FailsOnce()
    run_with([observer])()
    assert observer.failed and len(observer.points) == 100


def test_event_taken_late_during_drain_is_not_delivered_again(spool_dir: Path) -> None:
    SETTINGS.DRAIN_TIMEOUT = 0.5

    class SlowEnd(RecordingObserver):
        def handle(self, event):
            if event.kind == "completed":
                time.sleep(1.5)  # longer than the drain time: spooled meanwhile
            return super().handle(event)

    observer = SlowEnd()
    run = run_with([observer])
    run()
    deadline = time.monotonic() + 10
    while observer.kinds[-1:] != ["completed"] and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)
    assert observer.kinds.count("completed") == 1
    sync(observer_factory=lambda url, key: observer)
    assert observer.kinds.count("completed") == 1


def test_a_hanging_flush_does_not_hold_the_run() -> None:
    SETTINGS.DRAIN_TIMEOUT = 1

    class HangingFlush(RecordingObserver):
        def flush(self):
            time.sleep(5)

    start = time.perf_counter()
    run_with([HangingFlush()])()
    assert time.perf_counter() - start < 4
