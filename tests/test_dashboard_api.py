"""The dashboard's JSON endpoints (series, rows, lineage), its vendored libraries and its scripts.

The endpoints run over real stores written by the real observers, through Starlette's
TestClient; the scripts are checked by Node (syntax, and their pure parts run in a
sandbox without a page) when Node is installed — the browser tests drive them for real.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

np = pytest.importorskip("numpy")
pytest.importorskip("pandas")
pytest.importorskip("starlette")
pytest.importorskip("orjson")

from starlette.applications import Starlette  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

import gnomon  # noqa: E402
from gnomon.dashboard.api import MAX_IDS, api_routes  # noqa: E402
from gnomon.run import Run  # noqa: E402
from query_fixtures import write_fixture_runs  # noqa: E402

STATIC = Path(gnomon.__file__).parent / "dashboard" / "static"
VENDOR = STATIC / "vendor"
SCRIPTS = ("plots.js", "compare.js", "parcoords.js", "lineage.js")
SPIKE_STEP, N_BIG = 123_457, 1_000_000


def _strict(text: str) -> object:
    """JSON as a browser parses it: NaN or Infinity tokens are an error."""
    def refuse(token: str) -> None:
        raise AssertionError(f"non-standard JSON token {token}")

    return json.loads(text, parse_constant=refuse)


def _sweep(factory, workdir: Path) -> None:
    """Three runs with known losses: two with optim adam, one with sgd (ids 9, 10, 11 after the fixture runs)."""
    for optim, losses in (("adam", [1.0, 2.0, 3.0]), ("adam", [3.0, 4.0, 5.0]), ("sgd", [10.0, 10.0, 10.0])):
        run: Run

        def main(losses=losses) -> None:
            for step, value in enumerate(losses):
                run.log_scalar("loss", value, step)

        run = Run(config={"optim": optim}, main_function=main, observers=[factory()],
                  experiment_info={"name": "sweep"}, host_info={"hostname": "box"})
        run.capture_mode = "sys"
        run()


def _client(store) -> TestClient:
    app = Starlette(routes=api_routes())
    app.state.store = store
    return TestClient(app)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    from gnomon.observers import FileStorageObserver

    base = tmp_path_factory.mktemp("dash_api")
    factory = lambda: FileStorageObserver(str(base / "runs"))  # noqa: E731
    write_fixture_runs(factory, base / "work")
    _sweep(factory, base / "work")
    with gnomon.open(str(base / "runs")) as opened:
        yield opened


@pytest.fixture(scope="module")
def client(store):
    return _client(store)


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """A store with one run of a 1,000,000-point metric with a single spike, written through the observer's events."""
    from event_builders import metrics, series, started
    from gnomon.observers import FileStorageObserver

    folder = tmp_path_factory.mktemp("dash_big") / "runs"
    observer = FileStorageObserver(str(folder))
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    run_id = observer.on_started(started(time=t0, experiment={"name": "big"}, host={}, meta={}))
    chunk = N_BIG // 10
    for c in range(10):
        steps = np.arange(c * chunk, (c + 1) * chunk)
        values = 1.2345678 + 0.37 * np.sin(steps / 5000.0)
        values[(steps == SPIKE_STEP)] = 50.0
        loss = series(values.tolist(), steps=steps.tolist(), timestamps=(t0.timestamp() + steps * 1e-3).tolist())
        observer.on_metrics(metrics(run_id, 1 + c, loss=loss, time=t0))
    with gnomon.open(str(folder)) as opened:
        yield opened, str(run_id)


# ------------------------------------------------------------------------------------------------ series --


def test_series_gives_one_item_per_run_in_the_order_asked(client):
    response = client.get("/api/series?ids=3,1&names=loss")
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    series = _strict(response.text)["series"]
    assert [(s["run_id"], s["name"]) for s in series] == [("3", "loss"), ("1", "loss")]
    plain = series[1]
    assert plain["x"] == [0, 1, 2, 3, 4]
    assert plain["y"] == pytest.approx([1.0, 0.5, 1 / 3, 0.25, 0.2], rel=1e-6)
    assert plain["min"] == pytest.approx(plain["y"]) and plain["max"] == pytest.approx(plain["y"])
    assert "raw" not in plain
    assert series[0]["y"] == [3.0]


def test_series_sends_nan_and_infinities_as_null(client):
    series = _strict(client.get("/api/series?ids=5&names=weird").text)["series"]
    assert series[0]["y"] == [1.0, None, None, -2.0]


def test_series_x_as_time_and_elapsed(client, store):
    start = store.run(1).start_time.timestamp()
    timed = client.get("/api/series?ids=1&names=loss&x=time").json()["series"][0]
    assert all(start - 5 < x < start + 60 for x in timed["x"]) and timed["x"] == sorted(timed["x"])
    elapsed = client.get("/api/series?ids=1&names=loss&x=elapsed").json()["series"][0]
    assert all(0 <= x < 60 for x in elapsed["x"])
    assert elapsed["y"] == timed["y"]


