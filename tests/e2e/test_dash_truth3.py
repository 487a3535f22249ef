"""QA3 of the dashboard (notes/qa3-dash.md): panels true over a whole run, and usable by everyone.
One test per defect (numbers in the names); a real `glassnet serve` and Chromium, small runs."""

from __future__ import annotations

import itertools
import math
import re
import time

import pytest
from playwright.sync_api import expect

from glassnet import numbers

from .conftest import open_page, pump_until
from .digits import DIGITS, draw
from .test_dashboard import api
from .test_learn import learn_on, wait_text
from .test_truthful_panels import (
    STATE,
    closed,
    number,
    pause_new_rate_resume,
    start_and_open,
    stop_all,
    wait_run,
    watch,
)

pytestmark = pytest.mark.e2e

TOP = "(id) => Math.round(document.getElementById(id).getBoundingClientRect().top)"
HEAD = "() => document.querySelector('.top').getBoundingClientRect().bottom"
OPEN = "() => document.querySelector('[data-testid=connection]').dataset.state === 'open'"
# Every text a canvas draws, kept on the canvas (reset when the whole canvas is cleared).
RECORD_TEXT = """(() => {
  const C = CanvasRenderingContext2D.prototype, fill = C.fillText, clear = C.clearRect;
  C.fillText = function (s, ...a) {
    (this.canvas.__texts ??= []).push(String(s));
    return fill.call(this, s, ...a);
  };
  C.clearRect = function (x, y, w, h) {
    if (x === 0 && y === 0 && w >= this.canvas.clientWidth) this.canvas.__texts = [];
    return clear.call(this, x, y, w, h);
  };
})()"""
STEP_SAID = "() => document.querySelector('#zoom-body .caption')?.dataset.step !== undefined"
AT_END = "() => Math.ceil(scrollY + innerHeight) >= document.documentElement.scrollHeight"


@pytest.fixture(scope="module")
def mlp_run(server) -> dict:
    """A small finished mlp run of two epochs (its loss starts high: the smoothed curve's warm-up)."""
    run = api(server, "/api/runs", {"preset": "mlp", "epochs": 2, "batch_size": 8, "name": "mlp qa3"})
    return wait_run(server, run["id"], ("finished",))


# -- 3, 8: the header and the Draw grid at tablet width ---------------------------------------------
@pytest.mark.parametrize("width,height", [(768, 1024), (1024, 768), (390, 844)])
def test_03_the_section_links_are_visible_and_focus_shows(server, browser, width, height) -> None:
    page, errors = open_page(browser, server.url, width=width, height=height)
    nav = page.evaluate(
        "() => { const n = document.querySelector('nav.sections'); return [n.clientWidth, n.scrollWidth]; }"
    )
    # At least half the links' width shows: a strip of 0 px (768) or two links (1024) hid them.
    assert nav[0] >= min(nav[1], 0.5 * width) - 1, nav
    links = page.locator("nav.sections a")
    for i in range(links.count()):
        links.nth(i).focus()
        page.wait_for_timeout(150)
        inside = page.evaluate(
            """() => { const a = document.activeElement, n = a.closest('nav').getBoundingClientRect(),
                  r = a.getBoundingClientRect(); return r.left >= n.left - 1 && r.right <= n.right + 1; }"""
        )
        assert inside, f"{links.nth(i).inner_text()} focused out of sight at {width} px"
    closed(page, errors)


def test_08_what_the_network_sees_stays_in_its_card_at_768(server, browser) -> None:
    page, errors = open_page(browser, server.url, width=768, height=1024)
    page.wait_for_timeout(1000)
    sw, right, card = page.evaluate(
        """() => [document.documentElement.scrollWidth,
                  document.getElementById('seen').getBoundingClientRect().right,
                  document.getElementById('seen').closest('.card').getBoundingClientRect().right]"""
    )
    assert sw <= 768, f"the page scrolls sideways: {sw} px"
    assert right <= card, (right, card)
    closed(page, errors)


