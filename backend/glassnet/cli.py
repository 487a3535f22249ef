"""The ``glassnet`` command: ``serve``, ``train``, ``evaluate``, ``predict``. Every failure the user
can cause ends in one readable line on stderr and exit code 2."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

# Before NumPy loads OpenBLAS: idle BLAS threads go to sleep after a short spin (2^4 cycles)
# instead of the default long one. On two cores shared by a trainer and a server that is what lets
# two BLAS threads work well (measured in bench/service_speed.py; the service's training processes
# get the same, service/worker.py); headless training gains too.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

import numpy as np

from .data.mnist import DEFAULT_DATASET_DIR, load_splits, resolve_dataset_dir
from .data.preprocess import load_image_file, prepare_digit
from .nn.backend import DEVICES
from .nn.checkpoint import load_checkpoint, save_checkpoint
from .nn.model import Sequential
from .presets import PRESETS, load_preset, load_spec_file
from .training.config import TrainConfig
from .training.trainer import BatchMetrics, EpochMetrics, Trainer, evaluate, predict_probabilities


class Progress:
    """One self-overwriting line per epoch: bar, loss, accuracy, samples/s, time left."""

    def __init__(self, steps_per_epoch: int, epochs: int, batch_size: int, stream: Any) -> None:
        self.steps_per_epoch = steps_per_epoch
        self.epochs = epochs
        self.batch_size = batch_size
        self.stream = stream
        self.tty = stream.isatty()
        self.epoch_start = time.perf_counter()
        self.last_draw = 0.0
        self.loss = 0.0
        self.acc = 0.0

    def batch(self, m: BatchMetrics) -> None:
        # Exponential moving averages: the raw per-batch numbers jitter too much to read.
        self.loss = m.loss if self.loss == 0 else 0.95 * self.loss + 0.05 * m.loss
        self.acc = m.accuracy if self.acc == 0 else 0.95 * self.acc + 0.05 * m.accuracy
        now = time.perf_counter()
        done = (m.step - 1) % self.steps_per_epoch + 1
        if now - self.last_draw < (0.2 if self.tty else 10.0) and done != self.steps_per_epoch:
            return
        self.last_draw = now
        elapsed = now - self.epoch_start
        rate = done * self.batch_size / max(elapsed, 1e-9)
        left = (self.steps_per_epoch - done) * self.batch_size / max(rate, 1e-9)
        frac = done / self.steps_per_epoch
        bar = "#" * int(frac * 24) + "." * (24 - int(frac * 24))
        line = (
            f"epoch {m.epoch + 1}/{self.epochs} [{bar}] {frac:4.0%}  loss {self.loss:.4f}"
            f"  acc {self.acc:6.2%}  {rate:,.0f} samples/s  {left:4.0f}s left"
        )
        self.stream.write(("\r" if self.tty else "") + line + ("" if self.tty else "\n"))
        self.stream.flush()

    def epoch(self, m: EpochMetrics) -> None:
        val = "" if m.val_accuracy is None else f"  val loss {m.val_loss:.4f}  val acc {m.val_accuracy:.2%}"
        self.stream.write(("\n" if self.tty else "") + f"  epoch {m.epoch} done in {m.seconds:.1f}s{val}\n")
        self.stream.flush()
        self.epoch_start = time.perf_counter()
        self.loss = self.acc = 0.0


def _resolve_spec(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    if args.spec:
        spec = load_spec_file(args.spec)
        return spec, str(spec.get("name", Path(args.spec).stem))
    return load_preset(args.preset), args.preset


def cmd_train(args: argparse.Namespace) -> int:
    spec, name = _resolve_spec(args)
    settings = dict(spec.get("train", {}))
    for key in (
        "optimizer",
        "lr",
        "momentum",
        "weight_decay",
        "schedule",
        "batch_size",
        "epochs",
        "seed",
        "device",
    ):
        value = getattr(args, key)
        if value is not None:
            settings[key] = value
    if args.loss:
        spec["loss"] = args.loss
    config = TrainConfig.from_dict(settings)
    model = Sequential.from_spec(spec, np.random.default_rng(config.seed))
    model.to(config.device)  # DeviceUnavailableError (a ValueError) says what is missing
    out = Path(args.out or f"models/{name}.npz")
    dataset_dir = resolve_dataset_dir(args.dataset)
    data = load_splits(dataset_dir, validation=args.validation)
    print(
        f"glassnet train: {name}, {model.param_count():,} parameters, "
        f"{data.train.x.shape[0]:,} training / {data.val.x.shape[0]:,} validation / "
        f"{data.test.x.shape[0]:,} test images from {dataset_dir}"
    )
    print(model.describe())
    print(f"settings: {json.dumps(config.as_dict())}")
    started = time.perf_counter()
    progress = Progress(0, config.epochs, config.batch_size, sys.stdout)

    def on_event(event: str, payload: Any) -> None:
        if event == "batch":
            progress.batch(payload)
        elif event == "epoch":
            progress.epoch(payload[0])

    trainer = Trainer(model, config, data, on_event)
    print(f"training on {config.device}: {trainer.step_fn.describe(config.batch_size)}")
    progress.steps_per_epoch = trainer.steps_per_epoch
    trainer.fit()
    wall = time.perf_counter() - started
    test = evaluate(model, data.test)
    print(f"test accuracy {test.accuracy:.2%}  (test loss {test.loss:.4f}), trained in {wall:.1f}s")
    meta = {
        "preset": name,
        "dataset": str(dataset_dir if dataset_dir != DEFAULT_DATASET_DIR else "mnist"),
        "test_accuracy": test.accuracy,
        "val_accuracy": evaluate(model, data.val).accuracy if data.val.x.shape[0] else None,
        "seed": config.seed,
        "epochs": config.epochs,
        "train": config.as_dict(),
        "train_seconds": round(wall, 1),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    save_checkpoint(out, model, meta, spec)
    print(f"checkpoint written to {out}")
    return 0


def _load_test_split(args: argparse.Namespace):
    return load_splits(resolve_dataset_dir(args.dataset), validation=0).test


def cmd_evaluate(args: argparse.Namespace) -> int:
    ckpt = load_checkpoint(args.model)
    result = evaluate(ckpt.model, _load_test_split(args))
    if args.json:
        print(
            json.dumps(
                {
                    "model": str(args.model),
                    "accuracy": result.accuracy,
                    "loss": result.loss,
                    "per_class_accuracy": result.per_class_accuracy(),
                    "confusion": result.confusion,
                }
            )
        )
        return 0
    print(f"{args.model}: test accuracy {result.accuracy:.2%} on {sum(map(sum, result.confusion)):,} images")
    print("per digit: " + "  ".join(f"{d}:{a:.1%}" for d, a in enumerate(result.per_class_accuracy())))
    print("confusion matrix (rows: true digit, columns: predicted)")
    print("      " + "".join(f"{d:>6}" for d in range(10)))
    for d, row in enumerate(result.confusion):
        print(f"{d:>6}" + "".join(f"{v:>6}" for v in row))
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    ckpt = load_checkpoint(args.model)
    results = []
    for path in args.images:
        prepared = prepare_digit(load_image_file(path))
        if prepared is None:
            results.append({"image": str(path), "empty": True, "digit": None, "probabilities": None})
            continue
        probs = predict_probabilities(ckpt.model, prepared[None, None])[0]
        results.append(
            {
                "image": str(path),
                "empty": False,
                "digit": int(probs.argmax()),
                "probabilities": [round(float(p), 6) for p in probs],
            }
        )
    if args.json:
        print(json.dumps(results))
        return 0
    for r in results:
        if r["empty"]:
            print(f"{r['image']}: empty (no ink found), nothing to read")
        else:
            top = r["probabilities"][r["digit"]]
            print(f"{r['image']}: {r['digit']}  ({top:.1%})")
    return 0


LOCAL_BINDS = ("127.0.0.1", "localhost", "::1")


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the service under uvicorn. Binds 127.0.0.1 unless --host says otherwise (warned).

    SIGTERM / Ctrl-C: viewers are closed with 1001 and running runs checkpointed before uvicorn
    closes its sockets; the process exits within a few seconds."""
    import uvicorn

    from .service.app import create_app, shutdown_service
    from .service.settings import Settings

    overrides: dict[str, Any] = {}
    if args.host is not None:
        overrides["host"] = args.host
    if args.port is not None:
        overrides["port"] = args.port
    if args.data_dir is not None:
        overrides["data_dir"] = Path(args.data_dir)
    if args.dataset is not None:
        overrides["dataset"] = Path(args.dataset)
    settings = Settings(**overrides)
    if settings.host not in LOCAL_BINDS:
        print(
            f"glassnet serve: warning: binding {settings.host}: the service is reachable from other "
            "machines and has no authentication",
            file=sys.stderr,
        )
    app = create_app(settings)

    class Server(uvicorn.Server):
        async def shutdown(self, sockets: Any = None) -> None:
            await shutdown_service(app)  # 1001 to viewers, checkpoints, before uvicorn's 1012
            await super().shutdown(sockets)

    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=args.log_level,
        ws_max_size=settings.max_ws_message_bytes + 1024,
        # Compression would run zlib once per viewer per frame (the same frame for every viewer):
        # measured at ~0.5 s of CPU per second with 20 viewers. Frames are local; send them plain.
        ws_per_message_deflate=False,
        ws_ping_interval=settings.ws_ping_interval_s,
        ws_ping_timeout=settings.ws_ping_timeout_s,
        timeout_graceful_shutdown=3,
    )
    shown = f"[{settings.host}]" if ":" in settings.host else settings.host
    print(f"glassnet serve: open http://{shown}:{settings.port}/ (runs in {settings.data_dir})", flush=True)
    Server(config).run()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="glassnet", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the training service and the dashboard")
    serve.add_argument("--host", help="address to bind (default 127.0.0.1; $GLASSNET_HOST)")
    serve.add_argument("--port", type=int, help="port (default 8000; $GLASSNET_PORT)")
    serve.add_argument("--data-dir", help="where runs live (database and checkpoints; default runs/)")
    serve.add_argument("--dataset", help="folder of MNIST-style IDX files (default: bundled MNIST)")
    serve.add_argument(
        "--log-level", default="info", choices=("critical", "error", "warning", "info", "debug")
    )
    serve.set_defaults(func=cmd_serve)

    train = sub.add_parser("train", help="train a network headless and write a checkpoint")
    src = train.add_mutually_exclusive_group()
    src.add_argument("--preset", choices=PRESETS, default="cnn")
    src.add_argument("--spec", help="a JSON spec file (same format as a preset)")
    train.add_argument("--optimizer", choices=("sgd", "momentum", "adam"))
    train.add_argument("--lr", type=float)
    train.add_argument("--momentum", type=float)
    train.add_argument("--weight-decay", type=float)
    train.add_argument("--schedule", choices=("constant", "step", "cosine"))
    train.add_argument("--batch-size", type=int)
    train.add_argument("--epochs", type=int)
    train.add_argument("--seed", type=int)
    train.add_argument("--loss", choices=("cross_entropy", "mse"))
    train.add_argument(
        "--device",
        choices=DEVICES,
        default=os.environ.get("GLASSNET_DEVICE") or None,
        help="cpu (default) or cuda: a GPU through CuPy, pip install 'glassnet[gpu]' ($GLASSNET_DEVICE)",
    )
    train.add_argument("--validation", type=int, default=5000, help="validation images (default 5000)")
    train.add_argument("--dataset", help="folder of MNIST-style IDX files (default: bundled MNIST)")
    train.add_argument("--out", help="checkpoint path (default models/<name>.npz)")
    train.set_defaults(func=cmd_train)

    ev = sub.add_parser("evaluate", help="test accuracy, per-class accuracy, confusion matrix")
    ev.add_argument("model")
    ev.add_argument("--dataset")
    ev.add_argument("--json", action="store_true")
    ev.set_defaults(func=cmd_evaluate)

    pr = sub.add_parser("predict", help="read digits from image files")
    pr.add_argument("model")
    pr.add_argument("images", nargs="+")
    pr.add_argument("--json", action="store_true")
    pr.set_defaults(func=cmd_predict)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ValueError as exc:  # every user-caused problem in glassnet is a ValueError subclass
        print(f"glassnet {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"glassnet {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
