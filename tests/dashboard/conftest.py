"""Browser tests of the dashboard: Debian's chromium driven by pytest-playwright against a real uvicorn server.

No browser is downloaded: the launch arguments point Playwright at ``/usr/bin/chromium``
(``apt-get install chromium``). Without it the tests skip with the reason, except
under CI (``CI`` set), where a missing browser fails them: CI must really run them.
Every page a test opens goes through :func:`offline_page`'s route, which aborts and
records any request not addressed to 127.0.0.1; the offline test asserts none was tried.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("GNOMON_CHROMIUM", "/usr/bin/chromium")
#: Flags that keep chromium quiet on a closed network (no background fetches, no updates, no QUIC).
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
#: Screenshots for docs/dashboard.md, written by the tests that render each page.
IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
VIEWPORT = {"width": 1280, "height": 800}

#: Requests to anything but 127.0.0.1 attempted by any page during the session.
OUTSIDE_REQUESTS: list[str] = []


def _browser_missing() -> str | None:
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        return f"no chromium at {CHROMIUM} (apt-get install chromium)"
    try:
        import playwright  # noqa: F401
        import pytest_playwright  # noqa: F401
    except ImportError as error:
        return f"playwright is not installed ({error}); pip install playwright pytest-playwright"
    return None


@pytest.fixture(scope="session", autouse=True)
def _browser_installed() -> None:
    """Skip where no browser is installed; under CI fail instead, since CI must run these tests."""
    reason = _browser_missing()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the browser tests: {reason}")
        pytest.skip(reason)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Debian's chromium instead of a downloaded browser."""
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    """A fixed viewport, so screenshots and plot widths are the same on every machine."""
    return {**browser_context_args, "viewport": VIEWPORT}


def _local(url: str) -> bool:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return parts.scheme in ("data", "blob", "about") or parts.hostname == "127.0.0.1"


@pytest.fixture
def page(dashboard_server: Any, page: Any) -> Any:
    """Every page blocks (and records) requests that would leave the machine.

    It depends on ``dashboard_server`` so that it closes (ending its event stream)
    before the servers stop.
    """

    def guard(route: Any) -> None:
        url = route.request.url
        if _local(url):
            route.continue_()
        else:
            OUTSIDE_REQUESTS.append(url)
            route.abort()

    page.route("**/*", guard)
    page.set_default_timeout(10_000)
    return page


# ------------------------------------------------------------------ the server --


@dataclass
class LiveServer:
    """A dashboard served by uvicorn on 127.0.0.1 from a thread; ``requests`` logs every path asked for."""

    url: str
    app: Any
    requests: list[str] = field(default_factory=list)

    def asked(self, prefix: str) -> list[str]:
        """The request paths (with query) starting with ``prefix``."""
        return [r for r in self.requests if r.startswith(prefix)]


class _Recorder:
    """ASGI middleware that records each HTTP request's path and query: the server's request log."""

    def __init__(self, app: Any, log: list[str]) -> None:
        self.app = app
        self.log = log

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            query = scope.get("query_string", b"").decode("latin-1")
            self.log.append(scope["path"] + (f"?{query}" if query else ""))
        await self.app(scope, receive, send)


@contextlib.contextmanager
def serve(app: Any) -> Iterator[LiveServer]:
    """Serve an ASGI app with uvicorn on a socket bound to 127.0.0.1:0 until the block ends."""
    import uvicorn

    log: list[str] = []
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        _Recorder(app, log), lifespan="on", log_level="warning", access_log=False, timeout_graceful_shutdown=3,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="dashboard-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the dashboard server did not start")
        time.sleep(0.02)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", app, log)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


@pytest.fixture
def dashboard_server() -> Iterator[Callable[..., LiveServer]]:
    """Start dashboards over stores: ``dashboard_server(store_url, read_only=..., died_after=...)``."""
    from gnomon.dashboard.app import create_app

    with contextlib.ExitStack() as stack:

        def start(store: Any, **options: Any) -> LiveServer:
            return stack.enter_context(serve(create_app(store, **options)))

        yield start


# ------------------------------------------------------------------ the stores --


#: The store's runs: 1..8 are query_fixtures' (6 → 7 → 8 linked by artifacts), then these.
HTML_RUN, COMPARE_RUNS = "9", ("10", "11", "12")
#: The HTML artifact's script: it reports what it could do, and calls the API (``probe=artifact`` marks the call).
HTML_ARTIFACT = """<!doctype html><html><body><p id="report">not run</p><script>
var out = [];
try { document.cookie = "pwned=1"; out.push(document.cookie.indexOf("pwned") >= 0 ? "cookie-set" : "cookie-ignored"); }
catch (e) { out.push("cookie-blocked"); }
try { out.push("parent:" + window.parent.document.title); } catch (e) { out.push("parent-blocked"); }
function done() { document.getElementById("report").textContent = out.join(" "); }
fetch("/api/rows?ids=1&cols=config.lr&probe=artifact", {credentials: "include"})
  .then(function (r) { return r.text(); })
  .then(function (t) { out.push("read:" + t.length); done(); }, function () { out.push("fetch-blocked"); done(); });
</script></body></html>
"""


def _simple_run(observer: Any, name: str, config: dict[str, Any], main: Callable[[Any], Any]) -> None:
    from gnomon.run import Run

    run: Any = None
    run = Run(
        config=config, main_function=lambda: main(run), observers=[observer],
        experiment_info={"name": name, "base_dir": "/work", "sources": [], "dependencies": [], "repositories": []},
        host_info={"hostname": "box"},
    )
    run.beat_interval = 0.05
    run.capture_mode = "sys"
    run()


