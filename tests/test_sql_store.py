"""SqlRunStore on SQLite, PostgreSQL and MariaDB: runs written by the real SqlObserver read back canonically.

Every filter atom the store claims to support is checked against the in-memory
reference (:func:`gnomon.query.predicate.evaluate`) on the same records, negated
too; ordering against the query layer's own sort.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("sqlalchemy", reason="the SQL store needs gnomon[sql]")

import sqlalchemy as sa

from event_builders import T0, artifact, at, completed, failed, heartbeat, metrics, output, resource, series, started
from gnomon.errors import RunNotFoundError, StoreError
from gnomon.events import (
    MetricsEvent,
)
from gnomon.observers.sql import SqlObserver
from gnomon.observers.sql.store import SqlRunStore
from gnomon.observers.sql.testing import BACKENDS, DatabaseUnavailable, fresh_database
from gnomon.query.predicate import MISSING, evaluate, resolve, sort_key
from gnomon.query.protocol import RunStore
from gnomon.query.tree import (
    And,
    Cmp,
    Contains,
    EndsWith,
    Exists,
    In,
    LastSeenBefore,
    Matches,
    Node,
    Not,
    Or,
    StartsWith,
)
from gnomon.serialize import encode

NAN, INF = math.nan, math.inf


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, empty database on each backend (skipped when its server is unreachable)."""
    try:
        database = fresh_database(request.param)
        url = database.__enter__()
    except DatabaseUnavailable as error:
        pytest.skip(str(error))
    try:
        yield url
    finally:
        database.__exit__(None, None, None)


def experiment(name: str = "exp", repo: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "base_dir": "/nowhere",
        "sources": [],
        "dependencies": ["numpy==1.26.0"],
        "repositories": [repo] if repo else [],
        "mainfile": "exp.py",
    }


class Writer:
    """Writes runs through a real SqlObserver with chosen times, ids and contents."""

    def __init__(self, url: str) -> None:
        self.observer = SqlObserver(url)
        self.seq: dict[str, int] = {}

    def next(self, run_id: str) -> int:
        self.seq[run_id] = self.seq.get(run_id, 0) + 1
        return self.seq[run_id]

    def start(
        self,
        config: dict[str, Any],
        *,
        run_id: str | None = None,
        start: float = 0.0,
        host: str | None = "box",
        meta: dict[str, Any] | None = None,
        exp: dict[str, Any] | None = None,
        command: str = "main",
    ) -> str:
        event = started(
            run_id,
            time=at(start),
            experiment=exp or experiment(),
            command=command,
            host={"hostname": host, "os": ["Linux", "6"]} if host else {"os": ["Linux", "6"]},
            config=encode(config),
            meta={"command": command, "beat_interval": 2.5, "pid": 4242, **(meta or {})},
        )
        return self.observer.on_started(event)

    def metrics(self, run_id: str, seq: int | None = None, **named: list[tuple[int, float]]) -> MetricsEvent:
        batch = {
            name.replace("__", "/").replace("_dot_", "."): series(
                [v for _, v in points],
                steps=[s for s, _ in points],
                timestamps=[at(100 + s).timestamp() for s, _ in points],
            )
            for name, points in named.items()
        }
        event = metrics(run_id, seq or self.next(run_id), batch, time=at(50))
        self.observer.on_metrics(event)
        return event

    def beat(self, run_id: str, when: float, info: dict[str, Any] | None = None, result: Any = None) -> None:
        self.observer.on_heartbeat(
            heartbeat(
                run_id,
                self.next(run_id),
                time=at(when),
                info=None if info is None else encode(info),
                result=encode(result),
            )
        )

    def complete(self, run_id: str, when: float, result: Any = None) -> None:
        self.observer.on_completed(
            completed(run_id, self.next(run_id), time=at(when), result=encode(result))
        )


