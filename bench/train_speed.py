"""Training speed: seconds per epoch of 60,000 MNIST samples at batch 64, glassnet vs PyTorch.

Prints figures and asserts nothing. Times glassnet's training step (``TrainStep``, what
``glassnet train`` runs: the fused path, the batch split into one share per usable core, shares
beyond the first in helper processes) and, when PyTorch is installed (optional, never a
dependency: ``pip install torch==2.13.0``), the
same networks in PyTorch on the same cores, in the same process, epochs alternating so both see
the same machine load. Each network is timed at least ``--repeats`` times, and more while its
NumPy epochs add up to less than ``--seconds`` (at most ``--max-repeats``): a shared machine can
run at half speed for seconds at a time (the AMD EPYC VM of the later sessions: in spells of
1–10 s, about half of the time), so a network whose epoch takes under a second needs more
epochs for its minimum to be one at full speed, for both libraries alike. The table gives the
epochs timed, the minimum and the median of each library, and the ratio of the minima (and the
median of the per-pair ratios).

Networks: ``mlp`` 784-128-64-10 ReLU, SGD with momentum; ``ref-cnn`` conv 1→8 5×5, ReLU,
maxpool 2, conv 8→16 5×5, ReLU, maxpool 2, dense 256→10, SGD with momentum (the reference CNN
of the design notes); ``cnn`` the ``cnn`` preset (16 and 32 kernels, dense 128), Adam;
``notes`` the notes' 784-16-16-10 sigmoid network with squared error, plain SGD (batch 10, as
its preset trains).

``--profile`` first prints, per layer and phase, where one epoch's time goes in glassnet and
in PyTorch, both on one thread (CPU time of the thread, so other programs on the machine do
not inflate it): forward and backward per block, split into im2col (a first convolution) or
shifted copies (a later one, by output rows), matrix products, pooling, activations, the input
error's copies and band sums, the weight gradient's sums; the cost; the optimizer step.

Usage::

    python bench/train_speed.py [--repeats 3] [--seconds 20] [--only mlp,ref-cnn,cnn,notes] [--profile]
    taskset -c 0 python bench/train_speed.py        # one core
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np

from glassnet.data.mnist import load_splits
from glassnet.nn import Sequential, fused, make_optimizer
from glassnet.presets import load_preset
from glassnet.training.allocator import keep_freed_buffers
from glassnet.training.blas import blas_threads
from glassnet.training.step import TrainStep, thread_count, usable_cores

SPECS: dict[str, dict[str, Any]] = {
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
    "notes": load_preset("notes"),
}
# optimizer, learning rate, batch size
SETTINGS = {
    "mlp": ("momentum", 0.05, 64),
    "ref-cnn": ("momentum", 0.05, 64),
    "cnn": ("adam", 0.002, 64),
    "notes": ("sgd", 1.5, 10),
}
CLOCK = time.thread_time  # CPU time of the calling thread: immune to other programs' load


def loadavg() -> str:
    try:
        return "load average " + " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "load average unknown"


# -- glassnet -------------------------------------------------------------------------------------


def numpy_runner(
    name: str, x: np.ndarray, y: np.ndarray, threads: int | None
) -> tuple[Callable[[int], float], Sequential, Any, TrainStep]:
    """A function training ``n`` samples with glassnet's training step; returns the mean loss."""
    model = Sequential.from_spec(SPECS[name], np.random.default_rng(0))
    kind, lr, batch = SETTINGS[name]
    opt = make_optimizer(kind, lr, 0.9 if kind == "momentum" else None)
    step = TrainStep(model, threads=threads)
    rng = np.random.default_rng(0)

    def run(n: int) -> float:
        order = rng.permutation(len(x))[:n]
        total, batches = 0.0, 0
        for start in range(0, n, batch):
            idx = order[start : start + batch]
            result = step(x[idx], y[idx])
            step.update(opt)
            total += result.loss
            batches += 1
        return total / batches

    run(batch * 20)  # buffers, threads, caches
    return run, model, opt, step


