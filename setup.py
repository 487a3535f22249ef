"""Package layout for setuptools (the metadata is in pyproject.toml).

The code lives in ``backend/glassnet``. The files that ship with it stay where a checkout keeps
them — ``frontend/`` (the dashboard), ``models/`` (the bundled checkpoints) and ``data/mnist/`` —
and are mapped into the wheel as ``glassnet/_resources/<name>/`` through ``package_dir``: one copy
of each file in the repository, package data in the wheel, read through ``importlib.resources``
(``glassnet.resources``). An editable install reads them from the checkout instead.
"""

from __future__ import annotations

from setuptools import find_namespace_packages, find_packages, setup

# name under glassnet/_resources/ -> folder in the repository (keep in step with glassnet.resources)
RESOURCES = {"frontend": "frontend", "models": "models", "mnist": "data/mnist"}
# Never shipped: the dashboard's node tests.
EXCLUDE = ["test", "test.*"]

packages = find_packages("backend")
package_dir = {"": "backend"}
package_data: dict[str, list[str]] = {"glassnet.presets": ["*.json"]}
for name, folder in RESOURCES.items():
    root = f"glassnet._resources.{name}"
    package_dir[root] = folder
    for sub in ["", *find_namespace_packages(folder, exclude=EXCLUDE)]:
        package = f"{root}.{sub}" if sub else root
        packages.append(package)
        package_data[package] = [
            "*.html",
            "*.css",
            "*.js",
            "*.json",
            "*.svg",
            "*.npz",
            "*.gz",
            "*.md",
            "SHA256SUMS",
        ]

setup(packages=packages, package_dir=package_dir, package_data=package_data)
