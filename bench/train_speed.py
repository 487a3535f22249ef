"""Training speed: seconds per epoch of 60,000 MNIST samples at batch 64 (prints, asserts nothing).

Times glassnet's NumPy networks and, when PyTorch is installed (optional, never a dependency:
``pip install torch==2.13.0``), the same networks in PyTorch in the same process, and prints the
ratios. Networks:

* ``mlp``: 784-128-64-10, ReLU, cross-entropy, SGD with momentum;
* ``ref-cnn``: conv 1→8 5×5, ReLU, maxpool 2, conv 8→16 5×5, ReLU, maxpool 2, dense 256→10,
  cross-entropy, SGD with momentum (the reference CNN of the design notes);
* ``cnn``: the ``cnn`` preset (16 and 32 kernels, dense 128), Adam — what ``glassnet train`` runs.

Usage: ``python bench/train_speed.py [--epochs 2] [--only mlp,ref-cnn,cnn]``
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from glassnet.data.mnist import load_splits
from glassnet.nn import Sequential, compute_loss, make_optimizer
from glassnet.presets import load_preset
from glassnet.training.allocator import keep_freed_buffers

BATCH = 64

SPECS = {
    "mlp": {
        "input_shape": [1, 28, 28],
        "layers": [
            {"type": "flatten"},
            {"type": "dense", "units": 128},
            {"type": "relu"},
            {"type": "dense", "units": 64},
            {"type": "relu"},
            {"type": "dense", "units": 10},
        ],
    },
    "ref-cnn": {
        "input_shape": [1, 28, 28],
        "layers": [
            {"type": "conv2d", "filters": 8, "kernel": 5},
            {"type": "relu"},
            {"type": "maxpool2d", "size": 2},
            {"type": "conv2d", "filters": 16, "kernel": 5},
            {"type": "relu"},
            {"type": "maxpool2d", "size": 2},
            {"type": "flatten"},
            {"type": "dense", "units": 10},
        ],
    },
    "cnn": load_preset("cnn"),
}
OPTIMIZER = {"mlp": ("momentum", 0.05), "ref-cnn": ("momentum", 0.05), "cnn": ("adam", 0.002)}


def numpy_runner(name: str, x: np.ndarray, y: np.ndarray) -> Callable[[], float]:
    """A function that trains one epoch with glassnet's NumPy code and returns its mean loss."""
    model = Sequential.from_spec(SPECS[name], np.random.default_rng(0))
    kind, lr = OPTIMIZER[name]
    opt = make_optimizer(kind, lr, 0.9 if kind == "momentum" else None)
    rng = np.random.default_rng(0)

    def epoch() -> float:
        order = rng.permutation(len(x))
        total = 0.0
        for start in range(0, len(x), BATCH):
            idx = order[start : start + BATCH]
            out = model.forward(x[idx], train=True)
            loss, d = compute_loss("cross_entropy", out, y[idx])
            model.backward(d)
            opt.step(model.named_params())
            total += loss
        return total / -(-len(x) // BATCH)

    _warm(model, opt, x[: BATCH * 20], y[: BATCH * 20])  # caches, BLAS threads
    return epoch


def _warm(model: Sequential, opt, x: np.ndarray, y: np.ndarray) -> None:
    for start in range(0, len(x), BATCH):
        out = model.forward(x[start : start + BATCH], train=True)
        _, d = compute_loss("cross_entropy", out, y[start : start + BATCH])
        model.backward(d)
        opt.step(model.named_params())


def torch_runner(name: str, x: np.ndarray, y: np.ndarray) -> Callable[[], float] | None:
    """The same network in PyTorch (CPU), or None when PyTorch is not installed."""
    try:
        import torch
        from torch import nn
    except ImportError:
        return None
    torch.manual_seed(0)
    # Mirror the NumPy model layer by layer, using its shape inference for the sizes.
    built: list = []
    for layer in Sequential.from_spec(SPECS[name]).layers:
        if layer.kind == "conv2d":
            built.append(nn.Conv2d(layer.in_shape[0], layer.filters, layer.kernel))
        elif layer.kind == "dense":
            built.append(nn.Linear(layer.in_shape[0], layer.units))
        elif layer.kind == "maxpool2d":
            built.append(nn.MaxPool2d(layer.size))
        elif layer.kind == "relu":
            built.append(nn.ReLU())
        elif layer.kind == "flatten":
            built.append(nn.Flatten())
        else:
            raise ValueError(f"no PyTorch twin for {layer.kind}")
    net = nn.Sequential(*built)
    kind, lr = OPTIMIZER[name]
    if kind == "adam":
        opt = torch.optim.Adam(net.parameters(), lr=lr)
    else:
        opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    loss_fn = nn.CrossEntropyLoss()

    def run(n: int) -> float:
        order = torch.randperm(n)
        total, batches = 0.0, 0
        for start in range(0, n, BATCH):
            idx = order[start : start + BATCH]
            opt.zero_grad()
            loss = loss_fn(net(tx[idx]), ty[idx])
            loss.backward()
            opt.step()
            total += loss.item()
            batches += 1
        return total / batches

    run(BATCH * 20)
    return lambda: run(len(x))


def timed(epoch: Callable[[], float]) -> tuple[float, float]:
    started = time.perf_counter()
    loss = epoch()
    return time.perf_counter() - started, loss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2, help="epochs timed per network (best is shown)")
    parser.add_argument("--only", default="mlp,ref-cnn,cnn")
    args = parser.parse_args()
    # As the trainer does (training/allocator.py); process-wide, so PyTorch runs with it too.
    keep_freed_buffers()
    data = load_splits(validation=0)
    x, y = data.train.x, data.train.y
    print(
        f"{len(x):,} samples per epoch, batch {BATCH}; best of {args.epochs} epochs per network,"
        " NumPy and PyTorch alternating"
    )
    print(f"{'network':<8} {'numpy s/epoch':>14} {'torch s/epoch':>14} {'numpy/torch':>12}")
    for name in args.only.split(","):
        numpy_epoch, torch_epoch = numpy_runner(name, x, y), torch_runner(name, x, y)
        # Alternate the two so that both see the same machine load; report each one's best epoch.
        np_times, torch_times = [], []
        for _ in range(args.epochs):
            np_s, np_loss = timed(numpy_epoch)
            np_times.append(np_s)
            if torch_epoch is not None:
                t_s, t_loss = timed(torch_epoch)
                torch_times.append(t_s)
        if torch_epoch is None:
            print(f"{name:<8} {min(np_times):>14.2f} {'(no torch)':>14} {'':>12}   loss {np_loss:.3f}")
        else:
            ratio = min(np_times) / min(torch_times)
            print(
                f"{name:<8} {min(np_times):>14.2f} {min(torch_times):>14.2f} {ratio:>11.2f}x"
                f"   last-epoch loss numpy {np_loss:.3f}, torch {t_loss:.3f}"
            )


if __name__ == "__main__":
    main()
