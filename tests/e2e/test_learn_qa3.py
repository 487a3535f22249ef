"""The Learn view's defects found by QA3 (notes/qa3-learn.md), each read back from the page."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import open_page
from .digits import DIGITS, draw
from .test_learn import learn_on, post, value, wait_status, wait_text

pytestmark = pytest.mark.e2e

STATUS = '[data-testid="learn-status"]'
I18N = Path(__file__).resolve().parents[2] / "frontend" / "i18n"


def status(page) -> str:
    return page.locator(STATUS).inner_text()


def test_enter_in_the_neuron_field_picks_the_neuron(server, browser) -> None:
    """#1: Enter in "neuron" selects it; the page is not reloaded (nothing set up is lost)."""
    page, errors = open_page(browser, server.url)
    learn_on(page, "notes", "test")
    wait_status(page, "the notes network")
    page.evaluate("() => { window.notReloaded = true; }")
    page.fill("#learn-pick-neuron", "15")
    page.press("#learn-pick-neuron", "Enter")
    wait_text(page, '[data-testid="inspector"] .insp-head', "neuron 15 of 16")
    assert page.evaluate("() => window.notReloaded") is True
    assert "?" not in page.url
    errors.check()


def test_a_probability_below_one_never_reads_100_percent(server, browser) -> None:
    """#2: the cnn's most confident test digit (p < 1 but > 99.9995%): status and table cut."""
    best = max(
        (post(server, "/api/explain", {"model": "cnn", "test_index": i, "layers": []}) for i in range(12)),
        key=lambda ex: max(ex["probabilities"]),
    )
    p = max(best["probabilities"])
    assert 0.999995 < p < 1, p  # the old formatting (3 significant digits, rounded) said 100%
    page, errors = open_page(browser, server.url)
    learn_on(page, "cnn", "test")
    page.fill('[data-testid="learn-test"]', str(best["source"]["index"]))
    page.press('[data-testid="learn-test"]', "Tab")
    wait_status(page, f"test digit #{best['source']['index']}")
    wait_status(page, "(99.9%)")
    row = page.locator(f'[data-testid="wishes-table"] tr[data-digit="{best["prediction"]}"] td').nth(1)
    shown = row.inner_text()
    assert shown.startswith("99.999") and "100" not in shown, shown
    assert "100%" not in page.locator("#learn").inner_text()
    errors.check()


def test_step_counts_agree_whichever_button_stepped(server, browser) -> None:
    """#3: the status and the step card count the steps the copy took, a mini-batch's too."""
    page, errors = open_page(browser, server.url)
    learn_on(page, "notes", "test")
    wait_status(page, "the notes network reads")
    page.get_by_test_id("learn-step").click()
    wait_status(page, "after 1 step by hand")
    wait_text(page, "#learn-step-count", "1 step taken on a scratch copy of notes")
    page.get_by_test_id("learn-step").click()
    wait_status(page, "after 2 steps by hand")
    page.click("#learn-batch-apply")
    wait_status(page, "after 3 steps by hand")
    wait_text(page, "#learn-step-count", "3 steps taken on a scratch copy of notes")
    wait_text(page, '[data-testid="step-result"]', "mini-batch")
    errors.check()


def test_a_gone_copy_restarts_from_the_original_network(server, browser) -> None:
    """#5: when the server no longer has the page's stepped copy, the page says so and carries
    on from the original network (a step still works) instead of failing until Reset."""
    page, errors = open_page(browser, server.url)
    learn_on(page, "notes", "test")
    wait_status(page, "the notes network reads")
    original = value(page, "learn-cost")
    page.get_by_test_id("learn-step").click()
    wait_status(page, "after 1 step by hand")
    # The copy is gone (expired, or the server restarted): an id the server does not know.
    page.evaluate("() => { window.glassnet.learn.scratch.id = 'scratch:0123456789ab'; }")
    page.fill('[data-testid="learn-test"]', "0")
    page.click("#learn-refresh")
    wait_status(page, "starting again from the notes network")
    assert "Could not" not in status(page)
    assert value(page, "learn-cost") == original
    assert page.get_by_test_id("learn-reset").is_disabled()
    page.evaluate("() => { window.glassnet.learn.scratch = null; }")
    page.get_by_test_id("learn-step").click()
    wait_status(page, "after 1 step by hand")
    # a gone copy found by a step: the step is taken from the original network
    page.evaluate("() => { window.glassnet.learn.scratch.id = 'scratch:0123456789ab'; }")
    page.get_by_test_id("learn-step").click()
    wait_status(page, "starting again from the notes network")
    wait_status(page, "after 1 step by hand")
    errors.check(allow=("404",))