# -- PyTorch --------------------------------------------------------------------------------------


def torch_net(name: str) -> Any:
    """The same network in PyTorch, mirrored layer by layer from glassnet's shape inference."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    built: list[Any] = []
    for layer in Sequential.from_spec(SPECS[name]).layers:
        if layer.kind == "conv2d":
            built.append(nn.Conv2d(layer.in_shape[0], layer.filters, layer.kernel))
        elif layer.kind == "dense":
            built.append(nn.Linear(layer.in_shape[0], layer.units))
        elif layer.kind == "maxpool2d":
            built.append(nn.MaxPool2d(layer.size))
        elif layer.kind == "relu":
            built.append(nn.ReLU())
        elif layer.kind == "sigmoid":
            built.append(nn.Sigmoid())
        elif layer.kind == "flatten":
            built.append(nn.Flatten())
        else:
            raise ValueError(f"no PyTorch twin for {layer.kind}")
    return nn.Sequential(*built)


def torch_runner(name: str, x: np.ndarray, y: np.ndarray) -> tuple[Callable[[int], float], Any, Any] | None:
    """(run(n), net, optimizer) in PyTorch (CPU), or None when PyTorch is not installed."""
    try:
        import torch
        from torch import nn
    except ImportError:
        return None
    net = torch_net(name)
    kind, lr, batch = SETTINGS[name]
    if kind == "adam":
        opt = torch.optim.Adam(net.parameters(), lr=lr)
    else:
        opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9 if kind == "momentum" else 0.0)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    mse = SPECS[name].get("loss") == "mse"
    loss_fn = nn.MSELoss(reduction="sum") if mse else nn.CrossEntropyLoss()

    def run(n: int) -> float:
        order = torch.randperm(len(x))[:n]
        total, batches = 0.0, 0
        for start in range(0, n, batch):
            idx = order[start : start + batch]
            opt.zero_grad()
            out = net(tx[idx])
            if mse:  # glassnet's squared error: the sum over outputs, averaged over samples
                target = nn.functional.one_hot(ty[idx], 10).to(out.dtype)
                loss = loss_fn(out, target) / len(idx)
            else:
                loss = loss_fn(out, ty[idx])
            loss.backward()
            opt.step()
            total += loss.item()
            batches += 1
        return total / batches

    run(batch * 20)
    return run, net, opt


# -- the per-layer, per-phase profile ---------------------------------------------------------


class _TimedModule:
    """Stands in for a block's array module and adds each call's thread CPU time to a table
    keyed by (block, phase, what), where the phase comes from the block method running."""

    def __init__(self, xp: Any, block: str, table: dict, phase: list[str]) -> None:
        self._xp, self._block, self._table, self._phase = xp, block, table, phase

    def __getattr__(self, name: str) -> Any:
        f = getattr(self._xp, name)
        if not callable(f) or isinstance(f, type):
            return f
        table, phase, block = self._table, self._phase, self._block

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = CLOCK()
            try:
                return f(*args, **kwargs)
            finally:
                what = "matmul" if name == "matmul" else phase[1]
                table[(block, phase[0], what)] += CLOCK() - started

        return timed


def _phased(method: Callable, top: str | None, sub: str) -> Callable:
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        phase = PHASE
        saved = list(phase)
        if top is not None:
            phase[0] = top
        phase[1] = sub
        try:
            return method(self, *args, **kwargs)
        finally:
            phase[:] = saved

    return wrapper


PHASE = ["other", "other"]


def _block_name(model: Sequential, spec: fused.BlockSpec) -> str:
    layers = model.layers
    main = layers[spec.main]
    if main.kind == "conv2d":
        c = main.in_shape[0]
        text = f"conv {c}→{main.filters} {main.kernel}×{main.kernel}"
    else:
        text = f"dense {main.in_shape[0]}→{main.units}"
    for idx in spec.covers[1:]:
        layer = layers[idx]
        text += f" + {layer.kind}" + (f" {layer.size}" if layer.kind == "maxpool2d" else "")
    return text


def profile_numpy(name: str, x: np.ndarray, y: np.ndarray, steps: int) -> dict[str, dict[str, float]]:
    """Seconds per epoch per (block, phase) of glassnet's fused step on one thread."""
    table: dict = defaultdict(float)
    patches = [
        (fused.ConvBlock, "forward", "forward", "other"),
        (fused.ConvBlock, "backward", "backward", "other"),
        (fused.DenseBlock, "forward", "forward", "other"),
        (fused.DenseBlock, "backward", "backward", "other"),
        (fused.ConvBlock, "_patch_forward", None, "im2col"),
        (fused.ConvBlock, "_row_forward", None, "shifted copies"),
        (fused.ConvBlock, "_patch_weight_gradient", None, "dW sums"),
        (fused.ConvBlock, "_row_weight_gradient", None, "dW sums"),
        (fused.ConvBlock, "_input_error", None, "input error"),
        (fused._Tournament, "forward", None, "pooling"),
        (fused._Tournament, "backward", None, "pooling"),
        (fused._Activation, "forward", None, "activation"),
        (fused._Activation, "backward", None, "activation"),
    ]
    originals = [(cls, meth, getattr(cls, meth)) for cls, meth, _, _ in patches]
    for cls, meth, top, sub in patches:
        setattr(cls, meth, _phased(getattr(cls, meth), top, sub))
    with blas_threads(1):
        return _profile_numpy(name, x, y, steps, table, originals)


