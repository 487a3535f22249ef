"""docs/architecture.md's layering sentences, checked against the imports of backend/glassnet:
``nn`` and ``data`` know nothing of each other or of ``training``, ``service`` and the CLI (one
top-level helper each); processes are started only in ``service`` and
``training/share_process.py``; asyncio and HTTP are ``service``'s alone."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "backend" / "glassnet"
PROCESSES = {"subprocess", "multiprocessing", "concurrent.futures.process"}
HTTP = {"asyncio", "fastapi", "starlette", "uvicorn", "httpx", "websockets"}


def _imports(path: Path) -> set[str]:
    """Absolute dotted names a module imports (relative imports resolved inside glassnet)."""
    parts = ["glassnet", *path.relative_to(PACKAGE).with_suffix("").parts]
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = parts[: len(parts) - node.level] if node.level else []
            module = ".".join([*base, *(node.module.split(".") if node.module else [])])
            names.add(module)
            if not node.module:  # from . import x: x may be a module
                names |= {f"{module}.{alias.name}" for alias in node.names}
    return names


def _package_imports(package: str) -> dict[str, set[str]]:
    return {
        str(path.relative_to(PACKAGE)): _imports(path) for path in sorted((PACKAGE / package).rglob("*.py"))
    }


def _top(name: str) -> str:
    """glassnet.nn.model -> nn; glassnet.extras -> extras; numpy -> numpy."""
    parts = name.split(".")
    return parts[1] if parts[0] == "glassnet" and len(parts) > 1 else parts[0]


def _glassnet(names: set[str]) -> set[str]:
    return {_top(n) for n in names if n.split(".")[0] == "glassnet"}


def test_nn_and_data_use_one_top_level_helper_each_and_nothing_above() -> None:
    for package, helper in (("nn", "extras"), ("data", "resources")):
        used = set().union(*(_glassnet(names) for names in _package_imports(package).values()))
        assert used - {package} == {helper}, (package, used)


def test_processes_are_started_only_by_service_and_share_process() -> None:
    starters = {
        file
        for file in map(str, (p.relative_to(PACKAGE) for p in PACKAGE.rglob("*.py")))
        if _imports(PACKAGE / file) & PROCESSES
    }
    assert starters  # the check sees them
    assert {f for f in starters if not f.startswith("service/")} == {"training/share_process.py"}


def test_training_knows_nothing_of_http_or_asyncio() -> None:
    for file, names in _package_imports("training").items():
        assert not {n.split(".")[0] for n in names} & HTTP, file
        assert "service" not in _glassnet(names), file