# ------------------------------------------------------------------ the fixture runs for filters
CONFIGS: list[dict[str, Any]] = [
    {
        "lr": 0.1,
        "flag": True,
        "n": 1,
        "s": "1",
        "name": "adam",
        "tags": ["a", "b"],
        "nested": {"deep": {"x": 5}},
        "nullv": None,
        "big": 2**70,
        "nan": NAN,
        "inf": INF,
        "uni": "héllo 🎉",
        "pct": "50%_off",
        "a.b": 1,
        "mixed": [1, 2.5, True, None, "x", [3]],
        "i53": 2**53 + 1,
        "t": ["x"],
        "ws": "a ",
    },
    {
        "lr": 1,
        "flag": 1,
        "n": True,
        "s": 1,
        "name": "sgd",
        "tags": "a",
        "nested": {"deep": 5},
        "pct": "50x_off",
        "mixed": [[1], "1", 2],
        "uni": "hello",
        "ws": "a",
        "when": datetime(2024, 1, 1, tzinfo=UTC),
    },
    {},
    {
        "lr": "0.1",
        "flag": False,
        "n": 1.0,
        "name": "Adam",
        "nullv": 0,
        "uni": "héllo",
        "s": "",
        "mixed": [],
        "nested": {"deep": {"x": "5"}},
        "inf": -INF,
        "big": -(2**70),
        "tags": [],
        "when": {"value": "x"},
    },
    {
        "lr": -3.5e-5,
        "flag": None,
        "n": 0,
        "name": "ädam",
        "pct": "%",
        "tags": ["b", 1],
        "nested": None,
        "mixed": [True],
        "uni": "\U0001f389",
        "s": "10",
        "t": [None],
        "ws": "b",
    },
    {"lr": 1e300, "name": "z", "n": -1, "nested": {"deep": {"x": 5.0}}, "mixed": [1.0, False], "uni": "ß"},
]


def _write_filter_runs(url: str) -> None:
    writer = Writer(url)
    repos = [
        {"url": "https://git.example.com/x.git", "commit": "a" * 40, "dirty": True},
        {"url": "https://git.example.com/x.git", "commit": "b" * 40, "dirty": False},
        None,
        {"url": "https://git.example.com/x.git", "commit": "c" * 40, "dirty": None},
        None,
        None,
    ]
    hosts = ["box", "other", None, "box", "Box", "box2"]
    comments = ["first", None, "50%_done", "", "x_y", None]
    results: list[Any] = [0.9, "done", None, {"acc": 0.5}, True, NAN]
    run_ids = [None, None, None, "007", "custom-b", "custom-a"]
    for i, config in enumerate(CONFIGS):
        meta = {"comment": comments[i]} if comments[i] is not None else {}
        run_id = writer.start(
            config,
            run_id=run_ids[i],
            start=i * 10,
            host=hosts[i],
            meta=meta,
            exp=experiment(["exp", "exp", "other", "exp", "é", ""][i], repos[i]),
            command=["main", "train", "main", "eval", "main", "main"][i],
        )
        if i == 0:
            writer.metrics(run_id, val__loss=[(0, 1.0), (1, NAN), (2, 0.5)], acc_dot_top1=[(0, 0.1)])
            writer.metrics(run_id, val__loss=[(2, 0.25), (1, -INF)])
        elif i == 1:
            writer.metrics(run_id, val__loss=[(0, INF), (5, 2.0)], acc_dot_top1=[(0, NAN)])
        elif i == 3:
            writer.metrics(run_id, val__loss=[(0, 3.0), (1, NAN)])
        elif i == 4:
            writer.metrics(run_id, acc_dot_top1=[(7, 0.7), (3, 0.2)])
        if i != 2:  # run 3 never beat: RUNNING, seen only at its start
            writer.beat(run_id, i * 10 + 5, info={"epoch": i, "tags": ["x"] if i % 2 else []}, result=results[i])
        if i in (0, 1, 3):
            writer.complete(run_id, i * 10 + 8, result=results[i])
        if i == 4:
            writer.observer.on_failed(
                failed(run_id, writer.next(run_id), ["boom"], time=at(48))
            )
    writer.observer.close()