# -- 4: a link to a section lands on it ------------------------------------------------------------
@pytest.mark.parametrize("width,height,dpr", [(683, 450, 2), (768, 1024, 1), (1366, 900, 1), (390, 844, 1)])
def test_04_a_link_to_a_section_lands_on_its_heading(server, browser, width, height, dpr) -> None:
    ctx = browser.new_context(
        viewport={"width": width, "height": height}, device_scale_factor=dpr, reduced_motion="reduce"
    )
    for section in ("train", "runs", "epochs"):
        page = ctx.new_page()  # a fresh load each time (a goto to another hash only scrolls)
        page.goto(f"{server.url}/#{section}")
        page.wait_for_function(OPEN)
        page.wait_for_timeout(3000)  # the Learn cards above have had their data and grown
        top, head = page.evaluate(TOP, section), page.evaluate(HEAD)
        at_end = page.evaluate(AT_END)
        assert head - 1 <= top <= head + 30 or (at_end and top > head), (
            f"#{section} top {top}, header ends {head} ({width}x{height})"
        )
        heading = page.locator(f"#{section} h2").first.bounding_box()
        assert heading is not None and heading["y"] + heading["height"] <= height, "heading off screen"
        page.close()
    ctx.close()


def texts(page, selector: str) -> list[str]:
    return page.evaluate("(s) => document.querySelector(s).__texts ?? []", selector)


def recording_page(browser, server, run_id: str | None = None):
    page, errors = open_page(browser, server.url)
    page.add_init_script(RECORD_TEXT)
    page.reload()
    page.wait_for_function(OPEN)
    if run_id:
        watch(page, run_id)
    return page, errors


def cut_percent(v: float) -> str:
    """An accuracy as the page writes it (the same rule, glassnet.numbers)."""
    return numbers.cut_percent(v, counted=True)


# -- 6: the clip note says what is off the chart ---------------------------------------------------
def test_06_the_clip_note_counts_only_points_above_the_axis(server, browser, mlp_run) -> None:
    page, errors = recording_page(browser, server, mlp_run["id"])
    page.locator("#train").scroll_into_view_if_needed()
    page.wait_for_function("() => window.glassnet.charts.loss.series[0].xs.length > 100")
    page.wait_for_timeout(500)
    top = page.evaluate(
        """() => { const c = window.glassnet.charts.loss;
             const vis = c.series.filter((s) => s.visible !== false && s.xs.length > 0);
             return c.scales(vis, {L: 0, T: 0, pw: 100, ph: 100}).y1; }"""
    )
    losses = [
        x for x in api(server, f"/api/runs/{mlp_run['id']}/metrics")["batches"]["loss"] if x is not None
    ]
    off = sum(x > top for x in losses)
    note = page.get_by_test_id("loss-scale").inner_text()
    drawn = [t for t in texts(page, "#loss-chart") if t.startswith("✂")]
    if off == 0:
        assert "clipped" not in note and not drawn, (note, drawn, top)
    else:
        m = re.search(r"(\d+) mini-batch points? above (\S+) clipped", note)
        assert m and int(m[1]) == off and number(m[2]) == pytest.approx(top, rel=1e-9), (note, off, top)
    closed(page, errors)


# -- 7, 10: the charts' figures by keyboard, cut percentages, the Runs row -----------------------------
def test_07_10_the_charts_read_by_keyboard_and_percentages_are_cut(server, browser, mlp_run) -> None:
    page, errors = recording_page(browser, server, mlp_run["id"])
    metrics = api(server, f"/api/runs/{mlp_run['id']}/metrics")
    last = metrics["epochs"][-1]
    for chart in ("loss-chart", "acc-chart"):
        el = page.locator(f"#{chart}")
        assert el.get_attribute("tabindex") == "0"
        described = el.get_attribute("aria-describedby")
        assert described, f"{chart} has no description"
    page.wait_for_function("() => document.getElementById('acc-figures').textContent.includes('epoch 2')")
    acc = page.locator("#acc-figures").inner_text()
    loss = page.locator("#loss-figures").inner_text()
    # Each epoch's figures, cut as the hover box and the Runs table cut them (never rounded up).
    train, val = cut_percent(last["train_accuracy"]), cut_percent(last["val_accuracy"])
    assert f"epoch 2: training {train}, validation {val}" in acc, acc
    assert f"epoch {last['epoch']}: training" in loss and "latest mini-batch, step" in loss, loss
    # The keyboard moves the readout: the values are said in the live region.
    page.locator("#acc-chart").focus()
    page.keyboard.press("End")
    page.keyboard.press("ArrowLeft")
    page.wait_for_function("() => document.getElementById('acc-readout').textContent.includes('(step')")
    said = page.locator("#acc-readout").inner_text()
    assert f"epoch (validation): {cut_percent(last['val_accuracy'])}" in said, said
    drawn = [t for t in texts(page, "#acc-chart") if t.startswith("epoch (validation):")]
    assert drawn and drawn[-1].startswith(f"epoch (validation): {cut_percent(last['val_accuracy'])}"), drawn
    row = page.get_by_test_id("runs").locator(f"tr[data-run='{mlp_run['id']}']")
    assert cut_percent(last["val_accuracy"]) in row.inner_text()
    closed(page, errors)


