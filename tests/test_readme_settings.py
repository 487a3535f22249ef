"""The README names every GLASSNET_* variable the server reads (QA3 inst #7): its settings table
is the one made from the Settings model, every field has a description, and the serve synopsis
holds every option of serve."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from glassnet.cli import build_parser
from glassnet.service.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
sys.path.insert(0, str(ROOT / "scripts"))

from settings_table import table  # noqa: E402


def test_the_readme_holds_the_settings_table_of_the_model() -> None:
    start = "<!-- settings table: scripts/settings_table.py -->\n"
    block = README[README.index(start) + len(start) : README.index("<!-- end of the settings table -->")]
    assert block == table(), "run: PYTHONPATH=backend python scripts/settings_table.py"


def test_every_setting_is_named_and_described() -> None:
    for name, field in Settings.model_fields.items():
        assert f"`GLASSNET_{name.upper()}`" in README, name
        assert field.description, name


def test_every_glassnet_variable_the_code_reads_is_in_the_readme() -> None:
    read = set()
    for path in (ROOT / "backend" / "glassnet").rglob("*.py"):
        read |= set(re.findall(r"GLASSNET_[A-Z0-9_]*[A-Z0-9]", path.read_text()))
    fields = {f"GLASSNET_{n.upper()}" for n in Settings.model_fields}
    missing = {v for v in read if v not in README and v not in fields}
    assert not missing


def test_the_serve_synopsis_has_every_option() -> None:
    parser = build_parser()
    serve = next(a for a in parser._subparsers._group_actions[0].choices.items() if a[0] == "serve")[1]
    start = README.index("    glassnet serve [--host")
    synopsis = README[start : README.index("\n\n", start)]
    for action in serve._actions:
        for option in action.option_strings:
            if option.startswith("--") and option != "--help":
                assert option in synopsis, option