def test_series_range_keeps_only_the_window(client):
    series = client.get("/api/series?ids=1&names=loss&range=1,3").json()["series"][0]
    assert series["x"] == [1, 2, 3]
    assert client.get("/api/series?ids=1&names=loss&range=3,1").json()["series"][0]["x"] == [1, 2, 3]
    assert client.get("/api/series?ids=1&names=loss&range=3,").json()["series"][0]["x"] == [3, 4]


def test_smoothing_sends_the_raw_series_beside(client):
    series = client.get("/api/series?ids=1&names=loss&smooth=ema:0.5").json()["series"][0]
    assert series["raw"]["y"] == pytest.approx([1.0, 0.5, 1 / 3, 0.25, 0.2], rel=1e-6)
    assert series["y"][0] == pytest.approx(1.0)
    assert series["y"][1] == pytest.approx((0.5 * 0.5 + 0.5 * 0.5) / 0.75, rel=1e-6)
    assert series["raw"]["x"] == series["x"] == [0, 1, 2, 3, 4]


def test_group_by_gives_mean_and_band_per_group(client):
    series = client.get("/api/series?ids=9,10,11&names=loss&group_by=config.optim").json()["series"]
    adam, sgd = series
    assert (adam["group"], adam["run_ids"], sgd["group"], sgd["run_ids"]) == ("adam", ["9", "10"], "sgd", ["11"])
    assert adam["x"] == [0, 1, 2]
    assert adam["y"] == pytest.approx([2.0, 3.0, 4.0])
    assert adam["min"] == pytest.approx([1.0, 2.0, 3.0]) and adam["max"] == pytest.approx([3.0, 4.0, 5.0])
    assert sgd["y"] == pytest.approx([10.0, 10.0, 10.0])


@pytest.mark.parametrize(("query", "message"), [
    ("names=loss", "ids="),
    ("ids=1", "names="),
    ("ids=1&names=loss&x=wall", "x must be"),
    ("ids=1&names=loss&points=many", "points must be an integer"),
    ("ids=1&names=loss&range=a,b", "range must be"),
    ("ids=1&names=loss&range=1", "range must be"),
    ("ids=1&names=loss&smooth=ema:2", "smoothing"),
    ("ids=" + ",".join(str(i) for i in range(MAX_IDS + 1)) + "&names=loss", "at most"),
])
def test_series_refuses_bad_parameters_with_400(client, query, message):
    response = client.get("/api/series?" + query)
    assert response.status_code == 400
    assert message in response.json()["error"]


def test_series_of_unknown_runs_or_metrics_is_empty(client):
    assert client.get("/api/series?ids=999&names=loss").json() == {"series": []}
    assert client.get("/api/series?ids=1&names=nope").json() == {"series": []}


def test_one_run_series_route(client):
    assert client.get("/api/runs/1/series?names=loss").json() == client.get("/api/series?ids=1&names=loss").json()


def test_a_million_points_come_as_at_most_4000_with_the_spike(big):
    store, run_id = big
    calls = []
    backend_series = store.backend.series

    def counted(*args, **kwargs):
        calls.append(args)
        return backend_series(*args, **kwargs)

    store.backend.series = counted
    try:
        client = _client(store)
        url = f"/api/series?ids={run_id}&names=loss&points=4000"
        cold = client.get(url)
        start = time.perf_counter()
        warm = client.get(url)
        warm_seconds = time.perf_counter() - start
        zoomed = client.get(url + f"&range={SPIKE_STEP - 1000},{SPIKE_STEP + 1000}").json()["series"][0]
        clamped = client.get(f"/api/series?ids={run_id}&names=loss&points=100000").json()["series"][0]
    finally:
        del store.backend.series
    assert cold.content == warm.content
    # read once, then served from the cache; file storage's binary copies are that cache (mapped again per request)
    assert len(calls) == (4 if store.backend.series_from_copies else 1)
    series = _strict(warm.text)["series"][0]
    assert len(series["x"]) <= 4000 and len(series["y"]) == len(series["min"]) == len(series["max"]) == len(series["x"])
    assert len(warm.content) <= 150_000, len(warm.content)
    assert max(series["y"]) == 50.0 and SPIKE_STEP in series["x"]
    assert min(series["y"]) == pytest.approx(1.2345678 - 0.37, abs=1e-3)
    assert series["x"][0] == 0 and series["x"][-1] == N_BIG - 1
    assert zoomed["x"][0] >= SPIKE_STEP - 1000 and zoomed["x"][-1] <= SPIKE_STEP + 1000 and 50.0 in zoomed["y"]
    assert len(clamped["x"]) <= 4000
    print(f"1M points -> {len(series['x'])} points, {len(warm.content)} bytes, warm {warm_seconds * 1000:.1f} ms")