def _profile_numpy(
    name: str, x: np.ndarray, y: np.ndarray, steps: int, table: dict, originals: list
) -> dict[str, dict[str, float]]:
    try:
        _, model, opt, step = numpy_runner(name, x, y, threads=1)
        plan = step.plan
        assert plan is not None, f"{name} is not fused: {step.reason}"
        names = [_block_name(model, spec) for spec in plan.blocks]
        net = next(iter(step._nets.values()))
        for block, label in zip(net.blocks, names, strict=True):
            timed = _TimedModule(block.xp, label, table, PHASE)
            block.xp = timed
            block.act.xp = timed
            stack = [block.pool] if getattr(block, "pool", None) is not None else []
            while stack:
                node = stack.pop()
                node.xp = timed
                stack += [c for c in (node.left, node.right) if isinstance(c, fused._Tournament)]
        net.xp = _TimedModule(net.xp, "cost (softmax, cross-entropy / squared error)", table, ["all", "all"])
        batch = SETTINGS[name][2]
        kind = SETTINGS[name][0]
        rng = np.random.default_rng(1)
        started = CLOCK()
        opt_time = 0.0
        for _ in range(steps):
            idx = rng.integers(0, len(x), batch)
            step(x[idx], y[idx])
            t0 = CLOCK()
            step.update(opt)
            opt_time += CLOCK() - t0
        total = CLOCK() - started
    finally:
        for cls, meth, original in originals:
            setattr(cls, meth, original)
    per_epoch = 60_000 / batch / steps
    rows: dict[str, dict[str, float]] = defaultdict(dict)
    for (block, phase, what), seconds in table.items():
        key = block if block.startswith("cost") else f"{block} | {phase}"
        rows[key][what] = rows[key].get(what, 0.0) + seconds * per_epoch
    rows[f"optimizer ({kind}, one flat step)"] = {"all": opt_time * per_epoch}
    accounted = sum(sum(v.values()) for v in rows.values())
    rows["Python glue, slicing the batch"] = {"all": total * per_epoch - accounted}
    return rows


