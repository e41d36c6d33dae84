"""The dashboard's server side through Starlette's TestClient (and one real uvicorn for the live stream).

The fixture runs are written by the real observers into a file store and a SQLite
store; the pages must show what the query API gives for the same view.
"""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx")

import httpx
from starlette.testclient import TestClient

import gnomon.query
from gnomon.dashboard import (
    create_app,
    tables,
)
from gnomon.observers import FileStorageObserver
from query_fixtures import _run, write_fixture_runs

HTML_ARTIFACT = b"<html><body><script>fetch('/api/rows?ids=1');document.cookie='stolen=1'</script>hi</body></html>"


def _factory(kind: str, root: Path) -> tuple[Any, str]:
    if kind == "file":
        return (lambda: FileStorageObserver(str(root / "runs"))), str(root / "runs")
    from gnomon.observers import SqlObserver

    url = f"sqlite:///{root / 'runs.db'}"
    return (lambda: SqlObserver(url)), url


def _write_store(kind: str, root: Path) -> str:
    factory, url = _factory(kind, root)
    write_fixture_runs(factory, root / "work")
    page = root / "work" / "page.html"
    page.write_bytes(HTML_ARTIFACT)

    def report(run: Any) -> None:
        run.add_artifact(str(page), "page.html")
        print("\n".join(f"line {i}" for i in range(50)))

    _run(factory(), "report", report, {"lr": 0.2, "seed": 9}, root / "work")()
    return url


@pytest.fixture(scope="module", params=["file", "sqlite"])
def store_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    return _write_store(request.param, tmp_path_factory.mktemp(f"dash-{request.param}"))


@pytest.fixture(scope="module")
def client(store_url: str) -> Any:
    with TestClient(create_app(store_url)) as test_client:
        yield test_client


@pytest.fixture
def fresh_url(tmp_path: Path) -> str:
    """A store of our own, for tests that edit it."""
    return _write_store("file", tmp_path)


def _row_ids(html: str) -> list[str]:
    return re.findall(r'<tr id="run-row-([^"]+)"', html)


def _token(html: str) -> str:
    return re.search(r'name="gnomon-csrf" content="([^"]*)"', html).group(1)


# ------------------------------------------------------------------ runs table --


def test_table_shows_every_run_newest_first_with_varying_config_and_metrics(client: Any, store_url: str) -> None:
    response = client.get("/")
    assert response.status_code == 200
    store = gnomon.query.open(store_url)
    assert _row_ids(response.text) == store.runs().ids
    header = re.search(r'<table id="runs-table"[^>]*data-cols="([^"]*)"', response.text).group(1).split(",")
    assert header[:6] == list(tables.DEFAULT_FIXED)
    assert "config.lr" in header and "config.seed" in header  # they vary
    assert "metrics.loss.min" in header and "metrics.loss.last" in header
    assert 'class="badge status status-failed"' in response.text


def test_filter_sort_and_columns_come_from_the_url(client: Any, store_url: str) -> None:
    store = gnomon.query.open(store_url)
    response = client.get("/", params={"where": "config.lr < 0.2", "sort": "config.lr", "cols": "config.lr,status"})
    assert _row_ids(response.text) == store.runs("config.lr < 0.2", order_by="config.lr").ids
    assert 'data-cols="config.lr,status"' in response.text
    assert 'value="config.lr &lt; 0.2"' in response.text  # the filter box keeps the text
    descending = client.get("/", params={"sort": "-metrics.loss.min"})
    assert _row_ids(descending.text) == store.runs(order_by="-metrics.loss.min").ids
    # the sorted header links to the other direction, keeping the filter
    assert "sort=metrics.loss.min" in descending.text


def test_a_bad_filter_is_shown_inline_with_a_caret(client: Any) -> None:
    response = client.get("/", params={"where": "config.lr <"})
    assert response.status_code == 200
    error = re.search(r'<pre id="filter-error"[^>]*>(.*?)</pre>', response.text, re.S).group(1)
    assert "^" in error and "config.lr &lt;" in error
    unsafe = client.get("/", params={"where": "__import__('os')"})
    assert 'id="filter-error"' in unsafe.text and _row_ids(unsafe.text) == []