@pytest.fixture(scope="module", params=BACKENDS)
def filter_store(request: pytest.FixtureRequest) -> Iterator[SqlRunStore]:
    """A store holding the filter fixture runs, shared by the filter tests of one backend."""
    try:
        database = fresh_database(request.param)
        url = database.__enter__()
    except DatabaseUnavailable as error:
        pytest.skip(str(error))
    try:
        _write_filter_runs(url)
        store = SqlRunStore.from_url(url)
        yield store
        store.close()
    finally:
        database.__exit__(None, None, None)


PATHS = [
    ("config", "lr"),
    ("config", "flag"),
    ("config", "n"),
    ("config", "s"),
    ("config", "name"),
    ("config", "tags"),
    ("config", "nested", "deep", "x"),
    ("config", "nested", "deep"),
    ("config", "nullv"),
    ("config", "big"),
    ("config", "nan"),
    ("config", "inf"),
    ("config", "uni"),
    ("config", "pct"),
    ("config", "a.b"),
    ("config", "mixed"),
    ("config", "i53"),
    ("config", "missing"),
    ("config", "t"),
    ("config", "ws"),
    ("config", "when", "value"),
    ("config", "when"),
    ("info", "epoch"),
    ("info", "tags"),
    ("result",),
    ("result", "acc"),
    ("meta", "comment"),
    ("host", "hostname"),
    ("metrics", "val/loss", "last"),
    ("metrics", "val/loss", "min"),
    ("metrics", "val/loss", "max"),
    ("metrics", "val/loss", "count"),
    ("metrics", "val/loss", "last_step"),
    ("metrics", "acc.top1", "min"),
    ("metrics", "acc.top1", "last"),
    ("metrics", "nope", "min"),
    ("id",),
    ("experiment",),
    ("command",),
    ("recorded_status",),
    ("hostname",),
    ("comment",),
    ("git", "commit"),
    ("git", "dirty"),
]
VALUES: list[Any] = [  # compared with eq
    None,
    True,
    False,
    0,
    1,
    1.0,
    5,
    0.1,
    2,
    "1",
    "",
    "a",
    "adam",
    "héllo 🎉",
    "ß",
    "x",
    "done",
    "first",
    "box",
    "a" * 40,
    "COMPLETED",
    "007",
    2**53 + 1,
    -3.5e-5,
    1e300,
    NAN,
    INF,
    "a ",
]
BOUNDS: list[Any] = [0, 0.5, 1, 5.0, -INF, INF, "", "a", "b", "Z", "héllo", "🎉", True]  # with lt and ge
PREFIXES = ["", "a", "A", "50%", "50_", "%", "_", "h", "hé", "é", "\U0001f389", "fir", "x_", "b"]


def _atoms() -> list[Node]:
    atoms: list[Node] = []
    for path in PATHS:
        atoms.append(Exists(path))
        atoms += [Cmp(path, "eq", value) for value in VALUES]
        atoms += [Cmp(path, op, value) for value in BOUNDS for op in ("lt", "ge")]  # type: ignore[misc]
        atoms += [Cmp(path, "gt", 0.5), Cmp(path, "le", "b"), Cmp(path, "gt", "Z")]
        atoms += [Contains(path, v) for v in (None, True, 1, 2.5, "a", "x", "1", 3)]
        atoms += [StartsWith(path, p) for p in PREFIXES] + [
            EndsWith(path, p) for p in ("", "off", "_off", "🎉", "o", "s")
        ]
        atoms += [In(path, (1, "a", None)), In(path, ("adam", "sgd")), In(path, (True,)), Matches(path, "a.")]
    for when in (-1, 0, 5, 15, 25, 100):
        atoms.append(LastSeenBefore(at(when)))
        for field in ("start_time", "heartbeat", "stop_time", "queue_time"):
            for op in ("eq", "lt", "gt", "le"):
                atoms.append(Cmp((field,), op, at(when)))  # type: ignore[arg-type]
            atoms.append(Cmp((field,), "eq", None))
    return atoms