def test_a_cleared_drawing_is_not_shown_any_more(server, browser) -> None:
    """#7: Clear on the pad: no old digit, target or cost left in the Learn cards."""
    page, errors = open_page(browser, server.url)
    draw(page, DIGITS[3])
    learn_on(page, "notes", "pad")
    wait_status(page, "the notes network")
    page.get_by_test_id("wishes-table").wait_for()
    page.get_by_test_id("clear").click()
    wait_status(page, "Draw a digit on the pad")
    page.wait_for_function("() => !document.querySelector('[data-testid=\"wishes-table\"]')")
    pressed = page.locator('[data-testid="learn-targets"] button[aria-pressed="true"]')
    assert pressed.count() == 0
    ink = page.evaluate(
        "() => [...document.getElementById('learn-digit').getContext('2d')"
        ".getImageData(0, 0, 84, 84).data].some((v, i) => i % 4 === 3 && v > 0)"
    )
    assert not ink
    assert page.evaluate(
        "() => [...document.querySelectorAll('#learn .learn-grid, #learn .conv-card')]"
        ".every((e) => e.classList.contains('no-digit') && e.inert)"
    )
    draw(page, DIGITS[4])
    wait_status(page, "the notes network")
    page.get_by_test_id("wishes-table").wait_for()
    assert page.locator("#learn .no-digit").count() == 0
    errors.check()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_wish_colours_agree_with_the_diagram(server, browser, scheme: str) -> None:
    """#9: a negative wish is blue and a positive one red, in the table as in the diagram."""
    page, errors = open_page(browser, server.url, scheme=scheme)
    learn_on(page, "notes", "test")
    page.get_by_test_id("wishes-table").wait_for()

    def rgb(selector: str) -> list[int]:
        # Polled: the table is redrawn when an answer comes, and a replaced element has no style.
        css = page.wait_for_function(
            "(s) => { const e = document.querySelector(s);"
            " const c = e && getComputedStyle(e).backgroundColor; return c && c.includes('(') ? c : null; }",
            arg=selector,
        ).json_value()
        return [int(v) for v in css[css.index("(") + 1 : css.index(")")].split(",")[:3]]

    r, _, b = rgb(".wishbar.down")
    assert b > r, ("negative wish not blue", r, b)
    r, _, b = rgb(".wishbar.up")
    assert r > b, ("positive wish not red", r, b)
    errors.check()


def hover_cell(page, canvas, r: int, c: int, h: int, w: int) -> str:
    """Hover cell (r, c) of an h×w map drawn on ``canvas``; the tooltip's text."""
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + (c + 0.5) * box["width"] / w, box["y"] + (r + 0.5) * box["height"] / h)
    tip = page.locator("#tooltip:not([hidden])")
    tip.wait_for()
    return tip.inner_text()


def test_convolution_captions_and_the_notes_tasks_can_be_read(server, browser) -> None:
    """#10, #11: the cnn's first layer pads nothing: its input is "input", not "input (padded)";
    a tooltip names its map as the caption does; the backward stepper's corner cell says how many
    products fall on the zero padding (notes step 11); an all-zero pooling window's cell says it
    ties (notes step 13)."""
    page, errors = open_page(browser, server.url)
    learn_on(page, "cnn", "test")
    wait_status(page, "the cnn network reads")
    page.locator(".conv-card").scroll_into_view_if_needed()
    page.select_option("#learn-conv-layer", "0")
    wait_text(page, "#learn-conv-cost", "kernel 0 of")
    conv = post(server, "/api/explain/conv", {"model": "cnn", "test_index": 0, "layer": 0})
    assert conv["padding"] == [0, 0, 0, 0]
    for mode in ("forward", "kernel-grad"):
        caption = page.locator(f"#learn-conv-{mode} figure").first.locator("figcaption").inner_text()
        assert caption == "input", (mode, caption)
    error = conv["maps"]["dilated_error"]["shape"]
    tip = hover_cell(page, page.locator("#learn-conv-kernel-grad canvas.ker"), 0, 0, *error)
    assert tip.startswith("error (as a kernel) (0, 0)"), tip
    # notes step 11: the corner cell of the full convolution
    page.eval_on_selector(
        "#learn-conv-backward input.pos", "(e) => { e.value = '0'; e.dispatchEvent(new Event('input')); }"
    )
    readout = page.get_by_test_id("conv-cell-backward")
    wait_text(page, '[data-testid="conv-cell-backward"]', "input cell (0, 0)")
    assert readout.get_attribute("data-padding") == "24"
    assert "24 of them on the zero padding" in readout.inner_text()
    # notes step 13: a cell of an all-zero window that is not its winner
    pool = post(server, "/api/explain/conv", {"model": "cnn", "test_index": 0, "layer": 2})
    x, win = pool["maps"]["input"], pool["winners"]["values"]
    h, w = x["shape"]
    oh, ow = pool["maps"]["output"]["shape"]
    s = pool["stride"]
    found = next(
        (i * s + u, j * s + v)
        for i in range(oh)
        for j in range(ow)
        if all(x["values"][(i * s + u) * w + j * s + v] == 0 for u in range(s) for v in range(s))
        for u in range(s)
        for v in range(s)
        if (i * s + u, j * s + v) != (win[(i * ow + j) * 2], win[(i * ow + j) * 2 + 1])
    )
    page.select_option("#learn-pool-layer", "2")
    page.get_by_test_id("pool-readout").wait_for()
    tip = hover_cell(page, page.locator("#learn-pool canvas.back"), *found, h, w)
    assert "it ties with the window's largest value" in tip, tip
    errors.check()


