"""gnomon.records.ReadOnly: what a frozen dataclass promises, for events and start-up records."""

from __future__ import annotations

import copy
import dataclasses
import pickle

import pytest

from gnomon.events import CompletedEvent, MetricSeries, utcnow
from gnomon.provenance import PackageDependency, Source


def test_fields_are_set_once_and_never_changed_or_deleted() -> None:
    event = CompletedEvent(run_id="1", seq=0, time=utcnow(), result=3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.seq = 1  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        del event.result
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.kind = "failed"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        event.no_such_field = 1  # type: ignore[attr-defined]
    assert (event.seq, event.result) == (0, 3)


def test_equality_hash_and_repr_by_field() -> None:
    time = utcnow()
    event = CompletedEvent(run_id="1", seq=0, time=time, result=3)
    same = dataclasses.replace(event)
    assert same == event and hash(same) == hash(event) and same is not event
    assert dataclasses.replace(event, seq=1) != event
    assert CompletedEvent(run_id="1", seq=0, time=time) != MetricSeries([0], [1.0], [2.0])
    assert repr(MetricSeries([0], [1.0], [2.0])) == "MetricSeries(steps=[0], values=[1.0], timestamps=[2.0])"
    assert dataclasses.asdict(event) == {"run_id": "1", "seq": 0, "time": time, "result": 3}


def test_start_up_records_keep_their_set_semantics_and_order() -> None:
    assert len({Source("a.py", "d"), Source("a.py", "d"), Source("b.py", "d")}) == 2
    deps = [PackageDependency("numpy", "2.0"), PackageDependency("click"), PackageDependency("click", "8.1")]
    assert [d.to_json() for d in sorted(deps)] == ["click", "click==8.1", "numpy==2.0"]


def test_records_survive_copy_and_pickle() -> None:
    event = CompletedEvent(run_id="1", seq=0, time=utcnow(), result={"loss": 0.5})
    for clone in (copy.copy(event), copy.deepcopy(event), pickle.loads(pickle.dumps(event))):
        assert clone == event
        with pytest.raises(dataclasses.FrozenInstanceError):
            clone.seq = 1  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(Source("a.py", "d"))) == Source("a.py", "d")
