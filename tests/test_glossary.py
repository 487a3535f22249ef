"""The glossary (docs/glossary.json, rendered to docs/glossary.md) against the notes and the page's
catalogues (issue 13, bar 3): the Chinese page uses the notes' own term wherever the English page
uses its English twin, every term the page takes from the notes is in the glossary, and every
glossary term is one the notes use."""

from __future__ import annotations

import importlib.util
import json
import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GLOSSARY = json.loads((ROOT / "docs" / "glossary.json").read_text("utf-8"))
TERMS = GLOSSARY["terms"]
EN = json.loads((ROOT / "frontend" / "i18n" / "en.json").read_text("utf-8"))
ZH = json.loads((ROOT / "frontend" / "i18n" / "zh-CN.json").read_text("utf-8"))
# The teaching notes live beside the repository (shared/notes); GLASSNET_NOTES may point elsewhere.
NOTES_DIR = Path(os.environ.get("GLASSNET_NOTES", ROOT.parent / "shared" / "notes"))
CJK = re.compile(r"[\u4e00-\u9fff]+")


def notes_text() -> str:
    files = sorted(NOTES_DIR.glob("*.txt")) if NOTES_DIR.is_dir() else []
    if not files:
        pytest.skip(f"the teaching notes are not at {NOTES_DIR} (set GLASSNET_NOTES)")
    return "\n".join(f.read_text("utf-8") for f in files)


def test_the_markdown_is_rendered_from_the_json() -> None:
    spec = importlib.util.spec_from_file_location("glossary", ROOT / "scripts" / "glossary.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (ROOT / "docs" / "glossary.md").read_text("utf-8") == module.render(GLOSSARY), (
        "docs/glossary.md is stale: run python scripts/glossary.py"
    )


def test_chinese_uses_the_notes_term_wherever_english_uses_its_twin() -> None:
    misses = []
    for term in TERMS:
        pattern = re.compile(term["en_pattern"], re.IGNORECASE)
        skip = tuple(term.get("except", []))
        for key, english in EN.items():
            text = re.sub(r"<[^>]+>|\{\w+\}", " ", english)
            if key.startswith(skip) or not pattern.search(text):
                continue
            if not any(z in ZH[key] for z in term["zh"]):
                misses.append(f"{key}: {term['en']!r} in {english!r} but none of {term['zh']} in {ZH[key]!r}")
    assert misses == [], "\n".join(misses)


def test_every_glossary_term_is_used_by_both_pages() -> None:
    for term in TERMS:
        assert any(re.search(term["en_pattern"], v, re.IGNORECASE) for v in EN.values()), term["en"]
        assert any(z in v for v in ZH.values() for z in term["zh"]), term["zh"]


def test_every_glossary_term_is_the_notes_own() -> None:
    notes = notes_text()
    for term in TERMS:
        words = CJK.findall(term["notes"]) + [
            w for w in re.findall(r"[A-Za-z]+", term["notes"]) if len(w) > 2
        ]
        assert any(w in notes for w in words), f"{term['notes']} is not in the notes"
        # the page's Chinese word is the notes' own (or the notes' explanation of an English word)
        assert any(z in notes for z in term["zh"]) or any(w in notes for w in words), term["zh"]


def marked_terms(notes: str) -> set[str]:
    """The terms the notes mark: ==highlighted==, **bold**, headings, and 'term(english)'."""
    found = re.findall(r"==([^=]+)==", notes) + re.findall(r"\*\*([^*]+)\*\*", notes)
    found += re.findall(r"^#{2,6}\s*(.+)$", notes, re.MULTILINE)
    found += re.findall(r"([\u4e00-\u9fff]{2,6})\((?:[a-z ]+|[\u4e00-\u9fff]+)\)", notes)
    out = set()
    for raw in found:
        for run in CJK.findall(raw):
            if len(run) >= 2:
                out.add(run)
    return out


def test_the_notes_terms_the_page_uses_are_in_the_glossary() -> None:
    notes = notes_text()
    covered = " ".join(t["notes"] + " " + " ".join(t["zh"]) for t in TERMS)
    zh_text = " ".join(ZH.values())
    marked = marked_terms(notes)
    assert {"代价函数", "学习速率", "梯度下降法", "反向传播", "卷积核"} <= marked  # the extraction works
    missing = sorted(m for m in marked if m in zh_text and m not in covered)
    assert missing == [], f"terms of the notes the page uses, missing from the glossary: {missing}"