def profile_torch(name: str, x: np.ndarray, y: np.ndarray, steps: int) -> dict[str, float] | None:
    """Seconds per epoch per (block, phase) of the PyTorch twin on one thread."""
    try:
        import torch
    except ImportError:
        return None
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        built = torch_runner(name, x, y)
        assert built is not None
        _, net, opt = built
        model = Sequential.from_spec(SPECS[name])
        plan = fused.plan_network(model)
        owner = {}
        for spec in plan.blocks:
            label = _block_name(model, spec)
            for idx in spec.covers:
                owner[idx] = label
        # torch has no flatten-free layout: its flatten module goes with the block after it.
        for i, layer in enumerate(model.layers):
            if layer.kind == "flatten":
                owner[i] = next(owner[j] for j in range(i + 1, len(model.layers)) if j in owner)
        table: dict[str, float] = defaultdict(float)
        starts: dict[tuple[int, str], float] = {}
        for i, module in enumerate(net):
            label = owner[i]

            def pre(mod: Any, args: Any, i: int = i) -> None:
                starts[(i, "f")] = CLOCK()

            def post(mod: Any, args: Any, out: Any, i: int = i, label: str = label) -> None:
                table[f"{label} | forward"] += CLOCK() - starts[(i, "f")]

            def bpre(mod: Any, grad_out: Any, i: int = i) -> None:
                starts[(i, "b")] = CLOCK()

            def bpost(mod: Any, grad_in: Any, grad_out: Any, i: int = i, label: str = label) -> None:
                table[f"{label} | backward"] += CLOCK() - starts[(i, "b")]

            module.register_forward_pre_hook(pre)
            module.register_forward_hook(post)
            module.register_full_backward_pre_hook(bpre)
            module.register_full_backward_hook(bpost)
        kind, _, batch = SETTINGS[name]
        tx, ty = torch.from_numpy(x), torch.from_numpy(y)
        mse = SPECS[name].get("loss") == "mse"
        loss_fn = torch.nn.MSELoss(reduction="sum") if mse else torch.nn.CrossEntropyLoss()
        gen = torch.Generator().manual_seed(1)
        started = CLOCK()
        for _ in range(steps):
            idx = torch.randint(0, len(x), (batch,), generator=gen)
            opt.zero_grad()
            out = net(tx[idx])
            t0 = CLOCK()
            if mse:
                target = torch.nn.functional.one_hot(ty[idx], 10).to(out.dtype)
                loss = loss_fn(out, target) / batch
            else:
                loss = loss_fn(out, ty[idx])
            table["cost (softmax, cross-entropy / squared error)"] += CLOCK() - t0
            loss.backward()
            t0 = CLOCK()
            opt.step()
            table[f"optimizer ({kind}, one flat step)"] += CLOCK() - t0
            loss.item()
        total = CLOCK() - started
    finally:
        torch.set_num_threads(threads)
    per_epoch = 60_000 / batch / steps
    rows = {k: v * per_epoch for k, v in table.items()}
    rows["Python glue, slicing the batch"] = total * per_epoch - sum(rows.values())
    return rows


def print_profile(name: str, x: np.ndarray, y: np.ndarray, steps: int) -> None:
    np_rows = profile_numpy(name, x, y, steps)
    torch_rows = profile_torch(name, x, y, steps)
    print(f"\nprofile of {name}: s/epoch on ONE thread, thread CPU time ({steps} steps scaled to 60,000)")
    print(f"  {'block | phase':<52} {'glassnet':>9} {'torch':>7}   glassnet's parts")
    keys = list(np_rows)
    for key in keys:
        parts = np_rows[key]
        total = sum(parts.values())
        ref = torch_rows.get(key) if torch_rows else None
        ordered = sorted(parts.items(), key=lambda kv: -kv[1])
        detail = ", ".join(f"{k} {v:.2f}" for k, v in ordered if k != "all")
        ref_text = f"{ref:7.2f}" if ref is not None else f"{'':>7}"
        print(f"  {key:<52} {total:9.2f} {ref_text}   {detail}")
    np_total = sum(sum(v.values()) for v in np_rows.values())
    torch_total = sum(torch_rows.values()) if torch_rows else float("nan")
    print(f"  {'total':<52} {np_total:9.2f} {torch_total:7.2f}")