def test_an_unknown_column_is_an_inline_error(client: Any) -> None:
    response = client.get("/", params={"cols": "config.lrr"})
    assert "unknown column" in response.text and "did you mean" in response.text


def test_pages_of_rows_and_the_next_page_fragment(client: Any, store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tables, "PAGE_SIZE", 4)
    ids = gnomon.query.open(store_url).runs().ids
    first = client.get("/")
    assert _row_ids(first.text) == ids[:4]
    assert 'hx-trigger="revealed"' in first.text and "page=2" in first.text
    second = client.get("/rows", params={"page": "2"})
    assert _row_ids(second.text) == ids[4:8]
    last = client.get("/", params={"page": "3"})
    assert _row_ids(last.text) == ids[8:] and 'id="next-page"' not in last.text


def test_live_rows_fragment_gives_only_the_asked_runs_of_the_view(client: Any) -> None:
    response = client.get("/rows", params={"where": "config.lr < 0.2", "only": "1,2,3"})
    assert _row_ids(response.text) == ["2", "1"]  # lr 0.1 and 0.01; run 3's lr is 1.0


def test_facets_count_as_the_query_api_does(client: Any, store_url: str) -> None:
    page = client.get("/", params={"where": "config.seed > 3"}).text
    assert 'hx-get="/facets?where=config.seed+%3E+3"' in page  # a new filter's facets follow the rows
    assert 'data-facet="status"' in client.get("/").text  # the whole store's are at hand
    response = client.get("/facets", params={"where": "config.seed > 2"})
    facets = gnomon.query.open(store_url).runs("config.seed > 2").facets("status", "experiment")
    for value, count in facets["status"]:
        section = re.search(r'data-facet="status">(.*?)</section>', response.text, re.S).group(1)
        assert re.search(rf'data-value="{value}">{value}</a> <span class="facet-count">{count}</span>', section)
    assert "%28config.seed+%3E+2%29+and+status+%3D%3D" in response.text  # a facet link narrows the filter


def test_column_picker_lists_the_run_set_columns(client: Any, store_url: str) -> None:
    response = client.get("/")
    picker = re.search(r'<details id="column-picker".*?</details>', response.text, re.S).group(0)
    offered = re.findall(r'name="col" value="([^"]+)"', picker)
    assert offered == [c.path for c in gnomon.query.open(store_url).runs().columns()]


def test_export_of_the_current_view(client: Any, store_url: str) -> None:
    store = gnomon.query.open(store_url)
    params = {"where": 'status == "COMPLETED"', "sort": "config.lr", "cols": "config.lr,metrics.loss.min"}
    text = client.get("/export.csv", params=params).text
    rows = list(csv.DictReader(io.StringIO(text)))
    expected = store.runs('status == "COMPLETED"', order_by="config.lr").rows(["config.lr", "metrics.loss.min"])
    assert [r["run_id"] for r in rows] == [r["run_id"] for r in expected]
    assert list(rows[0]) == ["run_id", "config.lr", "metrics.loss.min"]
    data = client.get("/export.json", params=params).json()
    assert [r["run_id"] for r in data] == [r["run_id"] for r in expected]
    assert [r["config.lr"] for r in data] == [r["config.lr"] for r in expected]
    assert client.get("/export.json", params={"where": "config.("}).status_code == 400


# -------------------------------------------------------------------- run page --


@pytest.mark.parametrize(
    "tab", ["overview", "config", "metrics", "output", "artifacts", "sources", "resources", "lineage", "json"]
)
def test_every_tab_of_every_run_renders(client: Any, store_url: str, tab: str) -> None:
    for run_id in gnomon.query.open(store_url).runs().ids:
        response = client.get(f"/runs/{run_id}", params={"tab": tab})
        assert response.status_code == 200, (run_id, tab)
        assert f'id="panel-{tab}"' in response.text


