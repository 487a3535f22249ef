"""The ``glassnet`` command: ``serve``, ``train``, ``evaluate``, ``predict``, ``export``.

Every failure the user can cause (a bad option or ``GLASSNET_*`` value, a file that cannot be read
or written, a run that diverges) ends in one line on stderr and exit code 2; Ctrl-C during
``train`` writes a checkpoint and prints how to continue with ``--resume`` (exit 130).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import errno
import json
import logging
import os
import re
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, NoReturn, TextIO

# Before NumPy loads OpenBLAS: idle BLAS threads go to sleep after a short spin (2^4 cycles)
# instead of the default long one. On two cores shared by a trainer and a server that is what lets
# two BLAS threads work well (measured in bench/service_speed.py; the service's training processes
# get the same, service/worker.py); headless training gains too.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

import numpy as np
from pydantic import ValidationError

from . import __version__
from .data.classes import KNOWN_CLASSES
from .data.mnist import DEFAULT_DATASET_DIR, load_splits, resolve_dataset_dir
from .data.preprocess import load_image_file, prepare_digit
from .export.tensorboard import TensorBoardWriter, require_tensorboard
from .extras import install_hint
from .logs import LEVELS
from .nn.backend import DEVICES
from .nn.checkpoint import load_checkpoint, save_checkpoint
from .nn.model import Sequential
from .numbers import cut_percent
from .paths import default_model_path, resolve_model, writable_dir, writable_file
from .presets import PRESETS, fit_classes, load_preset, load_spec_file
from .progress import MetricsWriter, PipeSafe, Progress, quiet_broken_pipe
from .training.config import TrainConfig, check_spec_keys
from .training.trainer import DivergedError, Trainer, evaluate, predict_probabilities

DESCRIPTION = """\
glassnet: a neural network you can see through. Train NumPy networks (an MLP and a CNN) on MNIST
and watch them learn in a browser dashboard, or train, evaluate, read digits and export models
from the command line."""

EPILOG = """\
examples:
  glassnet serve                                   open the dashboard at http://127.0.0.1:8000/
  glassnet train --preset mlp --epochs 3           writes runs/models/mlp-<time>.npz
  glassnet train --resume runs/models/mlp-<time>.npz   continue an interrupted run
  glassnet evaluate cnn                            accuracy of the bundled cnn on the MNIST test set
  glassnet predict cnn digit.png                   read a digit from an image
  glassnet export cnn --onnx cnn.onnx              the model for ONNX Runtime (needs the onnx extra)

The extras (onnx, tensorboard, gpu, ray) come with the glassnet wheel or checkout, not from PyPI:
pip install 'dist/glassnet-<version>-py3-none-any.whl[onnx]', pip install -e '.[onnx]' in a checkout,
or after pipx install: pipx inject glassnet onnx.

Every command has its own help: glassnet COMMAND --help. Settings of the service are also read
from GLASSNET_* environment variables (GLASSNET_DATA_DIR, GLASSNET_PORT, ...)."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse, with a usage error as one line (and exit 2) instead of the usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class HelpFormatter(argparse.HelpFormatter):
    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=34, width=100)


class TopHelpFormatter(argparse.RawDescriptionHelpFormatter, HelpFormatter):
    """The top-level help keeps the line breaks of its description and examples."""


def _settings(**overrides: Any):
    """The service's settings (``GLASSNET_*`` and the given overrides), or one readable error."""
    from pydantic_settings import SettingsError

    from .service.settings import Settings

    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except SettingsError as exc:  # a variable the source could not decode (before validation)
        found = re.search(r'field "(\w+)"', str(exc))
        name = found.group(1) if found else "settings"
        value = os.environ.get(f"GLASSNET_{name.upper()}")
        raise ValueError(f"GLASSNET_{name.upper()}={value!r}: not valid JSON ({exc})") from None
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = str(error["loc"][0]) if error["loc"] else "settings"
            source = (
                f"--{name.replace('_', '-')}" if name in overrides and overrides[name] is not None else None
            )
            where = source or f"GLASSNET_{name.upper()}"
            value = error.get("input")
            problems.append(f"{where}={value!r}: {error['msg']}")
        raise ValueError("; ".join(problems)) from None


# -- train --------------------------------------------------------------------------------------

TRAIN_SETTINGS = (
    "optimizer",
    "lr",
    "momentum",
    "beta1",
    "beta2",
    "weight_decay",
    "schedule",
    "batch_size",
    "epochs",
    "seed",
    "device",
)


