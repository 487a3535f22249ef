"""A newcomer's first minutes (QA4 newcomer), end to end: a real uvicorn, a real Chromium.

The server runs as ``make run`` leaves it: glassnet without its onnx extra (an ``onnx`` module that
fails to import stands first on the server's path, so ``import onnx`` raises ImportError as in a
venv without the package). Each test is one defect of the report: the ONNX link says what to
install, notes step 1 shows the pad, one probability reads one figure, busy buttons keep the focus,
"Teach it" waits for 10 digits, the toast after labelling, and the Train card's one base rate and
one name for Resume.
"""

from __future__ import annotations

import itertools
import os
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

from .conftest import Server, _require_browser, open_page
from .digits import DIGITS, draw
from .test_dashboard import api
from .test_languages import open_in

WATCHED = "window.glassnet.S.runs.get(window.glassnet.S.watched)"

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, small_mnist: Path):
    _require_browser()
    root = tmp_path_factory.mktemp("newcomer")
    shim = root / "no-onnx"
    shim.mkdir()
    (shim / "onnx.py").write_text('raise ImportError("no onnx in this venv (test shim)")\n')
    srv = Server(root / "data", small_mnist, validation=200)
    srv.env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(shim), os.environ.get("PYTHONPATH", "")]))
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_onnx_without_the_package_says_what_to_install(server, browser, locale: str) -> None:
    context, page, errors = open_in(browser, server, locale)
    downloads: list = []
    page.on("download", lambda d: downloads.append(d))
    page.get_by_test_id("download-onnx").click()
    note = page.get_by_test_id("onnx-note")
    page.wait_for_function("() => document.querySelector('[data-testid=\"onnx-note\"]')?.textContent")
    text = note.inner_text()
    # This server runs from the checkout: its editable install, not a wheel that is not there.
    assert "pip install -e" in text and "[onnx]" in text and ".whl" not in text, text
    assert ("ONNX" in text and "onnx" in text) and (("这个服务器" in text) == (locale == "zh-CN")), text
    assert not downloads  # nothing saved: the failure is said, not a cancelled "onnx.json"
    errors.check(allow=("status of 501",))
    context.close()


NOTES_SIZES = [(1366, 768), (1920, 1080), (768, 1024), (390, 844)]


@pytest.mark.parametrize(("width", "height"), NOTES_SIZES)
def test_notes_step_1_shows_the_pad_it_asks_to_draw_on(server, browser, width: int, height: int) -> None:
    page, errors = open_page(browser, server.url, width=width, height=height)
    page.goto(server.url + "/#/notes/1")
    page.get_by_test_id("notes-card").wait_for()
    page.wait_for_timeout(300)
    pad = page.get_by_test_id("pad").bounding_box()
    head = page.evaluate("() => document.querySelector('header').getBoundingClientRect().bottom")
    assert pad is not None
    assert pad["y"] >= head - 1 and pad["y"] + pad["height"] <= height + 1, (pad, head, height)
    # The card's title and its Try-it are in sight too (beside the pad, or under it on a phone).
    title = page.get_by_test_id("notes-step-title").bounding_box()
    assert title is not None and head - 1 <= title["y"] and title["y"] + title["height"] <= height, title
    errors.check()
    page.close()


BAR_LABELS = """() => [...document.querySelectorAll('#bars .bar .p')].map((el) => {
  const r = el.getBoundingClientRect(), range = document.createRange();
  range.selectNodeContents(el);
  const ink = range.getBoundingClientRect();
  return {text: el.textContent, left: ink.left, right: ink.right, boxRight: r.right};
})"""


@pytest.mark.parametrize(("width", "height"), [(1366, 768), (390, 844)])
def test_one_probability_reads_one_figure_and_labels_do_not_touch(
    server, browser, width: int, height: int
) -> None:
    page, errors = open_page(browser, server.url, width=width, height=height)
    page.goto(server.url + "/#/notes/1")
    page.get_by_test_id("notes-setup").click()  # a test digit on the pad, read at once
    page.wait_for_function(
        "() => /\\d/.test(document.querySelector('[data-testid=\"prediction\"]').textContent)"
    )
    page.wait_for_timeout(300)
    digit = int(page.get_by_test_id("prediction").inner_text())
    headline = page.locator("#confidence").inner_text()
    labels = page.evaluate(BAR_LABELS)
    assert labels[digit]["text"] in headline, (labels[digit]["text"], headline)  # "99.9%" in both
    for a, b in itertools.pairwise(labels):
        assert a["right"] <= b["left"] + 0.5, f"{a['text']!r} runs into {b['text']!r}: {labels}"
    errors.check()
    page.close()


