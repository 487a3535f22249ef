"""Render docs/glossary.md from docs/glossary.json (the notes' terms, the page's words for them in
both languages, and the code names). `python scripts/glossary.py` writes it;
`python scripts/glossary.py --check` exits 1 when the markdown is not the rendering of the JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "docs" / "glossary.json"
TARGET = ROOT / "docs" / "glossary.md"


def render(data: dict) -> str:
    lines = [
        "# Glossary: the notes' words, the page's words, the code's names",
        "",
        data["about"],
        "",
        "The Chinese page uses the notes' own terms (学习速率, not 学习率). Where the notes write an",
        "English word inside Chinese (batch, valid 的卷积, full 卷积), the page writes it in Chinese, as",
        "the notes' own explanation does (小批量, 有效卷积, 全卷积), so that a reader of the notes sees",
        "no English word.",
        "",
        "| in the notes | the page (中文) | the page (English) | in the code |",
        "|---|---|---|---|",
    ]
    for term in data["terms"]:
        code = "; ".join(f"`{c}`" for c in term["code"]) or "–"
        lines.append(f"| {term['notes']} | {' / '.join(term['zh'])} | {term['en']} | {code} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    text = render(json.loads(SOURCE.read_text("utf-8")))
    if "--check" in sys.argv:
        return 0 if TARGET.read_text("utf-8") == text else 1
    TARGET.write_text(text, "utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
