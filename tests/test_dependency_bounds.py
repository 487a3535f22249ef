"""The code imports from pydantic-settings only what its declared lower bound has.

pydantic-settings is the dependency whose public names moved most between the releases the bounds
allow (``SettingsError`` is exported from 2.4 on: with ``pydantic-settings>=2.2`` declared,
``glassnet serve`` and ``train`` failed with an ImportError). ``AT_LOWER_BOUND`` is
``pydantic_settings.__all__`` read from the lowest allowed release (2.4.0, installed with
pydantic 2.7.0 in a fresh venv); the test fails if the code imports a name it lacks, or if the
bound in ``pyproject.toml`` moves away from the release the list was read from.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
BACKEND = ROOT / "backend" / "glassnet"

LOWER_BOUND = "2.4"
AT_LOWER_BOUND = {
    "AzureKeyVaultSettingsSource", "BaseSettings", "CliPositionalArg", "CliSettingsSource",
    "CliSubCommand", "DotEnvSettingsSource", "EnvSettingsSource", "InitSettingsSource",
    "JsonConfigSettingsSource", "PydanticBaseSettingsSource", "PyprojectTomlConfigSettingsSource",
    "SecretsSettingsSource", "SettingsConfigDict", "SettingsError", "TomlConfigSettingsSource",
    "YamlConfigSettingsSource", "__version__",
}  # fmt: skip


def _declared_lower_bounds(name: str) -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    bounds = set()
    for text in project["dependencies"]:
        req = Requirement(text)
        if req.name == name:
            bounds |= {spec.version for spec in req.specifier if spec.operator == ">="}
    return bounds


def _imported_names(module: str) -> dict[str, list[str]]:
    """name -> the files that import it (``from module import name``, also inside functions)."""
    found: dict[str, list[str]] = {}
    for path in sorted(BACKEND.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module == module:
                for alias in node.names:
                    found.setdefault(alias.name, []).append(str(path.relative_to(ROOT)))
    return found


def test_the_bound_is_the_release_the_names_were_read_from() -> None:
    assert _declared_lower_bounds("pydantic-settings") == {LOWER_BOUND}


def test_every_name_imported_from_pydantic_settings_exists_at_the_lower_bound() -> None:
    imported = _imported_names("pydantic_settings")
    assert "BaseSettings" in imported  # the scan sees the settings module
    newer = {name: files for name, files in imported.items() if name not in AT_LOWER_BOUND}
    assert not newer, (
        f"not in pydantic-settings {LOWER_BOUND}: {newer}; raise the bound (and re-run the bounds check)"
    )