class _StopOnInterrupt:
    """The first Ctrl-C or SIGTERM (what ``timeout``, ``docker stop`` and batch schedulers send)
    asks the trainer to stop after the current mini-batch, so the checkpoint holds consistent
    weights and optimizer state; a second one interrupts at once."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.requested = False
        self.signal = signal.SIGINT
        self.previous: dict[int, Any] = {}

    def __enter__(self) -> _StopOnInterrupt:
        def handler(signum: int, frame: Any) -> None:
            if self.requested:
                raise KeyboardInterrupt
            self.requested = True
            self.signal = signal.Signals(signum)

        for sig in self.SIGNALS:
            self.previous[sig] = signal.signal(sig, handler)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, previous in self.previous.items():
            signal.signal(sig, previous)

    @property
    def exit_code(self) -> int:
        """130 after Ctrl-C, 143 after SIGTERM: 128 + the signal's number, as shells report it."""
        return 128 + int(self.signal)


def _joined(names: Any) -> str | None:
    """Class names recorded in a checkpoint, as the --classes option takes them."""
    return ",".join(map(str, names)) if isinstance(names, list) and names else None


def _train_setup(args: argparse.Namespace) -> dict[str, Any]:
    """Spec, settings, data and the output path of a new or resumed run, all checked before any
    training starts."""
    resume = None
    if args.resume:
        resume = load_checkpoint(args.resume)
        if "trainer" not in resume.meta:
            raise ValueError(f"--resume {args.resume}: this checkpoint has no training state to continue")
        spec = dict(resume.spec)
        name = str(resume.meta.get("preset") or spec.get("name") or Path(args.resume).stem)
        settings = dict(resume.meta.get("train", {}))
        for key in (*TRAIN_SETTINGS, "augment"):  # a resumed run keeps its settings; say so
            if getattr(args, key) is not None and key != "epochs":
                raise ValueError(
                    f"--{key.replace('_', '-')}: a resumed run keeps its settings (only --epochs)"
                )
        if args.epochs is not None:
            settings["epochs"] = args.epochs
        dataset = args.dataset or resume.meta.get("dataset_dir")
        validation = resume.meta.get("validation") if args.validation is None else args.validation
        transpose = bool(resume.meta.get("transpose")) or args.transpose
        classes = args.classes or _joined(resume.meta.get("classes"))
    else:
        if args.spec:
            spec = load_spec_file(args.spec)
            check_spec_keys(spec, args.spec)
            name = str(spec.get("name", Path(args.spec).stem))
        else:
            spec, name = load_preset(args.preset), args.preset
        settings = dict(spec.get("train", {}))
        overrides = {key: getattr(args, key) for key in TRAIN_SETTINGS if getattr(args, key) is not None}
        if args.augment is not None:  # on: the preset's settings or the defaults; off: none
            overrides["augment"] = (settings.get("augment") or {}) if args.augment else None
        if args.loss:
            spec["loss"] = args.loss
        dataset, validation, transpose, classes = args.dataset, args.validation, args.transpose, args.classes
    # The preset's settings, then the command line's: a setting the optimizer lacks is an error.
    config = (
        TrainConfig.from_dict(settings, legacy=True)
        if resume is not None
        else TrainConfig.merged(settings, overrides)
    )
    if args.out:
        out = writable_file(args.out, "--out")
    elif resume is not None:
        out = writable_file(args.resume, "--resume")
    else:
        # No --out: the data dir's models/ folder (GLASSNET_DATA_DIR, runs/ by default).
        where = "the data dir (GLASSNET_DATA_DIR):"
        out = writable_file(default_model_path(name, _settings().data_dir), where)
    metrics_file = writable_file(args.metrics, "--metrics") if args.metrics else None
    tensorboard = None
    if args.tensorboard:
        require_tensorboard()
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
        tensorboard = writable_dir(Path(args.tensorboard) / f"{name}-{stamp}", "--tensorboard")
    # The data last: every setting and output is checked before the seconds this takes.
    dataset_dir = resolve_dataset_dir(dataset)
    data = load_splits(dataset_dir, validation=validation, transpose=transpose, classes=classes)
    spec, note = fit_classes(spec, data.classes.count)
    model = Sequential.from_spec(spec, np.random.default_rng(config.seed))
    if resume is not None:
        model.load_state_dict(resume.model.state_dict())
    model.to(config.device)  # DeviceUnavailableError (a ValueError) says what is missing
    return {
        "note": note,
        "spec": spec,
        "name": name,
        "config": config,
        "model": model,
        "out": out,
        "metrics_file": metrics_file,
        "tensorboard": tensorboard,
        "dataset_dir": dataset_dir,
        "data": data,
        "resume": resume,
    }


def _meta(run: dict[str, Any], trainer: Trainer, wall: float, extra: dict[str, Any]) -> dict[str, Any]:
    data = run["data"]
    return {
        "preset": run["name"],
        "dataset": data.name,
        "dataset_dir": None if run["dataset_dir"] == DEFAULT_DATASET_DIR else str(run["dataset_dir"]),
        "classes": list(data.classes.names),
        "first_label": data.classes.first_label,
        "transpose": data.transpose,
        "validation": len(data.val),
        "seed": run["config"].seed,
        "epochs": trainer.epoch,
        "train": run["config"].as_dict(),
        "train_seconds": round(wall, 1),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        **extra,
    }