@pytest.fixture(scope="session")
def fixture_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A file store: the read-side fixture runs (1..8), a run with an HTML artifact (9), three to compare (10..12)."""
    from gnomon.observers import FileStorageObserver
    from query_fixtures import write_fixture_runs

    base = tmp_path_factory.mktemp("dashboard-fixture")
    folder = str(base / "runs")
    write_fixture_runs(lambda: FileStorageObserver(folder), base / "work")

    def report(run: Any) -> str:
        html = base / "report.html"
        html.write_text(HTML_ARTIFACT, encoding="utf-8")
        run.add_artifact(str(html), "report.html")
        return "reported"

    _simple_run(FileStorageObserver(folder), "report", {"lr": 0.1}, report)
    for k, (lr, batch, optim) in enumerate([(0.1, 32, "adam"), (0.01, 64, "sgd"), (0.001, 128, "adam")]):

        def train(run: Any, k: int = k) -> float:
            for step in range(50):
                run.log_scalar("loss", 1.0 / (step + 1 + 5 * k), step)
                run.log_scalar("acc", 1.0 - 1.0 / (step + 2 + k), step)
            print(f"trained {k}")
            return 0.1 * k

        config = {"lr": lr, "batch": batch, "optim": optim, "epochs": 10, "data": {"path": "/data/set"}}
        _simple_run(FileStorageObserver(folder), "train", config, train)
    return folder


def populate(folder: str, n: int, points: int = 10) -> None:
    """Write ``n`` finished runs through the file observer's own event methods (fast: no run process)."""
    from datetime import datetime, timedelta

    from event_builders import completed, heartbeat, metrics, series, started
    from gnomon.observers import FileStorageObserver

    observer = FileStorageObserver(folder)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(n):
        t0 = base + timedelta(minutes=i)
        config = {"seed": i, "lr": 10 ** -(1 + i % 4), "batch": 2 ** (4 + i % 5), "optim": ["adam", "sgd"][i % 2]}
        run_id = observer.on_started(started(
            time=t0, experiment={"name": f"exp{i % 3}"}, host={"hostname": f"node{i % 4}"}, config=config,
            meta={"command": "main", "options": {}, "beat_interval": 10.0, "pid": 1},
        ))
        stamp = t0.timestamp()
        offset = (i * 7919) % 1000 / 1000.0  # a loss minimum that is not in id order
        loss = series([offset + 1.0 / (j + 1) for j in range(points)], timestamps=[stamp + j for j in range(points)])
        observer.on_metrics(metrics(run_id, 1, loss=loss, time=t0))
        observer.on_heartbeat(heartbeat(run_id, 2, info={}, time=t0 + timedelta(seconds=50)))
        observer.on_completed(completed(run_id, 3, result=float(i), time=t0 + timedelta(seconds=60)))
    observer.close()


@pytest.fixture(scope="session")
def table_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A file store of 250 finished runs: three pages of the runs table."""
    folder = str(tmp_path_factory.mktemp("dashboard-table") / "runs")
    populate(folder, 250)
    return folder


#: The big series: 1,000,000 points of a smooth curve with one spike.
SPIKE_STEP, SPIKE_VALUE, N_BIG = 123_457, 50.0, 1_000_000


@pytest.fixture(scope="session")
def big_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A file store with one run (id 1) holding a 1,000,000-point ``loss`` with a single spike."""
    from datetime import datetime

    import numpy as np

    from event_builders import completed, metrics, series, started
    from gnomon.observers import FileStorageObserver

    folder = str(tmp_path_factory.mktemp("dashboard-big") / "runs")
    observer = FileStorageObserver(folder)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    run_id = observer.on_started(started(time=t0, experiment={"name": "big"}, host={}, config={"lr": 0.1}, meta={}))
    chunk = N_BIG // 10
    for c in range(10):
        steps = np.arange(c * chunk, (c + 1) * chunk)
        values = 1.5 + 0.5 * np.sin(steps / 5000.0)
        values[steps == SPIKE_STEP] = SPIKE_VALUE
        loss = series(values.tolist(), steps=steps.tolist(), timestamps=(t0.timestamp() + steps * 1e-3).tolist())
        observer.on_metrics(metrics(run_id, 1 + c, loss=loss, time=t0))
    observer.on_completed(completed(run_id, 11, time=t0))
    observer.close()
    return folder


@pytest.fixture
def shoot(tmp_path: Path) -> Callable[[Any, str], Path]:
    """Screenshot a page (the 1280×800 viewport) as dashboard-<name>.png.

    Into the test's folder, so a test run leaves the checkout as it was; with
    ``GNOMON_UPDATE_SCREENSHOTS=1`` into docs/images/, for docs/dashboard.md.
    """
    folder = IMAGES if os.environ.get("GNOMON_UPDATE_SCREENSHOTS") == "1" else tmp_path

    def save(page: Any, name: str) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"dashboard-{name}.png"
        page.screenshot(path=str(path), type="png")
        assert path.stat().st_size > 1000, f"{path} is empty"
        return path

    return save


@pytest.fixture
def write_runs() -> Callable[[str, int], None]:
    """:func:`populate` for tests (test modules cannot import this conftest by name)."""
    return populate


@pytest.fixture
def outside_requests() -> list[str]:
    """The requests to anything but 127.0.0.1 that the pages of this test process tried (and were refused)."""
    return OUTSIDE_REQUESTS
