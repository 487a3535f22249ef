"""The page keeps drawing while a `cnn`-preset run trains at full speed on the full bundled MNIST:
the charts, kernels, probe activations and the drawn digit's layers update live. The frame time
(the gaps between requestAnimationFrame callbacks) is printed here and measured by
bench/frame_time.py; on a shared machine it is a figure, not a test threshold."""

from __future__ import annotations

import json
import sys
import urllib.request

import pytest

from .conftest import ROOT, Server, _require_browser, open_page, publish, shoot
from .digits import DIGITS, draw

sys.path.insert(0, str(ROOT / "bench"))
from frame_time import MEASURE, summary

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def full_server(tmp_path_factory: pytest.TempPathFactory):
    _require_browser()
    srv = Server(tmp_path_factory.mktemp("e2e-full") / "data", dataset=None, validation=5000).start()
    try:
        yield srv
    finally:
        srv.stop()


def post(url: str, body: dict | None = None) -> dict:
    req = urllib.request.Request(
        url, data=json.dumps(body or {}).encode(), method="POST", headers={"content-type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


def test_the_page_keeps_drawing_while_the_cnn_trains(full_server, browser) -> None:
    page, errors = open_page(browser, full_server.url)
    page.select_option("#preset", "cnn")
    page.get_by_test_id("start").click()
    run_id = None
    try:
        page.wait_for_selector('[data-testid="kernels"] canvas', timeout=60000)
        page.wait_for_function("() => window.glassnet.S.probes.length > 0", timeout=60000)
        run_id = page.evaluate("() => window.glassnet.S.watched")
        draw(page, DIGITS[8])  # the drawn digit is re-read with the new weights as they arrive
        page.locator("#train").scroll_into_view_if_needed()
        before = page.evaluate(
            "() => [window.glassnet.charts.loss.series[0].xs.length, window.glassnet.S.kernels.length]"
        )
        page.evaluate("() => window.glassnet.paintTimes.splice(0)")
        gaps = page.evaluate(MEASURE, 10000)
        after = page.evaluate(
            "() => [window.glassnet.charts.loss.series[0].xs.length, window.glassnet.S.kernels.length]"
        )
        paint = page.evaluate("() => window.glassnet.paintTimes.slice()")
        shoot(page, "bar3-training-full-mnist", full_page=False)
        publish(
            shoot(page, "bar3-learned", full_page=False, locator=page.locator("#learned")),
            "learned-full-mnist",
        )
    finally:
        if run_id:
            post(f"{full_server.url}/api/runs/{run_id}/stop")
    print(
        f"\nframe time while the cnn trained: {summary(gaps, paint)}; "
        f"loss points {before[0]} -> {after[0]}, kernel frames {before[1]} -> {after[1]}"
    )
    assert after[0] > before[0], "the loss chart did not update while measuring"
    assert after[1] > before[1] or after[1] >= 100, "the kernels did not update while measuring"
    assert gaps, "the page drew no frame while the run trained"
    errors.check()
    page.close()