# -- note: the Runs table and the status bar say the same epoch --------------------------------------
def test_note_the_runs_row_and_the_status_bar_agree_on_the_epoch(server, browser, mlp_run) -> None:
    stop_all(server)  # nothing left running by a test before
    # A cnn at batch 1: 1,000 steps an epoch, stopped a few steps into the first (9 epochs: still
    # training when the test stops it, on a quick machine too).
    run, page, errors = start_and_open(server, browser, {"preset": "cnn", "epochs": 9, "batch_size": 1})
    page.wait_for_function("() => window.glassnet.charts.loss.series[0].xs.length > 2", timeout=30000)
    stop_all(server)
    stopped = wait_run(server, run["id"], ("stopped",))
    done = stopped["epoch"]  # epochs finished (0 unless the machine was quick): the bar shows the next
    assert done < 9
    page.wait_for_function(f"() => ({STATE})() === 'stopped'")
    assert page.get_by_test_id("progress").inner_text().startswith(f"epoch {done + 1}/9")
    row = page.get_by_test_id("runs").locator(f"tr[data-run='{run['id']}']")
    page.wait_for_function(
        "([id, n]) => document.querySelector(`tr[data-run='${id}']`)?.textContent.includes(`${n}/9`)",
        arg=[run["id"], done + 1],
    )
    assert f"{done}/9" not in row.inner_text()
    # Ended while the page watched it: Learned reads it back from its checkpoints without a reload
    # (QA3 smoke #2: it stayed on "live · step 860").
    page.wait_for_function("() => window.glassnet.learned.mode === 'checkpoints'", timeout=15000)
    expect(page.get_by_test_id("learned-source")).to_contain_text("checkpoint")
    closed(page, errors)


def test_note_a_runs_detail_read_before_it_stopped_does_not_undo_the_stop(server, browser) -> None:
    """A page that opens as its run stops: the run's detail, read while it still trained, comes
    back after the "stopped" event. The page keeps the stop (it showed the run training for good:
    CI, test_note_the_runs_row_and_the_status_bar_agree_on_the_epoch)."""
    stop_all(server)  # nothing left running by a test before
    run, page, errors = start_and_open(server, browser, {"preset": "mlp", "epochs": 1000, "batch_size": 8})
    held = []
    # The first ask is held (the page's watch of the run); any later one goes through.
    page.route(f"**/api/runs/{run['id']}", lambda route: route.continue_() if held else held.append(route))
    page.reload()  # the page watches the run again: its detail is asked for, and held here
    pump_until(page, lambda: held, "the page asks for the run's detail")
    stale = held[0].fetch()  # read now, while the run trains
    assert stale.json()["status"] == "running"
    api(server, f"/api/runs/{run['id']}/stop", {})
    wait_run(server, run["id"], ("stopped",))
    page.wait_for_function(f"() => ({STATE})() === 'stopped'", timeout=15000)  # the status event came
    held[0].fulfill(response=stale)
    page.wait_for_function("(id) => window.glassnet.S.detail?.id === id", arg=run["id"])
    page.wait_for_timeout(500)  # a frame or two to paint what the detail changed
    assert page.evaluate(f"({STATE})") == "stopped"
    assert page.evaluate("() => window.glassnet.S.detail.status") == "stopped"
    assert "running" not in page.get_by_test_id("run-status").inner_text()
    closed(page, errors)


