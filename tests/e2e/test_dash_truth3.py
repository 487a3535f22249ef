"""QA3 of the dashboard (notes/qa3-dash.md): panels true over a whole run, and usable by everyone.
One test per defect (numbers in the names); a real `glassnet serve` and Chromium, small runs."""

from __future__ import annotations

import pytest

from .conftest import open_page
from .test_dashboard import api
from .test_truthful_panels import closed, wait_run

pytestmark = pytest.mark.e2e

TOP = "(id) => Math.round(document.getElementById(id).getBoundingClientRect().top)"
HEAD = "() => document.querySelector('.top').getBoundingClientRect().bottom"
OPEN = "() => document.querySelector('[data-testid=connection]').dataset.state === 'open'"
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