# ------------------------------------------------------------------------------------------------ rows --


def test_rows_in_the_order_asked_with_json_safe_values(client):
    body = _strict(client.get("/api/rows?ids=5,1,404&cols=config.lr,config.big,config.nan,metrics.loss.min,tags").text)
    rows = body["rows"]
    assert [r["run_id"] for r in rows] == ["5", "1"]
    assert rows[0]["config.lr"] == 2 and rows[0]["config.big"] == str(2**70)
    assert rows[1] == {"run_id": "1", "config.lr": 0.1, "config.big": None, "config.nan": None,
                       "metrics.loss.min": 0.2, "tags": ["baseline"]}


def test_rows_refuse_unknown_or_missing_columns(client):
    response = client.get("/api/rows?ids=1&cols=config.lrr")
    assert response.status_code == 400 and "did you mean 'config.lr'" in response.json()["error"]
    assert client.get("/api/rows?ids=1").status_code == 400
    assert client.get("/api/rows?cols=config.lr").status_code == 400


# ------------------------------------------------------------------------------------------------ lineage --


def test_lineage_of_the_middle_run_has_three_nodes_and_two_edges(client):
    graph = client.get("/api/runs/7/lineage?depth=1&direction=both").json()
    assert graph["root"] == "7"
    assert {n["run_id"]: n["status"] for n in graph["nodes"]} == {"6": "COMPLETED", "7": "COMPLETED", "8": "COMPLETED"}
    assert [(e["source"], e["target"], e["artifact"]) for e in graph["edges"]] == [
        ("6", "7", "model.bin"), ("7", "8", "features.csv")]
    assert {n["experiment"] for n in graph["nodes"]} == {"producer", "consumer", "final"}


def test_lineage_depth_and_direction(client):
    def ids(query: str) -> list[str]:
        return sorted(n["run_id"] for n in client.get(f"/api/runs/6/lineage?{query}").json()["nodes"])

    assert ids("depth=1&direction=down") == ["6", "7"]
    assert ids("depth=2&direction=down") == ["6", "7", "8"]
    assert ids("depth=2&direction=up") == ["6"]
    assert ids("depth=1000") == ["6", "7", "8"]  # clamped, not refused


def test_lineage_errors(client):
    missing = client.get("/api/runs/404/lineage")
    assert missing.status_code == 404 and "404" in missing.json()["error"]
    assert client.get("/api/runs/7/lineage?direction=sideways").status_code == 400
    assert client.get("/api/runs/7/lineage?depth=deep").status_code == 400


def test_routes_are_served_by_the_dashboard_app(store):
    from gnomon.dashboard.app import create_app

    paths = {route.path for route in api_routes()}
    assert paths == {"/api/series", "/api/runs/{run_id}/series", "/api/rows", "/api/runs/{run_id}/lineage"}
    with TestClient(create_app(store, read_only=True)) as dashboard:
        assert dashboard.get("/api/runs/7/lineage").json()["root"] == "7"
        assert dashboard.get("/api/series?ids=1&names=loss").json()["series"][0]["x"] == [0, 1, 2, 3, 4]


# ------------------------------------------------------------------------------------------------ vendored --


def _versions() -> tuple[list[dict[str, str]], dict[str, str]]:
    text = (VENDOR / "VERSIONS.md").read_text(encoding="utf-8")
    table = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| Name")]
    rows = []
    for line in table:
        name, version, licence, file, source, licence_file = (c.strip() for c in line.strip("|").split("|"))
        rows.append({"name": name, "version": version, "licence": licence, "file": file, "source": source,
                     "licence_file": licence_file})
    sums = {m.group(2): m.group(1) for m in re.finditer(r"^([0-9a-f]{64})  (\S+)$", text, re.M)}
    return rows, sums


def test_every_vendored_file_is_listed_with_version_licence_and_checksum():
    rows, sums = _versions()
    expected = {("htmx.org", "2.0.11"), ("htmx-ext-sse", "2.2.4"), ("uplot", "1.6.32"), ("cytoscape", "3.34.4"),
                ("cytoscape-dagre", "4.0.1"), ("@dagrejs/dagre", "3.0.0")}
    assert {(r["name"], r["version"]) for r in rows} == expected
    served = {p.name for p in VENDOR.iterdir() if p.suffix in (".js", ".css")}
    assert served == set(sums) == {r["file"] for r in rows if not r["file"].startswith("bundled")}
    for row in rows:
        assert (VENDOR / row["licence_file"]).is_file(), row
        assert row["version"] in row["licence_file"] and row["source"].startswith("https://registry.npmjs.org/")
        if row["file"] in sums:
            assert row["version"] in row["file"]
            digest = hashlib.sha256((VENDOR / row["file"]).read_bytes()).hexdigest()
            assert digest == sums[row["file"]], f"{row['file']} differs from what docs/vendor_js.sh fetched"


