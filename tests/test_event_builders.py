"""The shared event builders give the defaults the tests rely on, and tests/ finds its helpers without path tricks."""

from __future__ import annotations

import re
from pathlib import Path
from types import MappingProxyType

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
    series,
    started,
)
from gnomon.events import EVENT_TYPES, MetricSeries

TESTS = Path(__file__).parent


def test_every_event_kind_has_a_builder() -> None:
    built = [
        queued(),
        started(),
        heartbeat("1", 1),
        output("1", 2, "x"),
        metrics("1", 3, loss=[1.0]),
        resource("1", 4, "/data.csv", "d"),
        artifact("1", 5, "a", "/snap", digest="d", size=1),
        completed("1", 6),
        failed("1", 7),
        interrupted("1", 8),
    ]
    assert sorted(event.kind for event in built) == sorted(EVENT_TYPES)


def test_times_follow_seq_unless_given() -> None:
    assert started().time == T0 and queued().time == T0
    assert output("1", 3, "x").time == at(3) == T0.replace(second=3)
    assert completed("1", 4, time=at(60)).time == at(60)
    assert metrics("1", 2, loss=[1.0]).series["loss"].timestamps == [at(2).timestamp()]


def test_mappings_are_frozen_like_a_run_freezes_them() -> None:
    event = started("7", config={"lr": 0.1, "layers": [1, 2]}, meta={}, run_uid="u", id_suggested=True)
    assert isinstance(event.config, MappingProxyType) and event.config["layers"] == (1, 2)
    assert event.meta == {} and event.host == {"hostname": "box"} and event.experiment["name"] == "exp"
    assert (event.run_id, event.seq, event.run_uid, event.id_suggested) == ("7", 0, "u", True)
    assert started(command="train").meta == {"command": "train"}
    with pytest.raises(TypeError):
        event.config["lr"] = 1  # type: ignore[index]
    assert heartbeat("1", 1).info is None and heartbeat("1", 1, info={"k": [1]}).info == {"k": (1,)}


def test_metrics_take_plain_values_series_and_names_that_are_not_identifiers() -> None:
    given = MetricSeries([5], [0.5], [1.0])
    event = metrics("1", 1, {"val/acc": [0.1, 0.2]}, loss=given)
    assert event.series["loss"] is given
    assert event.series["val/acc"].steps == [0, 1] and event.series["val/acc"].values == [0.1, 0.2]
    assert series([1.0, 2.0], first_step=3, stamp=9.0) == MetricSeries([3, 4], [1.0, 2.0], [9.0, 9.0])


def test_artifact_source_defaults_to_the_snapshot_and_traces_are_tuples() -> None:
    assert artifact("1", 1, "m", "/snap", digest="d", size=3).source == "/snap"
    assert artifact("1", 1, "m", "/snap", source="m.bin", digest="d", size=3).source == "m.bin"
    assert artifact("1", 1, "m", "/snap", size=3).digest is None  # left to the store to hash
    assert failed("1", 1, ["boom"]).fail_trace == ("boom",)
    assert interrupted("1", 1, "TIMEOUT").status == "TIMEOUT"


def test_no_test_module_edits_sys_path_to_import_its_helpers() -> None:
    """tests/ is on pytest's pythonpath (pyproject.toml); a module that inserts itself hides a broken setting."""
    offenders = [
        str(path.relative_to(TESTS))
        for path in sorted(TESTS.rglob("*.py"))
        if re.search(r"^\s*sys\.path\.(insert|append)\(", path.read_text(encoding="utf-8"), re.MULTILINE)
    ]
    assert offenders == []
