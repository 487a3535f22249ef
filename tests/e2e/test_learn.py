"""The Learn view end to end (issue 7, bars 3 and 5): real uvicorn, real Chromium, the mouse on the
pad; every number the page shows is read back and compared with the API's."""

from __future__ import annotations

import json
import math
import urllib.request

import pytest

from .conftest import open_page, publish, shoot
from .digits import DIGITS, draw

pytestmark = pytest.mark.e2e

STATUS_FOR = "(t) => document.querySelector('[data-testid=\"learn-status\"]').textContent.includes(t)"
CANVAS_INK = """(el) => {
  const canvases = el.tagName === 'CANVAS' ? [el] : [...el.querySelectorAll('canvas')];
  let lit = 0;
  for (const c of canvases) {
    if (!c.width || !c.height) continue;
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    const seen = new Set();
    for (let i = 0; i < d.length; i += 4) {
      if (d[i + 3] > 0) seen.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
    }
    lit = Math.max(lit, seen.size);
  }
  return lit;
}"""


def post(server, path: str, body: dict) -> dict:
    req = urllib.request.Request(
        server.url + path, data=json.dumps(body).encode(), headers={"content-type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


def value(page, testid: str) -> float:
    return float(page.get_by_test_id(testid).get_attribute("data-value"))


def wait_status(page, text: str) -> None:
    page.wait_for_function(STATUS_FOR, arg=text, timeout=20000)


def wait_text(page, selector: str, text: str) -> None:
    """Until the element's text contains ``text``."""
    page.wait_for_function(
        "([s, t]) => document.querySelector(s)?.textContent.includes(t)", arg=[selector, text], timeout=20000
    )


def wait_cost(page, cost: float) -> None:
    """Until the page shows this cost for the digit (after a step or a reset)."""
    page.wait_for_function(
        "(c) => Number(document.querySelector('[data-testid=\"learn-cost\"]').dataset.value) === c", arg=cost
    )


def learn_on(page, model: str, source: str) -> None:
    page.locator("#learn").scroll_into_view_if_needed()
    page.select_option('[data-testid="learn-model"]', model)
    page.select_option('[data-testid="learn-source"]', source)


def target(page, digit: int) -> None:
    page.get_by_test_id("learn-targets").locator(f'button[data-digit="{digit}"]').click()
    wait_status(page, f"Target {digit}:")


def test_wishes_flow_back_and_a_step_by_hand(server, browser) -> None:
    """Bar 3, notes model: draw a 3, target 8 → the 8's wish positive, the others negative (read
    from the page, equal to the API's); a hidden neuron's listed terms add up to its wish; a step
    lowers the cost and shows the new probabilities; reset restores the old numbers."""
    page, errors = open_page(browser, server.url)
    draw(page, DIGITS[3])
    learn_on(page, "notes", "pad")
    target(page, 8)
    wishes = [value(page, f"wish-{d}") for d in range(10)]
    assert wishes[8] > 0 and all(w < 0 for d, w in enumerate(wishes) if d != 8), wishes
    assert page.get_by_test_id("wish-8").inner_text().startswith("+")
    pixels = page.evaluate("() => window.glassnet.learn.ctx.padPixels()")
    ex = post(server, "/api/explain", {"model": "notes", "pixels": pixels, "target": 8})
    assert wishes == ex["wishes"]
    assert value(page, "learn-cost") == ex["cost"]
    publish(shoot(page, "learn-wishes", locator=page.get_by_test_id("idea-4")), "learn-wishes")

    # Hover a hidden neuron of the second hidden layer: its wish is the sum of the listed terms.
    spot = page.evaluate("() => window.glassnet.learn.net.spots.find((s) => s.col === 2 && s.i === 5)")
    canvas = page.get_by_test_id("learn-net")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + spot["x"], box["y"] + spot["y"])
    inspector = page.get_by_test_id("inspector")
    wait_text(page, '[data-testid="inspector"] .insp-head', "neuron 5 of 16")
    backward = inspector.get_by_test_id("inspector-backward")
    listed = backward.locator("[data-term]").evaluate_all("els => els.map(e => e.dataset.term)")
    terms = [float(t) for t in listed]
    assert len(terms) == 10  # it feeds the ten outputs
    total = float(backward.get_by_test_id("inspector-total").get_attribute("data-value"))
    shown_wish = float(backward.get_by_test_id("inspector-wish").get_attribute("data-value"))
    assert math.isclose(sum(terms), total, rel_tol=1e-12, abs_tol=1e-300)
    api_wish = -ex["layers"][4]["grad_output"]["values"][5]  # layer 4 = the second hidden sigmoid
    assert math.isclose(total, api_wish, rel_tol=1e-9, abs_tol=1e-300)
    assert shown_wish == api_wish
    z = float(inspector.get_by_test_id("inspector-z").get_attribute("data-value"))
    assert z == ex["layers"][3]["output"]["values"][5]
    publish(shoot(page, "learn-network", locator=page.get_by_test_id("idea-6")), "learn-network")
    publish(shoot(page, "learn-neuron", locator=page.get_by_test_id("idea-2")), "learn-neuron")

    # Take the step (the default learning rate of the notes network), then reset.
    before = value(page, "learn-cost")
    lr = float(page.get_by_test_id("learn-lr").input_value())
    page.get_by_test_id("learn-step").click()
    page.get_by_test_id("step-cost-after").wait_for()
    after = value(page, "step-cost-after")
    assert value(page, "step-cost-before") == before
    assert after < before
    body = {"model": "notes", "examples": [{"pixels": pixels, "target": 8}], "lr": lr}
    step = post(server, "/api/explain/step", body)
    one = step["examples"][0]
    assert after == step["cost_after"]
    assert value(page, "step-p-after") == one["probabilities_after"][8]
    assert page.get_by_test_id("step-prediction-after").inner_text() == str(one["prediction_after"])
    wait_cost(page, after)
    assert value(page, "wish-8") != wishes[8]  # the wishes of the stepped network
    publish(shoot(page, "learn-step", locator=page.get_by_test_id("idea-5")), "learn-step")
    page.get_by_test_id("learn-reset").click()
    wait_cost(page, before)
    assert [value(page, f"wish-{d}") for d in range(10)] == wishes
    errors.check()


def test_backward_convolution_stepped_cell_by_cell(server, browser) -> None:
    """Bar 3, cnn: step the backward convolution through positions; each cell's number is the API's."""
    page, errors = open_page(browser, server.url)
    learn_on(page, "cnn", "test")
    page.fill('[data-testid="learn-test"]', "3")
    page.press('[data-testid="learn-test"]', "Enter")
    target(page, 5)
    card = page.locator(".conv-card")
    card.scroll_into_view_if_needed()
    page.select_option("#learn-conv-layer", "3")
    page.fill("#learn-conv-kernel", "4")
    page.fill("#learn-conv-channel", "2")
    page.press("#learn-conv-channel", "Enter")
    # The kernel's answer comes before the channel's (each field asks on its own): wait for both.
    wait_text(page, "#learn-conv-cost", "kernel 4 of 32, input channel 2 of 16")
    api_map = post(
        server,
        "/api/explain/conv",
        {"model": "cnn", "test_index": 3, "target": 5, "layer": 3, "kernel": 4, "channel": 2},
    )
    part = api_map["maps"]["input_grad_part"]
    w = part["shape"][1]
    readout = page.get_by_test_id("conv-cell-backward")
    backward = page.get_by_test_id("idea-11")
    seen = []
    for _ in range(4):
        r, c = int(readout.get_attribute("data-row")), int(readout.get_attribute("data-col"))
        shown = readout.locator("[data-value]").get_attribute("data-value")
        listed = float(readout.locator("[data-sum]").get_attribute("data-sum"))
        assert float(shown) == part["values"][r * w + c]
        assert math.isclose(listed, float(shown), rel_tol=1e-9, abs_tol=1e-15)
        seen.append((r, c))
        backward.locator("button.next").click()
    assert len(set(seen)) == 4
    # the forward and kernel-gradient steppers read the API's numbers too
    for mode, name in (("forward", "partial"), ("kernel", "kernel_grad")):
        out = page.get_by_test_id(f"conv-cell-{mode}")
        r, c = int(out.get_attribute("data-row")), int(out.get_attribute("data-col"))
        m = api_map["maps"][name]
        shown = float(out.locator("[data-value]").get_attribute("data-value"))
        assert shown == m["values"][r * m["shape"][1] + c]
    publish(shoot(page, "learn-conv", locator=card), "learn-conv")
    errors.check()


IDEA_NAMES = {
    1: "pixels as input neurons",
    2: "a neuron: weighted sum, bias, activation",
    3: "a layer as a matrix",
    4: "the cost of one digit",
    5: "a gradient-descent step",
    6: "backpropagation: the wishes",
    7: "mini-batches",
    8: "kernels and feature maps",
    9: "parameter count of a conv layer",
    10: "valid convolution forward",
    11: "backward: full convolution, kernel rotated 180°",
    12: "the kernel's gradient",
    13: "pooling forward and backward",
}


@pytest.mark.parametrize(("width", "height"), [(1366, 900), (390, 844)])
def test_thirteen_ideas_each_have_a_live_view(server, browser, width: int, height: int) -> None:
    """Bar 5: the notes' 13 ideas each have a view (data-testid="idea-N") with live content — a
    number or a painted canvas — on a real digit; screenshots of each."""
    page, errors = open_page(browser, server.url, width=width, height=height)
    page.select_option('[data-testid="model"]', "cnn")
    draw(page, DIGITS[4])
    page.wait_for_function("() => window.glassnet.S.prediction && !window.glassnet.S.prediction.empty")
    learn_on(page, "notes", "pad")
    target(page, 9)
    page.get_by_test_id("learn-batch-draw").click()
    page.get_by_test_id("batch-match").wait_for()
    page.get_by_test_id("learn-step").click()
    page.get_by_test_id("step-cost-after").wait_for()
    wait_text(page, "#learn-conv-cost", "kernel")
    wait_text(page, '[data-testid="pool-readout"]', "pooling")
    for n, name in IDEA_NAMES.items():
        view = page.get_by_test_id(f"idea-{n}")
        view.scroll_into_view_if_needed()
        assert view.is_visible(), f"idea {n} ({name}) is not visible"
        numbers = view.locator("[data-value], [data-term]").count()
        ink = view.evaluate(CANVAS_INK)
        live = f"idea {n} ({name}): {numbers} numbers, {ink} colours"
        assert numbers > 0 or ink > 8, f"no live content in {live}"
        path = shoot(page, f"idea-{n}-{width}", locator=view)
        if width > 1000:
            publish(path, f"ideas/idea-{n}")
    errors.check()
