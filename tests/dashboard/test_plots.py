"""Metric plots in a browser: a million points drawn from at most 4,000 with the spike, zoom, log, smoothing, x = time."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

pytestmark = pytest.mark.browser

SPIKE_STEP, SPIKE_VALUE = 123_457, 50.0  # as conftest's big_store writes them


def _plot(page):
    return page.evaluate("""() => { const p = window.gnomonPlots[0]; return {
        points: p.points, url: p.url, requests: p.requests, log: p.log,
        series: p.series.map(s => ({x: s.x, y: s.y, max: s.max, raw: !!s.raw})),
        distr: p.uplot ? p.uplot.scales.y.distr : null}; }""")


def _ready(page, requests):
    page.wait_for_function(
        "n => { const p = window.gnomonPlots[0]; return p && p.requests >= n && p.element.dataset.state === 'ready'; }",
        arg=requests)
    return _plot(page)


def _query(url):
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def test_a_million_points_are_plotted_from_at_most_4000_with_the_spike(page, dashboard_server, big_store):
    server = dashboard_server(big_store)
    page.goto(f"{server.url}/runs/1?tab=metrics")
    plot = _ready(page, 1)
    assert 100 <= plot["points"] <= 4000
    (series,) = plot["series"]
    assert len(series["x"]) <= 4000
    assert SPIKE_VALUE in series["y"] or SPIKE_VALUE in series["max"]
    assert SPIKE_STEP in series["x"]
    assert series["x"][0] == 0 and series["x"][-1] == 999_999

    # Dragging across the chart zooms: the visible range is fetched again, narrower.
    box = page.locator(".gnomon-plot .u-over").bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.10, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.20, y, steps=5)
    page.mouse.up()
    zoomed = _ready(page, 2)
    lo, hi = map(float, _query(zoomed["url"])["range"].split(","))
    assert 0 < lo < SPIKE_STEP < hi < 999_999 and hi - lo < 200_000
    assert server.asked("/api/series")[-1].endswith(zoomed["url"].split("?", 1)[1])
    assert all(lo <= x <= hi for x in zoomed["series"][0]["x"])
    assert SPIKE_VALUE in zoomed["series"][0]["max"]


def test_log_scale_smoothing_and_x_time_change_the_drawn_series(page, dashboard_server, fixture_store):
    server = dashboard_server(fixture_store)
    page.goto(f"{server.url}/runs/10?tab=metrics")
    page.wait_for_selector('.gnomon-plot[data-state="ready"] >> nth=1')
    first = _plot(page)
    assert first["distr"] == 1
    control = page.locator(".gnomon-plot").first
    control.locator(".gnomon-plot-log").check()
    page.wait_for_function("window.gnomonPlots[0].uplot.scales.y.distr === 3")

    control.locator(".gnomon-plot-smooth").fill("0.9")
    smoothed = _ready(page, first["requests"] + 1)
    assert _query(smoothed["url"])["smooth"] == "ema:0.90"
    assert smoothed["series"][0]["raw"] is True
    assert smoothed["series"][0]["y"] != first["series"][0]["y"]

    control.locator(".gnomon-plot-x").select_option("time")
    timed = _ready(page, smoothed["requests"] + 1)
    assert _query(timed["url"])["x"] == "time"
    xs = timed["series"][0]["x"]
    assert xs == sorted(xs) and xs[0] > 1.7e9  # POSIX seconds, not steps
