"""Issue 9 end to end: every panel true for the run you watch, on every screen. A real
`glassnet serve`, a real Chromium; one test per item a new user met (item numbers in the names),
axe-core on every view in both themes at laptop and phone widths (bar 2), the phone's answer in
sight while drawing (bar 3), and the screenshots the README shows (bar 5).

Runs are small (the e2e dataset: 1,000 training digits, 200 validation) so each trains in seconds.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from collections.abc import Collection
from pathlib import Path

import pytest

from glassnet.service.runstate import ENDED_STATUSES, LIVE_STATUSES

from .conftest import AXE, Server, axe, open_page, publish, shoot
from .digits import DIGITS, draw
from .test_dashboard import ANSWERED, api, read_digit
from .test_learn import wait_text

pytestmark = pytest.mark.e2e

SECTIONS = ("draw", "inside", "learn", "train", "learned", "epochs", "mine", "runs")
SCREENS = [(1366, 900, "light"), (1366, 900, "dark"), (390, 844, "light"), (390, 844, "dark")]
# Two conv layers: the second one's kernels read four channels (item 17 groups them).
TWO_CONV = {
    "input_shape": [1, 28, 28],
    "layers": [
        *[
            layer
            for filters, kernel in ((4, 5), (6, 3))
            for layer in (
                {"type": "conv2d", "filters": filters, "kernel": kernel},
                {"type": "relu"},
                {"type": "maxpool2d", "size": 2},
            )
        ],
        {"type": "flatten"},
        {"type": "dense", "units": 10},
    ],
    "loss": "cross_entropy",
}
SCROLL_ENDS = """() => new Promise((done) => {
  let last = -1, still = 0;
  const tick = () => {
    const y = window.scrollY;
    still = y === last ? still + 1 : 0;
    last = y;
    if (still > 5) done(y); else requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
})"""
STATE = "() => document.querySelector('[data-testid=\"run-status\"]').dataset.state"
SUPER = str.maketrans("⁻⁰¹²³⁴⁵⁶⁷⁸⁹−", "-0123456789-")


def number(text: str) -> float:
    """A number as the page writes it: 1.432·10⁻⁴, −0.5, 0.1234."""
    text = text.translate(SUPER)
    if "·10" in text:
        mant, exp = text.split("·10")
        return float(mant) * 10 ** int(exp)
    return float(text)


def wait_run(server, run_id: str, statuses: Collection[str], timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        run = api(server, f"/api/runs/{run_id}")
        if run["status"] in statuses:
            return run
        assert time.monotonic() < deadline, f"run {run_id} is {run['status']}, not {statuses}"
        time.sleep(0.2)


def stop_all(server, timeout: float = 30.0) -> None:
    """Stop every live run and wait (at most ``timeout`` s in all) until each has ended: a stop is
    a request to the run's worker, and a run started while another still stops races that run's
    last status (a page that opened meanwhile shows the stopping run, and follows a new one only
    after its own has ended)."""
    live = [run["id"] for run in api(server, "/api/runs") if run["status"] in LIVE_STATUSES]
    for run_id in live:
        api(server, f"/api/runs/{run_id}/stop", {})
    deadline = time.monotonic() + timeout
    for run_id in live:
        wait_run(server, run_id, ENDED_STATUSES, max(0.0, deadline - time.monotonic()))


def closed(page, errors) -> None:
    """The page had no console error; close it."""
    errors.check()
    page.close()


def done(server, page, errors) -> None:
    """Stop what a test started; the page had no console error."""
    stop_all(server)
    closed(page, errors)


def start_and_open(server, browser, body: dict):
    """Start a run through the API, open the page, and wait until it watches that run."""
    run = api(server, "/api/runs", body)
    page, errors = open_page(browser, server.url)
    page.wait_for_function(f"() => window.glassnet.S.watched === {json.dumps(run['id'])}", timeout=15000)
    return run, page, errors


def open_on(browser, server, run_id: str):
    """Open the page and watch a run."""
    page, errors = open_page(browser, server.url)
    watch(page, run_id)
    return page, errors


def watch(page, run_id: str) -> None:
    page.evaluate("(id) => window.glassnet.watch(id)", run_id)
    page.wait_for_function(
        "(id) => window.glassnet.S.watched === id && window.glassnet.S.detail?.id === id", arg=run_id
    )


@pytest.fixture(scope="module")
def cnn_run(server) -> dict:
    """A small two-conv network trained for two epochs (finished): checkpoints epoch-001, epoch-002."""
    run = api(
        server,
        "/api/runs",
        {"spec": TWO_CONV, "epochs": 2, "batch_size": 50, "lr": 0.005, "name": "two conv"},
    )
    return wait_run(server, run["id"], ("finished",))


# -- item 1 ------------------------------------------------------------------------------------
def test_item01_start_while_training_is_an_explicit_queue_and_the_page_stays(
    server, browser, cnn_run
) -> None:
    long, page, errors = start_and_open(
        server, browser, {"preset": "mlp", "epochs": 1000, "name": "long mlp"}
    )
    page.wait_for_function("() => window.glassnet.charts.loss.series[0].xs.length > 3", timeout=30000)
    start, new_run = page.get_by_test_id("start"), page.get_by_test_id("new-run")
    # While the watched run trains there is no plain Start: only "New run from these settings".
    state = (
        "() => { const g = window.glassnet; return {mode: g.train.mode, shown: g.train.shown,"
        " detail: g.S.detail?.id, cat: !!g.train.editor.cat}; }"
    )
    page.wait_for_function(
        "() => window.glassnet.S.detail !== null && window.glassnet.train.editor.cat !== null"
    )
    assert start.is_hidden() and new_run.is_visible(), page.evaluate(state)
    new_run.click()
    assert start.inner_text() == "Queue another run" and start.is_enabled()
    start.click()
    toast = page.get_by_test_id("errors").locator(".toast.info").first
    toast.wait_for(timeout=10000)
    assert re.search(r"is queued: #1 in the queue; it starts when long mlp ends", toast.inner_text()), (
        toast.inner_text()
    )
    # The page stays on the run it watches, and its charts keep their points.
    assert page.evaluate("() => window.glassnet.S.watched") == long["id"]
    assert page.evaluate("() => window.glassnet.charts.loss.series[0].xs.length") > 3
    page.locator("#runs").scroll_into_view_if_needed()
    page.wait_for_function(
        "() => document.querySelector('[data-testid=\"runs\"]').textContent.includes('#1 in the queue')"
    )
    done(server, page, errors)


# -- items 2, 3, 9, 10, 17: a finished run's panels -----------------------------------------------
def test_item02_a_confusion_cell_shows_all_its_digits_paged(server, browser, cnn_run) -> None:
    page, errors = open_on(browser, server, cnn_run["id"])
    confusion = api(server, f"/api/runs/{cnn_run['id']}/metrics")["epochs"][-1]["confusion"]
    # The biggest cell (the diagonal): more digits than one page.
    row = max(range(10), key=lambda r: confusion[r][r])
    n = confusion[row][row]
    page.locator("#confusion").focus()
    for _ in range(row):
        page.keyboard.press("ArrowDown")
        page.keyboard.press("ArrowRight")
    page.keyboard.press("Enter")
    gallery = page.locator('[data-testid="gallery"] figure')
    page.wait_for_function(
        "(k) => document.querySelectorAll('[data-testid=\"gallery\"] figure').length === k", arg=min(n, 48)
    )
    assert (
        f"true {row}, said {row}: {min(n, 48)} of {n} shown" in page.locator("#gallery-filter").inner_text()
    )
    if n > 48:
        page.locator("#gallery button.more").click()
        page.wait_for_function(
            "(k) => document.querySelectorAll('[data-testid=\"gallery\"] figure').length === k",
            arg=min(n, 96),
        )
    # An off-diagonal cell with digits: every one of them, not "none among the examples".
    wrong = [(r, c) for r in range(10) for c in range(10) if r != c and confusion[r][c]]
    if wrong:
        r, c = wrong[0]
        page.evaluate("([r, c]) => window.glassnet.epochs.select([r, c])", [r, c])
        page.wait_for_function(
            "(k) => document.querySelectorAll('[data-testid=\"gallery\"] figure').length === k",
            arg=min(confusion[r][c], 48),
        )
        assert gallery.count() == min(confusion[r][c], 48)
    closed(page, errors)


def test_item03_a_finished_run_shows_what_it_learned(server, browser, cnn_run) -> None:
    page, errors = open_on(browser, server, cnn_run["id"])
    page.wait_for_selector('[data-testid="kernels"] canvas', timeout=20000)
    assert page.locator('[data-testid="kernels"] canvas').count() == 2  # both conv layers
    page.wait_for_function("() => document.querySelectorAll('#probes canvas').length === 10")
    assert page.locator("#probe-layers canvas").count() >= 8
    wait_text(page, '[data-testid="learned-source"]', "2 checkpoints")
    label = page.locator("#grad-chart").get_attribute("aria-label")
    assert "layer 0 conv2d weights" in label and "probe digits" in label
    assert page.locator("#grad-kernels canvas").count() == 2
    closed(page, errors)


def test_item09_the_timeline_moves_every_learned_panel(server, browser, cnn_run) -> None:
    page, errors = open_on(browser, server, cnn_run["id"])
    page.wait_for_selector("#grad-kernels canvas", timeout=20000)
    # The checkpoints' panels, not the stream's replayed last mini-batch that may come first.
    wait_text(page, '[data-testid="learned-source"]', "2 checkpoints")
    page.wait_for_function(
        "() => document.querySelector('#grad-chart').getAttribute('aria-label')"
        ".includes('probe digits, step 40')"
    )
    grad_now = page.locator("#grad-chart").get_attribute("aria-label")
    kernels_now = page.evaluate("() => document.querySelector('#kernels canvas').toDataURL()")
    page.locator("#timeline").focus()
    page.keyboard.press("Home")
    page.wait_for_function(
        "() => document.querySelector('#timeline-label').textContent.startsWith('epoch-001')"
    )
    page.wait_for_function(
        "(g) => document.querySelector('#grad-chart').getAttribute('aria-label') !== g", arg=grad_now
    )
    assert "step 40" in grad_now and "step 20" in page.locator("#grad-chart").get_attribute("aria-label")
    assert page.evaluate("() => document.querySelector('#kernels canvas').toDataURL()") != kernels_now
    closed(page, errors)


def test_item10_probes_are_one_of_each_digit(server, browser, cnn_run) -> None:
    page, errors = open_on(browser, server, cnn_run["id"])
    page.wait_for_function("() => document.querySelectorAll('#probes button').length === 10", timeout=20000)
    labels = page.eval_on_selector_all("#probes button", "(bs) => bs.map((b) => Number(b.dataset.label))")
    assert labels == list(range(10))
    options = page.eval_on_selector_all("#learn-probe option", "(os) => os.map((o) => o.textContent)")
    assert len(options) == 10 and options[8].startswith("probe 8: an 8")
    closed(page, errors)


def test_item17_kernels_grouped_by_output_kernel_and_enlarged(server, browser, cnn_run) -> None:
    page, errors = open_on(browser, server, cnn_run["id"])
    page.wait_for_function("() => document.querySelectorAll('#kernels canvas').length === 2", timeout=20000)
    # Layer 3 reads 4 channels: each of its 6 kernels is one block of 4 maps.
    assert page.evaluate("() => window.glassnet.learned.kernels.groups[1].grid.blockMaps") == 4
    page.get_by_role("button", name="Enlarge layer 3 · conv2d kernels").click()
    dialog = page.locator("#zoom")
    dialog.wait_for(state="visible")
    big = dialog.locator("canvas").first.bounding_box()
    assert big["width"] >= 300, big
    # One kernel, its exact weights: four channels of 3×3, each at least 66 px wide.
    box = dialog.locator("canvas").first
    b = box.bounding_box()
    page.mouse.click(b["x"] + 3, b["y"] + 3)
    page.wait_for_function(
        "() => document.querySelector('#zoom-body').textContent.includes('Exact weights')", timeout=15000
    )
    figures = dialog.locator(".zoom-maps canvas")
    assert figures.count() == 4
    assert all(figures.nth(i).bounding_box()["width"] >= 66 for i in range(4))
    # The first kernel is kernel 0, as Learn, the layers and the API number it (QA4 LEARN-2).
    assert page.locator("#zoom-title").inner_text().endswith(": kernel 0")
    assert [figures.nth(i).get_attribute("aria-label").split(",")[1].strip() for i in range(4)] == [
        f"input channel {c}" for c in range(4)
    ]
    page.locator("#zoom-close").click()
    closed(page, errors)


# -- item 4 ------------------------------------------------------------------------------------
def test_item04_hovered_values_are_the_servers_exact_numbers(server, browser) -> None:
    page, errors = open_page(browser, server.url)
    page.select_option('[data-testid="model"]', "notes")
    read_digit(page, DIGITS[2])
    pixels = page.evaluate("() => window.glassnet.draw.sent.get(window.glassnet.S.shownId)")
    exact = api(server, "/api/explain/activations", {"pixels": pixels, "model": "notes"})
    sig = next(layer for layer in exact["layers"] if layer["type"] == "sigmoid")
    # A neuron whose picture value (uint8, min–max of the layer) is off by more than 1%.
    lo, hi = min(sig["values"]), max(sig["values"])

    def picture(v: float) -> float:
        return lo + round((v - lo) / (hi - lo) * 255) / 255 * (hi - lo)

    unit = next(i for i, v in enumerate(sig["values"]) if abs(picture(v) - v) > 0.01 * abs(v))
    where = page.evaluate(
        """([index, unit]) => {
          const v = window.glassnet.draw.netView; const i = v.layers.findIndex((l) => l.index === index);
          const row = v.rows[i], g = row.grid;
          row.canvas.scrollIntoView({block: 'center', behavior: 'instant'});
          const r = row.canvas.getBoundingClientRect();
          const col = unit % g.cols, line = Math.floor(unit / g.cols);
          const px = col * (g.tile + g.gap) + g.tile / 2;
          const py = line * (g.mapH * g.up + g.gap) + (g.mapH * g.up) / 2;
          return {x: r.left + (px / g.width) * r.width, y: r.top + (py / g.height) * r.height};
        }""",
        [sig["index"], unit],
    )
    page.mouse.move(where["x"], where["y"])
    page.mouse.move(where["x"] + 0.5, where["y"])
    tip = page.locator("#tooltip")
    page.wait_for_function("() => /sigmoid\\(z\\) = <b>/.test(document.querySelector('#tooltip').innerHTML)")
    html = tip.inner_html()
    assert f"neuron {unit} of 16" in html and "≈" not in html, html
    shown = number(re.search(r"sigmoid\(z\) = <b>([^<]+)</b>", html).group(1))
    # The numbers shown are the server's for exactly the pixels of the prediction on screen.
    now = page.evaluate("() => window.glassnet.draw.sent.get(window.glassnet.S.shownId)")
    if now != pixels:
        exact = api(server, "/api/explain/activations", {"pixels": now, "model": "notes"})
        sig = next(layer for layer in exact["layers"] if layer["index"] == sig["index"])
    assert math.isclose(shown, sig["values"][unit], rel_tol=1e-3), (shown, sig["values"][unit])
    z = next(layer for layer in exact["layers"] if layer["index"] == sig["index"] - 1)["values"][unit]
    assert math.isclose(number(re.search(r"Σw·a \+ b = <b>([^<]+)</b>", html).group(1)), z, rel_tol=1e-3)
    closed(page, errors)


# -- item 11 ---------------------------------------------------------------------------------------
LEGENDS = """() => { const v = window.glassnet.draw.netView;
  return v.layers.map((l, i) => ({index: l.index, kind: l.kind,
    spans: [...v.rows[i].legend.querySelectorAll('span')].map((s) => s.textContent)})); }"""


def test_item11_one_labelled_scale_per_layer_or_each_map_on_its_own(server, browser) -> None:
    page, errors = open_page(browser, server.url)
    page.select_option('[data-testid="model"]', "cnn")
    read_digit(page, DIGITS[5])
    # Until the last of the drawing is read (nothing more to send) and its layers are drawn.
    page.wait_for_function(
        "() => { const g = window.glassnet; return !g.draw.pumping && !g.draw.throttle.pending"
        " && g.S.shownId === g.S.predictId && document.querySelectorAll('#layers canvas').length === 10; }"
    )
    pixels = page.evaluate("() => window.glassnet.draw.sent.get(window.glassnet.S.shownId)")
    served = api(server, "/api/explain/activations", {"pixels": pixels, "model": "cnn"})["layers"]
    exact = {layer["index"]: layer["values"] for layer in served}
    rows = page.evaluate(LEGENDS)
    assert len(rows) == 10 and sum(row["kind"] == "maps" for row in rows) == 6, rows
    for row in rows:
        # Every layer (maps and neurons): one legend, its ends the layer's true smallest and
        # largest values (3 significant digits), and the words that say the scale is shared.
        lo, hi, note = row["spans"]
        values = exact[row["index"]]
        assert math.isclose(number(lo), min(values), rel_tol=5e-3, abs_tol=1e-6), (row, min(values))
        assert math.isclose(number(hi), max(values), rel_tol=5e-3, abs_tol=1e-6), (row, max(values))
        assert note == "one scale for the whole layer"
    # Each map on its own: the page says brightness no longer compares; neuron rows keep their scale.
    page.locator("#per-map").check()
    page.wait_for_function(
        f"() => ({LEGENDS})().some((r) => r.spans[0].startsWith('each map scaled on its own'))"
    )
    for row in page.evaluate(LEGENDS):
        if row["kind"] == "maps":
            assert row["spans"] == [
                "each map scaled on its own: its smallest value dark, its largest bright"
                " (brightness does not compare between maps)"
            ]
        else:
            assert row["spans"][-1] == "one scale for the whole layer"
    closed(page, errors)


# -- items 5, 6, 8, 12 ------------------------------------------------------------------------------
def test_item05_the_form_shows_the_watched_run(server, browser) -> None:
    _, page, errors = start_and_open(
        server, browser, {"preset": "notes", "epochs": 1000, "name": "notes run"}
    )
    form = page.locator("#hyper")
    page.wait_for_function("() => document.querySelector('#hyper [name=lr]').value === '1.5'")
    assert form.locator("[name=optimizer]").input_value() == "sgd"
    assert form.locator("[name=batch_size]").input_value() == "10"
    assert form.locator("[name=lr]").is_disabled() and page.locator("#preset").is_disabled()
    assert "read-only while it is running" in page.get_by_test_id("form-banner").inner_text()
    page.get_by_test_id("new-run").click()
    assert form.locator("[name=lr]").is_enabled() and form.locator("[name=lr]").input_value() == "1.5"
    done(server, page, errors)


def test_item06_runs_have_names_everywhere_and_can_be_renamed(server, browser, cnn_run) -> None:
    page, errors = open_on(browser, server, cnn_run["id"])
    page.select_option('[data-testid="model"]', f"{cnn_run['id']}:last")
    read_digit(page, DIGITS[1])
    said = page.locator("#predict-model").inner_text()
    assert "two conv · last" in said and cnn_run["id"] not in said
    page.locator("#runs").scroll_into_view_if_needed()
    page.get_by_role("button", name="Rename two conv").click()
    field = page.get_by_label("New name for two conv")
    field.fill("my two conv")
    field.press("Enter")
    page.wait_for_function(
        "() => document.querySelector('[data-testid=\"run-status\"]').textContent.startsWith('my two conv')"
    )
    assert api(server, f"/api/runs/{cnn_run['id']}")["name"] == "my two conv"
    assert cnn_run["id"] not in page.locator('[data-testid="runs"]').inner_text()
    api(server, f"/api/runs/{cnn_run['id']}", {"name": "two conv"}, method="PATCH")
    closed(page, errors)


def test_item08_a_stopped_run_continues(server, browser) -> None:
    run = api(server, "/api/runs", {"preset": "mlp", "epochs": 1000, "name": "to stop"})
    wait_run(server, run["id"], ("running",))
    api(server, f"/api/runs/{run['id']}/stop", {})
    page, errors = open_page(browser, server.url)
    watch(page, run["id"])
    resume = page.get_by_test_id("resume")
    assert resume.inner_text() == "Continue" and resume.is_enabled()
    resume.click()
    page.wait_for_function(f"() => ['running', 'queued'].includes(({STATE})())", timeout=15000)
    stop_all(server)
    # A run stopped while it was queued has nothing to continue from: the page says why.
    blocker = api(server, "/api/runs", {"preset": "mlp", "epochs": 1000, "name": "blocker"})
    queued = api(server, "/api/runs", {"preset": "mlp", "epochs": 1, "name": "never started"})
    api(server, f"/api/runs/{queued['id']}/stop", {})
    api(server, f"/api/runs/{blocker['id']}/stop", {})
    watch(page, queued["id"])
    wait_text(page, '[data-testid="form-banner"]', "stopped before its first checkpoint")
    assert page.get_by_test_id("resume").is_disabled()
    closed(page, errors)


def pause_new_rate_resume(page, lr: str) -> None:
    """Pause the watched run, apply a new learning rate, resume: a mark of each kind on the chart."""
    page.get_by_test_id("pause").click()
    page.wait_for_function(f"() => ({STATE})() === 'paused'", timeout=15000)
    page.locator("#live-lr").fill(lr)
    page.locator("#apply-lr").click()
    page.get_by_test_id("resume").click()
    page.wait_for_function(f"() => ({STATE})() === 'running'", timeout=15000)


def test_item12_the_loss_chart_marks_pauses_resumes_and_new_rates(server, browser) -> None:
    run, page, errors = start_and_open(server, browser, {"preset": "mlp", "epochs": 1000, "name": "marked"})
    page.wait_for_function("() => window.glassnet.charts.loss.series[0].xs.length > 5", timeout=30000)
    pause_new_rate_resume(page, "0.0004")
    kinds = "() => window.glassnet.charts.loss.marks.map((m) => m.label)"
    page.wait_for_function(f"() => ({kinds})().length >= 3")
    assert page.evaluate(kinds)[:3] == ["pause", "base lr 4·10⁻⁴", "resume"]
    assert "Marks on the step axis" in page.get_by_test_id("loss-scale").inner_text()
    stop_all(server)
    # A fresh page reads the marks from the run's history.
    other, other_errors = open_page(browser, server.url)
    watch(other, run["id"])
    other.wait_for_function(f"() => ({kinds})().length >= 3")
    # Spikes are clipped by default and the page says so; the faint line is visible in the dark.
    assert other.evaluate("() => window.glassnet.charts.loss.clip") is True
    other.locator("#clip").uncheck()
    assert other.evaluate("() => window.glassnet.charts.loss.clip") is False
    other.emulate_media(color_scheme="dark")
    alpha = other.evaluate("() => getComputedStyle(document.documentElement).getPropertyValue('--chart-raw')")
    assert float(alpha.split(",")[-1].strip(" )")) >= 0.55, alpha
    errors.check()
    other_errors.check()
    page.close()
    other.close()


# -- items 13, 15, 16 -------------------------------------------------------------------------------
def test_item13_tiny_ink_says_draw_bigger_and_the_brush_follows_the_pad(server, browser) -> None:
    page, errors = open_page(browser, server.url)
    before = page.evaluate("() => window.glassnet.S.predictId")
    draw(page, [[(140, 140), (141, 141)]])  # a dot
    page.wait_for_function(
        "() => document.querySelector('#confidence').textContent.startsWith('draw bigger')"
    )
    assert page.evaluate("() => window.glassnet.S.predictId") == before, "a dot is not sent to be guessed"
    assert page.get_by_test_id("prediction").inner_text() == "?"
    # A real digit is read as before.
    assert read_digit(page, DIGITS[7]) == "7"
    page.close()
    small, small_errors = open_page(browser, server.url, 320, 640)
    fit = small.evaluate(
        "() => { const p = window.glassnet.draw.pad, c = p.canvas;"
        " return {css: c.clientWidth, width: c.width, brush: p.brushPx, dpr: devicePixelRatio}; }"
    )
    assert fit["css"] < 280 and fit["width"] >= 280
    assert math.isclose(fit["brush"], fit["width"] * 20 / 280)
    errors.check()
    small_errors.check()
    small.close()


def test_item15_keyboard_skip_links_and_a_test_digit_instead_of_drawing(server, browser) -> None:
    page, errors = open_page(browser, server.url)
    stop_all(server)
    page.evaluate("() => document.activeElement.blur()")
    presses = 0
    page.keyboard.press("Tab")
    presses += 1
    page.keyboard.press("Tab")
    presses += 1
    assert page.evaluate("() => document.activeElement.textContent") == "Skip to the run controls (Start)"
    page.keyboard.press("Enter")
    presses += 1
    while page.evaluate("() => document.activeElement.id") != "start" and presses < 40:
        page.keyboard.press("Tab")
        presses += 1
    assert page.evaluate("() => document.activeElement.id") == "start"
    assert presses <= 5, presses
    # The pad's keyboard alternative: a test digit put on the pad, read like a drawing.
    page.get_by_test_id("test-digit").fill("0")
    page.get_by_test_id("test-digit").press("Enter")
    page.wait_for_function(ANSWERED, timeout=15000)
    label = api(server, "/api/explain/activations", {"test_index": 0, "model": "cnn"})["source"]["label"]
    assert page.get_by_test_id("prediction").inner_text() == str(label)
    closed(page, errors)


def test_item16_wording(server, browser) -> None:
    page, errors = open_page(browser, server.url)
    page.select_option('[data-testid="model"]', "cnn")
    eight = next(p for p in api(server, "/api/probes") if p["label"] == 8)
    page.get_by_test_id("test-digit").fill(str(eight["test_index"]))
    page.get_by_test_id("put-test-digit").click()
    page.wait_for_function(ANSWERED, timeout=15000)
    # The answer is drawn on the next frame: until it is.
    wait_text(page, "#confidence", " sure it is an 8")
    said = re.search(r"^(>?)([\d.]+)% sure it is an 8$", page.locator("#confidence").inner_text())
    assert said, page.locator("#confidence").inner_text()
    # The bar under the answer reads the headline's figure (QA4: one probability, one figure); the
    # small output tile cuts the same number to whole percents. Neither rounds it up (float32's 1
    # from a softmax reads >99.9% and >99%).
    headline = f"{said.group(1)}{said.group(2)}%"
    whole = ">99%" if said.group(1) else f"{math.floor(float(said.group(2)))}%"
    page.wait_for_function(
        "([h, w]) => document.querySelectorAll('#bars > .bar')[8]?.querySelector('.p').textContent === h"
        " && document.querySelectorAll('[data-testid=\"output-digits\"] > div')[8]"
        "?.querySelector('small').textContent === w",
        arg=[headline, whole],
        timeout=10000,
    )
    # A network without softmax says so.
    page.select_option('[data-testid="model"]', "notes")
    page.wait_for_function("() => window.glassnet.S.prediction?.model === 'notes'")
    wait_text(page, "#readout", "no softmax")
    page.wait_for_function(
        "() => document.querySelector('#layers').textContent.includes('this network has no softmax')"
    )
    # An option error names the layer once.
    page.locator("#train").scroll_into_view_if_needed()
    if page.get_by_test_id("new-run").is_visible():
        page.get_by_test_id("new-run").click()
    page.select_option("#preset", "cnn")
    page.get_by_label("layer 0 size").fill("0")
    err = page.get_by_test_id("arch-error")
    err.wait_for(state="visible")
    assert "layer 0 (conv2d): kernel must be a positive integer, got 0" in err.inner_text()
    assert "conv2d: conv2d" not in err.inner_text()
    closed(page, errors)


# -- item 7 (its own server: it is stopped) ---------------------------------------------------------
def test_item07_server_down_is_said_and_the_last_state_is_stale(tmp_path: Path, small_mnist, browser) -> None:
    srv = Server(tmp_path / "data", small_mnist, validation=200).start()
    try:
        run = api(srv, "/api/runs", {"preset": "mlp", "epochs": 1000, "name": "when it fell"})
        page, errors = open_page(browser, srv.url)
        page.wait_for_function(f"() => window.glassnet.S.watched === {json.dumps(run['id'])}", timeout=15000)
        page.wait_for_function(f"() => ({STATE})() === 'running'", timeout=15000)
        srv.stop()
        conn = page.get_by_test_id("connection")
        page.wait_for_function(
            "() => /server unreachable, retrying in \\d+ s/"
            ".test(document.querySelector('[data-testid=\"connection\"]').textContent)",
            timeout=15000,
        )
        status = page.get_by_test_id("run-status")
        assert "(last known)" in status.inner_text() and "stale" in status.get_attribute("class")
        assert page.get_by_test_id("pause").is_disabled()
        draw(page, DIGITS[4])
        page.wait_for_function(
            "() => document.querySelector('#confidence').textContent.includes('server is unreachable')"
        )
        srv.start()
        page.wait_for_function(
            "() => document.querySelector('[data-testid=\"connection\"]').dataset.state === 'open'",
            timeout=30000,
        )
        # The status bar repaints on the next animation frame after the socket opens.
        page.wait_for_function(
            "() => !document.querySelector('[data-testid=\"run-status\"]')"
            ".textContent.includes('last known')",
            timeout=15000,  # the restarted server resumes the run meanwhile: slow on a loaded machine
        )
        assert conn.inner_text() == "live"
        errors.check(allow=("WebSocket connection to", "ERR_CONNECTION_REFUSED", "Failed to load resource"))
        page.close()
    finally:
        srv.stop()


# -- bar 3: the phone ---------------------------------------------------------------------------
def test_item14_bar3_phone_answer_in_sight_while_drawing_and_a_short_header(server, browser, cnn_run) -> None:
    page, errors = open_page(browser, server.url, 390, 844)
    page.select_option('[data-testid="model"]', "cnn")
    pad = page.get_by_test_id("pad")
    pad.scroll_into_view_if_needed()
    page.get_by_test_id("clear").click()
    draw(page, DIGITS[3])
    page.wait_for_function(ANSWERED, timeout=15000)
    vh = page.evaluate("() => window.innerHeight")
    mini = page.get_by_test_id("mini-answer").bounding_box()
    box = pad.bounding_box()
    pad_span = f"{box['y']:.0f}–{box['y'] + box['height']:.0f}"
    answer_span = f"{mini['y']:.0f}–{mini['y'] + mini['height']:.0f}"
    print(f"\nbar 3 — 390×844: pad y {pad_span}, answer y {answer_span}, viewport height {vh}")
    assert box["y"] >= 0 and box["y"] + box["height"] <= vh, "the pad is on screen while drawing"
    assert mini["y"] >= 0 and mini["y"] + mini["height"] <= vh, "the answer is on screen while drawing"
    assert (
        page.locator("#mini-prediction").inner_text() == page.get_by_test_id("prediction").inner_text() == "3"
    )
    head = page.evaluate("() => document.querySelector('.top').offsetHeight")
    assert head <= 80, f"the header is {head} px tall on a phone"
    # Jumping to a section leaves its heading below the header.
    page.locator("nav.sections a[href='#train']").click()
    # Until the smooth scroll has come to rest (the page stays put for a few frames).
    page.evaluate(SCROLL_ENDS)
    top = page.evaluate("() => document.querySelector('#train-h').getBoundingClientRect().top")
    print(f"bar 3 — the Train heading lands at y {top:.0f}, under a {head} px header")
    assert head <= top <= head + 80, (top, head)
    # No caption, label or status is cut off.
    cut = page.evaluate(
        "() => [...document.querySelectorAll("
        "'.caption, .stat, .pill .txt, output, .klabel, .legend span, .banner')]"
        ".filter((e) => e.offsetParent && e.scrollWidth > e.clientWidth + 1"
        " && getComputedStyle(e).textOverflow !== 'ellipsis').map((e) => e.id || e.className)"
    )
    assert cut == [], cut
    closed(page, errors)
    # At 1366 px the header is one row, even with a long run name.
    api(server, f"/api/runs/{cnn_run['id']}", {"name": "a run with a very long name " * 3}, method="PATCH")
    wide, wide_errors = open_page(browser, server.url)
    watch(wide, cnn_run["id"])
    assert wide.evaluate("() => document.querySelector('.top').offsetHeight") <= 72
    # The section links that do not fit are not hidden without a sign: that side fades and its
    # "more" button scrolls them into view, up to the last one.
    strip = wide.locator(".strip-wrap")
    assert strip.get_attribute("data-hidden") == "right"
    last = wide.locator("nav.sections a").last
    for _ in range(6):
        if strip.get_attribute("data-hidden") not in ("right", "both"):
            break
        wide.locator(".strip-more.right").click()
        wide.wait_for_timeout(600)  # the smooth scroll
    box, nav = last.bounding_box(), wide.locator("nav.sections").bounding_box()
    assert box and nav and box["x"] + box["width"] <= nav["x"] + nav["width"] + 1, (box, nav)
    assert strip.get_attribute("data-hidden") == "left"
    api(server, f"/api/runs/{cnn_run['id']}", {"name": "two conv"}, method="PATCH")
    wide_errors.check()
    wide.close()


# -- bar 2 and bar 5: every view, both themes, laptop and phone ------------------------------------
def prepare(page, server, run_id: str) -> None:
    """The page as a person sees it: the finished run watched, a digit drawn, its insides shown."""
    watch(page, run_id)
    page.wait_for_function("() => document.querySelectorAll('#probes canvas').length === 10", timeout=20000)
    page.select_option('[data-testid="model"]', "cnn")
    read_digit(page, DIGITS[5])
    page.wait_for_function("() => document.querySelectorAll('#layers canvas').length === 10")
    page.wait_for_function(
        "() => document.querySelector('[data-testid=\"learn-status\"]').textContent.includes('cost')",
        timeout=20000,
    )


# What a person would see as broken in a view (bar 5, checked rather than only looked at): anything
# sticking out of its card (outside a scroller), a scroller that has to scroll sideways, and a
# label's words under the button beside it.
LAYOUT = """(sel) => {
  const out = [], root = document.querySelector(sel);
  const cls = (e) => typeof e.className === 'string' && e.className
    ? '.' + e.className.trim().split(/\\s+/).join('.') : '';
  const name = (e) => (e.id ? '#' + e.id : e.tagName.toLowerCase() + cls(e))
    + (e.ariaLabel ? ` (${e.ariaLabel})` : '');
  const scrolls = (e) => ['auto', 'scroll'].includes(getComputedStyle(e).overflowX);
  for (const card of root.querySelectorAll('.card')) {
    const box = card.getBoundingClientRect();
    for (const e of card.querySelectorAll('*')) {
      const r = e.getBoundingClientRect();
      if (!r.width || !r.height || !e.offsetParent) continue;
      let inside = false;
      for (let a = e.parentElement; a && a !== card; a = a.parentElement) if (scrolls(a)) inside = true;
      if (!inside && (r.right > box.right + 1 || r.left < box.left - 1)) out.push('sticks out: ' + name(e));
    }
    for (const s of card.querySelectorAll('*'))
      if (s.offsetParent && scrolls(s) && s.scrollWidth > s.clientWidth + 1)
        out.push('scrolls sideways: ' + name(s));
  }
  for (const b of root.querySelectorAll('.kgroup > .enlarge')) {
    const label = b.parentElement.querySelector('.klabel'), range = document.createRange();
    range.selectNodeContents(label);
    const k = b.getBoundingClientRect();
    for (const t of range.getClientRects())
      if (t.right > k.left && t.left < k.right && t.bottom > k.top && t.top < k.bottom)
        out.push('under its button: ' + label.textContent);
  }
  return [...new Set(out)];
}"""


@pytest.mark.parametrize(("width", "height", "scheme"), SCREENS)
def test_bar2_axe_and_bar5_screenshots_of_every_view(server, browser, cnn_run, width, height, scheme) -> None:
    assert AXE.is_file(), "axe-core is not installed: run `npm ci` (make test does)"
    stop_all(server)
    ctx = browser.new_context(
        viewport={"width": width, "height": height}, color_scheme=scheme, bypass_csp=True
    )
    page = ctx.new_page()
    from .conftest import PageErrors

    errors = PageErrors(page)
    page.goto(server.url)
    page.wait_for_selector('[data-testid="connection"][data-state="open"]', timeout=15000)
    prepare(page, server, cnn_run["id"])
    page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
    kind = "phone" if width < 500 else "laptop"
    found, broken = {}, {}
    for section in SECTIONS:
        found[section] = axe(page, f"#{section}")
        broken[section] = page.evaluate(LAYOUT, f"#{section}")
        publish(
            shoot(
                page, f"view-{section}-{kind}-{scheme}", full_page=False, locator=page.locator(f"#{section}")
            ),
            f"views/{section}-{kind}-{scheme}",
        )
    found["header"] = axe(page, ".top")
    # The enlarged kernels (a dialog) too.
    page.get_by_role("button", name="Enlarge layer 0 · conv2d kernels").click()
    page.locator("#zoom").wait_for(state="visible")
    found["dialog"] = axe(page, "#zoom")
    page.locator("#zoom-close").click()
    print(f"\nbar 2 — axe-core {kind} {scheme}: " + ", ".join(f"{k} {len(v)}" for k, v in found.items()))
    bad = {k: v for k, v in found.items() if v}
    assert not bad, json.dumps(bad, indent=1)
    broken = {k: v for k, v in broken.items() if v}
    assert not broken, json.dumps(broken, indent=1)
    if os.environ.get("GLASSNET_PUBLISH_SCREENSHOTS") == "1":
        page.evaluate("() => window.scrollTo(0, 0)")
        publish(shoot(page, f"top-{kind}-{scheme}", full_page=False), f"top-{kind}-{scheme}")
    errors.check()
    ctx.close()
