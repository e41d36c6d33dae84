"""Edge cases found in review: many ids, odd run ids, mixed-type ordering, smoothing under zoom."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime

import pytest

import gnomon
from gnomon.query.predicate import decimal_id, natural_key, sort_key
from mongo_server import db, db_name, mongo_server  # noqa: F401 - fixtures, injected by name
from query_fixtures import BACKENDS, opened_store, write_fixture_runs


@pytest.mark.parametrize("backend", BACKENDS)
def test_thousands_of_ids_and_ids_that_only_look_like_numbers(backend, tmp_path, request):
    with opened_store(backend, tmp_path, request) as (factory, url):
        write_fixture_runs(factory, tmp_path / "work")
        with gnomon.open(url) as store:
            everything = store.runs(order_by="id").ids
            many = [str(i) for i in range(5000)] + ["x"] * 3
            assert store.runs(ids=many, order_by="id").ids == everything
            assert store.runs(f"id in {many[:400]!r}", order_by="id").ids == everything
            for odd in ("01", "001", "²", "١", " 1", "1.0"):
                assert store.runs(ids=[odd]).ids == [], odd
                assert store.runs(f"id == {odd!r}").ids == [], odd
                with pytest.raises(gnomon.RunNotFoundError):
                    store.run(odd)


def test_a_folder_named_like_a_superscript_digit_does_not_break_listing(tmp_path, request):
    with opened_store("file", tmp_path, request) as (factory, url):
        write_fixture_runs(factory, tmp_path / "work")
        shutil.copytree(tmp_path / "runs" / "1", tmp_path / "runs" / "²")
        with gnomon.open(url) as store:
            ids = store.runs(order_by="id").ids
            assert ids[:3] == ["1", "2", "3"] and ids[-1] == "²"
            assert store.runs(order_by="-config.seed").count() == len(ids)


def test_natural_order_and_decimal_ids():
    assert sorted(["10", "2", "b", "a", "²", "1"], key=natural_key) == ["1", "2", "10", "a", "b", "²"]
    assert [decimal_id(i) for i in ("12", "0", "012", "²", "١", "", "1a")] == [True, True, False, False, False, False, False]


def test_mixed_times_and_numbers_sort_without_error():
    when = datetime(2020, 1, 1, tzinfo=UTC)
    values = [3, when, "a", True, 1.5, when.replace(year=2019)]
    ordered = sorted(values, key=sort_key)
    assert ordered[:2] == [1.5, 3] and ordered[2:4] == [when.replace(year=2019), when]


def test_smoothing_is_the_same_curve_when_zoomed(tmp_path, request):
    pytest.importorskip("pandas")
    from gnomon.observers import FileStorageObserver
    from gnomon.run import Run

    def main():
        for step in range(100):
            run.log_scalar("loss", float(step % 7), step)

    run = Run(config={"seed": 1}, main_function=main, observers=[FileStorageObserver(str(tmp_path / "runs"))],
              experiment_info={"name": "zoom"}, host_info={"hostname": "box"})
    run.capture_mode = "sys"
    run()
    with gnomon.open(tmp_path / "runs") as store:
        stored = store.run(1)
        whole = stored.metric("loss", smooth="ema:0.9").set_index("step")["value"]
        zoomed = stored.metric("loss", smooth="ema:0.9", range=(50, 60)).set_index("step")["value"]
        assert list(zoomed.index) == list(range(50, 61))
        assert zoomed.tolist() == pytest.approx(whole.loc[50:60].tolist())