def test_run_page_overview_config_metrics_and_json(client: Any, store_url: str) -> None:
    store = gnomon.query.open(store_url)
    failed = store.runs('status == "FAILED"').ids[0]
    overview = client.get(f"/runs/{failed}").text
    assert 'id="fail-trace"' in overview and "the fixture fails" in overview
    plain = client.get("/runs/1").text
    assert 'id="tags-form"' in plain and "baseline" in plain and "the plain run" in plain
    assert 'id="metric-summaries"' in plain
    config = client.get("/runs/2", params={"tab": "config"}).text
    assert "config.model.opt.name" in config and 'id="config-tree"' in config
    metrics = client.get("/runs/2", params={"tab": "metrics"}).text
    assert re.findall(r'class="gnomon-plot"[^>]*data-ids="2" data-metric="([^"]+)"', metrics) == [
        "acc.top1",
        "val/loss",
    ]
    document = client.get("/runs/2", params={"tab": "json"}).text
    body = json.loads(
        re.search(r'<pre id="run-json"[^>]*>(.*?)</pre>', document, re.S)
        .group(1)
        .replace("&#34;", '"')
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
        .replace("&#39;", "'")
    )
    assert body["config"]["model"]["layers"] == [64, 32] and body["run_id"] == "2"


def test_unknown_run_is_404(client: Any) -> None:
    assert client.get("/runs/999").status_code == 404
    assert client.get("/runs/999/output.json").status_code == 404
    assert client.get("/runs/999/artifacts/x/raw").status_code == 404


def test_output_tail_load_earlier_and_search(client: Any, store_url: str) -> None:
    run_id = gnomon.query.open(store_url).runs('experiment == "report"').ids[0]
    page = client.get(f"/runs/{run_id}", params={"tab": "output"}).text
    assert "line 49" in page and 'id="output"' in page
    follow = client.get(f"/runs/{run_id}/output.json", params={"offset": "0"}).json()
    assert follow["text"].startswith("line 0") and follow["end"] == follow["length"]
    assert client.get(f"/runs/{run_id}/output.json", params={"offset": str(follow["length"])}).json()["text"] == ""
    earlier = client.get(f"/runs/{run_id}/output.json", params={"before": "14"}).json()
    assert earlier == {**earlier, "start": 0, "end": 14, "text": follow["text"][:14]}
    found = client.get(f"/runs/{run_id}", params={"tab": "output", "q": "LINE 4"}).text
    assert "11 matching lines" in found  # line 4, line 40..49


def test_artifacts_are_previewed_by_type_and_html_only_sandboxed(client: Any, store_url: str) -> None:
    store = gnomon.query.open(store_url)
    report = store.runs('experiment == "report"').ids[0]
    csv_run = store.runs('experiment == "consumer"').ids[0]
    table = client.get(f"/runs/{csv_run}", params={"tab": "artifacts", "name": "features.csv"}).text
    assert 'id="artifact-table"' in table and "<td>a</td><td>b</td>" in table
    page = client.get(f"/runs/{report}", params={"tab": "artifacts", "name": "page.html"}).text
    frame = re.search(r"<iframe[^>]*>", page).group(0)
    assert 'sandbox=""' in frame and "allow-same-origin" not in frame
    assert "<script>fetch" not in page  # never inlined into the dashboard's own page
    allowed = client.get(f"/runs/{report}", params={"tab": "artifacts", "name": "page.html", "scripts": "1"}).text
    frame = re.search(r"<iframe[^>]*>", allowed).group(0)
    assert 'sandbox="allow-scripts"' in frame and "allow-same-origin" not in frame
    raw = client.get(f"/runs/{report}/artifacts/page.html/raw")
    assert raw.content == HTML_ARTIFACT
    assert raw.headers["content-security-policy"] == "sandbox"
    assert raw.headers["x-content-type-options"] == "nosniff"
    assert raw.headers["content-type"].startswith("text/html")
    assert "set-cookie" not in raw.headers
    scripted = client.get(f"/runs/{report}/artifacts/page.html/raw", params={"scripts": "1"})
    assert scripted.headers["content-security-policy"] == "sandbox allow-scripts"
    download = client.get(f"/runs/{csv_run}/artifacts/features.csv/raw", params={"download": "1"})
    assert download.headers["content-disposition"].startswith("attachment") and download.text == "a,b\n1,2\n"


