"""How to install an optional extra, in the words a user can type: glassnet is a wheel, not on
PyPI, so the package index has no ``glassnet[onnx]``; the extra comes with the wheel
(``pip install 'dist/glassnet-0.1.0-py3-none-any.whl[onnx]'``), or, after ``pipx install``, by
injecting its packages into glassnet's own venv (``pipx inject glassnet onnx``). Run from a
checkout (``make run``: an editable install in ``.venv``), it is the checkout's editable install
with the extra (``.venv/bin/pip install -e '.[onnx]'``): there is no wheel in ``dist/`` there."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Final

from . import __version__
from .resources import checkout_root

# What each extra of pyproject.toml installs (tests/packaging/test_extras_hints.py keeps them equal).
EXTRA_PACKAGES = {
    "gpu": "cupy-cuda12x",
    "onnx": "onnx",
    "tensorboard": "tensorboardX",
    "ray": "ray==2.60.0",
}
WHEEL = f"glassnet-{__version__}-py3-none-any.whl"


AUTO: Final = "auto"  # install_hint's checkout: the one glassnet runs from, if any


def install_hint(extra: str, checkout: Path | str | None = AUTO) -> str:
    """The command that installs ``extra`` into this glassnet, for a message: in a checkout
    (``checkout``: its root; by default the one glassnet runs from) its editable install with the
    extra, by the venv's own pip; else ``pip install 'glassnet-….whl[EXTRA]'`` in the wheel's folder and
    the pipx form."""
    root = checkout_root() if checkout == AUTO else checkout
    if root is not None:
        root = Path(root)
        if Path(sys.prefix).resolve() == (root / ".venv").resolve():  # make run's venv
            command = f".venv/bin/pip install -e '.[{extra}]' (in {root})"
        else:
            command = f"{sys.executable} -m pip install -e '{root}[{extra}]'"
        return f"{command}: the checkout's editable install with its {extra} extra; then start glassnet again"
    return (  # the wheel's folder is wherever the person keeps it: dist/ only where it was built
        f"pip install '{WHEEL}[{extra}]' in the folder of the glassnet wheel you installed (dist/ "
        f"after python -m build), or after pipx install: pipx inject glassnet {EXTRA_PACKAGES[extra]}"
    )