def test_notes_step_1_task_can_be_seen(server, browser) -> None:
    """#11, notes step 1: a small digit drawn in a corner comes out centred and the usual size
    in "What the network sees" (what the task now asks the student to look at)."""
    page, errors = open_page(browser, server.url)
    small = [[(x * 0.45 + 10, y * 0.45 + 10) for x, y in stroke] for stroke in DIGITS[3]]
    draw(page, small)
    page.wait_for_function("() => window.glassnet.S.prediction && !window.glassnet.S.prediction.empty")
    page.wait_for_timeout(300)
    rows, cols = page.evaluate(
        """() => {
        const d = document.getElementById('seen').getContext('2d').getImageData(0, 0, 28, 28).data;
        const rows = [], cols = [];
        for (let i = 0; i < 28 * 28; i++) if (d[4 * i] + d[4 * i + 1] + d[4 * i + 2] > 150) {
          rows.push(Math.floor(i / 28)); cols.push(i % 28);
        }
        return [rows, cols];
    }"""
    )
    assert rows, "no ink seen"
    assert max(rows) - min(rows) >= 15  # scaled up into the 20×20 box
    assert abs((max(rows) + min(rows)) / 2 - 13.5) <= 3 and abs((max(cols) + min(cols)) / 2 - 13.5) <= 3
    errors.check()
    # the tasks ask for what the app shows: no brush size (the pad has none), the padding counted
    en, zh = (json.loads((I18N / f"{lang}.json").read_text()) for lang in ("en", "zh-CN"))
    assert "corner" in en["notes.step.1.check"] and "thicker" not in en["notes.step.1.check"]
    assert "一角" in zh["notes.step.1.check"] and "粗" not in zh["notes.step.1.check"]
    assert "zero padding" in en["notes.step.11.check"] and "zero padding" in en["conv.padding_products"]
    assert "补的零" in zh["notes.step.11.check"] and "补的零" in zh["conv.padding_products"]
    assert "tied" in en["notes.step.13.check"] and "相等" in zh["notes.step.13.check"]


def test_misclassified_digits_name_the_network_that_misread_them(server, browser) -> None:
    """#12: the list is the watched run's latest epoch, so each option names that run (the
    network chosen in Learn may read the digit right)."""
    page, errors = open_page(browser, server.url)
    learn_on(page, "mlp", "test")
    wait_status(page, "the mlp network reads")
    wired = page.evaluate(
        "() => [window.glassnet.learn.ctx.misclassified(), window.glassnet.S.watched ?? null]"
    )
    assert wired[0]["run"] == wired[1] and wired[0]["list"] == [], wired  # main.js: the watched run's
    page.evaluate(
        """() => {
        const ctx = window.glassnet.learn.ctx;
        ctx.misclassified = () => ({ run: 'r1', list: [{ index: 1, label: 2, predicted: 6 }] });
        const names = ctx.runName;
        ctx.runName = (id) => (id === 'r1' ? 'notes #1' : names(id));
    }"""
    )
    page.select_option('[data-testid="learn-source"]', "miss")
    option = page.locator("#learn-miss option").first.inner_text()
    assert option == "validation #1: a 2 read as 6 by notes #1", option
    errors.check()
