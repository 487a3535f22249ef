"""How to install an optional extra, in the words a user can type: glassnet is a wheel, not on
PyPI, so the package index has no ``glassnet[onnx]``; the extra comes with the wheel
(``pip install 'dist/glassnet-0.1.0-py3-none-any.whl[onnx]'``), or, after ``pipx install``, by
injecting its packages into glassnet's own venv (``pipx inject glassnet onnx``)."""

from __future__ import annotations

from . import __version__

# What each extra of pyproject.toml installs (tests/packaging/test_extras_hints.py keeps them equal).
EXTRA_PACKAGES = {
    "gpu": "cupy-cuda12x",
    "onnx": "onnx",
    "tensorboard": "tensorboardX",
    "ray": "ray==2.60.0",
}
WHEEL = f"glassnet-{__version__}-py3-none-any.whl"


def install_hint(extra: str) -> str:
    """``pip install 'dist/glassnet-….whl[EXTRA]'`` and the pipx form, for a message."""
    return (
        f"pip install 'dist/{WHEEL}[{extra}]' (the glassnet wheel with its {extra} extra), "
        f"or after pipx install: pipx inject glassnet {EXTRA_PACKAGES[extra]}"
    )