def cmd_train(args: argparse.Namespace) -> int:
    run = _train_setup(args)
    # With --json, stdout carries only JSON lines; the human report goes to stderr.
    report = PipeSafe(sys.stderr if args.json else sys.stdout)
    with contextlib.ExitStack() as stack:
        # A reader of stdout that goes away (--json | head -1) stops the output, not the training.
        streams: list[TextIO | PipeSafe] = [PipeSafe(sys.stdout)] if args.json else []
        if run["metrics_file"] is not None:
            streams.append(stack.enter_context(run["metrics_file"].open("a", encoding="utf-8")))
        return _train(run, MetricsWriter(streams), report)


def _train(run: dict[str, Any], writer: MetricsWriter, report: PipeSafe) -> int:
    model, config, data, out = run["model"], run["config"], run["data"], run["out"]

    def say(text: str) -> None:
        progress.end_line()
        report.write(text + "\n")
        report.flush()

    progress = Progress(1, config.epochs, config.batch_size, PipeSafe(sys.stderr))
    last_lr = [config.lr]

    def on_event(event: str, payload: Any) -> None:
        if event == "batch":
            progress.batch(payload)
            last_lr[0] = payload.lr
        elif event == "epoch":
            metrics = payload[0]
            progress.epoch(metrics)
            writer.epoch(metrics, last_lr[0], len(data.train) / max(metrics.seconds, 1e-9))

    board = None if run["tensorboard"] is None else TensorBoardWriter(run["tensorboard"], model)

    def callback(event: str, payload: Any) -> None:
        on_event(event, payload)
        if board is not None:
            board.on_event(event, payload)

    trainer = Trainer(model, config, data, callback)
    progress.steps_per_epoch = trainer.steps_per_epoch
    if run["resume"] is not None:
        trainer.restore(run["resume"].meta["trainer"], run["resume"].optimizer_state)
    say(
        f"glassnet train: {run['name']}, {model.param_count():,} parameters, "
        f"{len(data.train):,} training / {len(data.val):,} validation / "
        f"{len(data.test):,} test images from {run['dataset_dir']}"
    )
    if run["note"]:
        say(f"{data.classes.count} classes ({', '.join(data.classes.names[:12])}): {run['note']}")
    say(model.describe())
    say(f"settings: {json.dumps(config.as_dict())}")
    say(f"training on {config.device}: {trainer.step_fn.describe(config.batch_size)}")
    if run["resume"] is not None:
        say(f"resuming at epoch {trainer.epoch + 1}, step {trainer.step:,} of {trainer.total_steps:,}")
    say(f"checkpoint: {out}")
    if board is not None:
        say(f"TensorBoard: tensorboard --logdir {board.logdir}")
    # Signals are caught until the checkpoint is written: one that comes after the last batch
    # (during the test pass or the save) lets them finish.
    with _StopOnInterrupt() as interrupt:
        return _fit_and_save(run, trainer, writer, board, interrupt, say)


def _fit_and_save(
    run: dict[str, Any],
    trainer: Trainer,
    writer: MetricsWriter,
    board: TensorBoardWriter | None,
    interrupt: _StopOnInterrupt,
    say: Any,
) -> int:
    model, config, data, out = run["model"], run["config"], run["data"], run["out"]
    started = time.perf_counter()
    try:
        trainer.fit(should_stop=lambda: interrupt.requested)
    except DivergedError as exc:
        raise ValueError(f"the run diverged: {exc}; nothing was written") from None
    finally:
        if board is not None:
            board.close()
    wall = time.perf_counter() - started
    if not trainer.finished:
        meta = _meta(run, trainer, wall, dict(trainer=trainer.state(), interrupted=True))
        written = _save(out, say, model, meta, run["spec"], trainer.optimizer.state_dict())
        say(
            f"interrupted at epoch {trainer.epoch + 1}/{config.epochs}, step {trainer.step:,}: "
            f"checkpoint written to {written}\ncontinue with: glassnet train --resume {written}"
        )
        return interrupt.exit_code
    test = evaluate(model, data.test)
    say(f"test accuracy {test.accuracy:.2%}  (test loss {test.loss:.4f}), trained in {wall:.1f}s")
    val = evaluate(model, data.val).accuracy if len(data.val) else None
    meta = _meta(run, trainer, wall, {"test_accuracy": test.accuracy, "val_accuracy": val})
    written = _save(out, say, model, meta, run["spec"])
    writer.write(
        {"event": "done", "test_accuracy": test.accuracy, "test_loss": test.loss, "checkpoint": str(written)}
    )
    say(f"checkpoint written to {written}")
    return 0 if written == out else 2


