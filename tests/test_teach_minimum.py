"""The page knows how many digits teaching needs (QA4 NEWCOMER-5): "Teach it" waits, saying how many
more to label, until the person has the server's minimum — so its number must be the server's."""

from __future__ import annotations

import re
from pathlib import Path

from glassnet.service.teaching import MIN_DIGITS

MINE = Path(__file__).resolve().parents[1] / "frontend" / "js" / "panels" / "mine.js"


def test_the_page_and_the_server_need_the_same_number_of_digits() -> None:
    found = re.search(r"export const TEACH_MIN_DIGITS = (\d+);", MINE.read_text())
    assert found, "mine.js names no TEACH_MIN_DIGITS"
    assert int(found.group(1)) == MIN_DIGITS
