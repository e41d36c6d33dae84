"""A run's page in a browser: every tab, sandboxed HTML artifacts, edits and their guards."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser

TABS = ("overview", "config", "metrics", "output", "artifacts", "sources", "resources", "lineage", "json")


def test_every_tab_renders(page, dashboard_server, fixture_store, shoot):
    server = dashboard_server(fixture_store)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    for tab in TABS:
        response = page.goto(f"{server.url}/runs/2?tab={tab}")
        assert response.status == 200, tab
        assert page.locator(f"#panel-{tab}").is_visible(), tab
        assert page.locator(f"#tab-{tab}").get_attribute("class") == "tab active"
    page.goto(f"{server.url}/runs/2?tab=config")
    assert "ünï ✓" in page.locator("#config-flat").inner_text()
    page.goto(f"{server.url}/runs/2?tab=output")
    assert "ünïcødé output ✓" in page.locator("#output").inner_text()
    page.goto(f"{server.url}/runs/3")
    assert "the fixture fails" in page.locator("#fail-trace").inner_text()
    page.goto(f"{server.url}/runs/11?tab=metrics")
    page.wait_for_selector('.gnomon-plot[data-state="ready"] >> nth=1')
    assert page.evaluate("window.gnomonPlots.map(p => [p.metric, p.points > 0])") == [["acc", True], ["loss", True]]
    shoot(page, "run")
    assert errors == []


def _html_artifact(page, server):
    page.goto(f"{server.url}/runs/9?tab=artifacts")
    name = page.locator("#artifacts tr[data-artifact]").first.get_attribute("data-artifact")
    assert name.endswith("report.html")
    return name


def test_an_html_artifact_never_runs_its_scripts_in_the_dashboard_origin(page, dashboard_server, fixture_store):
    server = dashboard_server(fixture_store)
    name = _html_artifact(page, server)
    page.click(f'#artifacts tr[data-artifact="{name}"] a >> nth=0')
    frame_element = page.locator("#artifact-frame")
    frame_element.wait_for()
    assert frame_element.get_attribute("sandbox") == ""
    report = page.frame_locator("#artifact-frame").locator("#report")
    assert report.inner_text() == "not run"
    page.wait_for_timeout(500)
    assert report.inner_text() == "not run", "the artifact's script ran"
    assert server.asked("/api/rows") == [], "the artifact's script reached the API"
    assert not any(c["name"] == "pwned" for c in page.context.cookies())

    # Allowed scripts run in an opaque origin: no cookie, no parent, no readable API answer.
    page.click("#scripts-on")
    report = page.frame_locator("#artifact-frame").locator("#report")
    assert page.get_attribute("#artifact-frame", "sandbox") == "allow-scripts"
    assert page.evaluate("document.querySelector('#artifact-frame').contentDocument") is None
    page.frame_locator("#artifact-frame").locator("#report:not(:text('not run'))").wait_for()
    text = report.inner_text()
    assert text.split() == ["cookie-blocked", "parent-blocked", "fetch-blocked"], text
    assert "parent-blocked" in text, text
    assert "fetch-blocked" in text, text
    assert not any(c["name"] == "pwned" for c in page.context.cookies())


def test_edits_persist_and_need_the_csrf_token(page, dashboard_server, fixture_store):
    server = dashboard_server(fixture_store)
    page.goto(f"{server.url}/runs/4")
    page.fill("#tags-add", "reviewed")
    page.click("#tags-save")
    page.wait_for_url(f"{server.url}/runs/4")
    page.fill("#notes", "looked at it")
    page.click("#notes-save")
    page.wait_for_url(f"{server.url}/runs/4")
    page.reload()
    assert "reviewed" in page.locator("#tags .tag").all_inner_texts()
    assert page.input_value("#notes") == "looked at it"

    # The browser has the token cookie; a POST without the form's token is still refused.
    forged = page.request.post(f"{server.url}/runs/4/annotate", form={"notes": "forged"})
    assert forged.status == 403
    token = page.get_attribute('meta[name="gnomon-csrf"]', "content")
    allowed = page.request.post(f"{server.url}/runs/4/annotate", form={"notes": "looked at it", "csrf_token": token},
                                max_redirects=0)
    assert allowed.status == 303
    page.reload()
    assert page.input_value("#notes") == "looked at it"


def test_read_only_hides_edit_controls_and_refuses_edits(page, dashboard_server, fixture_store):
    server = dashboard_server(fixture_store, read_only=True)
    page.goto(f"{server.url}/runs/4")
    assert page.locator("#read-only-badge").is_visible()
    assert page.locator("#tags-form, #notes-form, #tags-save, #notes-save").count() == 0
    page.goto(f"{server.url}/")
    assert page.locator("#tag-form").count() == 0
    token = page.get_attribute('meta[name="gnomon-csrf"]', "content") or ""
    refused = page.request.post(f"{server.url}/runs/4/annotate", form={"notes": "no", "csrf_token": token})
    assert refused.status == 403