def test_sources_show_content_and_diff(client: Any) -> None:
    page = client.get("/runs/2", params={"tab": "sources", "path": "lib/helpers.py", "diff": "1"}).text
    assert "return 2 * x" in page and 'id="source-diff"' in page


def test_lineage_tab_has_the_graph_container_and_edges(client: Any, store_url: str) -> None:
    store = gnomon.query.open(store_url)
    consumer = store.runs('experiment == "consumer"').ids[0]
    page = client.get(f"/runs/{consumer}", params={"tab": "lineage", "depth": "3"}).text
    assert (
        f'class="gnomon-lineage" id="lineage-graph" data-id="{consumer}" data-depth="3" data-direction="both"' in page
    )
    edges = re.search(r'<ul id="lineage-edges".*?</ul>', page, re.S).group(0)
    assert edges.count("<li>") == 2  # producer -> consumer -> final


# --------------------------------------------------------------------- compare --


def test_compare_shows_differing_config_best_metrics_and_plot_containers(client: Any) -> None:
    page = client.get("/compare", params={"ids": "1,3"}).text
    keys = re.findall(r'<tr data-key="([^"]+)"', page)
    assert "config.lr" in keys and "config.seed" in keys and "config.flag" in keys
    every = re.findall(r'<tr data-key="([^"]+)"', client.get("/compare", params={"ids": "6,7", "all": "1"}).text)
    assert re.findall(r'<tr data-key="([^"]+)"', client.get("/compare", params={"ids": "6,7"}).text) == ["config.seed"]
    assert set(every) == {"config.lr", "config.seed"}
    loss_min = re.search(r'<tr data-metric="loss" data-agg="min">(.*?)</tr>', page, re.S).group(1)
    assert re.search(r'data-run-id="1" class="num best"', loss_min)  # 0.2 < 3.0: lower loss wins
    assert 'class="gnomon-plot" id="compare-plot-1" data-ids="1,3" data-metric="loss"' in page
    assert re.search(r'<canvas class="gnomon-parcoords"[^>]*data-ids="1,3" data-axes="[^"]*config.lr', page)
    grouped = client.get("/compare", params={"ids": "1,2,3", "group": "config.flag"}).text
    assert 'data-group-by="config.flag"' in grouped
    assert 'id="output-diff"' in page and "hello from plain" in page


def test_compare_needs_ids(client: Any) -> None:
    assert client.get("/compare").status_code == 400


# ----------------------------------------------------------------------- edits --


def test_edits_need_the_csrf_token_and_persist(fresh_url: str) -> None:
    with TestClient(create_app(fresh_url)) as client:
        page = client.get("/runs/1")
        token = _token(page.text)
        assert token and f'name="csrf_token" value="{token}"' in page.text
        assert client.post("/runs/1/annotate", data={"add": "x"}).status_code == 403
        assert client.post("/runs/1/annotate", data={"add": "x", "csrf_token": "wrong"}).status_code == 403
        client.cookies.clear()
        assert client.post("/runs/1/annotate", data={"add": "x", "csrf_token": token}).status_code == 403  # no cookie
        client.get("/runs/1")
        done = client.post(
            "/runs/1/annotate",
            data={"add": "good, better", "remove": "baseline", "csrf_token": token},
            follow_redirects=False,
        )
        assert done.status_code == 303 and done.headers["location"] == "/runs/1"
        as_json = client.post(
            "/runs/1/annotate",
            data={"notes": "first line\r\nsecond"},
            headers={"X-CSRF-Token": token, "Accept": "application/json"},
        )
        assert as_json.json() == {"runs": [{"run_id": "1", "tags": ["good", "better"], "notes": "first line\nsecond"}]}
        bulk = client.post(
            "/tag",
            data={"ids": "2,3", "add": "batch", "csrf_token": token, "next": "/?where=x"},
            follow_redirects=False,
        )
        assert bulk.status_code == 303 and bulk.headers["location"] == "/?where=x"
        assert client.get("/runs/1/annotate").status_code == 405
        assert "batch" in client.get("/", params={"where": '"batch" in tags'}).text
    store = gnomon.query.open(fresh_url)
    assert store.run("1").tags == ("good", "better") and store.run("1").notes == "first line\nsecond"
    assert store.runs('"batch" in tags').ids == ["3", "2"]