# -- 5, 9: the rate in use and the base rate; every mark's label readable ------------------------------
def test_05_09_the_rate_in_use_beside_the_base_and_stacked_marks(server, browser, mlp_run) -> None:
    stop_all(server)  # nothing left running by a test before
    # 1,000 epochs: still training at the second Pause (50 could end first on a quick machine).
    run, page, errors = start_and_open(server, browser, {"preset": "mlp", "epochs": 1000, "batch_size": 8})
    page.add_init_script(RECORD_TEXT)
    page.reload()
    page.wait_for_function(OPEN)
    watch(page, run["id"])
    page.wait_for_function("() => window.glassnet.charts.loss.series[0].xs.length > 20", timeout=30000)
    pause_new_rate_resume(page, "0.0005")
    page.wait_for_timeout(1500)
    page.get_by_test_id("pause").click()
    page.wait_for_function(f"() => ({STATE})() === 'paused'", timeout=15000)
    # The paused run's last step, as the server stored it and as the page says it: both come a
    # moment after the pause (a fixed 0.8 s wait was too short on a slow machine).
    deadline = time.monotonic() + 15
    while True:
        batches = api(server, f"/api/runs/{run['id']}/metrics")["batches"]
        used, step = batches["lr"][-1], batches["step"][-1]
        now = page.get_by_test_id("lr-now").inner_text()
        m = re.search(r"step ([\d,]+) used the rate ([^;\s]+)", now)
        if (m and int(m[1].replace(",", "")) == step) or time.monotonic() > deadline:
            break
        page.wait_for_timeout(200)
    assert used < 0.0005  # the cosine schedule scales the base rate
    assert "Base learning rate" in page.locator(".live-lr label").inner_text()
    assert page.locator("#live-lr").input_value() == "0.0005"
    assert m, now
    assert int(m[1].replace(",", "")) == step and number(m[2]) == pytest.approx(used, rel=5e-3), (
        now,
        step,
        used,
    )
    assert "cosine schedule scales the base rate" in now
    # Pause, the new base rate and Resume are one or two steps apart: each label is drawn.
    page.locator("#train").scroll_into_view_if_needed()
    labels = ["pause", "base lr 5·10⁻⁴", "resume"]
    page.wait_for_function(  # drawn once on screen (a fixed 0.5 s could end first on a slow machine)
        "(labels) => labels.every((l) => (document.querySelector('#loss-chart').__texts ?? []).includes(l))",
        arg=labels,
        timeout=15000,
    )
    drawn = texts(page, "#loss-chart")
    for label in labels:
        assert label in drawn, (label, drawn)
    caption = page.get_by_test_id("loss-scale").inner_text()
    assert re.search(r"new base learning rate 5·10⁻⁴ at step [\d,]+", caption), caption
    stop_all(server)
    closed(page, errors)


def at_now(page) -> int:
    return page.evaluate("() => window.glassnet.S.kernels.latest().step")