def _save(out: Path, say: Any, *checkpoint: Any) -> Path:
    """Write the checkpoint to ``out``; when that fails (a full disk, a folder gone since the
    check before training), write it to the temporary folder instead, under a new name
    (``<stem>-<time>-<random>.npz``), so the trained network is not lost, and say so. Returns
    where it went; a ValueError naming both when neither worked."""
    try:
        save_checkpoint(out, *checkpoint)
        return out
    except OSError as exc:
        reason = exc.strerror or str(exc)
    # A name of its own (made by mkstemp, so taken atomically): never an earlier rescue or anyone's
    # /tmp/cnn.npz overwritten.
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    try:
        fd, name = tempfile.mkstemp(prefix=f"{out.stem}-{stamp}-", suffix=out.suffix or ".npz")
    except OSError as exc:
        raise ValueError(
            f"cannot write the checkpoint to {out} ({reason}) nor to the temporary folder "
            f"{tempfile.gettempdir()} ({exc.strerror or exc}); the trained network is lost"
        ) from None
    os.close(fd)
    rescue = Path(name)
    try:
        save_checkpoint(rescue, *checkpoint)
    except OSError as exc:
        rescue.unlink(missing_ok=True)
        raise ValueError(
            f"cannot write the checkpoint to {out} ({reason}) nor to {rescue} ({exc.strerror or exc}); "
            "the trained network is lost"
        ) from None
    say(f"glassnet train: error: cannot write the checkpoint to {out} ({reason}); written to {rescue}")
    return rescue


# -- evaluate, predict, export --------------------------------------------------------------------


def cmd_evaluate(args: argparse.Namespace) -> int:
    path = resolve_model(args.model)
    ckpt = load_checkpoint(path)
    transpose = args.transpose or bool(ckpt.meta.get("transpose"))
    classes = args.classes or _joined(ckpt.meta.get("classes"))
    data = load_splits(resolve_dataset_dir(args.dataset), validation=0, transpose=transpose, classes=classes)
    if data.classes.count != ckpt.model.output_shape[0]:
        raise ValueError(
            f"{args.model} has {ckpt.model.output_shape[0]} outputs, the dataset {data.source} has "
            f"{data.classes.count} classes"
        )
    result = evaluate(ckpt.model, data.test)
    names = data.classes.names
    if args.json:
        report = {
            "model": str(args.model),
            "accuracy": result.accuracy,
            "loss": result.loss,
            "per_class_accuracy": result.per_class_accuracy(),
            "classes": list(names),
            "confusion": result.confusion,
        }
        print(json.dumps(report))
        return 0
    width = max(6, 1 + max(len(n) for n in names))
    print(f"{args.model}: test accuracy {result.accuracy:.2%} on {sum(map(sum, result.confusion)):,} images")
    per_class = zip(names, result.per_class_accuracy(), strict=True)
    print("per class: " + "  ".join(f"{n}:{cut_percent(a, counted=True)}" for n, a in per_class))
    print("confusion matrix (rows: true class, columns: predicted)")
    print(" " * width + "".join(f"{n:>{width}}" for n in names))
    for n, row in zip(names, result.confusion, strict=True):
        print(f"{n:>{width}}" + "".join(f"{v:>{width}}" for v in row))
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    """One answer per image, by class name (a checkpoint trained on other classes records their
    names). An image that cannot be read gets an error line of its own; the others are still
    answered, and the exit code is 2 when any could not be read."""
    from .service.modelinfo import class_names  # the names the API answers with, the same rule

    ckpt = load_checkpoint(resolve_model(args.model))
    names = list(class_names(ckpt.meta, ckpt.model.output_shape[0]))
    results: list[dict[str, Any]] = []
    for path in args.images:
        try:
            prepared = prepare_digit(load_image_file(path))
        except ValueError as exc:  # ImageError: missing, not an image, corrupt, too large
            results.append({"image": str(path), "error": " ".join(str(exc).split())})
            continue
        if prepared is None:
            empty = {"empty": True, "digit": None, "label": None, "probabilities": None}
            results.append({"image": str(path), **empty})
            continue
        probs = predict_probabilities(ckpt.model, prepared[None, None])[0]
        best = int(probs.argmax())
        results.append(
            {
                "image": str(path),
                "empty": False,
                "digit": best,  # the class's index (kept for scripts written before "label")
                "label": names[best],
                "probabilities": [round(float(p), 6) for p in probs],
            }
        )
    failed = [r for r in results if "error" in r]
    if args.json:
        print(json.dumps(results))
    else:
        for r in results:
            if "error" in r:
                print(f"glassnet predict: error: {r['error']}", file=sys.stderr)
            elif r["empty"]:
                print(f"{r['image']}: empty (too little ink to read), nothing guessed")
            else:
                top = r["probabilities"][r["digit"]]
                print(f"{r['image']}: {r['label']}  ({cut_percent(top)})")
    return 2 if failed else 0


def cmd_export(args: argparse.Namespace) -> int:
    from .export.onnx import export_onnx

    path = resolve_model(args.model)
    out = writable_file(args.onnx, "--onnx")
    try:
        export_onnx(load_checkpoint(path), out)
    except OSError as exc:  # a full disk, or the folder gone since the check
        raise ValueError(f"--onnx {out}: cannot write the file ({exc.strerror or exc})") from None
    print(f"{path}: ONNX model written to {out}")
    return 0