def test_read_only_hides_and_refuses_edits(fresh_url: str) -> None:
    with TestClient(create_app(fresh_url, read_only=True)) as client:
        page = client.get("/runs/1")
        assert 'id="tags-form"' not in page.text and 'id="notes-form"' not in page.text
        assert 'id="tag-form"' not in client.get("/").text
        assert "set-cookie" not in page.headers
        assert client.post("/runs/1/annotate", data={"add": "x"}).status_code == 403
    assert gnomon.query.open(fresh_url).run("1").tags == ("baseline",)


# ------------------------------------------------------------ assets and gzip --


def test_every_vendored_script_loads_in_dependency_order(client: Any) -> None:
    page = client.get("/").text
    scripts = re.findall(r'<script src="([^"]+)"', page)
    assert scripts[-1] == "/static/app.js"
    for src in scripts:
        assert client.get(src).status_code == 200, src
    names = [s.rsplit("/", 1)[-1] for s in scripts]
    cyto = [i for i, n in enumerate(names) if n.startswith("cytoscape-3")]
    plugin = [i for i, n in enumerate(names) if n.startswith("cytoscape-dagre")]
    dagre = [i for i, n in enumerate(names) if n.startswith("dagre")]
    if cyto and plugin:
        assert max(cyto + dagre) < min(plugin)
    assert not [s for s in scripts if not s.startswith("/")]  # nothing from another host
    assert not re.search(r'(src|href)="(https?:)?//', page)


def test_pages_are_compressed(client: Any) -> None:
    response = client.get("/", headers={"Accept-Encoding": "gzip"})
    assert response.headers.get("content-encoding") == "gzip"


# ------------------------------------------------------------------ live feed --


class _Server:
    """The app on a real uvicorn, in a thread, on a free port of 127.0.0.1."""

    def __init__(self, app: Any) -> None:
        import socket

        import uvicorn

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=1))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> _Server:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


def _until(condition: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_live_feed_polls_only_while_listened_to_and_reports_new_runs(tmp_path: Path) -> None:
    url = _write_store("file", tmp_path)
    app = create_app(url, live_interval=0.1)
    feed = app.state.dashboard.live
    with _Server(app) as server:
        assert httpx.get(server.url + "/").status_code == 200
        time.sleep(0.3)
        assert not feed.running and feed.polls == 0  # nobody listens: no reads at all
        events: list[dict[str, Any]] = []

        def listen() -> None:
            with httpx.stream("GET", server.url + "/events", timeout=10) as response:
                assert response.headers["content-type"].startswith("text/event-stream")
                assert "content-encoding" not in response.headers
                name = None
                for line in response.iter_lines():
                    if line.startswith("event: "):
                        name = line[7:]
                    elif line.startswith("data: ") and name == "changes":
                        events.append(json.loads(line[6:]))
                        return

        listener = threading.Thread(target=listen, daemon=True)
        listener.start()
        assert _until(lambda: feed.running and feed.polls >= 2)
        factory, _ = _factory("file", tmp_path)
        _run(factory(), "late", lambda run: 1, {"lr": 9}, tmp_path / "work")()
        listener.join(timeout=10)
        assert events and events[0]["added"] == ["10"]
        assert _until(lambda: not feed.running)  # the last listener left: the poller ended
        polls = feed.polls
        time.sleep(0.4)
        assert feed.polls == polls
        new_row = httpx.get(server.url + "/rows", params={"only": "10"}).text
        assert _row_ids(new_row) == ["10"]


def test_cli_prints_the_url_it_serves(fresh_url: str) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "gnomon.cli.main", "dashboard", "-S", fresh_url, "--port", "0", "--read-only"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        match = re.search(r"(http://127\.0\.0\.1:(\d+)/)", line)
        assert match and match.group(2) != "0", line
        assert _until(lambda: _get_ok(match.group(1)))
        page = httpx.get(match.group(1)).text
        assert 'id="read-only-badge"' in page and len(_row_ids(page)) == 9
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stdout.close()
        process.stderr.close()


def _get_ok(url: str) -> bool:
    try:
        return httpx.get(url).status_code == 200
    except httpx.HTTPError:
        return False
