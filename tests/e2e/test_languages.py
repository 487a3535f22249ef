"""The page in both languages (issue 13), end to end: a real uvicorn, a real Chromium.

* Bar 1: the browser's language picks the catalogue (Playwright's locale sets navigator.languages);
  in 中文 no English word is left in the visible text of any view (only layer type codes, names
  such as MNIST or SGD, run and checkpoint ids, numbers, units and formula letters), and the header
  switch goes back to English with no Chinese left, remembered across a reload.
* Bar 4: phone (390×844) and laptop (1366×900), both languages, both themes: no element of the
  header or of a panel holds text wider than itself (scrollWidth > clientWidth), except the
  scrolling table wrappers made for it.
"""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from .conftest import PageErrors
from .digits import DIGITS, draw
from .test_dashboard import api

pytestmark = pytest.mark.e2e

# Words a Chinese page may show: layer type codes, names of things (datasets, formats, optimizers,
# the app, the presets and bundled models, which are ids), and the letters and function names of
# formulas (log, max, exp, σ′ written with Latin letters).
ALLOWED = {
    # layer type codes and activation functions as the editor and the layer rows name them
    "conv2d", "maxpool2d", "avgpool2d", "dense", "flatten", "dropout", "relu", "leaky_relu", "leaky",
    "ReLU", "sigmoid", "tanh", "softmax",
    # names
    "glassnet", "MNIST", "ONNX", "IDX", "JSON", "NumPy", "SGD", "Adam", "English", "Ray",
    # preset and bundled model ids, in model menus and run names ("notes #1")
    "cnn", "mlp", "notes", "custom",
    # formula words and units
    "log", "max", "exp", "ms", "mse", "Mx", "Nx", "Mw", "Nw", "P_err", "Q_err", "rot180",
}  # fmt: skip
ID = re.compile(r"^(epoch-\d+|run-[0-9a-f]+|[0-9a-f]{6,})$")  # checkpoint and run ids
FORMULA = re.compile(r"^[A-Za-z](\d+|[ijk])$")  # a variable with its subscript: a232, w0, z10, aj

VISIBLE_TEXT = "() => document.body.innerText"

# Text drawn on canvases (chart axes, labels in the maps) is not in the DOM: every string a canvas
# draws is recorded as the page draws it.
RECORD_CANVAS_TEXT = """(() => {
  window.__canvasText = new Set();
  const protos = [CanvasRenderingContext2D, globalThis.OffscreenCanvasRenderingContext2D];
  for (const proto of protos.filter(Boolean).map((c) => c.prototype)) {
    for (const name of ['fillText', 'strokeText']) {
      const draw = proto[name];
      proto[name] = function (text, ...rest) {
        window.__canvasText.add(String(text));
        return draw.call(this, text, ...rest);
      };
    }
  }
})();"""
CANVAS_TEXT = "() => [...window.__canvasText].join('\\n')"


def english_words(text: str, names: frozenset[str] = frozenset()) -> list[str]:
    """Latin-letter words of two letters or more that are not allowed in the Chinese page
    (``names``: people's names the page shows — run owners, this browser's own — are data)."""
    words = re.findall(r"[A-Za-z][A-Za-z0-9_]*(?:-[A-Za-z0-9_]+)*", text)
    allowed = {w for w in words if w in ALLOWED or w in names or ID.match(w) or FORMULA.match(w)}
    return sorted({w for w in words if len(w) > 1} - allowed)


