"""The dashboard labels the output bars with the model's class names: a model trained on EMNIST-style
letters (26 classes) shows 26 bars A..Z, and the bundled cnn shows the ten digits again."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from glassnet.cli import main

from .conftest import open_page, shoot
from .digits import DIGITS, draw

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))
from letters import train_argv, write_letters

pytestmark = pytest.mark.e2e
ANSWERED = (
    "(n) => { const S = window.glassnet.S; return S.prediction && !S.prediction.empty"
    " && S.shownId === S.predictId && document.querySelectorAll('[data-testid=bars] .bar').length === n; }"
)


def test_bars_carry_the_class_names(server, browser, tmp_path: Path) -> None:
    letters = write_letters(tmp_path / "letters")
    out = server.data_dir / "models" / "letters.npz"  # listed by the server as models:letters
    argv = train_argv(letters)
    assert main([*argv, "--epochs", "2", "--out", str(out)]) == 0

    page, errors = open_page(browser, server.url)
    page.wait_for_function(
        "() => [...document.querySelectorAll('#model option')].some(o => o.value === 'models:letters')"
    )
    page.select_option('[data-testid="model"]', "models:letters")
    assert page.get_attribute('[data-testid="download-onnx"]', "href") == "/api/models/models%3Aletters/onnx"
    draw(page, DIGITS[1])
    page.wait_for_function(ANSWERED, arg=26, timeout=15000)
    labels = page.locator('[data-testid="bars"] .bar .d').all_inner_texts()
    assert labels == [chr(ord("A") + i) for i in range(26)]
    assert page.get_by_test_id("prediction").inner_text() in labels
    shoot(page, "letters-bars", locator=page.locator(".predict-card"))

    page.select_option('[data-testid="model"]', "cnn")
    page.get_by_test_id("clear").click()
    draw(page, DIGITS[7])
    page.wait_for_function(ANSWERED, arg=10, timeout=15000)
    assert page.locator('[data-testid="bars"] .bar .d').all_inner_texts() == [str(d) for d in range(10)]
    assert page.get_by_test_id("prediction").inner_text() == "7"
    errors.check()
    page.close()