def _ids(records: list[dict[str, Any]]) -> list[str]:
    return [r["run_id"] for r in records]


def test_every_supported_atom_agrees_with_the_reference(filter_store: SqlRunStore) -> None:
    from gnomon.observers.sql.schema import runs
    from gnomon.observers.sql.store import _BASE

    records = {r["run_id"]: r for r in filter_store.summaries(None, roots=frozenset({"info", "meta", "host"}))}
    assert len(records) == len(CONFIGS)
    compiled = [(atom, filter_store._compiler.compile_atom(atom)) for atom in _atoms()]
    supported = [(atom, condition) for atom, condition in compiled if condition is not None]
    assert len(supported) > 1500
    atoms = [atom for atom, _ in supported]
    failures = []
    with filter_store.engine.connect() as conn:
        # each atom and its negation as selected columns, 40 atoms a query: exactly the WHERE conditions
        for start in range(0, len(supported), 40):
            batch = atoms[start : start + 40]
            columns = [c for _, condition in supported[start : start + 40] for c in (condition, sa.not_(condition))]
            for run_id, *got in conn.execute(sa.select(runs.c.run_id, *columns).select_from(_BASE)):
                for i, atom in enumerate(batch):
                    for node, value in ((atom, got[2 * i]), (Not(atom), got[2 * i + 1])):
                        if bool(value) != evaluate(node, records[run_id]):
                            failures.append(f"{node} on run {run_id}: SQL {bool(value)}")
    assert not failures, "\n".join(failures[:20])
    for atom in atoms[::97]:  # and through summaries() and count()
        for node in (atom, Not(atom)):
            want = sorted(r for r, record in records.items() if evaluate(node, record))
            assert sorted(_ids(filter_store.summaries(node))) == want and filter_store.count(node) == len(want)


@pytest.mark.parametrize(
    "atom",
    [
        Cmp(("config", "flag"), "eq", 1),  # true is not 1
        Cmp(("config", "flag"), "eq", True),
        Cmp(("config", "s"), "eq", 1),  # "1" is not 1
        Cmp(("config", "nullv"), "eq", None),  # missing and null both match None
        Not(Cmp(("config", "missing"), "eq", 1)),  # not over a missing path is true
        Cmp(("config", "nan"), "eq", NAN),
        Cmp(("config", "lr"), "gt", 0.05),
        StartsWith(("config", "pct"), "50%"),  # LIKE wildcards are plain text
        StartsWith(("comment",), "x_"),
        Cmp(("config", "uni"), "eq", "héllo 🎉"),
        Cmp(("config", "uni"), "gt", "z"),  # code point order
        Cmp(("config", "nested", "deep", "x"), "eq", 5),
        Cmp(("config", "a.b"), "eq", 1),
        Cmp(("metrics", "val/loss", "min"), "lt", 0),  # -inf is a number
        Cmp(("metrics", "acc.top1", "min"), "eq", None),  # every value NaN
        Contains(("config", "mixed"), 3),  # nested lists are not searched
        Contains(("config", "tags"), "a"),
        Cmp(("config", "ws"), "eq", "a"),  # MariaDB's PAD SPACE would say "a " == "a"
        Cmp(("config", "big"), "gt", 0),  # a tagged integer matches nothing
        Cmp(("git", "dirty"), "eq", False),
        Cmp(("experiment",), "eq", "é"),
    ],
    ids=str,
)
def test_named_pitfalls_are_pushed_down_and_exact(filter_store: SqlRunStore, atom: Node) -> None:
    from gnomon.query.tree import atoms

    assert all(filter_store.supports(leaf) for leaf in atoms(atom))
    records = filter_store.summaries(None)
    assert sorted(_ids(filter_store.summaries(atom))) == sorted(r["run_id"] for r in records if evaluate(atom, r))