def test_the_fetch_script_names_exactly_the_listed_versions():
    script = (Path(__file__).parent.parent / "docs" / "vendor_js.sh").read_text(encoding="utf-8")
    rows, _ = _versions()
    for row in rows:
        assert f"{row['name']}@{row['version']}" in script
    assert sorted(set(re.findall(r"\"(@?[\w./-]+@\d+\.\d+\.\d+)\s", script))) == sorted(
        {f"{r['name']}@{r['version']}" for r in rows})


def test_our_scripts_request_nothing_outside_the_dashboard():
    for name in SCRIPTS:
        text = (STATIC / name).read_text(encoding="utf-8")
        assert not re.search(r"https?://|['\"]//", text), name
        for url in re.findall(r"[\"'](/[^\"'\s]*)[\"']", text):
            assert url.startswith(("/api/", "/static/vendor/", "/runs/", "/lineage?", "/series?")), (name, url)
            if url.startswith("/static/vendor/"):
                assert (VENDOR / url.rsplit("/", 1)[1]).is_file(), url


# ------------------------------------------------------------------------------------------------ scripts --

NODE = shutil.which("node")
_SANDBOX = r"""
const vm = require("vm"), fs = require("fs");
const listeners = {};
const document = {
  readyState: "loading", head: {appendChild() {}},
  addEventListener(type, fn) { (listeners[type] = listeners[type] || []).push(fn); },
  querySelectorAll() { return []; }, querySelector() { return null; }, contains() { return true; },
  createElement() { throw new Error("a page without containers must build nothing"); },
};
const window = {addEventListener() {}, location: {href: "http://127.0.0.1/"}};
const context = vm.createContext({window, document, console, setTimeout, clearTimeout, CustomEvent: class {}});
for (const file of process.argv.slice(1)) vm.runInContext(fs.readFileSync(file, "utf8"), context, {filename: file});
for (const type of ["DOMContentLoaded", "htmx:afterSettle"]) for (const fn of listeners[type] || []) fn({});
const out = {};
const P = window.GnomonParcoords, L = window.GnomonLineage;
out.plots = window.gnomonPlots; out.parcoords = window.gnomonParcoords;
out.colors = ["1", "2", "3", "1", "abc", "abc"].map(window.gnomonColor);
const rows = [{run_id: "1", a: 0.1, b: "adam"}, {run_id: "2", a: 0.5, b: "sgd"}, {run_id: "3", a: 1.0, b: null}];
const scales = ["a", "b"].map(axis => P.scaleOf(rows.map(r => r[axis])));
out.scales = scales;
out.all = P.select(rows, ["a", "b"], scales, {});
out.low = P.select(rows, ["a", "b"], scales, {a: [0, 0.5]});
out.adam = P.select(rows, ["a", "b"], scales, {b: [0, 0.1]});
out.missing = P.fraction(scales[1], null);
out.elements = L.elements({root: "2", nodes: [{run_id: "1", status: "COMPLETED"}, {run_id: "2", status: "FAILED"}],
  edges: [{source: "1", target: "2", artifact: "a.bin"}, {source: "1", target: "2", artifact: "b.bin"}]});
out.listens = Object.keys(listeners).sort();
console.log(JSON.stringify(out));
"""


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_scripts_parse_and_do_nothing_on_a_page_without_their_containers(tmp_path):
    files = [str(STATIC / name) for name in SCRIPTS]
    for file in files:
        subprocess.run([NODE, "--check", file], check=True, capture_output=True, timeout=60)
    result = subprocess.run([NODE, "-e", _SANDBOX, *files], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["plots"] == [] and out["parcoords"] == []
    colors = out["colors"]
    assert len(set(colors[:3])) == 3 and colors[0] == colors[3] and colors[4] == colors[5]
    assert out["scales"] == [
        {"kind": "number", "min": 0.1, "max": 1.0}, {"kind": "category", "values": ["adam", "sgd"]}]
    assert out["all"] == ["1", "2", "3"] and out["low"] == ["1", "2"] and out["adam"] == ["1"]
    assert out["missing"] == -1
    nodes = [e["data"] for e in out["elements"] if e["group"] == "nodes"]
    edges = [e["data"] for e in out["elements"] if e["group"] == "edges"]
    assert [(n["id"], n["root"]) for n in nodes] == [("1", 0), ("2", 1)] and nodes[0]["color"] != nodes[1]["color"]
    assert [(e["source"], e["target"], e["label"]) for e in edges] == [("1", "2", "a.bin, b.bin")]
    assert {"DOMContentLoaded", "gnomon:brush", "gnomon:run-updated", "htmx:afterSettle"} <= set(out["listens"])