# -- main --------------------------------------------------------------------------------------


def timed(run: Callable[[int], float], n: int) -> tuple[float, float]:
    started = time.perf_counter()
    loss = run(n)
    return time.perf_counter() - started, loss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="epochs per network and library, at least")
    parser.add_argument(
        "--seconds", type=float, default=20.0, help="more epochs while glassnet's add up to less than this"
    )
    parser.add_argument("--max-repeats", type=int, default=25, help="epochs per network and library, at most")
    parser.add_argument("--only", default="mlp,ref-cnn,cnn,notes")
    parser.add_argument(
        "--threads", type=int, default=None, help="glassnet's shares of a batch (default: one per core)"
    )
    parser.add_argument("--samples", type=int, default=60_000, help="samples per timed epoch")
    parser.add_argument("--profile", action="store_true", help="per-layer, per-phase breakdown first")
    parser.add_argument("--profile-steps", type=int, default=300)
    args = parser.parse_args()
    # As the trainer does (training/allocator.py); process-wide, so PyTorch runs with it too.
    keep_freed_buffers()
    data = load_splits(validation=0)
    x, y = data.train.x, data.train.y
    cores = usable_cores()
    try:
        import torch

        torch.set_num_threads(cores)  # the same cores for both
        torch_text = f"torch {torch.__version__} ({torch.get_num_threads()} threads)"
    except ImportError:
        torch_text = "torch not installed"
    cpu = platform.processor() or platform.machine()
    print(f"{cpu}, {cores} usable cores, numpy {np.__version__}, {torch_text}")
    print(f"start: {loadavg()}")
    names = args.only.split(",")
    if args.profile:
        for name in names:
            print_profile(name, x, y, args.profile_steps)
        print()
    print(
        f"{args.samples:,} samples per epoch; at least {args.repeats} epochs each and more up to"
        f" {args.seconds:g} s of glassnet's (at most {args.max_repeats}), NumPy and PyTorch alternating;"
        " min and median s/epoch"
    )
    print(
        f"{'network':<8} {'batch':>5} {'glassnet path':<33} {'epochs':>6} {'numpy min':>9} {'median':>7}"
        f" {'torch min':>9} {'median':>7} {'ratio min':>9} {'(median)':>8}"
    )
    for name in names:
        batch = SETTINGS[name][2]
        numpy_run, _, _, step = numpy_runner(name, x, y, args.threads)
        torch_built = torch_runner(name, x, y)
        np_times, torch_times, ratios = [], [], []
        np_loss = t_loss = float("nan")
        while len(np_times) < args.max_repeats and (
            len(np_times) < args.repeats or sum(np_times) < args.seconds
        ):
            np_s, np_loss = timed(numpy_run, args.samples)
            np_times.append(np_s)
            if torch_built is not None:
                t_s, t_loss = timed(torch_built[0], args.samples)
                torch_times.append(t_s)
                ratios.append(np_s / t_s)
        path = step.describe(batch) if step.fused else "layer by layer"
        line = (
            f"{name:<8} {batch:>5} {path:<33} {len(np_times):>6}"
            f" {min(np_times):>9.2f} {statistics.median(np_times):>7.2f}"
        )
        if torch_times:
            line += (
                f" {min(torch_times):>9.2f} {statistics.median(torch_times):>7.2f}"
                f" {min(np_times) / min(torch_times):>8.2f}x {statistics.median(ratios):>7.2f}x"
                f"   loss {np_loss:.3f} / {t_loss:.3f}"
            )
        else:
            line += f" {'(no torch)':>9}"
        print(line, flush=True)
        step.close()
    print(f"end: {loadavg()}; glassnet shares for batch 64: {thread_count(64, args.threads)}")


if __name__ == "__main__":
    main()