def test_combinations_agree_with_the_reference(filter_store: SqlRunStore) -> None:
    records = filter_store.summaries(None)
    a = Cmp(("config", "lr"), "gt", 0.01)
    b = StartsWith(("config", "name"), "a")
    c = Cmp(("metrics", "val/loss", "count"), "ge", 3)
    d = Exists(("config", "nested", "deep"))
    for node in (And((a, b)), Or((a, Not(b))), Not(And((c, Or((d, Not(a)))))), And(()), Or(())):
        assert sorted(_ids(filter_store.summaries(node))) == sorted(r["run_id"] for r in records if evaluate(node, r))


def _natural(run_id: str) -> tuple[int, int, str]:
    return (0, int(run_id), "") if run_id.isdigit() else (1, 0, run_id)


def _reference_order(records: list[dict[str, Any]], path: tuple[str, ...], descending: bool) -> list[str]:
    """The query layer's in-memory sort (gnomon.query.store): natural ids, then the key, missing last."""
    records = sorted(records, key=lambda r: _natural(str(r["run_id"])))
    present = [r for r in records if resolve(r, path) not in (MISSING, None)]
    missing = [r for r in records if resolve(r, path) in (MISSING, None)]
    present.sort(key=lambda r: sort_key(resolve(r, path)), reverse=descending)
    return _ids(present + missing)


def test_ordering_and_paging_match_the_query_layer(filter_store: SqlRunStore) -> None:
    records = filter_store.summaries(None)
    orderable = [p for p in PATHS if filter_store.supports_order(p)] + [("start_time",), ("heartbeat",), ("stop_time",)]
    assert ("metrics", "val/loss", "last") in orderable and ("config", "lr") not in orderable
    for path in orderable:
        for descending in (False, True):
            want = _reference_order(records, path, descending)
            assert _ids(filter_store.summaries(None, order_by=[(path, descending)])) == want, (path, descending)
            page = filter_store.summaries(None, order_by=[(path, descending)], limit=2, offset=1)
            assert _ids(page) == want[1:3]
    assert (
        _ids(filter_store.summaries(None, order_by=[(("metrics", "val/loss", "last"), True)], limit=1))[0] == "007"
    )  # its last value is NaN: first when descending


