"""The buttons of the Runs and Class tables while a run trains (CI, 2026-11-29): both tables repaint
many times a second then, and each repaint built every row again. A button pressed during one
repaint and released after it was another element by then, so the browser sent the click to the
table and "Open" did nothing (tests' clicks retried "element was detached" for 30 s on a slow
machine; a person's click was lost). The rows are now patched in place (frontend/js/rowpatch.js)."""

from __future__ import annotations

import json
import urllib.request

import pytest
from playwright.sync_api import expect

from specs import TINY_MLP

from .conftest import open_page

pytestmark = pytest.mark.e2e

LONG = {"spec": TINY_MLP, "epochs": 1000, "batch_size": 10}
MARK = """sel => { const b = document.querySelector(sel); b.dataset.kept = "yes"; return b.textContent; }"""


def api(server, path: str, body: dict | None = None) -> dict:
    req = urllib.request.Request(
        server.url + path,
        data=None if body is None else json.dumps(body).encode(),
        headers={"content-type": "application/json"},
        method="POST" if body is not None else "GET",
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read() or b"null")


def slow_press(page, selector: str) -> None:
    """Press the button, hold it 0.8 s (a person's click on a busy page, or a slow one), release."""
    box = page.locator(selector).bounding_box()
    assert box is not None, selector
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.wait_for_timeout(800)
    page.mouse.up()


def test_buttons_stay_put_and_a_slow_click_lands_while_a_run_trains(server, browser) -> None:
    older = api(server, "/api/runs", {**LONG, "epochs": 1, "name": "older run"})
    page, errors = open_page(browser, server.url)
    # The older run ends; the one that trains now repaints both tables many times a second.
    page.wait_for_function(
        f"() => window.glassnet.S.runs.get({json.dumps(older['id'])})?.status === 'finished'",
        timeout=60000,
    )
    run = api(server, "/api/runs", {**LONG, "name": "training run"})
    page.wait_for_function(f"() => window.glassnet.S.watched === {json.dumps(run['id'])}", timeout=15000)
    page.wait_for_function(
        f"() => (window.glassnet.S.runs.get({json.dumps(run['id'])})?.step ?? 0) > 20", timeout=30000
    )
    in_runs = f'[data-testid="runs"] tr[data-run="{older["id"]}"] button[aria-label^="Open"]'
    in_class = f'[data-testid="class-runs"] tr[data-run="{older["id"]}"] button[data-act="open"]'
    progress = f'[data-testid="runs"] tr[data-run="{run["id"]}"] td.num'
    page.locator("#runs").scroll_into_view_if_needed()
    assert page.evaluate(MARK, in_runs) == "Open"
    page.locator("#class").scroll_into_view_if_needed()
    expect(page.locator(in_class)).to_be_visible(timeout=10000)
    page.evaluate(MARK, in_class)
    before = page.locator(progress).first.inner_text()
    # Several seconds of training: the tables have repainted (the run's epoch cell or the Class
    # table's 5 s refresh), and the two buttons are the very elements marked.
    page.wait_for_timeout(6000)
    assert page.evaluate(f"() => document.querySelector({json.dumps(in_runs)})?.dataset.kept") == "yes"
    assert page.evaluate(f"() => document.querySelector({json.dumps(in_class)})?.dataset.kept") == "yes"
    assert page.locator(progress).first.inner_text() != before, "the training run's row was not repainted"
    # A slow press on Open in the Runs table opens the older run.
    page.locator("#runs").scroll_into_view_if_needed()
    slow_press(page, in_runs)
    page.wait_for_function(f"() => window.glassnet.S.watched === {json.dumps(older['id'])}", timeout=5000)
    # And Open in the Class table goes back to the training run.
    page.locator("#class").scroll_into_view_if_needed()
    slow_press(page, f'[data-testid="class-runs"] tr[data-run="{run["id"]}"] button[data-act="open"]')
    page.wait_for_function(f"() => window.glassnet.S.watched === {json.dumps(run['id'])}", timeout=5000)
    api(server, f"/api/runs/{run['id']}/stop", {})
    errors.check()
