"""Your digits end to end: label drawings from the page (button and keyboard), review them, and see
how a network reads them."""

from __future__ import annotations

import pytest

from .conftest import open_page, shoot
from .digits import DIGITS, draw

pytestmark = pytest.mark.e2e


def tiles(page) -> int:
    return page.locator('[data-testid="mine-gallery"] .mine').count()


def wait_tiles(page, n: int) -> None:
    page.wait_for_function(
        "(n) => document.querySelectorAll('[data-testid=\"mine-gallery\"] .mine').length === n", arg=n
    )


def test_label_review_and_read_my_digits(server, browser) -> None:
    page, errors = open_page(browser, server.url)
    page.get_by_test_id("mine-gallery").scroll_into_view_if_needed()
    before = tiles(page)
    draw(page, DIGITS[3])
    page.get_by_test_id("label-3").click()
    page.wait_for_function(
        "(n) => document.querySelectorAll('[data-testid=\"mine-gallery\"] .mine').length === n",
        arg=before + 1,
    )
    assert (
        page.evaluate("() => window.glassnet.S.prediction") is None
        or page.get_by_test_id("prediction").inner_text() == "?"
    )
    # the keyboard labels too: focus the pad, press 7
    draw(page, DIGITS[7])
    page.get_by_test_id("pad").focus()
    page.keyboard.press("7")
    page.wait_for_function(
        "(n) => document.querySelectorAll('[data-testid=\"mine-gallery\"] .mine').length === n",
        arg=before + 2,
    )
    labels = page.locator('[data-testid="mine-gallery"] .mine select').evaluate_all(
        "els => els.map(e => e.value)"
    )
    assert labels[-2:] == ["3", "7"]
    page.select_option('[data-testid="mine-model"]', "cnn")
    page.get_by_test_id("mine-evaluate").click()
    page.get_by_test_id("mine-accuracy").wait_for()
    accuracy = float(page.get_by_test_id("mine-accuracy").get_attribute("data-value"))
    assert 0.0 <= accuracy <= 1.0
    assert (
        page.locator('[data-testid="mine-gallery"] .mine span').first.inner_text() in ("read right",)
        or "read as" in page.locator('[data-testid="mine-gallery"] .mine span').first.inner_text()
    )
    # the teach card shows what augmentation will do to a digit: the original and 8 varied versions
    strip = page.locator("#teach-augment-strip canvas")
    strip.first.wait_for()
    assert strip.count() == 9
    # delete the 7
    page.locator('[data-testid="mine-gallery"] .mine').last.locator("button").click()
    page.wait_for_function(
        "(n) => document.querySelectorAll('[data-testid=\"mine-gallery\"] .mine').length === n",
        arg=before + 1,
    )
    shoot(page, "mine", locator=page.locator("#mine"))
    errors.check()