# -- 2: the exact weights say their step, and are the timeline's when they are kept ---------------------
def test_02_the_kernel_dialog_says_which_steps_weights_it_shows(server, browser, mlp_run) -> None:
    stop_all(server)  # nothing left running by a test before
    run, page, errors = start_and_open(server, browser, {"preset": "cnn", "epochs": 1000, "batch_size": 32})
    page.goto(server.url + "/#learned")
    page.wait_for_function(OPEN)
    watch(page, run["id"])
    page.wait_for_function("() => window.glassnet.S.kernels.length > 2", timeout=60000)
    page.locator("#timeline").focus()
    page.keyboard.press("Home")
    first = page.evaluate("() => window.glassnet.learned.frame().step")  # the oldest frame kept
    wait_text(page, "#timeline-label", f"step {first}")
    kc = page.locator("[data-testid=kernels] canvas").first
    kc.scroll_into_view_if_needed()
    caption = page.locator("#zoom-body .caption").first

    def enlarge() -> tuple[int, str]:
        kc.click(position={"x": 2, "y": 2})
        page.wait_for_function(STEP_SAID, timeout=20000)
        at, text = int(caption.get_attribute("data-step")), caption.inner_text()
        page.locator("#zoom-close").click()
        return at, text

    # A live frame is a picture: its exact kernels are the ones the service kept for its step.
    at, text = enlarge()
    assert at == first and f"at step {first:,}, the step the timeline shows" in text, (text, first)
    kept = api(server, f"/api/runs/{run['id']}/kernels?step={first}&layer=0")
    assert kept["step"] == first and len(kept["values"]) == math.prod(kept["shape"])
    later = api(server, f"/api/runs/{run['id']}/kernels?step={at_now(page)}&layer=0")
    assert later["values"] != kept["values"]  # the weights moved: the dialog's are the old step's
    # Paused, on the latest frame: the weights are exactly those of the step the timeline shows.
    page.get_by_test_id("pause").click()
    page.wait_for_function(f"() => ({STATE})() === 'paused'", timeout=15000)
    page.locator("#live").click()
    page.wait_for_function(  # the frame the pause sent, at the run's step
        """(id) => { const g = window.glassnet, f = g.learned.frame();
                     return f?.model && f.step === g.S.runs.get(id).step; }""",
        arg=run["id"],
    )
    shown = page.evaluate("() => window.glassnet.learned.frame().step")
    at, text = enlarge()
    assert at == shown and f"at step {shown:,}, the step the timeline shows" in text, (text, shown)
    stop_all(server)
    closed(page, errors)


# -- 11: the neuron inspector's two tables have names of their own ------------------------------------
def test_11_the_inspectors_tables_are_named_apart(server, browser) -> None:
    page, errors = open_page(browser, server.url)
    draw(page, DIGITS[3])
    learn_on(page, "notes", "pad")
    page.wait_for_function("() => window.glassnet.learn.net?.spots?.length > 0", timeout=20000)
    spot = page.evaluate("() => window.glassnet.learn.net.spots.find((s) => s.col === 2 && s.i === 5)")
    canvas = page.get_by_test_id("learn-net")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + spot["x"], box["y"] + spot["y"])
    wait_text(page, '[data-testid="inspector"] .insp-head', "neuron 5 of 16")
    names = page.evaluate(
        "() => [...document.querySelectorAll('#learn [role=region]')].map((e) => e.ariaLabel)"
    )
    assert len(names) == len(set(names)), names
    assert "the terms of z for neuron 5" in names and "the terms of the wish for neuron 5" in names, names
    closed(page, errors)


# -- 1: a speed a person can read, and none that is stale ----------------------------------------------
def test_01_the_speed_is_steady_and_never_stale_after_a_resume(server, browser) -> None:
    stop_all(server)  # nothing left running by a test before
    _, page, errors = start_and_open(server, browser, {"preset": "cnn", "epochs": 1000, "batch_size": 8})
    speed = "() => document.querySelector('[data-testid=speed]').textContent"
    page.wait_for_function(f"() => ({speed})() !== ''", timeout=30000)
    seen = []
    for _ in range(20):  # 4 s, read 5 times a second
        seen.append(page.evaluate(speed))
        page.wait_for_timeout(200)
    changes = sum(a != b for a, b in itertools.pairwise(seen))
    assert changes <= 3, f"the speed changed {changes} times in 4 s: {seen}"
    page.get_by_test_id("pause").click()
    page.wait_for_function(f"() => ({STATE})() === 'paused'", timeout=15000)
    assert page.evaluate(speed) == ""
    page.wait_for_timeout(1500)
    page.get_by_test_id("resume").click()
    page.wait_for_function(f"() => ({STATE})() === 'running'", timeout=15000)
    # Just resumed: no figure from before the pause (the server measures a second first).
    assert page.evaluate(speed) == "", "a speed from before the pause is shown"
    page.wait_for_function(f"() => ({speed})() !== ''", timeout=15000)
    stop_all(server)
    closed(page, errors)
