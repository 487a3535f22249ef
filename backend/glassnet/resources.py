"""The files that ship with glassnet: the dashboard, the bundled models and MNIST.

An installed wheel holds them as package data under ``glassnet/_resources/<name>/`` (mapped there
from the repository's folders by ``setup.py``) and they are found with ``importlib.resources``.
A checkout (the editable install of ``make run`` / ``make test``) keeps them at the top of the
repository — ``frontend/``, ``models/``, ``data/mnist/`` — and they are read from there: one copy
of each file, two ways to find it.

Standard library only: ``data`` and ``service`` both import it.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["CHECKOUT_FOLDERS", "checkout_root", "resource_dir"]

# name -> folder in a checkout (the same mapping as setup.py's RESOURCES)
CHECKOUT_FOLDERS = {"frontend": "frontend", "models": "models", "mnist": "data/mnist"}
# backend/glassnet/resources.py -> parents[2] is the checkout's root (when there is one)
_CHECKOUT = Path(__file__).resolve().parents[2]


def resource_dir(name: str) -> Path:
    """The folder of a shipped resource (``"frontend"``, ``"models"`` or ``"mnist"``).

    The wheel's package data first, then the checkout's folder. When neither exists (a broken
    install) the packaged path is returned anyway, so the error that follows names where the
    files were expected.
    """
    if name not in CHECKOUT_FOLDERS:
        raise ValueError(f"unknown resource {name!r}; one of {', '.join(CHECKOUT_FOLDERS)}")
    # A wheel installs into a plain folder, so the Traversable is a real path (StaticFiles and
    # np.load need one); str() also covers other readers that keep files on disk.
    packaged = Path(str(resources.files("glassnet").joinpath("_resources", name)))
    if packaged.is_dir():
        return packaged
    checkout = _CHECKOUT / CHECKOUT_FOLDERS[name]
    if checkout.is_dir() and (_CHECKOUT / "pyproject.toml").is_file():
        return checkout
    return packaged


def checkout_root() -> Path | None:
    """The checkout glassnet runs from (an editable install: ``make run``, ``pip install -e .``),
    or None for an installed wheel, whose files are package data."""
    packaged = Path(str(resources.files("glassnet").joinpath("_resources", "frontend")))
    if packaged.is_dir() or not (_CHECKOUT / "pyproject.toml").is_file():
        return None
    return _CHECKOUT