def focused(page) -> str:
    return page.evaluate("() => document.activeElement?.dataset?.testid ?? document.activeElement?.tagName")


def test_buttons_that_wait_keep_the_keyboard_focus(server, browser) -> None:
    page, errors = open_page(browser, server.url)
    page.goto(server.url + "/#/notes/5")
    page.get_by_test_id("notes-setup").click()  # the notes network, a digit, one step by hand
    page.get_by_test_id("step-cost-after").wait_for(timeout=60000)
    idle = "(id) => document.querySelector(`[data-testid=${id}]`).getAttribute('aria-disabled') === null"
    for testid in ["learn-step", "learn-batch-draw"]:
        page.get_by_test_id(testid).focus()
        page.keyboard.press("Enter")
        page.wait_for_timeout(50)
        page.wait_for_function(idle, arg=testid, timeout=60000)
        assert focused(page) == testid, f"{testid}: the focus went to {focused(page)}"
    # Reset disables itself (nothing left to reset): the focus goes on to "Take a step".
    page.get_by_test_id("learn-reset").focus()
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.querySelector('[data-testid=\"learn-reset\"]').disabled")
    assert focused(page) == "learn-step"
    errors.check()
    page.close()


def test_teach_waits_for_ten_digits_and_the_toast_reads_clearly(server, browser) -> None:
    page, errors = open_page(browser, server.url)
    assert api(server, "/api/mydigits")["digits"] == []
    teach = page.get_by_test_id("teach-start")
    assert teach.is_disabled()  # from the start, before the page has read how many digits there are
    needs = page.get_by_test_id("teach-needs")
    expect(needs).to_have_text("Label 10 more of your digits first: teaching needs at least 10.")
    assert teach.is_disabled()
    says = "(s) => document.querySelector('[data-testid=\"teach-needs\"]').textContent.includes(s)"
    draw(page, DIGITS[3])
    page.get_by_test_id("label-3").click()
    page.wait_for_function(says, arg="9 more")
    toasts = page.locator(".toast").all_inner_texts()
    assert any("Kept as a 3: your first labelled digit." in t for t in toasts), toasts
    draw(page, DIGITS[3])
    page.get_by_test_id("label-3").click()
    page.wait_for_function(says, arg="8 more")
    toasts = page.locator(".toast").all_inner_texts()
    assert any("you have 2 labelled digits, 2 of them 3s." in t for t in toasts), toasts
    assert teach.is_disabled()
    errors.check()
    page.close()


def test_train_card_one_base_rate_and_one_name_for_resume(server, browser) -> None:
    # 1,000 epochs: still training when the test pauses it (20 epochs took 3.5 s on a quick machine).
    run = api(server, "/api/runs", {"preset": "mlp", "epochs": 1000, "batch_size": 16, "lr": 0.002})
    try:
        page, errors = open_page(browser, server.url)
        page.goto(server.url + "/#train")
        page.wait_for_function(f"() => window.glassnet?.S?.watched === {run['id']!r}")
        page.wait_for_function(f"() => {WATCHED}?.status === 'running'", timeout=30000)
        assert page.get_by_test_id("resume").inner_text() == "Resume"  # greyed while it trains, the same name
        api(server, f"/api/runs/{run['id']}/pause", {})
        api(server, f"/api/runs/{run['id']}", {"lr": 0.0005}, method="PATCH")
        page.wait_for_function(f"() => {WATCHED}?.lr === 0.0005", timeout=15000)
        page.wait_for_timeout(300)
        assert page.get_by_test_id("resume").inner_text() == "Resume"
        # the base rate now, not the 0.002 it started with
        assert page.locator('#hyper input[name="lr"]').input_value() == "0.0005"
        assert page.locator("#live-lr").input_value() == "0.0005"
        errors.check()
        page.close()
    finally:
        api(server, f"/api/runs/{run['id']}/stop", {})
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if api(server, f"/api/runs/{run['id']}")["status"] in ("stopped", "finished"):
                break
            time.sleep(0.2)
