"""QA5, access (notes/qa5-access.md): the page without a mouse, zoomed, and through a screen reader.
axe-core finds no violation; these are what it cannot see: how often the live regions speak while a
run trains, where the keyboard's focus goes after a button that disables itself, the keyboard's way
to a kernel's exact weights, and a 320 px wide page (400% zoom of a 1280 px screen)."""

from __future__ import annotations

import json
import re

import pytest

from specs import TINY_MLP

from .conftest import open_page
from .test_dash_truth3 import OPEN, RECORD_TEXT, STEP_SAID
from .test_dashboard import api
from .test_truthful_panels import TWO_CONV, closed, stop_all, wait_run, watch

pytestmark = pytest.mark.e2e

LONG = {"spec": TINY_MLP, "epochs": 1000, "batch_size": 1}
ACTIVE = """() => { const e = document.activeElement;
  return e ? (e.id || e.dataset.testid || e.tagName) : null; }"""
# Every change inside a live region, as a screen reader would be told of it: aria-live other than
# "off", the roles that imply it (status, alert, log, timer, marquee) and <output> (role status).
LISTEN = """() => {
  window.__said = [];
  const implied = { status: 'polite', alert: 'assertive', log: 'polite', timer: 'off', marquee: 'off' };
  const live = (e) => {
    const own = e.getAttribute('aria-live');
    if (own) return own !== 'off';
    const role = e.getAttribute('role') || (e.tagName === 'OUTPUT' ? 'status' : '');
    return (implied[role] ?? 'off') !== 'off';
  };
  for (const e of document.querySelectorAll('*')) {
    if (!live(e)) continue;
    new MutationObserver(() => window.__said.push(e.id || e.dataset.testid || e.className))
      .observe(e, { subtree: true, childList: true, characterData: true });
  }
}"""


# What sticks out of the window on the right, not inside something that scrolls or clips it.
OUT = """() => [...document.querySelectorAll('body *')].filter((e) => {
  const r = e.getBoundingClientRect();
  if (!r.width || r.right <= innerWidth + 0.5 || getComputedStyle(e).position === 'fixed') return false;
  for (let p = e.parentElement; p && p !== document.body; p = p.parentElement)
    if (getComputedStyle(p).overflowX !== 'visible') return false;
  return true;
}).slice(0, 8).map((e) => `${e.tagName}#${e.id}.${e.className} ${e.getBoundingClientRect().right}`)"""


SAYS = "(words) => document.getElementById('status-say').textContent.includes(words)"


def steps(page, run_id: str) -> int:
    return page.evaluate("(id) => window.glassnet.S.runs.get(id)?.step ?? 0", run_id)


def test_live_regions_speak_of_changes_not_of_every_step(server, browser) -> None:
    """The status bar was one live region holding the step count (several new texts a second), and
    the form's banner and the rate in use were rewritten with every step: a screen reader was told
    of ~20 changes a second while a run trained. Now only a change of state is spoken."""
    stop_all(server)
    run = api(server, "/api/runs", {**LONG, "name": "quiet run"})
    page, errors = open_page(browser, server.url)
    watch(page, run["id"])
    page.wait_for_function(f"() => (window.glassnet.S.runs.get({json.dumps(run['id'])})?.step ?? 0) > 20")
    page.evaluate(LISTEN)
    before = steps(page, run["id"])
    page.wait_for_timeout(4000)
    said = page.evaluate("() => window.__said")
    assert steps(page, run["id"]) > before + 20, "the run did not train while the page was listened to"
    assert len(said) <= 4, f"{len(said)} changes of live regions in 4 s of training: {sorted(set(said))}"
    say = page.get_by_test_id("status-say")
    page.wait_for_function(SAYS, arg="quiet run: running")
    assert say.inner_text().startswith("live"), say.inner_text()
    # The bar still shows the step (read on demand), and a change of state is spoken, once.
    assert re.search(r"step [\d,]+", page.get_by_test_id("progress").inner_text())
    api(server, f"/api/runs/{run['id']}/pause", {})
    page.wait_for_function(SAYS, arg="quiet run: paused")
    page.wait_for_timeout(1500)
    assert page.evaluate("() => window.__said").count("status-say") == 1
    stop_all(server)
    closed(page, errors)


