"""The Docker files, checked without a Docker engine: hadolint on the Dockerfile, the compose file
against the Compose Specification's schema (vendored: runs offline), and the properties that make
the image right — a pinned base, dependencies in a layer of their own before the code, a regular
install of the built wheel, a HEALTHCHECK, and a data folder the app user owns."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "backend" / "Dockerfile"
COMPOSE = ROOT / "docker-compose.yml"
SCHEMA = ROOT / "vendor" / "compose-spec" / "compose-spec.json"


def _tool(name: str) -> str:
    """A console script of the test environment (the dev extra installs both tools)."""
    path = Path(sys.executable).parent / name
    found = str(path) if path.exists() else shutil.which(name)
    assert found, f"{name} is not installed (pip install -e '.[dev]')"
    return found


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            rows.append((word.upper(), rest.strip()))
    return rows


def test_hadolint_is_clean() -> None:
    result = subprocess.run([_tool("hadolint"), str(DOCKERFILE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


def test_compose_file_follows_the_compose_specification() -> None:
    result = subprocess.run(
        [_tool("check-jsonschema"), "--schemafile", str(SCHEMA), str(COMPOSE)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_schema_check_catches_a_broken_file(tmp_path: Path) -> None:
    bad = tmp_path / "compose.yml"
    bad.write_text("services:\n  app:\n    ports: 8000\n    restart: sometimes\n")
    result = subprocess.run(
        [_tool("check-jsonschema"), "--schemafile", str(SCHEMA), str(bad)], capture_output=True, text=True
    )
    assert result.returncode == 1 and "ports" in result.stdout


def test_base_images_are_pinned_by_exact_tag_or_digest() -> None:
    bases = [args.split()[0] for word, args in _instructions() if word == "FROM"]
    assert bases
    for image in bases:
        assert "@sha256:" in image or re.fullmatch(r"[\w./-]+:\d+\.\d+\.\d+[\w.-]*", image), image


def test_final_stage_installs_dependencies_before_the_code_and_the_wheel_regularly() -> None:
    rows = _instructions()
    last_from = max(i for i, (word, _) in enumerate(rows) if word == "FROM")
    final = rows[last_from:]
    deps = next(i for i, (w, a) in enumerate(final) if w == "RUN" and "--requirement" in a)
    copies = [(i, a) for i, (w, a) in enumerate(final) if w == "COPY"]
    # Before the dependency layer only pyproject.toml is copied: code changes keep it cached.
    assert all(a.split()[-2].endswith("pyproject.toml") for i, a in copies if i < deps)
    wheel = next(i for i, (w, a) in enumerate(final) if w == "RUN" and ".whl" in a)
    assert wheel > deps
    assert "--no-deps" in final[wheel][1] and " -e " not in final[wheel][1]
    assert any(w == "HEALTHCHECK" and "/healthz" in a for w, a in final)
    user = [a for w, a in final if w == "USER"]
    assert user and user[-1].split(":")[0] != "root"
    env = " ".join(a for w, a in final if w == "ENV")
    assert "GLASSNET_DATA_DIR=/runs" in env
    assert any(w == "RUN" and "chown 1000:1000 /runs" in a for w, a in final)


def test_compose_keeps_the_data_dir_and_passes_the_token() -> None:
    """QA3 inst #3: the container binds 0.0.0.0, so it is in token mode; the generated token is
    kept in the data dir (teacher-token), which must be a volume to survive a restart, and a
    GLASSNET_TOKEN of the user's .env must reach the server."""
    import yaml

    env = " ".join(rest for word, rest in _instructions() if word == "ENV")
    data_dir = re.search(r"GLASSNET_DATA_DIR=(\S+)", env).group(1)
    app = yaml.safe_load(COMPOSE.read_text())["services"]["app"]
    assert any(v.split(":")[1] == data_dir for v in app["volumes"]), app["volumes"]
    assert "GLASSNET_TOKEN" in app["environment"]  # bare: from the shell or .env, unset otherwise
    readme = (ROOT / "README.md").read_text()
    docker = readme[readme.index("**Docker.**") :][:1500]
    assert "docker compose logs app" in docker and "GLASSNET_TOKEN" in docker and "teacher-token" in docker
