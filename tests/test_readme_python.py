"""QA4 API-9: the README's "Using glassnet from Python" block runs as written and reads a real
MNIST digit exactly as the service does (the same probabilities as ``ModelRegistry.predict``,
what ``POST /api/predict`` answers with); and the library's bad inputs are ValueErrors that
name the problem (an unknown loss was read silently as the squared-error one)."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from glassnet.data.mnist import read_idx
from glassnet.nn import CheckpointError, load_checkpoint, probabilities
from glassnet.resources import resource_dir
from glassnet.service.inference import ModelRegistry

ROOT = Path(__file__).resolve().parents[1]


def readme_block() -> str:
    text = (ROOT / "README.md").read_text("utf-8")
    section = text[text.index("## Using glassnet from Python") :]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)  # type: ignore[union-attr]


def test_the_readme_example_reads_a_digit_as_the_api_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mnist = resource_dir("mnist")
    image = read_idx(next(mnist.glob("t10k-images*")))[0]  # a 7
    label = int(read_idx(next(mnist.glob("t10k-labels*")))[0])
    Image.fromarray(255 - image).save(tmp_path / "digit.png")  # dark ink on white paper, as drawn
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    scope: dict[str, object] = {}
    with contextlib.redirect_stdout(out):
        exec(compile(readme_block(), "README.md", "exec"), scope)  # our own README
    digit, sure = out.getvalue().split()
    assert int(digit) == label == 7
    api = ModelRegistry(models_dir=resource_dir("models"), runs_dir=tmp_path).predict(
        image=(tmp_path / "digit.png").read_bytes(), model_id="cnn"
    )
    assert api.digit == label
    np.testing.assert_allclose(scope["p"][0], api.probabilities, rtol=0, atol=1e-6)  # type: ignore[index]
    assert float(sure) == pytest.approx(max(api.probabilities), abs=5e-4)


@pytest.mark.parametrize(
    ("call", "needle"),
    [
        (
            lambda m: probabilities("bogus", np.zeros((1, 10))),
            "unknown loss 'bogus'; choose one of cross_entropy, mse",
        ),
        (
            lambda m: probabilities("cross_entropy", np.zeros(10)),
            "expected scores of shape (N, K), got (10,)",
        ),
        (lambda m: m.forward(np.zeros((0, 1, 28, 28), np.float32)), "empty batch"),
        (lambda m: m.forward_record(np.zeros((0, 1, 28, 28), np.float32)), "empty batch"),
    ],
)
def test_bad_library_input_is_a_named_value_error(call, needle: str) -> None:  # type: ignore[no-untyped-def]
    model = load_checkpoint(resource_dir("models") / "cnn.npz").model
    with pytest.raises(ValueError) as exc:
        call(model)
    assert needle in str(exc.value)


def test_a_directory_is_not_called_missing(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="is a directory, not a checkpoint file"):
        load_checkpoint(tmp_path)
    with pytest.raises(CheckpointError, match="no such file"):
        load_checkpoint(tmp_path / "nope.npz")
