"""Every store reads back the same: the fixture runs written through each real observer give equal answers.

File storage is the reference: for each other backend the same runs are written
into it and into a fresh folder, and the frames, series, filters, annotations
and lineage read from both must be equal.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

pd = pytest.importorskip("pandas")

import gnomon  # noqa: E402
from mongo_server import db, db_name, mongo_server  # noqa: E402, F401 - fixtures, injected by name
from query_fixtures import BACKENDS, NAMES, SOURCES, opened_store, write_fixture_runs  # noqa: E402

#: Columns that hold when each copy was written, not what was written.
_CLOCK = ["start_time", "stop_time", "heartbeat", "duration"]

FILTERS = [
    'status == "COMPLETED"',
    'status in ["FAILED", "USER_STOP"]',
    "config.lr < 0.01",
    "config.lr >= 1",
    "config.flag == true",
    "config.flag == 1",
    "config.one == 1",
    "config.none == null",
    "config.none != null",
    "config.missing == null",
    'config.name == "1"',
    "config.name == 1",
    "config.nan == config_nan_placeholder",
    "config.big > 5",
    "config.inf > 5",
    "config.model.depth > 2",
    "not config.model.depth > 2",
    'config.model.opt.name == "adam"',
    "64 in config.model.layers",
    "config.model.layers == 64",
    'startswith(config.name, "ün")',
    'endswith(experiment, "er")',
    'matches(experiment, "^(pro|con)")',
    "exists(config.model)",
    "not exists(config.model)",
    "metrics.loss.min < 0.5",
    'metrics["val/loss"].last < 0.35',
    "metrics.acc.top1.max >= 0.2",
    "metrics.weird.max > 1e308",
    "metrics.weird.count == 4",
    'experiment in ["plain", "final"] or result == 7',
    'result == "made"',
    'command == "main"',
    'comment == "the plain run"',
]


def _frame(store: gnomon.query.Store) -> pd.DataFrame:
    frame = store.runs(order_by="start_time").df().drop(columns=_CLOCK)
    frame.index = [str(i) for i in frame.index]
    return frame.sort_index(axis=1)


@pytest.fixture
def stores(request, tmp_path: Path):
    """(reference file store, store of the backend under test), both holding the fixture runs."""
    backend = request.param
    opened = []
    with opened_store("file", tmp_path / "reference", request) as (ref_factory, ref_url):
        write_fixture_runs(ref_factory, tmp_path / "work-ref")
        reference = gnomon.open(ref_url, died_after=3600)
        opened.append(reference)
        if backend == "file":
            yield reference, reference
            return
        with opened_store(backend, tmp_path / "other", request) as (factory, url):
            write_fixture_runs(factory, tmp_path / "work")
            other = gnomon.open(url, died_after=3600)
            opened.append(other)
            try:
                yield reference, other
            finally:
                for store in opened:
                    store.close()


@pytest.mark.parametrize("stores", BACKENDS, indirect=True)
def test_frames_are_equal_to_file_storage(stores):
    reference, other = stores
    expected, got = _frame(reference), _frame(other)
    assert list(got.index) == [str(i) for i in range(1, len(NAMES) + 1)]
    pd.testing.assert_frame_equal(got, expected, check_dtype=True)
    assert list(expected["experiment"]) == list(NAMES)
    assert list(expected["status"]) == [
        "COMPLETED", "COMPLETED", "FAILED", "USER_STOP", "COMPLETED", "COMPLETED", "COMPLETED", "COMPLETED"
    ]
    assert expected.loc["5", "config.big"] == 2**70
    assert math.isnan(expected.loc["5", "config.nan"]) and expected.loc["5", "config.inf"] == math.inf
    assert expected.loc["2", "config.model.layers"] == [64, 32]
    assert expected.loc["2", "config.name"] == "ünï ✓"
    assert expected.loc["1", "tags"] == ("baseline",) and expected.loc["1", "notes"] == "the plain run"
    assert expected.loc["2", "metrics.val/loss.last"] == pytest.approx(0.3)
    assert expected.loc["2", "metrics.acc.top1.max"] == pytest.approx(0.2)
    assert expected.loc["5", "metrics.weird.max"] == math.inf
    assert expected.loc["5", "metrics.weird.count"] == 4
    assert expected.loc["5", "metrics.weird.last_step"] == 3


@pytest.mark.parametrize("stores", BACKENDS, indirect=True)
def test_filters_give_the_same_runs(stores):
    reference, other = stores
    for text in FILTERS:
        if "placeholder" in text:
            continue
        expected = reference.runs(text, order_by="start_time").ids
        assert other.runs(text, order_by="start_time").ids == expected, text
        assert other.runs(text).count() == len(expected), text


@pytest.mark.parametrize("stores", BACKENDS, indirect=True)
def test_series_and_runs_read_back_the_same(stores):
    reference, other = stores
    expected = reference.runs().metrics().drop(columns=["time"]).sort_values(["run_id", "name", "step"])
    got = other.runs().metrics().drop(columns=["time"]).sort_values(["run_id", "name", "step"])
    pd.testing.assert_frame_equal(got.reset_index(drop=True), expected.reset_index(drop=True))
    for run_id in ("2", "3", "6", "7"):
        mine, theirs = other.run(run_id), reference.run(run_id)
        assert dict(mine.config) == dict(theirs.config)
        assert dict(mine.info) == dict(theirs.info)
        assert mine.result == theirs.result
        assert mine.output() == theirs.output()
        assert sorted(mine.artifacts) == sorted(theirs.artifacts)
        assert [r.digest[:32] for r in mine.resources] == [r.digest[:32] for r in theirs.resources]
    assert other.run("3").fail_trace[-1].strip().endswith("ValueError: the fixture fails")
    assert other.run("6").artifacts["model.bin"].read_bytes() == b"weights " * 100
    assert other.run(2).metrics["val/loss"].tolist() == pytest.approx([0.5, 0.4, 0.3])


@pytest.mark.parametrize("stores", BACKENDS, indirect=True)
def test_lineage_chain_and_annotations(stores):
    _, other = stores
    graph = other.run("8").lineage(direction="up", depth=5)
    assert {(e.source, e.target) for e in graph.edges} == {("6", "7"), ("7", "8")}
    assert set(graph.nodes) == {"6", "7", "8"}
    down = other.run("6").lineage(direction="down", depth=1)
    assert {(e.source, e.target) for e in down.edges} == {("6", "7")}
    other.annotate("2", add_tags=["best", "checked"])
    other.annotate("2", remove_tags=["checked"], notes="looks right")
    assert other.run("2").tags == ("best",) and other.run("2").notes == "looks right"
    assert other.runs('"best" in tags').ids == ["2"]
    with pytest.raises(gnomon.RunNotFoundError, match="999"):
        other.run("999")


@pytest.mark.parametrize("stores", BACKENDS, indirect=True)
def test_sources_read_back_the_same(stores):
    reference, other = stores
    for run_id in ("1", "3", "8"):
        mine, theirs = other.run(run_id).sources, reference.run(run_id).sources
        assert sorted(mine) == sorted(theirs) == sorted(SOURCES)
        for path, text in SOURCES.items():
            assert mine[path].read_text() == theirs[path].read_text() == text
            assert mine[path].digest[:32] == theirs[path].digest[:32]
            with mine[path].open() as stream:
                assert stream.read(4) == text.encode()[:4]
    assert isinstance(other.run("2").sources["train.py"], gnomon.query.Source)
    with pytest.raises(KeyError, match=r"lib/nope\.py"):
        other.backend.open_source("2", "lib/nope.py")
    with pytest.raises(gnomon.RunNotFoundError, match="999"):
        other.backend.open_source("999", "train.py")