def test_run_controls_keep_the_keyboard_focus(server, browser) -> None:
    """Start, Pause and Resume disable themselves when pressed: the focus fell to the page's body
    (a screen reader said nothing; the next Tab started over from there). It now goes to the control
    that makes sense next: Start -> Pause, Pause -> Resume, Resume -> Pause, Stop -> Start."""
    stop_all(server)
    # Another run, stopped after it began (so it can be continued): the Runs table's Open below.
    other = api(server, "/api/runs", {**LONG, "name": "other run"})
    wait_run(server, other["id"], ("running",))
    api(server, f"/api/runs/{other['id']}/stop", {})
    assert wait_run(server, other["id"], ("stopped",))["resumable"], "the other run cannot be continued"
    page, errors = open_page(browser, server.url)
    page.wait_for_function("() => !['preset', 'start'].some((id) => document.getElementById(id).disabled)")
    page.select_option("#preset", "mlp")
    page.fill("#hyper [name=batch_size]", "1")
    page.fill("#hyper [name=epochs]", "1000")
    page.focus('a.skip[href="#run-controls"]')
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    assert page.evaluate(ACTIVE) == "start"
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.activeElement?.id === 'pause'", timeout=30000)
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.activeElement?.id === 'resume'", timeout=15000)
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.activeElement?.id === 'pause'", timeout=15000)
    page.keyboard.press("Tab")  # Resume and Step are disabled while it trains
    assert page.evaluate(ACTIVE) == "stop"
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.activeElement?.id === 'start'", timeout=15000)
    assert page.get_by_test_id("run-status").get_attribute("data-state") == "stopped"
    # Rename by the keyboard: Enter saves, and the focus is back on the row's Rename.
    run_id = page.evaluate("() => window.glassnet.S.watched")
    rename = page.locator(f'[data-testid=runs] tr[data-run="{run_id}"] button', has_text="Rename")
    rename.focus()
    page.keyboard.press("Enter")
    page.keyboard.press("Control+a")
    page.keyboard.type("typed name")
    page.keyboard.press("Enter")
    page.wait_for_function(f"() => window.glassnet.S.runs.get({json.dumps(run_id)})?.name === 'typed name'")
    assert page.evaluate("() => document.activeElement?.textContent") == "Rename"
    assert page.evaluate("() => document.activeElement?.closest('tr')?.dataset.run") == run_id
    # Open another run: its Open goes away (the row is watched now); the focus stays in its row, on
    # Rename (not on Continue, which a second Enter would press).
    other_id = other["id"]
    page.locator(f'[data-testid=runs] tr[data-run="{other_id}"] button[data-act=open]').focus()
    page.keyboard.press("Enter")
    page.wait_for_function(f"() => window.glassnet.S.watched === {json.dumps(other_id)}")
    # Once the table is repainted (no Open in the row), the focus is on that row's Rename.
    page.wait_for_function(
        "(id) => !document.querySelector(`[data-testid=runs] tr[data-run='${id}'] button[data-act=open]`)",
        arg=other_id,
    )
    page.wait_for_timeout(300)
    assert page.evaluate("() => document.activeElement?.closest('tr')?.dataset.run") == other_id
    assert page.evaluate("() => document.activeElement?.textContent") == "Rename"
    stop_all(server)
    closed(page, errors)


def test_a_kernels_exact_weights_without_a_mouse(server, browser) -> None:
    """A kernel's exact weights came only from a click on the picture. Enlarge's dialog now has a
    kernel number and a button; the weights' picture says its numbers, and Escape goes back."""
    stop_all(server)
    body = {"spec": TWO_CONV, "epochs": 1, "batch_size": 50, "lr": 0.005, "name": "convs"}
    run = api(server, "/api/runs", body)
    wait_run(server, run["id"], ("finished",))
    page, errors = open_page(browser, server.url + "/#learned")
    page.evaluate(RECORD_TEXT)
    watch(page, run["id"])
    enlarge = page.get_by_role("button", name=re.compile(r"^Enlarge layer 0 · conv2d kernels"))
    enlarge.focus()
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.getElementById('zoom').open")
    field = page.locator("[data-testid=zoom-pick] input")
    field.focus()
    page.keyboard.press("Control+a")
    page.keyboard.type("2")
    page.keyboard.press("Enter")
    page.wait_for_function(STEP_SAID, timeout=20000)
    assert page.locator("#zoom-title").inner_text().endswith("kernel 2")
    # The focus is on the words about the weights, inside the dialog.
    assert page.evaluate("() => document.activeElement?.classList.contains('caption')")
    # The canvas's words are the numbers it draws in its cells, row by row.
    canvas = page.locator("#zoom-body figure canvas").first
    label = canvas.get_attribute("aria-label") or ""
    drawn = canvas.evaluate("(c) => c.__texts ?? []")
    rows = re.findall(r"row \d+: ([^;]+)", label)
    assert len(rows) == 5 and drawn, (label, drawn)
    assert [x for row in rows for x in row.split(", ")] == drawn, (label, drawn)
    page.keyboard.press("Escape")
    page.wait_for_function("() => !document.getElementById('zoom').open")
    assert page.evaluate("() => document.activeElement?.textContent") == "Enlarge"
    closed(page, errors)


@pytest.mark.parametrize("height,dpr", [(640, 2), (225, 4)])
def test_a_320_px_page_does_not_scroll_sideways(server, browser, height, dpr) -> None:
    """At 320 px (a small phone, or 400% zoom) the Learned timeline's slider kept its own minimum
    width and pushed the page 3 px sideways."""
    ctx = browser.new_context(viewport={"width": 320, "height": height}, device_scale_factor=dpr)
    page = ctx.new_page()
    page.goto(server.url)
    page.wait_for_function(OPEN)
    page.wait_for_timeout(1500)
    wide = page.evaluate("() => [document.documentElement.scrollWidth, innerWidth]")
    assert wide[0] <= wide[1], f"the page is {wide[0]} px wide in a {wide[1]} px window: {page.evaluate(OUT)}"
    ctx.close()