# -- serve ----------------------------------------------------------------------------------------


def settings_need_ray(settings: Any) -> bool:
    """``--executor ray`` without Ray installed or without an address: one line, and True."""
    if settings.executor != "ray":
        return False
    import importlib.util
    import os

    if importlib.util.find_spec("ray") is None:
        print(f"glassnet serve: error: --executor ray needs Ray: {install_hint('ray')}", file=sys.stderr)
        return True
    if not (settings.ray_address or os.environ.get("RAY_ADDRESS")):
        print(
            "glassnet serve: error: --executor ray needs the cluster's address: --ray-address HOST:PORT "
            "(or GLASSNET_RAY_ADDRESS)",
            file=sys.stderr,
        )
        return True
    return False


def _data_dir_named(args: argparse.Namespace, data_dir: Path) -> tuple[Path, str]:
    """serve's data dir and where it came from, for a message: the option, the variable, or the
    default folder as a full path (never an option the user did not give)."""
    if args.data_dir is not None:
        return data_dir, "--data-dir"
    if os.environ.get("GLASSNET_DATA_DIR", "").strip():
        return data_dir, "GLASSNET_DATA_DIR"
    return (
        data_dir.absolute(),
        "the data dir (runs/ under the current folder; --data-dir or GLASSNET_DATA_DIR for another)",
    )


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the service under uvicorn. Binds 127.0.0.1 unless --host says otherwise; beyond loopback
    every request needs a token (GLASSNET_TOKEN, or one generated once, printed and kept in the
    data dir's teacher-token).

    SIGTERM / Ctrl-C: viewers are closed with 1001 and running runs checkpointed before uvicorn
    closes its sockets; the process exits within a few seconds."""
    import uvicorn

    from .logs import configure
    from .service import gctuning
    from .service.app import check_served_files, create_app, dataset_facts, shutdown_service
    from .service.connections import protocol_classes
    from .service.locks import LockedError, hold_data_dir
    from .service.security import kept_token, needs_token, served_links, token_file

    configured = _settings(
        host=args.host,
        port=args.port,
        data_dir=None if args.data_dir is None else Path(args.data_dir),
        dataset=None if args.dataset is None else Path(args.dataset),
        validation=args.validation,
        transpose=args.transpose,
        classes=args.classes,
        tensorboard_dir=None if args.tensorboard is None else Path(args.tensorboard),
        open_view=True if args.open_view else None,
        executor=args.executor,
        ray_address=args.ray_address,
        max_active_runs=args.max_active_runs,
        join_code=args.join_code,
        auto_resume=args.auto_resume,
    )
    if settings_need_ray(configured):
        return 2
    try:  # a mistyped --dataset or --validation: one line now, not a server that cannot train
        dataset_facts(configured)
    except ValueError as exc:
        where = f"--dataset {configured.dataset}" if configured.dataset else "the bundled MNIST"
        raise ValueError(f"{where}: {exc}") from None
    check_served_files(configured)  # the dashboard, the models folder, the default model
    writable_dir(*_data_dir_named(args, configured.data_dir))
    if configured.tensorboard_dir is not None:
        require_tensorboard()
        writable_dir(configured.tensorboard_dir, "--tensorboard")
    try:  # before binding the port: a second server on the same data dir says who has it
        hold_data_dir(configured.data_dir)
    except LockedError as exc:
        print(f"glassnet serve: error: {exc}", file=sys.stderr)
        return 2
    # Beyond loopback or with a join code: a token, GLASSNET_TOKEN or the one kept in the data dir
    # (made on the first start), so a restart with the same command keeps every link valid.
    kept = None if configured.token or not needs_token(configured) else kept_token(configured.data_dir)
    settings = configured if kept is None else configured.model_copy(update={"token": kept[0]})
    # Bind before saying "open http://...": a port in use is one line and exit 2, never an
    # address that points at another program.
    sock = _listening_socket(settings.host, settings.port)
    configure(args.log_level, json_lines=args.log_json)
    # Links that open: bound to all addresses, loopback here and the LAN address / host name for
    # the others (http://0.0.0.0:PORT/ opens nowhere but, perhaps, here).
    here, others = served_links(settings.host, settings.port)
    elsewhere = " or ".join(others)
    if settings.token:
        # A token is never written to a log (logs are read by others: docker logs, a shared
        # terminal). One the operator set is never shown; a generated one is shown once, when it
        # is made (nobody could learn it otherwise), and after that read from its file.
        if kept is None:
            where, shown_token = "GLASSNET_TOKEN", "<GLASSNET_TOKEN>"
        elif kept[1]:
            where, shown_token = f"generated now and kept in {token_file(settings)}", settings.token
        else:
            where, shown_token = f"kept in {token_file(settings)}", f"$(cat {token_file(settings)})"
        rotate = (
            ""
            if kept is None
            else "; only you may read that file, and a restart keeps every link working; delete it to "
            "make a new token, which signs everyone out"
        )
        print(
            f"glassnet serve: binding {settings.host}: every request needs the token ({where}); "
            f"open {here}?token={shown_token} on this machine"
            + (f" ({' or '.join(f'{o}?token={shown_token}' for o in others)} from another)" if others else "")
            + f" or send 'Authorization: Bearer <token>'{rotate}"
            + ("; viewing is open to anyone (--open-view)" if settings.open_view else ""),
            file=sys.stderr,
            flush=True,
        )
    if settings.join_code:
        print(
            f"glassnet serve: students open {elsewhere or here} and join there with the "
            f"code {settings.join_code!r} (the join page; scripts: POST /api/join)"
            + (
                ""
                if others
                else f", on this machine only: bound to {settings.host}, other machines cannot reach it "
                "(--host 0.0.0.0 for a class)"
            )
            + "; the token above "
            f"is the teacher's. At most {settings.quota_names_per_hour} new names an hour join from one "
            "address: for a class behind one address (a school NAT, a proxy), set "
            "GLASSNET_QUOTA_NAMES_PER_HOUR to the class size before the lesson",
            file=sys.stderr,
            flush=True,
        )
    app = create_app(settings)

    class Server(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets)
            frozen = gctuning.tune()  # the started app's objects out of the collector's walks
            logging.getLogger("glassnet.serve").info("garbage collector: %d start-up objects frozen", frozen)

        async def shutdown(self, sockets: Any = None) -> None:
            await shutdown_service(app)  # 1001 to viewers, checkpoints, before uvicorn's 1012
            await super().shutdown(sockets)

    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=args.log_level,
        log_config=None,  # the handler configure() installed: one format for the whole process
        ws_max_size=settings.max_ws_message_bytes + 1024,
        # Compression would run zlib once per viewer per frame (the same frame for every viewer):
        # measured at ~0.5 s of CPU per second with 20 viewers. Frames are local; send them plain.
        ws_per_message_deflate=False,
        ws_ping_interval=settings.ws_ping_interval_s,
        ws_ping_timeout=settings.ws_ping_timeout_s,
        timeout_graceful_shutdown=3,
        # httptools and websockets-sansio with bounds on pipelined requests, unread pongs and
        # requests that arrive too slowly
        **protocol_classes(settings.slow_request_s),
    )
    # With a token the plain address opens the join page or a sign-in refusal: point at the link.
    opening = f"ready at {here}; open the token link above" if settings.token else f"open {here}"
    print(
        f"glassnet serve: {opening} (runs in {settings.data_dir})"
        + (f"; from other machines: {elsewhere}" if others else ""),
        flush=True,
    )
    _more_descriptors()
    server = Server(config)
    server.run(sockets=[sock])
    return 0 if server.started else 1


def _more_descriptors(most: int = 65536) -> None:
    """Raise this process's soft limit on open files to its hard limit (at most ``most``): every
    connection, viewer and run pipe holds one, and a common soft limit, 1,024, is a class with a
    few tabs each. Slow clients are closed after ``GLASSNET_SLOW_REQUEST_S`` either way."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on Windows
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = most if hard == resource.RLIM_INFINITY else min(hard, most)
    if soft != resource.RLIM_INFINITY and soft < want:
        with contextlib.suppress(ValueError, OSError):  # a container that forbids it: keep the soft one
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def _listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to (host, port), as uvicorn would bind it; a ValueError naming the
    address and the reason when it cannot be (the port in use, an address not on this machine,
    a name that does not resolve)."""
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    family = socket.AF_INET6 if ":" in host else socket.AF_INET  # as uvicorn chooses it
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if isinstance(exc, socket.gaierror):
            raise ValueError(f"--host {host}: not an address of this machine ({exc.strerror})") from None
        hint = f" (another program has it; try --port {port + 1})" if exc.errno == errno.EADDRINUSE else ""
        raise ValueError(f"cannot listen on {where}: {exc.strerror or exc}{hint}") from None
    return sock


# -- the parser -----------------------------------------------------------------------------------


def _dataset_option(parser: argparse.ArgumentParser, env: bool = False) -> None:
    also = lambda name: f", or ${name})" if env else ")"  # noqa: E731
    parser.add_argument(
        "--dataset",
        metavar="DIR",
        help="folder of MNIST-style IDX files, e.g. Fashion-MNIST (default: $GLASSNET_DATASET, else the "
        "bundled MNIST)",
    )
    parser.add_argument(
        "--transpose",
        action="store_true",
        default=None if env else False,
        help="the images are stored transposed, as in EMNIST (default: off" + also("GLASSNET_TRANSPOSE"),
    )
    parser.add_argument(
        "--classes",
        metavar="NAMES",
        help=f"class names: {', '.join(KNOWN_CLASSES)}, a file with one per line, or a comma list (default: "
        "the dataset's classes.txt, else the label values" + also("GLASSNET_CLASSES"),
    )


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="glassnet", description=DESCRIPTION, epilog=EPILOG, formatter_class=TopHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"glassnet {__version__}")
    # Not required here: main() says which is missing or unknown (argparse would name COMMAND
    # for `glassnet --bogus`, and the top-level parser for `glassnet serve extra`).
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, summary: str, description: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=summary, description=description, formatter_class=HelpFormatter)

    serve = command(
        "serve",
        "run the dashboard and the training service",
        "Serve the dashboard and the API (training, predictions, live streams) on one port.",
    )
    serve.add_argument("--host", help="address to bind (default: 127.0.0.1, or $GLASSNET_HOST)")
    serve.add_argument("--port", type=int, help="port (default: 8000, or $GLASSNET_PORT)")
    serve.add_argument(
        "--data-dir",
        metavar="DIR",
        help="where runs live: their database and checkpoints (default: runs/, or $GLASSNET_DATA_DIR)",
    )
    _dataset_option(serve, env=True)
    serve.add_argument(
        "--validation",
        type=int,
        metavar="N",
        help="training images held out for validation (default: 5000 or a tenth of a smaller set, or "
        "$GLASSNET_VALIDATION)",
    )
    serve.add_argument(
        "--tensorboard",
        metavar="DIR",
        help="also write every run as TensorBoard event files in DIR/<run id> (needs "
        "glassnet[tensorboard]; default: off, or $GLASSNET_TENSORBOARD_DIR)",
    )
    serve.add_argument(
        "--open-view",
        action="store_true",
        help="with a token (bound beyond loopback): anyone may view, only token holders act "
        "(default: off, $GLASSNET_OPEN_VIEW)",
    )
    serve.add_argument(
        "--executor",
        choices=("local", "ray"),
        help="where runs train: local processes, or Ray actors on a cluster (needs glassnet[ray]) "
        "(default: local, or $GLASSNET_EXECUTOR)",
    )
    serve.add_argument(
        "--ray-address",
        metavar="HOST:PORT",
        help="the Ray cluster's head, for --executor ray (default: $GLASSNET_RAY_ADDRESS or $RAY_ADDRESS)",
    )
    serve.add_argument(
        "--max-active-runs",
        type=int,
        metavar="N",
        help="runs that train at once (default: one per core, or the Ray cluster's CPUs; "
        "$GLASSNET_MAX_ACTIVE_RUNS)",
    )
    serve.add_argument(
        "--join-code",
        metavar="CODE",
        help="students join the class with this code and get a token of their own (turns token mode on; "
        "default: none, or $GLASSNET_JOIN_CODE)",
    )
    serve.add_argument(
        "--auto-resume",
        action=argparse.BooleanOptionalAction,
        help="after a restart, runs that were training continue by themselves and queued ones keep "
        "their place; --no-auto-resume interrupts them all, each resumable by hand (default: on, or "
        "$GLASSNET_AUTO_RESUME)",
    )
    serve.add_argument(
        "--log-level",
        default="info",
        choices=LEVELS,
        help="least severe level logged (default: info; no variable)",
    )
    serve.add_argument(
        "--log-json",
        action="store_true",
        help="log one JSON object per line instead of text (default: text; no variable)",
    )
    serve.set_defaults(func=cmd_serve)

    train = command(
        "train",
        "train a network headless and write a checkpoint",
        "Train a preset or a spec file on MNIST (or --dataset) and write a checkpoint. Progress goes "
        "to stderr; Ctrl-C writes a checkpoint that --resume continues.",
    )
    src = train.add_mutually_exclusive_group()
    src.add_argument("--preset", choices=PRESETS, default="cnn", help="a bundled network (default: cnn)")
    src.add_argument(
        "--spec", metavar="FILE", help="a JSON spec file, same format as a preset (default: none)"
    )
    src.add_argument(
        "--resume",
        metavar="CHECKPOINT",
        help="continue a run interrupted with Ctrl-C (default: start afresh)",
    )
    preset_default = "(default: the preset's)"
    train.add_argument("--optimizer", choices=("sgd", "momentum", "adam"), help=f"optimizer {preset_default}")
    train.add_argument("--lr", type=float, help=f"learning rate {preset_default}")
    train.add_argument("--momentum", type=float, help=f"SGD with momentum only {preset_default}")
    train.add_argument("--beta1", type=float, help=f"Adam only {preset_default}, else 0.9")
    train.add_argument("--beta2", type=float, help=f"Adam only {preset_default}, else 0.999")
    train.add_argument("--weight-decay", type=float, help=f"L2 weight decay {preset_default}")
    train.add_argument(
        "--schedule", choices=("constant", "step", "cosine"), help=f"learning-rate schedule {preset_default}"
    )
    train.add_argument("--batch-size", type=int, help=f"samples per mini-batch {preset_default}")
    train.add_argument("--epochs", type=int, help=f"passes over the training set {preset_default}")
    train.add_argument("--seed", type=int, help=f"seed of weights, batch order and dropout {preset_default}")
    train.add_argument("--loss", choices=("cross_entropy", "mse"), help=f"cost function {preset_default}")
    train.add_argument(
        "--augment",
        action=argparse.BooleanOptionalAction,
        help="vary each batch's digits on the fly: rotation, scale, shear, shift, elastic warps, "
        f"stroke width (seeded; data/augment.py) {preset_default}",
    )
    train.add_argument(
        "--device",
        choices=DEVICES,
        default=os.environ.get("GLASSNET_DEVICE") or None,
        help="cpu or cuda: a GPU through CuPy, the gpu extra (default: cpu, $GLASSNET_DEVICE)",
    )
    train.add_argument(
        "--validation",
        type=int,
        metavar="N",
        help="last N training images held out for validation (default: 5000, or a tenth of a smaller set)",
    )
    _dataset_option(train)
    train.add_argument(
        "--out",
        metavar="FILE",
        help="checkpoint to write (default: <data dir>/models/<name>-<UTC time>.npz, data dir = "
        "$GLASSNET_DATA_DIR or runs/; the bundled models are only overwritten when named here)",
    )
    train.add_argument(
        "--json", action="store_true", help="print per-epoch metrics as JSON lines on stdout (default: off)"
    )
    train.add_argument(
        "--metrics", metavar="FILE", help="append per-epoch metrics as JSON lines to FILE (default: none)"
    )
    train.add_argument(
        "--tensorboard",
        metavar="DIR",
        help="write TensorBoard event files to DIR (needs glassnet[tensorboard]; default: off)",
    )
    train.set_defaults(func=cmd_train)

    ev = command(
        "evaluate",
        "test accuracy, per-class accuracy, confusion matrix",
        "Evaluate a checkpoint on the test set.",
    )
    ev.add_argument("model", help="a checkpoint file, or a bundled model: cnn, mlp, notes")
    _dataset_option(ev)
    ev.add_argument("--json", action="store_true", help="print one JSON object (default: a table)")
    ev.set_defaults(func=cmd_evaluate)

    pr = command(
        "predict",
        "read digits from image files",
        "Read digits from image files (PNG, JPEG, GIF, BMP, WebP), prepared the way MNIST was made; "
        "answers by class name (the names a checkpoint trained with --classes records). An image that "
        "cannot be read gets an error line and exit code 2; the others are still answered.",
    )
    pr.add_argument("model", help="a checkpoint file, or a bundled model: cnn, mlp, notes")
    pr.add_argument("images", nargs="+", help="image files (any size, light or dark background)")
    pr.add_argument(
        "--json",
        action="store_true",
        help="print one JSON array, per image: digit (the class index), label, probabilities, or error "
        "(default: one line per image)",
    )
    pr.set_defaults(func=cmd_predict)

    ex = command(
        "export",
        "export a model for other tools (ONNX)",
        "Export a checkpoint as an ONNX model (needs glassnet[onnx]): input 'pixels' (N, 1, 28, 28) float32 "
        "in [0, 1], output 'probabilities' (N, classes).",
    )
    ex.add_argument("model", help="a checkpoint file, or a bundled model: cnn, mlp, notes")
    ex.add_argument("--onnx", metavar="FILE", required=True, help="the .onnx file to write (required)")
    ex.set_defaults(func=cmd_export)
    return parser


def _parse(argv: list[str] | None) -> argparse.Namespace:
    """The arguments, or one line naming what is wrong and the command it is wrong for (exit 2)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        # An argument before the command's name is the top level's; after it, the command's.
        command = args.command if args.command and argv.index(args.command) < argv.index(unknown[0]) else None
        prog = f"glassnet {command}" if command else "glassnet"
        parser.exit(2, f"{prog}: error: unrecognized arguments: {' '.join(unknown)} (see {prog} --help)\n")
    if args.command is None:
        parser.error("the following arguments are required: COMMAND")
    return args


def _lenient_output() -> None:
    """A character the terminal's encoding lacks (a data dir named 数据 under
    PYTHONIOENCODING=ascii) is written as a backslash escape instead of stopping the command."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, ValueError):  # closed, or not a text stream
            stream.reconfigure(errors="backslashreplace")  # type: ignore[union-attr]


def main(argv: list[str] | None = None) -> int:
    _lenient_output()
    args = _parse(argv)
    try:
        return args.func(args)
    except BrokenPipeError:  # the reader of our output went away (evaluate | head -1): stop quietly
        quiet_broken_pipe(sys.stdout)
        return 128 + signal.SIGPIPE
    except (ValueError, OSError) as exc:  # every user-caused problem in glassnet is a ValueError
        if isinstance(exc, ValueError):
            text = " ".join(str(exc).split())
        else:
            text = exc.strerror or str(exc)
            text = f"{exc.filename}: {text}" if exc.filename else text
        print(f"glassnet {args.command}: error: {text}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"glassnet {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
