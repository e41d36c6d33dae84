"""gnomon.records.record: what @dataclass promises, for events and start-up records, without compiling."""

from __future__ import annotations

import copy
import dataclasses
import itertools
import pickle
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pytest

from gnomon.events import CompletedEvent, MetricSeries, utcnow
from gnomon.provenance import PackageDependency, Source
from gnomon.records import record


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


# The same class as @dataclass and as @record, at module level (pickle finds classes by name).
OPTIONS = [
    {},
    {"frozen": True},
    {"frozen": True, "slots": True},
    {"slots": True, "kw_only": True},
    {"eq": False},
    {"repr": False, "frozen": True, "slots": True, "kw_only": True},
]


def _body(name: str) -> dict[str, Any]:
    return {
        "__annotations__": {"a": "int", "b": "str", "c": "tuple[int, ...]", "hidden": "int", "shared": ClassVar[int]},
        "b": "x",
        "c": field(default_factory=tuple),
        "hidden": field(default=7, init=False, repr=False, compare=False),
        "shared": 1,
        "__module__": __name__,
        "__qualname__": name,
    }


PAIRS = []
for _number, _options in enumerate(OPTIONS):
    _plain = dataclass(**_options)(type(f"Plain{_number}", (), _body(f"Plain{_number}")))
    _fast = record(**_options)(type(f"Fast{_number}", (), _body(f"Fast{_number}")))
    globals()[_plain.__name__], globals()[_fast.__name__] = _plain, _fast
    PAIRS.append((_options, _plain, _fast))

CALLS: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
    ((1,), {}),
    ((1, "y"), {}),
    ((1, "y", (2,)), {}),
    ((), {"a": 1}),
    ((), {"a": 1, "c": (3,), "b": "z"}),
    ((), {}),  # a missing
    ((1, "y", (2,), 4), {}),  # too many
    ((1,), {"a": 2}),  # a twice
    ((), {"a": 1, "nope": 2}),  # unknown keyword
    ((), {"a": 1, "hidden": 2}),  # init=False field
    ((), {"b": "y"}),  # a missing, given others
]


@pytest.mark.parametrize(("options", "plain", "fast"), PAIRS, ids=lambda o: ",".join(o) if isinstance(o, dict) else "")
def test_a_record_behaves_like_the_same_dataclass(options: dict[str, Any], plain: type, fast: type) -> None:
    assert [f.name for f in dataclasses.fields(fast)] == [f.name for f in dataclasses.fields(plain)]
    assert dataclasses.is_dataclass(fast) and fast.__match_args__ == plain.__match_args__  # type: ignore[attr-defined]
    assert (fast.__hash__ is None) == (plain.__hash__ is None)
    for args, kwargs in CALLS:
        try:
            expected: Any = plain(*args, **kwargs)
        except TypeError as error:
            with pytest.raises(TypeError) as raised:
                fast(*args, **kwargs)
            ours, theirs = str(raised.value).replace("Fast", "Plain"), str(error)
            if "keyword-only argument) were given" in theirs:  # Python also counts the keywords there
                ours, theirs = ours.partition(" but ")[0], theirs.partition(" but ")[0]
            assert ours == theirs
            continue
        made, twin = fast(*args, **kwargs), fast(*args, **kwargs)
        assert dataclasses.asdict(made) == dataclasses.asdict(expected)
        assert made.hidden == 7 and made.shared == 1
        if options.get("repr", True):
            assert repr(made).replace("Fast", "Plain") == repr(expected)
        assert (made == twin) == (expected == plain(*args, **kwargs))
        assert made != dataclasses.replace(made, a=99)
        if fast.__hash__ is not None and options.get("eq", True):
            assert hash(made) == hash(twin)
        clone = pickle.loads(pickle.dumps(made))
        assert dataclasses.asdict(clone) == dataclasses.asdict(made) == dataclasses.asdict(copy.deepcopy(made))
        if options.get("frozen"):
            with pytest.raises(dataclasses.FrozenInstanceError):
                made.a = 2
            with pytest.raises(dataclasses.FrozenInstanceError):
                del made.b
        else:
            made.a = 5
            assert made.a == 5


def test_defaults_are_fresh_per_instance_and_post_init_runs() -> None:
    counter = itertools.count()

    @record
    class Box:
        items: list[int] = field(default_factory=list)
        serial: int = field(default_factory=lambda: next(counter))
        doubled: int = field(default=0, init=False)

        def __post_init__(self) -> None:
            self.doubled = 2 * self.serial

    first, second = Box(), Box()
    first.items.append(1)
    assert second.items == [] and (first.serial, second.serial) == (0, 1) and second.doubled == 2


def test_nan_fields_compare_like_tuples_and_explicit_methods_are_kept() -> None:
    nan = float("nan")

    @record(frozen=True)
    class Point:
        x: float

        def __repr__(self) -> str:
            return "point"

    assert Point(nan) == Point(nan)  # the same nan: identity first, as in a tuple comparison
    assert Point(nan) != Point(float("nan")) and repr(Point(nan)) == "point"


def test_missing_arguments_are_named_in_pythons_words() -> None:
    def three(decorate: Any) -> Any:
        @decorate
        class Three:
            x: int
            y: int
            z: int = field(kw_only=True)

        return Three

    for args, kwargs in [((), {}), ((1,), {}), ((1, 2), {})]:
        with pytest.raises(TypeError) as expected:
            three(dataclass)(*args, **kwargs)
        with pytest.raises(TypeError) as ours:
            three(record)(*args, **kwargs)
        assert str(ours.value) == str(expected.value)
