"""What the labels of a dataset mean: how many classes it has and their names.

The number of classes comes from the labels themselves. Labels normally count from 0; a set whose
labels count from 1 (EMNIST letters: 1 = A ... 26 = Z, no 0 anywhere) is shifted down by one, so a
network always has exactly one output neuron per class. The names come, in this order, from the
``classes`` option (a known set, a file with one name per line, or names separated by commas),
from a ``classes.txt`` file in the dataset folder, or are the label values themselves ("0" ... "9"
for MNIST).

Standard library and NumPy only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["CLASSES_FILE", "KNOWN_CLASSES", "ClassInfo", "class_info", "default_validation"]

CLASSES_FILE = "classes.txt"
KNOWN_CLASSES: dict[str, tuple[str, ...]] = {
    "digits": tuple("0123456789"),
    "fashion-mnist": (
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
    "emnist-letters": tuple("ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
}
MAX_VALIDATION = 5000
DIGITS = KNOWN_CLASSES["digits"]


@dataclass(frozen=True)
class ClassInfo:
    """``first_label``: the label of class 0 (0, or 1 for sets counting from 1); ``names``: one per class."""

    first_label: int
    names: tuple[str, ...]

    @property
    def count(self) -> int:
        return len(self.names)


def _named(spec: str, folder: Path) -> tuple[tuple[str, ...], str]:
    if spec in KNOWN_CLASSES:
        return KNOWN_CLASSES[spec], spec
    path = Path(spec).expanduser()
    if path.is_file():
        return _read_names(path), str(path)
    if "," in spec:
        return tuple(n.strip() for n in spec.split(",")), "the class list"
    raise ValueError(
        f"classes {spec!r}: not a known set ({', '.join(KNOWN_CLASSES)}), a file, or names split by commas"
    )


def _read_names(path: Path) -> tuple[str, ...]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot read the class names ({exc})") from None
    return tuple(line.strip() for line in lines if line.strip())


def class_info(labels: list[np.ndarray], folder: Path, classes: str | None = None) -> ClassInfo:
    """The classes of a dataset from all its labels (training and test, uint8 arrays)."""
    present = np.unique(np.concatenate([np.asarray(a).ravel() for a in labels]))
    if present.size == 0:
        raise ValueError(f"{folder}: no labels")
    first = 1 if present[0] == 1 else 0  # EMNIST letters count from 1 and never use 0
    count = int(present[-1]) - first + 1
    if count < 2:
        raise ValueError(
            f"{folder}: the labels name a single class ({int(present[-1])}); a classifier needs two"
        )
    if classes is not None:
        names, source = _named(classes, folder)
    elif (folder / CLASSES_FILE).is_file():
        names, source = _read_names(folder / CLASSES_FILE), str(folder / CLASSES_FILE)
    else:
        return ClassInfo(first, tuple(str(first + i) for i in range(count)))
    if len(names) < count:
        raise ValueError(
            f"{source}: {len(names)} class names, but the labels of {folder} go from {first} to "
            f"{int(present[-1])} ({count} classes)"
        )
    return ClassInfo(first, tuple(names))


def default_validation(n_train: int) -> int:
    """Images held out when none is asked for: 5,000 (MNIST's usual split), or a tenth of a smaller set."""
    return min(MAX_VALIDATION, n_train // 10)