# ------------------------------------------------------------------ canonical records
def test_records_are_canonical(db_url: str, tmp_path: Path) -> None:
    writer = Writer(db_url)
    repo = {"url": "https://git.example.com/x.git", "commit": "f" * 40, "dirty": True}
    config = {"lr": 0.1, "when": datetime(2024, 1, 2, tzinfo=UTC), "t": (1, 2), "big": 2**70, "x": NAN}
    run_id = writer.start(config, meta={"comment": "hi"}, exp=experiment("exp", repo))
    writer.metrics(run_id, val__loss=[(0, 1.0), (1, NAN), (3, INF), (3, 0.5)], acc_dot_top1=[(2, NAN)])
    writer.beat(run_id, 5, info={"epoch": 1}, result=0.5)
    source = tmp_path / "model.bin"
    source.write_bytes(b"weights")
    digest = hashlib.sha256(b"weights").hexdigest()
    writer.observer.on_artifact(
        artifact(
            run_id,
            writer.next(run_id),
            "model.bin",
            str(source),
            digest=digest,
            size=7,
            metadata={"epoch": 1},
            content_type="application/octet-stream",
            time=at(6),
        )
    )
    writer.observer.on_resource(
        resource(run_id, writer.next(run_id), str(source), digest, time=at(6))
    )
    writer.complete(run_id, 8, result={"acc": 0.5, "arr": (1, 2)})
    writer.observer.close()

    store = SqlRunStore.from_url(db_url)
    try:
        assert isinstance(store, RunStore)
        (summary,) = store.summaries(None)
        assert summary == {
            "run_id": run_id,
            "experiment": "exp",
            "command": "main",
            "recorded_status": "COMPLETED",
            "start_time": T0,
            "stop_time": at(8),
            "heartbeat": at(5),
            "queue_time": None,
            "hostname": "box",
            "comment": "hi",
            "result": {"acc": 0.5, "arr": (1, 2)},
            "config": {
                "lr": 0.1,
                "when": datetime(2024, 1, 2, tzinfo=UTC),
                "t": (1, 2),
                "big": 2**70,
                "x": summary["config"]["x"],
            },
            "tags": None,
            "notes": None,
            "git": {"commit": "f" * 40, "dirty": True},
            "beat_interval": 2.5,
            "pid": 4242,
            "metrics": {
                "val/loss": {"last": 0.5, "min": 0.5, "max": INF, "count": 4, "last_step": 3},
                "acc.top1": {
                    "last": summary["metrics"]["acc.top1"]["last"],
                    "min": None,
                    "max": None,
                    "count": 1,
                    "last_step": 2,
                },
            },
        }
        assert math.isnan(summary["config"]["x"]) and math.isnan(summary["metrics"]["acc.top1"]["last"])
        assert summary["start_time"].tzinfo is not None
        record = store.run(run_id)
        assert record["info"] == {"epoch": 1} and record["host"]["hostname"] == "box"
        assert record["meta"]["comment"] == "hi" and record["fail_trace"] is None
        assert record["experiment_info"]["name"] == "exp"
        (stored,) = record["artifacts"]
        assert (stored.name, stored.size, stored.digest, stored.metadata) == (
            "model.bin",
            7,
            digest,
            {"epoch": 1},
        )
        assert [(r.filename, r.digest) for r in record["resources"]] == [(str(source), digest)]
        assert record["sources"] == []
        with pytest.raises(RunNotFoundError):
            store.run("nope")
        with pytest.raises(KeyError):
            store.output("nope")
    finally:
        store.close()


def test_summaries_survive_nan_inf_and_replayed_batches(db_url: str) -> None:
    writer = Writer(db_url)
    run_id = writer.start({})
    first = writer.metrics(run_id, x=[(0, NAN), (1, NAN)])
    writer.observer.on_metrics(first)  # replayed: stored once
    store = SqlRunStore.from_url(db_url)
    try:
        assert store.summaries(None)[0]["metrics"]["x"]["count"] == 2
        assert store.summaries(None)[0]["metrics"]["x"]["min"] is None
        writer.metrics(run_id, x=[(5, -INF), (5, 2.0), (4, INF)])
        fresh = SqlObserver(db_url)  # another process delivers the same batch again
        fresh.on_metrics(first)
        fresh.close()
        x = store.summaries(None)[0]["metrics"]["x"]
        assert x == {"last": 2.0, "min": -INF, "max": INF, "count": 5, "last_step": 5}
        (series,) = store.series([run_id], ["x"])
        assert series.steps == [0, 1, 4, 5, 5] and series.values[2:] == [INF, -INF, 2.0]
    finally:
        store.close()
        writer.observer.close()


