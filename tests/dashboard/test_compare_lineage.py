"""Compare and lineage pages in a browser, and the offline guarantee: nothing is fetched from outside 127.0.0.1."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser

IDS = ("10", "11", "12")  # conftest's three training runs: lr, batch and optim differ; epochs and data do not


def test_compare_shows_differing_config_same_colours_and_parallel_coordinates(
        page, dashboard_server, fixture_store, shoot):
    server = dashboard_server(fixture_store)
    page.goto(f"{server.url}/")
    for run_id in IDS:
        page.check(f'#run-row-{run_id} .run-select')
    page.click("#compare-selected")
    page.wait_for_url("**/compare?ids=**")
    assert sorted(page.evaluate("document.body.dataset.runIds").split(",")) == sorted(IDS)

    keys = page.eval_on_selector_all("#compare-config tr[data-key]", "rows => rows.map(r => r.dataset.key)")
    assert sorted(k.removeprefix("config.") for k in keys) == ["batch", "lr", "optim"]
    page.click("#toggle-all")
    page.wait_for_url("**/compare?*all=1*")
    page.wait_for_selector('#compare-config tr[data-key="config.epochs"]')
    every = page.eval_on_selector_all("#compare-config tr[data-key]", "rows => rows.map(r => r.dataset.key)")
    assert {"epochs", "batch"} <= {k.removeprefix("config.") for k in every}
    page.go_back()

    page.wait_for_selector('.gnomon-plot[data-state="ready"] >> nth=1')
    page.wait_for_selector('canvas.gnomon-parcoords[data-state="ready"]')
    colours = page.evaluate("window.gnomonPlots.map(p => p.colors)")
    assert len(colours) == 2 and colours[0] == colours[1]
    assert sorted(colours[0]) == sorted(IDS) and len(set(colours[0].values())) == 3
    assert page.evaluate("ids => ids.map(id => window.gnomonColor(id))", list(IDS)) == [colours[0][i] for i in IDS]

    parcoords = page.evaluate("({ids: window.gnomonParcoords[0].ids, polylines: window.gnomonParcoords[0].polylines,"
                              " axes: window.gnomonParcoords[0].axes})")
    assert parcoords["polylines"] == 3 and sorted(parcoords["ids"]) == sorted(IDS)
    assert len(parcoords["axes"]) >= 2
    shoot(page, "compare")

    # Brushing the lr axis around the smallest value keeps only run 12 in the tables.
    axis = next(a for a in parcoords["axes"] if a.endswith("lr"))
    page.evaluate("axis => window.gnomonParcoords[0].brush(axis, 0, 0.0015)", axis)
    page.wait_for_function("() => document.querySelector('#compare-runs tr[data-run-id=\"10\"]').hidden")
    hidden = page.eval_on_selector_all("#compare-runs tr[data-run-id]",
                                       "rows => Object.fromEntries(rows.map(r => [r.dataset.runId, r.hidden]))")
    assert hidden == {"10": True, "11": True, "12": False}


def test_lineage_draws_three_nodes_two_edges_and_clicking_opens_a_run(page, dashboard_server, fixture_store, shoot):
    server = dashboard_server(fixture_store)
    page.goto(f"{server.url}/runs/6?tab=lineage")
    page.wait_for_selector('.gnomon-lineage[data-state="ready"]')
    graph = page.evaluate("({nodes: window.gnomonLineage.nodes().map(n => n.id()).sort(),"
                          " edges: window.gnomonLineage.edges().map(e => [e.source().id(), e.target().id()]).sort()})")
    assert graph == {"nodes": ["6", "7", "8"], "edges": [["6", "7"], ["7", "8"]]}
    shoot(page, "lineage")
    position = page.evaluate("""() => { const cy = window.gnomonLineage, p = cy.getElementById('7').renderedPosition(),
        box = cy.container().getBoundingClientRect(); return {x: box.left + p.x, y: box.top + p.y}; }""")
    page.mouse.click(position["x"], position["y"])
    page.wait_for_url(f"{server.url}/runs/7?tab=lineage")
    assert page.locator("#run-id").inner_text() == "7"


def test_no_page_requests_anything_outside_127_0_0_1(page, dashboard_server, fixture_store, outside_requests):
    seen: list[str] = []
    page.on("request", lambda request: seen.append(request.url))
    # The guard works: a request elsewhere is aborted and recorded.
    page.goto("about:blank")
    page.evaluate("() => fetch('http://example.invalid/probe').catch(() => null)")
    assert outside_requests.pop() == "http://example.invalid/probe"
    seen.clear()

    server = dashboard_server(fixture_store)
    urls = ["/", "/?where=config.lr%20%3C%200.05&sort=-start_time", "/compare?ids=10,11,12",
            "/runs/9?tab=artifacts&name=artifact_report.html&scripts=1"]
    urls += [f"/runs/6?tab={tab}" for tab in ("overview", "config", "metrics", "output", "artifacts", "sources",
                                                "resources", "lineage", "json")]
    for url in urls:
        page.goto(server.url + url)
        if "lineage" in url:
            page.wait_for_selector('.gnomon-lineage[data-state="ready"]')
    page.goto(server.url + "/runs/10?tab=metrics")
    page.wait_for_selector('.gnomon-plot[data-state="ready"]')
    assert len(seen) > 50
    assert all(url.startswith(server.url) for url in seen), [u for u in seen if not u.startswith(server.url)]
    # Every page this session's browser tests opened went through the same guard.
    assert outside_requests == []
