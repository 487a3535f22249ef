"""The install hints for the optional extras are commands that work (QA3 inst #6): glassnet is
not on PyPI, so the pip form installs the extra from the wheel, and after ``pipx install`` the
form is ``pipx inject glassnet PACKAGES``, the packages the extra really installs. Run from a
checkout (``make run``), the hint is the checkout's editable install (QA4 NEWCOMER-1)."""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

import pytest

from glassnet import __version__
from glassnet.extras import EXTRA_PACKAGES, install_hint

ROOT = Path(__file__).resolve().parents[2]


def test_every_extra_has_its_packages() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    users = {name: reqs for name, reqs in extras.items() if name != "dev"}
    assert set(EXTRA_PACKAGES) == set(users)
    for name, reqs in users.items():
        wanted = {re.split(r"[<>=;\s\[]", r, maxsplit=1)[0].lower() for r in reqs}
        given = {re.split(r"[<>=;\s\[]", p, maxsplit=1)[0].lower() for p in EXTRA_PACKAGES[name].split()}
        assert given == wanted, name


def test_the_hint_installs_from_the_wheel_or_injects_into_pipx() -> None:
    hint = install_hint("onnx", checkout=None)  # an installed wheel
    assert f"pip install 'glassnet-{__version__}-py3-none-any.whl[onnx]' in the folder of the" in hint
    assert "'dist/" not in hint  # a path that holds only where the wheel was built
    assert "pipx inject glassnet onnx" in hint
    assert "pip install 'glassnet[" not in hint  # not on PyPI: found nothing


def test_a_missing_onnx_says_the_commands_that_work(monkeypatch: pytest.MonkeyPatch) -> None:
    from glassnet.export.onnx import _onnx
    from glassnet.export.tensorboard import require_tensorboard

    monkeypatch.setattr("glassnet.extras.checkout_root", lambda: None)  # as from an installed wheel
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx -> ImportError
    monkeypatch.setitem(sys.modules, "tensorboardX", None)
    with pytest.raises(ValueError) as onnx:
        _onnx()
    with pytest.raises(ValueError) as tensorboard:
        require_tensorboard()
    assert "pipx inject glassnet onnx" in str(onnx.value) and ".whl[onnx]'" in str(onnx.value)
    assert "pipx inject glassnet tensorboardX" in str(tensorboard.value)


def test_no_message_or_doc_names_the_pypi_form() -> None:
    sources = [*(ROOT / "backend" / "glassnet").rglob("*.py"), ROOT / "README.md"]
    for path in sources:
        assert "pip install 'glassnet[" not in path.read_text(), path


def test_from_a_checkout_the_hint_is_its_editable_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # This test runs from a checkout: the hint names it, not a wheel that is not there.
    from glassnet.resources import checkout_root

    assert checkout_root() == ROOT
    # From a venv of its own (not the checkout's .venv, which make test uses: see below).
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "another-venv"))
    hint = install_hint("onnx")
    assert f"-m pip install -e '{ROOT}[onnx]'" in hint and ".whl" not in hint
    assert "then start glassnet again" in hint
    # make run's venv is the checkout's .venv: its own pip, from the checkout's folder.
    (tmp_path / ".venv").mkdir()
    monkeypatch.setattr(sys, "prefix", str(tmp_path / ".venv"))
    hint = install_hint("onnx", checkout=tmp_path)
    assert hint.startswith(f".venv/bin/pip install -e '.[onnx]' (in {tmp_path})")