# ------------------------------------------------------------------ series, output, artifacts
def test_series_of_50_runs_take_two_queries(db_url: str) -> None:
    writer = Writer(db_url)
    ids = []
    for i in range(50):
        run_id = writer.start({"i": i}, start=i)
        writer.metrics(
            run_id, loss=[(s, 1.0 / (s + 1 + i)) for s in (2, 0, 1)], acc=[(0, NAN), (1, INF)], other=[(0, 1.0)]
        )
        ids.append(run_id)
    writer.observer.close()
    store = SqlRunStore.from_url(db_url)
    statements: list[str] = []
    sa.event.listen(  # queries only: SQLite's explicit BEGIN is no query
        store.engine,
        "before_cursor_execute",
        lambda conn, cursor, statement, *rest: (
            statements.append(statement) if statement.lstrip().upper().startswith("SELECT") else None
        ),
    )
    try:
        series = list(store.series(ids, ["loss", "acc"]))
        assert len(statements) == 2
        assert len(series) == 100 and {s.name for s in series} == {"loss", "acc"}
        loss = next(s for s in series if s.run_id == ids[7] and s.name == "loss")
        assert loss.steps == [0, 1, 2] and loss.values == [1 / 8, 1 / 9, 1 / 10] and len(loss.times) == 3
        acc = next(s for s in series if s.run_id == ids[7] and s.name == "acc")
        assert math.isnan(acc.values[0]) and acc.values[1] == INF
        (window,) = store.series([ids[0]], ["loss"], steps=(1, 2))
        assert window.steps == [1, 2]
        assert list(store.series([], None)) == [] and list(store.series(["nope"], None)) == []
    finally:
        store.close()


