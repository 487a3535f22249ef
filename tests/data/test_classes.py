"""Classes come from the data: EMNIST-style letters (labels 1..26, transposed images) train with 26
outputs and are named A..Z; class names from a known set, a file or classes.txt; a dataset smaller
than the validation split gets a clear message and a sensible default."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from letters import letter_templates, train_argv, write_letters

from glassnet.cli import main
from glassnet.data.classes import class_info, default_validation
from glassnet.data.mnist import load_splits, write_subset
from glassnet.nn import load_checkpoint


@pytest.fixture(scope="module")
def letters(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_letters(tmp_path_factory.mktemp("letters"))


def test_letters_count_from_one_and_turn_back(letters: Path) -> None:
    data = load_splits(letters, validation=100, transpose=True, classes="emnist-letters")
    assert data.classes.count == 26 and data.classes.first_label == 1
    assert data.classes.names[:3] == ("A", "B", "C")
    assert set(np.unique(data.train.y)) | set(np.unique(data.val.y)) == set(range(26))
    # Turned back, each image sits on its letter's template (the noise is small beside it).
    templates = letter_templates().astype(np.float32) / 255
    x, y = data.test.x[:, 0], data.test.y
    nearest = np.argmin(((x[:, None] - templates[None]) ** 2).sum(axis=(2, 3)), axis=1)
    assert (nearest == y).mean() > 0.99
    flipped = load_splits(letters, validation=100, classes="emnist-letters")  # without --transpose
    np.testing.assert_array_equal(flipped.test.x[:, 0], data.test.x[:, 0].transpose(0, 2, 1))


def test_class_names_sources(tmp_path: Path) -> None:
    labels = [np.arange(10, dtype=np.uint8)]
    assert class_info(labels, tmp_path).names == tuple("0123456789")
    assert class_info(labels, tmp_path, "fashion-mnist").names[:2] == ("T-shirt/top", "Trouser")
    (tmp_path / "classes.txt").write_text("\n".join(f"c{i}" for i in range(10)) + "\n")
    assert class_info(labels, tmp_path).names[-1] == "c9"
    assert class_info(labels, tmp_path, "a,b,c,d,e,f,g,h,i,j").names[0] == "a"
    with pytest.raises(ValueError, match="3 class names, but the labels"):
        class_info(labels, tmp_path, "a,b,c")
    with pytest.raises(ValueError, match="not a known set"):
        class_info(labels, tmp_path, "klingon")


def test_train_letters_with_26_outputs_and_named_classes(letters: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "letters.npz"
    argv = train_argv(letters)
    assert main([*argv, "--epochs", "4", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "26 classes (A, B, C" in printed and "26 units, one per class" in printed
    ckpt = load_checkpoint(out)
    assert ckpt.model.output_shape == (26,)
    assert ckpt.meta["classes"] == [chr(ord("A") + i) for i in range(26)] and ckpt.meta["transpose"] is True
    assert ckpt.meta["test_accuracy"] > 0.9
    # evaluate reads the layout and the names from the checkpoint
    assert main(["evaluate", str(out), "--dataset", str(letters), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["classes"][0] == "A" and len(report["confusion"]) == 26
    assert report["accuracy"] == pytest.approx(ckpt.meta["test_accuracy"])


def test_small_dataset_validation_default_and_message(tmp_path: Path, capsys) -> None:
    small = write_subset(tmp_path / "small", 600, 100)
    assert default_validation(600) == 60 and default_validation(60_000) == 5000
    data = load_splits(small)
    assert len(data.val) == 60 and len(data.train) == 540
    assert main(["train", "--preset", "mlp", "--dataset", str(small), "--validation", "5000"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "validation 5000" in err and "has 600 training images" in err and "e.g. 60" in err