def chinese(text: str) -> list[str]:
    return sorted(set(re.findall(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]+", text)))


@pytest.fixture(scope="module")
def finished_run(server) -> dict:
    """A short run of the notes' network (one epoch), so Learned, Epochs and Runs have content."""
    run = api(server, "/api/runs", {"preset": "notes", "epochs": 1})
    deadline = time.monotonic() + 240
    while (r := api(server, f"/api/runs/{run['id']}"))["status"] not in ("finished", "failed", "diverged"):
        assert time.monotonic() < deadline, "the short run did not finish in 240 s"
        time.sleep(0.5)
    assert r["status"] == "finished", r
    return r


def open_in(browser, server, locale: str, width: int = 1366, height: int = 900, scheme: str = "light"):
    """A page whose browser speaks `locale` (navigator.languages), connected to the server."""
    context = browser.new_context(
        locale=locale, viewport={"width": width, "height": height}, color_scheme=scheme
    )
    context.add_init_script(RECORD_CANVAS_TEXT)
    page = context.new_page()
    errors = PageErrors(page)
    page.goto(server.url)
    page.wait_for_function(
        "() => document.querySelector('[data-testid=\"connection\"]')?.dataset.state === 'open'",
        timeout=15000,
    )
    return context, page, errors


def fill_views(page) -> None:
    """Content in every view: a drawn digit through the cnn (Draw, Inside), the Learn cards on a
    test digit (cost, wishes, inspector, matrix, a step, a mini-batch, convolution and pooling), the
    finished run's kernels, epochs and runs (watched on load)."""
    page.select_option('[data-testid="model"]', "cnn")
    draw(page, DIGITS[4])
    page.wait_for_function("() => window.glassnet.S.prediction && !window.glassnet.S.prediction.empty")
    page.get_by_test_id("learn-cost").wait_for(timeout=20000)
    page.get_by_test_id("learn-batch-draw").click()
    page.get_by_test_id("batch-match").wait_for(timeout=20000)
    page.get_by_test_id("learn-step").click()
    page.get_by_test_id("step-cost-after").wait_for(timeout=20000)
    page.locator('[data-testid="conv-params"]').wait_for(timeout=20000)
    page.locator('[data-testid="pool-readout"]:not(:empty)').wait_for(timeout=20000)
    page.locator("#confusion-epoch:not(:empty)").wait_for(timeout=20000)
    page.locator("#learn-net-note:not(:empty)").wait_for(timeout=20000)


def hover_tooltips(page) -> list[str]:
    """The tooltip text of every visible canvas that shows one, hovered at its middle."""
    tips = []
    canvases = page.locator("main canvas")
    for i in range(canvases.count()):
        canvas = canvases.nth(i)
        if not canvas.is_visible():
            continue
        canvas.scroll_into_view_if_needed()
        box = canvas.bounding_box()
        if not box or box["width"] < 4 or box["height"] < 4:
            continue
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.mouse.move(box["x"] + box["width"] / 2 + 1, box["y"] + box["height"] / 2 + 1)
        page.wait_for_timeout(60)
        tip = page.locator("#tooltip")
        if tip.is_visible():
            tips.append(tip.inner_text())
    page.mouse.move(0, 0)
    return tips


def test_chinese_page_has_no_english_and_back(server, browser, finished_run) -> None:
    context, page, errors = open_in(browser, server, "zh-CN")
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    fill_views(page)
    text = page.evaluate(VISIBLE_TEXT)
    assert len(chinese(text)) > 100, "the page is not in Chinese"
    names = page.evaluate(
        "() => fetch('/api/class').then((r) => r.json())"
        ".then((v) => [v.you.owner, ...v.runs.map((r) => r.owner)].filter(Boolean))"
    )
    left = english_words(text, frozenset(names))
    where = [m.group(0) for w in left for m in re.finditer(rf".{{0,30}}\b{w}\b.{{0,30}}", text)]
    assert left == [], f"English words left in the Chinese page: {left} in {where}"
    # The words drawn on hover: every canvas's tooltip.
    tips = hover_tooltips(page)
    assert len(tips) >= 5, f"only {len(tips)} canvases showed a tooltip"
    tip_text = "\n".join(tips)
    left = english_words(tip_text, frozenset(names))
    where = [m.group(0) for w in left for m in re.finditer(rf".{{0,30}}\b{w}\b.{{0,30}}", tip_text)]
    assert left == [], f"English words left in the Chinese tooltips: {left} in {where}"
    # The words drawn on the canvases themselves (axes, labels), all views filled and hovered.
    drawn = page.evaluate(CANVAS_TEXT)
    assert chinese(drawn), f"no Chinese drawn on any canvas: {drawn[:200]!r}"
    left = english_words(drawn, frozenset(names))
    where = [m.group(0) for w in left for m in re.finditer(rf".{{0,30}}\b{w}\b.{{0,30}}", drawn)]
    assert left == [], f"English words drawn on the Chinese page's canvases: {left} in {where}"
    # The notes' own words are the ones shown.
    for term in ("激活值", "加权和", "偏置", "代价", "学习速率", "卷积核", "特征图", "池化", "反向传播"):
        assert term in text, term
    # Back to English with the header's switch; the choice is remembered across a reload.
    page.get_by_test_id("lang").click()
    page.wait_for_function("() => document.documentElement.lang === 'en'")
    page.wait_for_function(
        "() => document.querySelector('[data-testid=\"connection\"]')?.dataset.state === 'open'",
        timeout=15000,
    )
    # The switch reloads the page; the drawing on the pad stays, and is read again.
    page.wait_for_function("() => window.glassnet.S.prediction && !window.glassnet.S.prediction.empty")
    assert not page.evaluate("() => window.glassnet.draw.pad.empty")
    assert page.get_by_test_id("prediction").inner_text() == "4"
    fill_views(page)
    text = page.evaluate(VISIBLE_TEXT)
    assert chinese(text) == ["中文"], "Chinese left in the English page (only the switch's own name)"
    page.reload()
    page.wait_for_function("() => document.documentElement.lang === 'en'")
    assert page.get_by_test_id("lang").inner_text() == "中文"
    errors.check()
    context.close()


OVERFLOW = """() => {
  const out = [];
  const roots = document.querySelectorAll('.top, .section-head, .card, .notes-card');
  for (const root of roots) for (const el of [root, ...root.querySelectorAll('*')]) {
    if (!(el instanceof HTMLElement) || el.offsetParent === null || el.closest('.sr')) continue;  // hidden
    const st = getComputedStyle(el);
    if (st.clip === 'rect(0px, 0px, 0px, 0px)') continue;   // visually hidden, for screen readers
    if (st.overflowX === 'auto' || st.overflowX === 'scroll') continue;   // a scroller made for it
    if (el.scrollWidth > el.clientWidth + 1 && el.clientWidth > 0) {
      out.push(`${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}.${[...el.classList].join('.')} `
        + `${el.scrollWidth}>${el.clientWidth}: ${(el.innerText || '').slice(0, 40)}`);
    }
  }
  return out;
}"""


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
@pytest.mark.parametrize(("width", "height"), [(390, 844), (1366, 900)])
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_no_text_overflow(
    server, browser, finished_run, locale: str, width: int, height: int, scheme: str
) -> None:
    context, page, errors = open_in(browser, server, locale, width, height, scheme)
    fill_views(page)
    over = page.evaluate(OVERFLOW)
    assert over == [], "\n".join(over)
    # and a step of the notes' path (its card, the longest set-up button)
    page.evaluate("location.hash = '#/notes/9'")
    page.get_by_test_id("notes-card").wait_for()
    over = page.evaluate(OVERFLOW)
    assert over == [], "\n".join(over)
    # the header stays one row on a phone and a laptop, in both languages
    head = page.locator(".top").bounding_box()
    assert head and head["height"] < (140 if width < 500 else 90), head
    errors.check()
    context.close()


LONG_NAME = "teach mlp with my handwriting, second try, lr 0.001"  # 52 characters, as QA had it

WIDTHS = """() => ({
  page: document.documentElement.scrollWidth,
  menu: document.getElementById('mine-model').getBoundingClientRect().right,
  card: document.getElementById('mine-model').closest('.card').getBoundingClientRect().right,
  title: document.getElementById('mine-model').title,
  wide: [...document.querySelectorAll('body *')]
    .filter((el) => el.getBoundingClientRect().right > 391
      && ![...el.children].some((c) => c.getBoundingClientRect().right > 391))
    .map((el) => `${el.tagName}#${el.id}.${el.className} ${Math.round(el.getBoundingClientRect().right)}`)
    .slice(0, 12),  // the innermost elements that stick out, to say which
})"""


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_a_long_run_name_does_not_widen_the_phone_page(server, browser, finished_run, locale: str) -> None:
    """qa-ui2 #4, #13: at 390 px, a run of a long name widens neither the Your digits network menu
    (every checkpoint of every run is an option) nor the page; the header's language and theme
    buttons keep their size beside the run's pill, which gives way."""
    old = finished_run["name"]
    api(server, f"/api/runs/{finished_run['id']}", {"name": LONG_NAME}, method="PATCH")
    try:
        context, page, errors = open_in(browser, server, locale, 390, 844)
        page.evaluate(f"window.glassnet.watch({finished_run['id']!r})")
        expect(page.get_by_test_id("run-status")).to_contain_text(LONG_NAME[:10])
        page.locator("#mine").scroll_into_view_if_needed()
        find = (
            "(n) => [...document.querySelectorAll('#mine-model option')]"
            ".findIndex((o) => o.text.startsWith(n))"
        )
        page.wait_for_function(f"(n) => ({find})(n) >= 0", arg=LONG_NAME)
        page.select_option("#mine-model", index=page.evaluate(find, LONG_NAME))
        w = page.evaluate(WIDTHS)
        assert w["page"] <= 390, "; ".join(w["wide"])
        assert w["menu"] <= w["card"] + 0.5, w
        assert w["title"].startswith(LONG_NAME), w  # the whole name, where the menu cuts it
        for button in ("lang", "theme"):
            box = page.locator(f"#{button}").bounding_box()
            assert box and box["x"] + box["width"] <= 390, (button, box)
            natural = page.evaluate(f"document.getElementById('{button}').scrollWidth")
            assert box["width"] + 0.5 >= natural, (button, box, natural)  # not squeezed
        theme = page.locator("#theme").bounding_box()
        assert theme and theme["width"] >= 31.5, theme  # its 2rem, not a squeezed oval
        errors.check()
        context.close()
    finally:
        api(server, f"/api/runs/{finished_run['id']}", {"name": old}, method="PATCH")


def test_phone_cards_label_their_cells_in_the_pages_language(server, browser, finished_run) -> None:
    """QA3 smoke #1: at 390 px the Runs table and the architecture table become cards whose cells
    are labelled by CSS; in 中文 those labels were "epoch", "validation accuracy" and "output". Every
    label drawn before a cell (its ::before content) is now Chinese."""
    context, page, errors = open_in(browser, server, "zh-CN", 390, 844)
    try:
        page.locator(f'[data-testid="runs"] tr[data-run="{finished_run["id"]}"]').wait_for(timeout=15000)
        page.locator(".arch tbody tr").first.wait_for(timeout=15000)
        labels = page.evaluate(
            "() => [...document.querySelectorAll('.runs tbody td, .arch tbody td')]"
            ".map((td) => getComputedStyle(td, '::before').content)"
            ".filter((c) => c && c !== 'none' && c !== 'normal')"
        )
        assert labels, "no cell is labelled on the phone"
        for label in labels:
            assert not english_words(label), label
            assert chinese(label), label
        errors.check()
    finally:
        context.close()