def test_output_by_offset_and_limit(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import gnomon.observers.sql.output as sql_output

    monkeypatch.setattr(sql_output, "OUTPUT_CHUNK", 4)  # many stored rows for a short text
    writer = Writer(db_url)
    run_id = writer.start({})
    text = "héllo wörld 🎉\nline two\n"
    writer.observer.on_output(output(run_id, 1, text[:9]))
    writer.observer.on_output(output(run_id, 2, text[9:], 9))
    writer.observer.close()
    store = SqlRunStore.from_url(db_url)
    try:
        assert store.output_length(run_id) == len(text)
        assert store.output(run_id) == text
        for offset in range(0, len(text) + 2, 3):
            for limit in (None, 0, 1, 5, 11, 100):
                want = text[offset:] if limit is None else text[offset : offset + limit]
                assert store.output(run_id, offset, limit) == want, (offset, limit)
    finally:
        store.close()


def test_artifacts_stream_chunk_by_chunk(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gnomon.observers.sql.blobs as blobs

    monkeypatch.setattr(blobs, "CHUNK_SIZE", 1000)
    payload = bytes(range(256)) * 40  # 10,240 bytes: 11 stored chunks
    source = tmp_path / "data.bin"
    source.write_bytes(payload)
    writer = Writer(db_url)
    run_id = writer.start({})
    writer.observer.on_artifact(
        artifact(run_id, 1, "data.bin", str(source), digest=hashlib.sha256(payload).hexdigest(), size=len(payload))
    )
    writer.observer.close()
    store = SqlRunStore.from_url(db_url)
    chunk_reads: list[str] = []
    sa.event.listen(
        store.engine,
        "before_cursor_execute",
        lambda conn, cursor, statement, *rest: chunk_reads.append(statement) if "blob_chunks" in statement else None,
    )
    try:
        with store.open_artifact(run_id, "data.bin") as stream:
            assert stream.read(10) == payload[:10]
            assert len(chunk_reads) == 1  # only the first chunk so far
            rest = stream.read()
        assert payload[:10] + rest == payload and len(chunk_reads) == 11
        with pytest.raises(KeyError):
            store.open_artifact(run_id, "nope")
    finally:
        store.close()


# ------------------------------------------------------------------ annotations and lineage
def test_annotations_survive_heartbeats_and_completion(db_url: str) -> None:
    writer = Writer(db_url)
    run_id = writer.start({"tags": ["from-config"]})
    store = SqlRunStore.from_url(db_url)
    try:
        assert store.summaries(None)[0]["tags"] is None
        store.set_annotations(run_id, tags=["good", "ünï"])
        assert (store.summaries(None)[0]["tags"], store.summaries(None)[0]["notes"]) == (["good", "ünï"], None)
        for i in range(20):
            writer.beat(run_id, i + 1, info={"i": i}, result=i)
        store.set_annotations(run_id, notes="looks fine")
        writer.complete(run_id, 30, result=1)
        (record,) = store.summaries(None)
        assert record["tags"] == ["good", "ünï"] and record["notes"] == "looks fine"
        assert record["recorded_status"] == "COMPLETED"
        store.set_annotations(run_id, tags=[])
        assert store.run(run_id)["tags"] == [] and store.run(run_id)["notes"] == "looks fine"
        with pytest.raises(KeyError):
            store.set_annotations("nope", tags=["x"])
    finally:
        store.close()
        writer.observer.close()


def test_lineage_follows_digests(db_url: str, tmp_path: Path) -> None:
    writer = Writer(db_url)
    files = {}
    for name in ("model.pt", "preds.csv"):
        files[name] = tmp_path / name
        files[name].write_bytes(name.encode() * 10)

    def digest(name: str) -> str:
        return hashlib.sha256(files[name].read_bytes()).hexdigest()

    a, b, c = (writer.start({"k": k}, start=k) for k in range(3))
    writer.observer.on_artifact(
        artifact(a, 1, "model.pt", str(files["model.pt"]), source="model.pt", digest=digest("model.pt"), size=80)
    )
    writer.observer.on_resource(
        resource(b, 1, "/data/model.pt", digest("model.pt"), time=at(2))
    )
    writer.observer.on_artifact(
        artifact(
            b, 2, "preds.csv", str(files["preds.csv"]), source="preds.csv", digest=digest("preds.csv"), size=90,
            time=at(3),
        )
    )
    writer.observer.on_resource(
        resource(c, 1, "/data/preds.csv", digest("preds.csv"), time=at(4))
    )
    writer.observer.close()
    store = SqlRunStore.from_url(db_url)
    try:
        down = store.lineage_edges([a], upstream=False, downstream=True)
        assert [(e.source, e.artifact, e.target, e.resource) for e in down] == [(a, "model.pt", b, "/data/model.pt")]
        both = store.lineage_edges([b], upstream=True, downstream=True)
        assert {(e.source, e.target) for e in both} == {(a, b), (b, c)}
        assert store.lineage_edges([c], upstream=False, downstream=True) == []
        assert [e.digest for e in store.lineage_edges([c], upstream=True, downstream=False)] == [digest("preds.csv")]
    finally:
        store.close()


# ------------------------------------------------------------------ opening
def test_a_real_run_reads_back(db_url: str) -> None:
    from gnomon.run import Run

    observer = SqlObserver(db_url)

    def main() -> float:
        for i in range(30):
            run.log_scalar("loss", 1.0 / (i + 1))
        print("done")
        return 0.5

    run = Run(config={"lr": 0.1}, main_function=main, observers=[observer])
    run.capture_mode = "sys"
    run.beat_interval = 0.05
    run()
    observer.close()
    store = SqlRunStore.from_url(db_url)
    try:
        (record,) = store.summaries(Cmp(("metrics", "loss", "min"), "lt", 0.05))
        assert record["run_id"] == run._id and record["result"] == 0.5 and record["beat_interval"] == 0.05
        assert record["metrics"]["loss"] == {"last": 1 / 30, "min": 1 / 30, "max": 1.0, "count": 30, "last_step": 29}
        assert isinstance(record["pid"], int) and store.output(run._id) == "done\n"
    finally:
        store.close()


def test_unreachable_or_missing_stores_raise_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError) as caught:
        SqlRunStore.from_url("postgresql://alice:hunter2@127.0.0.1:1/nowhere")
    message = str(caught.value)
    assert "hunter2" not in message and "127.0.0.1:1" in message and "\n" not in message
    assert "check that the server runs" in message
    with pytest.raises(StoreError, match="no database file"):
        SqlRunStore.from_url(f"sqlite:///{tmp_path}/absent.db")
    with pytest.raises(StoreError, match="not a database URL"):
        SqlRunStore.from_url("::nonsense")
