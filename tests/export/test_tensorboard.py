"""TensorBoard event files from `glassnet train --tensorboard` and `glassnet serve --tensorboard`, read
back with TensorBoard's own event reader: the scalars, histograms and kernel images are there, with
the values the trainer reported."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from glassnet.cli import main
from glassnet.service.app import create_app
from glassnet.service.settings import Settings

SPEC = {
    "name": "small-cnn",
    "input_shape": [1, 28, 28],
    "layers": [
        {"type": "conv2d", "filters": 4, "kernel": 5},
        {"type": "relu"},
        {"type": "maxpool2d", "size": 4},
        {"type": "flatten"},
        {"type": "dense", "units": 10},
    ],
    "loss": "cross_entropy",
    "train": {"optimizer": "adam", "lr": 0.003, "batch_size": 32, "epochs": 2, "seed": 0},
}


def read_events(folder: Path) -> EventAccumulator:
    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0, "histograms": 0, "images": 0})
    acc.Reload()
    return acc


def test_train_writes_scalars_histograms_and_kernel_images(small_mnist: Path, tmp_path: Path, capsys) -> None:
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(SPEC))
    board = tmp_path / "tb"
    argv = ["train", "--spec", str(spec), "--dataset", str(small_mnist), "--validation", "200"]
    assert main([*argv, "--out", str(tmp_path / "m.npz"), "--tensorboard", str(board), "--json"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    epochs = [r for r in records if r["event"] == "epoch"]
    (run_dir,) = board.iterdir()
    assert run_dir.name.startswith("small-cnn-")
    acc = read_events(run_dir)
    tags = acc.Tags()
    assert {"train/loss", "train/accuracy", "train/lr", "epoch/val_accuracy", "epoch/train_loss"} <= set(
        tags["scalars"]
    )
    steps_per_epoch = -(-1000 // 32)  # 1,200 training images less 200 for validation
    assert [e.step for e in acc.Scalars("train/loss")] == list(range(1, 2 * steps_per_epoch + 1))
    val = acc.Scalars("epoch/val_accuracy")
    assert [e.step for e in val] == [r["step"] for r in epochs]
    assert [e.value for e in val] == pytest.approx([r["val_accuracy"] for r in epochs], abs=1e-6)
    assert acc.Scalars("train/lr")[0].value == pytest.approx(0.003)
    for kind in ("weights", "gradients"):
        for param in ("0.conv2d.W", "0.conv2d.b", "4.dense.W", "4.dense.b"):
            histograms = acc.Histograms(f"{kind}/{param}")
            assert len(histograms) == 2 and histograms[0].histogram_value.num > 0
    assert acc.Histograms("weights/4.dense.W")[0].histogram_value.num == 4 * 6 * 6 * 10
    (images,) = [t for t in tags["images"] if t.startswith("kernels/0.conv2d")][:1]
    assert len(acc.Images(images)) == 2


def test_serve_writes_one_folder_per_run(tiny_dataset_for_board: Path, tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "runs",
        dataset=tiny_dataset_for_board,
        validation=100,
        tensorboard_dir=tmp_path / "tb",
        allowed_hosts=["testserver"],  # TestClient's Host
    )
    with TestClient(create_app(settings)) as client:
        run = client.post("/api/runs", json={"spec": SPEC, "epochs": 1, "batch_size": 50}).json()
        for _ in range(600):
            state = client.get(f"/api/runs/{run['id']}").json()
            if state["status"] not in ("queued", "running"):
                break
            time.sleep(0.05)
        assert state["status"] == "finished", state
    acc = read_events(tmp_path / "tb" / run["id"])
    assert len(acc.Scalars("train/loss")) == 10  # 500 images / 50
    (val,) = acc.Scalars("epoch/val_accuracy")
    assert val.value == pytest.approx(state["val_accuracy"], abs=1e-6)
    assert "kernels/0.conv2d" in " ".join(acc.Tags()["images"])


@pytest.fixture(scope="module")
def tiny_dataset_for_board(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from glassnet.data.mnist import write_subset

    return write_subset(tmp_path_factory.mktemp("tb-mnist"), 600, 200)
