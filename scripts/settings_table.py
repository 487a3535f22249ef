"""The README's table of GLASSNET_* settings, made from the Settings model (tests/test_readme_settings.py
checks that the README holds exactly this): ``PYTHONPATH=backend python scripts/settings_table.py``."""

from __future__ import annotations

from pathlib import Path

from glassnet.service.settings import Settings


def shown(value: object) -> str:
    if isinstance(value, Path) and value.is_absolute():
        return "(bundled)"
    if isinstance(value, int) and not isinstance(value, bool) and value >= 2**20 and value % 2**20 == 0:
        return f"{value // 2**30} GiB" if value % 2**30 == 0 else f"{value // 2**20} MiB"
    if isinstance(value, list):
        return "(none)"
    return "(none)" if value is None else str(value)


def table() -> str:
    rows = ["| variable | default | what |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = field.default_factory() if field.default_factory else field.default  # type: ignore[call-arg]
        what = (field.description or "").replace("|", "\\|")
        rows.append(f"| `GLASSNET_{name.upper()}` | {shown(default)} | {what} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(table(), end="")
