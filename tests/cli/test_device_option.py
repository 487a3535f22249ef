"""``glassnet train --device``: a GPU that cannot be used here is one readable line, exit 2."""

from __future__ import annotations

import pytest

from glassnet.cli import build_parser, main
from glassnet.nn.backend import device_problem


@pytest.mark.skipif(device_problem("cuda") is None, reason="this machine has a GPU: bench/gpu_check.py")
@pytest.mark.parametrize("how", ["flag", "environment"])
def test_cuda_without_a_gpu_is_one_line(how: str, capsys, monkeypatch) -> None:
    argv = ["train", "--preset", "mlp", "--epochs", "1"]
    if how == "flag":
        argv += ["--device", "cuda"]
    else:
        monkeypatch.setenv("GLASSNET_DEVICE", "cuda")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("glassnet train: error: device 'cuda' is not available: CuPy")
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_device_choices(capsys, monkeypatch) -> None:
    monkeypatch.delenv("GLASSNET_DEVICE", raising=False)
    assert build_parser().parse_args(["train"]).device is None  # the config's default: cpu
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--device", "tpu"])
    monkeypatch.setenv("GLASSNET_DEVICE", "tpu")
    assert main(["train", "--preset", "mlp", "--epochs", "1"]) == 2
    assert "unknown device 'tpu'" in capsys.readouterr().err
