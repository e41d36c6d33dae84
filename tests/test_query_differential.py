"""Generated filters give the same runs on every backend as the in-memory reference.

The fixture runs are written once into each store through the real observers; then
hypothesis builds filter texts from the paths and values those runs hold (and some
they do not), with every operator, call and connective of the grammar, and each
backend's answer must equal the reference evaluator's (file storage evaluates every
filter in memory with :mod:`gnomon.query.predicate`).
"""

from __future__ import annotations

import contextlib
import json
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gnomon
from mongo_server import mongo_server  # noqa: F401 - fixtures, injected by name
from query_fixtures import write_fixture_runs

PATHS = [
    "config.lr", "config.seed", "config.flag", "config.one", "config.none", "config.missing", "config.name",
    "config.big", "config.nan", "config.inf", "config.tags", "config.model", "config.model.depth",
    "config.model.layers", "config.model.act", "config.model.opt.name", "config.model.opt.beta",
    "metrics.loss.min", "metrics.loss.last", "metrics.loss.count", 'metrics["val/loss"].last',
    "metrics.acc.top1.max", "metrics.weird.max", "metrics.weird.min", "metrics.weird.last", "metrics.nothing.min",
    "result", "result.best", "experiment", "command", "status", "recorded_status", "comment", "host.hostname",
    "info.note", "meta.command", "id", "hostname", "git.commit",
]
VALUES = [
    0, 1, -1, 2, 3, 4, 7, 64, 0.001, 0.01, 0.1, 0.2, 0.3, 0.5, 0.9, 1.0, 2.0, 1e308, -1e308, 2**53, 2**62,
    True, False, None, "1", "adam", "relu", "ünï ✓", "plain", "main", "COMPLETED", "FAILED", "USER_STOP", "box",
    "made", "kept", "", "a%_b",
]
STRINGS = ["", "p", "pl", "ün", "a", "1", "e", "er", "ed", "main", "%", "_", ".", "✓"]
PATTERNS = ["^p", "d$", "ü", "[0-9]", "^(pro|con)", "a.m", "^$"]


def literal(value: object) -> str:
    return json.dumps(value, ensure_ascii=False) if not isinstance(value, bool | type(None)) else repr(value)


atoms = st.one_of(
    st.builds(lambda p, op, v: f"{p} {op} {literal(v)}", st.sampled_from(PATHS),
              st.sampled_from(["==", "!=", "<", "<=", ">", ">="]), st.sampled_from(VALUES)),
    st.builds(lambda p, vs, neg: f"{p} {'not in' if neg else 'in'} [{', '.join(literal(v) for v in vs)}]",
              st.sampled_from(PATHS), st.lists(st.sampled_from(VALUES), min_size=1, max_size=3), st.booleans()),
    st.builds(lambda v, p: f"{literal(v)} in {p}", st.sampled_from(VALUES),
              st.sampled_from(["config.model.layers", "config.tags", "tags", "result.epochs"])),
    st.builds(lambda p: f"exists({p})", st.sampled_from(PATHS)),
    st.builds(lambda f, p, s: f"{f}({p}, {literal(s)})", st.sampled_from(["startswith", "endswith"]),
              st.sampled_from(PATHS), st.sampled_from(STRINGS)),
    st.builds(lambda p, s: f"matches({p}, {literal(s)})", st.sampled_from(PATHS), st.sampled_from(PATTERNS)),
    st.builds(lambda lo, hi: f"{lo} < config.lr <= {hi}", st.sampled_from([0, 0.001, 0.01]),
              st.sampled_from([0.1, 1, 2])),
    st.just('start_time > ago("1d")'),
    st.just('status == "DIED"'),
)
filters = st.recursive(
    atoms,
    lambda inner: st.one_of(
        st.builds(lambda a, b: f"({a}) and ({b})", inner, inner),
        st.builds(lambda a, b: f"({a}) or ({b})", inner, inner),
        st.builds(lambda a: f"not ({a})", inner),
    ),
    max_leaves=4,
)


@pytest.fixture(scope="module")
def stores(tmp_path_factory, request):
    """Every backend holding the fixture runs: {name: Store}; file storage first (the reference)."""
    from gnomon.observers import FileStorageObserver, MongoObserver, SqlObserver
    from gnomon.observers.sql.testing import DatabaseUnavailable, fresh_database

    root = tmp_path_factory.mktemp("differential")
    opened: dict[str, gnomon.query.Store] = {}
    with contextlib.ExitStack() as stack:
        folder = root / "runs"
        write_fixture_runs(lambda: FileStorageObserver(str(folder)), root / "work-file")
        opened["file"] = gnomon.open(folder, died_after=3600)
        for backend in ("sqlite", "postgresql", "mariadb"):
            try:
                url = stack.enter_context(fresh_database(backend))
            except DatabaseUnavailable:
                continue
            write_fixture_runs(lambda u=url: SqlObserver(u), root / f"work-{backend}")
            opened[backend] = gnomon.open(url, died_after=3600)
        server = request.getfixturevalue("mongo_server")
        url = server.url("differential_" + uuid.uuid4().hex[:8])
        write_fixture_runs(lambda: MongoObserver(url), root / "work-mongo")
        opened["mongodb"] = gnomon.open(url, died_after=3600)
        yield opened
        for store in opened.values():
            store.close()


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(text=filters)
def test_generated_filters_agree_on_every_backend(stores, text):
    reference = stores["file"].runs(text, order_by="start_time").ids
    for name, store in stores.items():
        assert store.runs(text, order_by="start_time").ids == reference, (name, text)


def test_all_five_backends_take_part(stores):
    assert set(stores) >= {"file", "sqlite", "mongodb"}
