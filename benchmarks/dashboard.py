"""The dashboard in a real browser (Debian's chromium via Playwright) against a real uvicorn server process.

Builds a file store once (cached in the scratch folder): N finished runs (default 10,000), one run with a
1,000,000-point metric, and 10 runs × 5 metrics × 200,000 points to compare. Then prints, in one run:

* R9: first paint of the runs table (100 rows), server warm: navigation timing from
  ``performance.getEntriesByType`` and the bytes transferred (page + every resource).
* R7: a 1M-point metric plotted from ≤ 4,000 points: ``/api/series`` server time, warm, and its size.
* compare of 10 runs × 5 metrics × 200k points: page until every plot is drawn, time and bytes.
* R10: a point (an output line) logged by a live run → shown on its open run page, latency.
* R11: the server's RSS;  idle CPU of the server with no client connected.

    python benchmarks/dashboard.py [--runs 10000]

Targets: first paint ≤ 1.0 s and ≤ 300 KB; series ≤ 0.1 s warm; compare ≤ 2 s and ≤ 2 MB; live ≤ 2 s;
RSS ≤ 200 MB; idle CPU ≈ 0.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import MappingProxyType

SCRATCH = Path(os.environ.get("GNOMON_BENCH_DIR", Path(tempfile.gettempdir()) / "gnomon-bench-dashboard"))
CHROMIUM = os.environ.get("GNOMON_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
METRICS = ("loss", "acc", "lr", "grad_norm", "val_loss")


def build(folder: Path, n: int) -> tuple[str, list[str]]:
    """The store: n small runs, one 1M-point run, ten 5 × 200k-point runs. Returns (big id, compare ids)."""
    import numpy as np

    from gnomon.events import CompletedEvent, HeartbeatEvent, MetricSeries, MetricsEvent, StartedEvent, freeze
    from gnomon.observers import FileStorageObserver

    marker = folder / f"built-{n}"
    if marker.exists():
        return marker.read_text().split(";")[0], marker.read_text().split(";")[1].split(",")
    observer = FileStorageObserver(str(folder))
    base = datetime(2026, 1, 1, tzinfo=UTC)

    def start(i: int, name: str) -> str:
        config = {"seed": i, "lr": 10 ** -(1 + i % 4), "batch": 2 ** (4 + i % 5), "optim": ["adam", "sgd"][i % 2],
                  "model": {"depth": 2 + i % 6, "width": [64, 128]}}
        return observer.on_started(StartedEvent(
            run_id=None, seq=0, time=base + timedelta(minutes=i), experiment=freeze({"name": name}), command="main",
            host=freeze({"hostname": f"node{i % 9}"}), config=freeze(config),
            meta=freeze({"command": "main", "options": {}, "beat_interval": 10.0, "pid": 1})))

    def finish(run_id: str, i: int) -> None:
        t0 = base + timedelta(minutes=i)
        observer.on_heartbeat(HeartbeatEvent(run_id=run_id, seq=90, time=t0 + timedelta(seconds=50), info=freeze({})))
        observer.on_completed(CompletedEvent(run_id=run_id, seq=91, time=t0 + timedelta(seconds=60), result=float(i)))

    def log(run_id: str, i: int, names: tuple[str, ...], points: int) -> None:
        stamp = (base + timedelta(minutes=i)).timestamp()
        chunk = 100_000
        for c, lo in enumerate(range(0, points, chunk)):
            steps = np.arange(lo, min(points, lo + chunk))
            series = {}
            for k, name in enumerate(names):
                values = 1.0 / (1 + steps / 1000.0) + 0.01 * k + 0.001 * np.sin(steps + i)
                if name == "loss" and points >= 1_000_000:
                    values[steps == 123_457] = 50.0
                series[name] = MetricSeries(steps.tolist(), values.tolist(), (stamp + steps * 1e-3).tolist())
            observer.on_metrics(MetricsEvent(run_id=run_id, seq=1 + c, time=base, series=MappingProxyType(series)))

    for i in range(n):
        run_id = start(i, f"exp{i % 4}")
        log(run_id, i, ("loss", "acc"), 20)
        finish(run_id, i)
    big = start(n, "big")
    log(big, n, ("loss",), 1_000_000)
    finish(big, n)
    compare = []
    for j in range(10):
        run_id = start(n + 1 + j, "compare")
        log(run_id, n + 1 + j, METRICS, 200_000)
        finish(run_id, n + 1 + j)
        compare.append(str(run_id))
    observer.close()
    marker.write_text(f"{big};{','.join(compare)}")
    return str(big), compare


SERVER = """
import sys, uvicorn
from gnomon.dashboard.app import create_app
uvicorn.run(create_app(sys.argv[1]), host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
"""

LIVE = """
import pathlib, sys, time
from gnomon.observers import FileStorageObserver
from gnomon.run import Run

def main():
    step = 0
    while not pathlib.Path(sys.argv[2]).exists():
        print(f"T={time.time():.3f}", flush=True)
        run.log_scalar("loss", 1.0 / (step + 1), step)
        step += 1
        time.sleep(0.5)

run = Run(config={"live": True}, main_function=main, observers=[FileStorageObserver(sys.argv[1])],
          experiment_info={"name": "live", "base_dir": ".", "sources": [], "dependencies": [], "repositories": []})
run.beat_interval = 0.5
run.capture_mode = "sys"
run()
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def rss(pid: int) -> int:
    """A process's resident memory in bytes (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def cpu_seconds(pid: int) -> float:
    """A process's user + system CPU time so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as response:
        return bytes(response.read())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    folder = SCRATCH / f"store-{args.runs}"
    folder.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    big, compare = build(folder, args.runs)
    print(f"store: {folder} ({args.runs} runs + 11), ready in {time.perf_counter() - began:.1f}s")

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(folder), str(port)])
    live = None
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                fetch(url + "/static/app.css")
                break
            except OSError:
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.1)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(url + "/")  # warm: the table's facts and the server's caches
            paints = []
            for _ in range(3):
                page.goto(url + "/")
                page.wait_for_selector("#runs-body tr.run-row >> nth=99")
                timing = page.evaluate("""() => { const n = performance.getEntriesByType('navigation')[0];
                    const r = performance.getEntriesByType('resource');
                    return {paint: n.domContentLoadedEventEnd, ttfb: n.responseStart, bytes: n.transferSize
                            + r.reduce((s, e) => s + e.transferSize, 0), rows: document.querySelectorAll('tr.run-row').length}; }""")
                paints.append(timing)
            # transferSize is 0 for resources the browser took from its cache: count the first, uncached view too.
            fresh = browser.new_page(viewport={"width": 1280, "height": 800})
            fresh.goto(url + "/")
            first_bytes = fresh.evaluate("""() => performance.getEntriesByType('navigation')[0].transferSize
                + performance.getEntriesByType('resource').reduce((s, e) => s + e.transferSize, 0)""")
            fresh.close()
            paint = statistics.median(t["paint"] for t in paints) / 1000
            print(f"R9  first paint, {paints[0]['rows']} rows of {args.runs:,}: {paint:.3f}s "
                  f"(first byte {statistics.median(t['ttfb'] for t in paints) / 1000:.3f}s); "
                  f"transferred {first_bytes / 1024:.0f} KB cold cache   [target <= 1.0s, <= 300 KB]")

            series_url = f"{url}/api/series?ids={big}&names=loss&points=4000"
            body = fetch(series_url)
            times = []
            for _ in range(5):
                start = time.perf_counter()
                body = fetch(series_url)
                times.append(time.perf_counter() - start)
            import json

            points = len(json.loads(body)["series"][0]["x"])
            print(f"R7  1,000,000-point metric -> {points} points: {statistics.median(times):.3f}s warm, "
                  f"{len(body) / 1024:.0f} KB   [target <= 0.1s]")

            for attempt in ("cold", "warm"):
                start = time.perf_counter()
                page.goto(f"{url}/compare?ids={','.join(compare)}")
                page.wait_for_function(
                    "n => document.querySelectorAll('.gnomon-plot[data-state=\"ready\"]').length >= n", arg=len(METRICS),
                    timeout=60_000)
                took = time.perf_counter() - start
                moved = page.evaluate("""() => performance.getEntriesByType('navigation')[0].transferSize
                    + performance.getEntriesByType('resource').reduce((s, e) => s + e.transferSize, 0)""")
                api = page.evaluate("""() => performance.getEntriesByType('resource')
                    .filter(e => e.name.includes('/api/')).reduce((s, e) => s + e.transferSize, 0)""")
                print(f"    compare 10 runs x 5 metrics x 200k points ({attempt}): {took:.3f}s, "
                      f"{moved / 1024:.0f} KB ({api / 1024:.0f} KB of JSON)   [target <= 2s, <= 2 MB]")

            gate = folder.parent / "live.gate"
            gate.unlink(missing_ok=True)
            live = subprocess.Popen([sys.executable, "-c", LIVE, str(folder), str(gate)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            import gnomon

            with gnomon.open(str(folder)) as store:
                while True:
                    running = store.runs('status == "RUNNING"').ids
                    if running:
                        break
                    time.sleep(0.2)
            page.goto(f"{url}/runs/{running[0]}?tab=output")
            page.wait_for_selector("#live-state.on")
            page.evaluate("""() => { window.__lat = []; const out = document.querySelector('#output');
                new MutationObserver(() => { const m = out.textContent.trim().split('\\n').pop().match(/T=([0-9.]+)/);
                  if (m) window.__lat.push(Date.now() / 1000 - parseFloat(m[1])); })
                .observe(out, {childList: true, characterData: true, subtree: true}); }""")
            page.wait_for_function("window.__lat.length >= 6", timeout=60_000)
            lat = page.evaluate("window.__lat")
            print(f"R10 logged line -> shown on the open run page: median {statistics.median(lat):.2f}s, "
                  f"max {max(lat):.2f}s over {len(lat)}   [target <= 2s]")
            gate.touch()
            live.wait(timeout=30)
            browser.close()

        print(f"R11 server RSS after all of the above: {rss(server.pid) / 2**20:.0f} MB   [target <= 200 MB]")
        time.sleep(3)  # the last client's stream closes, the live poller stops
        before = cpu_seconds(server.pid)
        time.sleep(10)
        used = cpu_seconds(server.pid) - before
        print(f"    idle server, no clients: {100 * used / 10:.2f}% CPU over 10s   [target ~ 0]")
    finally:
        if live is not None and live.poll() is None:
            live.kill()
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
