"""The command line follows the conventions: --version, help with defaults, one-line errors with exit
code 2 (checked before any training), models written outside the bundled ones by default, Ctrl-C
that checkpoints and says how to --resume, progress on stderr that redraws cleanly, and per-epoch
metrics as JSON lines."""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import glassnet
from glassnet import __version__
from glassnet.cli import build_parser, main
from glassnet.nn import load_checkpoint
from glassnet.progress import Progress
from glassnet.resources import resource_dir
from glassnet.training.trainer import BatchMetrics

SMALL = ["--preset", "mlp", "--validation", "100", "--epochs", "2"]


def _run(
    *argv: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "glassnet", *argv],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        timeout=120,
    )


def test_version() -> None:
    result = _run("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"glassnet {__version__}"


def test_every_option_says_its_default() -> None:
    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert set(sub.choices) == {"serve", "train", "evaluate", "predict", "export"}
    for name, command in sub.choices.items():
        for action in command._actions:
            if isinstance(action, argparse._HelpAction) or not action.option_strings:
                continue
            text = action.help or ""
            assert "default" in text or "required" in text, (
                f"glassnet {name} {action.option_strings}: {text!r}"
            )
    top = parser.format_help()
    assert top.startswith("usage: glassnet") and "examples:" in top
    assert "a neural network you can see through" in top and '"""' not in top


@pytest.mark.parametrize(
    "argv,env,needle",
    [
        (["train", "--bogus"], {}, "unrecognized arguments: --bogus"),
        (["serve"], {"GLASSNET_PORT": "eighty"}, "GLASSNET_PORT='eighty'"),
        (["serve"], {"GLASSNET_VALIDATION": "-3"}, "GLASSNET_VALIDATION='-3'"),
        (["serve", "--data-dir", "/proc/glassnet-runs"], {}, "--data-dir /proc/glassnet-runs: cannot create"),
        (["train", "--out", "/proc/nope/m.npz"], {}, "--out /proc/nope/m.npz: cannot write"),
        (["train"], {"GLASSNET_DATA_DIR": "/proc/nope"}, "(GLASSNET_DATA_DIR): /proc/nope/models/cnn-"),
        (["serve"], {"GLASSNET_HOST": ""}, "GLASSNET_HOST='': Value error, must not be empty"),
        (["serve"], {"GLASSNET_DATA_DIR": " "}, "GLASSNET_DATA_DIR=' ': Value error, must not be empty"),
        (["serve", "--dataset", "/nonexistent"], {}, "--dataset /nonexistent: /nonexistent/train-images"),
        (["serve", "--validation", "60000"], {}, "validation 60000 must be below the 60000 training images"),
        (["serve", "--host", "not.a.host.invalid"], {}, "--host not.a.host.invalid: not an address"),
        (["export", "nope", "--onnx", "x.onnx"], {}, "nope: no such file, and not a bundled model"),
    ],
)
def test_user_errors_are_one_line_and_exit_2(argv: list[str], env: dict[str, str], needle: str) -> None:
    result = _run(*argv, env=env)
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], result.stderr
    # Refused before serving or training: the one line is all it wrote (a server's or a run's
    # progress would add lines), without a wall-clock bound on a shared machine.
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_unwritable_out_is_refused_before_training(small_mnist: Path, tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        result = _run("train", *SMALL, "--dataset", str(small_mnist), "--out", str(locked / "m.npz"))
    finally:
        locked.chmod(0o700)
    if os.geteuid() == 0:  # root writes anywhere: the check must then let the run through
        assert result.returncode == 0
        return
    assert result.returncode == 2 and "epoch" not in result.stderr.replace("--epochs", "")


def test_divergence_is_one_line_and_exit_2(small_mnist: Path, tmp_path: Path) -> None:
    out = tmp_path / "m.npz"
    argv = [*SMALL, "--dataset", str(small_mnist), "--lr", "10", "--optimizer", "sgd", "--loss", "mse"]
    result = _run("train", *argv, "--out", str(out))
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("glassnet train: error: the run diverged: the cost became")
    assert not out.exists()


def test_train_writes_to_the_data_dir_not_the_bundled_models(small_mnist: Path, tmp_path: Path) -> None:
    bundled = {p.name: p.stat().st_mtime_ns for p in resource_dir("models").glob("*.npz")}
    data_dir = tmp_path / "data"
    result = _run("train", *SMALL, "--dataset", str(small_mnist), env={"GLASSNET_DATA_DIR": str(data_dir)})
    assert result.returncode == 0, result.stderr
    (written,) = (data_dir / "models").glob("mlp-*.npz")
    assert load_checkpoint(written).meta["epochs"] == 2
    assert f"checkpoint written to {written}" in result.stdout
    assert {p.name: p.stat().st_mtime_ns for p in resource_dir("models").glob("*.npz")} == bundled


def test_json_and_metrics_file_hold_one_record_per_epoch(small_mnist: Path, tmp_path: Path) -> None:
    metrics = tmp_path / "metrics.jsonl"
    out = tmp_path / "m.npz"
    result = _run(
        "train", *SMALL, "--dataset", str(small_mnist), "--json", "--metrics", str(metrics), "--out", str(out)
    )
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]  # stdout: JSON lines only
    assert [r["event"] for r in records] == ["epoch", "epoch", "done"]
    assert [r["epoch"] for r in records[:2]] == [1, 2]
    for r in records[:2]:
        assert 0 <= r["val_accuracy"] <= 1 and r["train_loss"] > 0 and r["samples_per_s"] > 0 and r["lr"] >= 0
    assert records[2]["test_accuracy"] == pytest.approx(load_checkpoint(out).meta["test_accuracy"])
    assert [json.loads(line) for line in metrics.read_text().splitlines()] == records
    assert "epoch 2 done" in result.stderr  # the human report went to stderr


def _stopped_by(sig: int, exit_code: int, small_mnist: Path, out: Path) -> int:
    """A 400-epoch mlp run sent ``sig`` once its first epoch is done: it must exit with
    ``exit_code`` and leave a resumable checkpoint at ``out``; returns the epochs it completed."""
    argv = ["train", "--preset", "mlp", "--dataset", str(small_mnist), "--validation", "100"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "glassnet", *argv, "--epochs", "400", "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    for line in proc.stderr:  # wait until it trains
        if "epoch 1 done" in line:
            break
    proc.send_signal(sig)
    stdout, _ = proc.communicate(timeout=60)
    assert proc.returncode == exit_code, stdout
    assert f"continue with: glassnet train --resume {out}" in stdout
    ckpt = load_checkpoint(out)
    stopped = ckpt.meta["trainer"]["epoch"]
    assert ckpt.meta["interrupted"] and 1 <= stopped < 400 and ckpt.optimizer_state
    return stopped


def test_ctrl_c_checkpoints_and_resume_finishes(small_mnist: Path, tmp_path: Path) -> None:
    out = tmp_path / "run.npz"
    stopped = _stopped_by(signal.SIGINT, 130, small_mnist, out)

    result = _run("train", "--resume", str(out), "--epochs", str(stopped + 1))
    assert result.returncode == 0, result.stderr
    assert f"resuming at epoch {stopped + 1}" in result.stdout
    done = load_checkpoint(out)
    assert done.meta["epochs"] == stopped + 1 and "trainer" not in done.meta
    assert done.meta["test_accuracy"] > 0.5


def test_resume_refuses_changed_settings(tmp_path: Path, small_mnist: Path) -> None:
    assert main(["train", "--resume", str(resource_dir("models") / "mlp.npz")]) == 2


def _screen(written: str) -> str:
    """What a terminal shows on the last line after ``written``: \\r returns to column 0, \\x1b[K
    erases to the end of the line, other characters overwrite."""
    line: list[str] = []
    col = 0
    i = 0
    while i < len(written):
        if written.startswith("\x1b[K", i):
            del line[col:]
            i += 3
            continue
        ch = written[i]
        if ch == "\r":
            col = 0
        elif ch == "\n":
            line, col = [], 0
        else:
            if col < len(line):
                line[col] = ch
            else:
                line.append(ch)
            col += 1
        i += 1
    return "".join(line)


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_redraws_cleanly_on_a_terminal(monkeypatch) -> None:
    stream = FakeTerminal()
    clock = iter(range(1000))
    monkeypatch.setattr("glassnet.progress.time.perf_counter", lambda: float(next(clock)))
    progress = Progress(steps_per_epoch=100, epochs=1, batch_size=10, stream=stream)
    for step, rate_hint in ((1, 1), (50, 1), (100, 1)):
        progress.batch(
            BatchMetrics(step=step, epoch=0, loss=1.0, accuracy=0.5, lr=0.1, samples_per_s=rate_hint)
        )
        shown = _screen(stream.getvalue())
        # the first batch has no speed yet; then never "0s leftt"
        assert shown.endswith("measuring speed" if step == 1 else "s left"), repr(shown)
    assert "\n" not in stream.getvalue()  # one line, redrawn in place


def test_progress_speed_after_resume_counts_only_this_process(monkeypatch) -> None:
    """Resumed at batch 218 of 860: the speed is the batches trained since then over the time
    since then (the clock ticks 1 s per reading), not 228 batches over 10 s."""
    stream = io.StringIO()
    clock = iter(range(1000))
    monkeypatch.setattr("glassnet.progress.time.perf_counter", lambda: float(next(clock)))
    progress = Progress(steps_per_epoch=860, epochs=1, batch_size=64, stream=stream, quiet_every=0)
    for step in range(218, 229):
        progress.batch(BatchMetrics(step=step, epoch=0, loss=1.0, accuracy=0.5, lr=0.1, samples_per_s=0))
    last = stream.getvalue().splitlines()[-1]
    assert "64 samples/s" in last and f"{(860 - 228) * 64 // 64}s left" in last, last


def test_sigterm_checkpoints_like_ctrl_c(small_mnist: Path, tmp_path: Path) -> None:
    """What timeout, docker stop and batch schedulers send: the run stops after its batch, writes
    its resumable checkpoint and exits 143."""
    _stopped_by(signal.SIGTERM, 143, small_mnist, tmp_path / "run.npz")


def test_closed_stdout_stops_the_output_not_the_training(small_mnist: Path, tmp_path: Path) -> None:
    """train --json | head -1: the reader leaves after the first line; the run still finishes and
    writes its checkpoint, with no broken-pipe error."""
    out = tmp_path / "m.npz"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "glassnet",
            "train",
            *SMALL,
            "--dataset",
            str(small_mnist),
            "--json",
            "--out",
            str(out),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = json.loads(proc.stdout.readline())
    proc.stdout.close()  # what head -1 does after its line
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 0, err
    assert first["event"] == "epoch" and "Broken pipe" not in err and "error" not in err
    assert load_checkpoint(out).meta["epochs"] == 2


def test_closed_stdout_ends_evaluate_quietly() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "glassnet", "evaluate", "notes"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        bufsize=1,
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert "test accuracy" in proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=120) in (0, 128 + signal.SIGPIPE) and err == "", err


def test_serve_on_a_port_in_use_is_one_line_before_anything_starts(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _run("serve", "--port", str(port), env={"GLASSNET_DATA_DIR": str(tmp_path)})
    assert result.returncode == 2, result
    assert result.stderr.strip() == (
        f"glassnet serve: error: cannot listen on 127.0.0.1:{port}: Address already in use "
        f"(another program has it; try --port {port + 1})"
    )
    assert result.stdout == ""  # no "open http://..." pointing at the other program


def test_serve_names_the_data_dir_it_tried_not_an_option_never_given(tmp_path: Path) -> None:
    """QA3 inst #9: without --data-dir, a runs/ that cannot be used was reported as
    '--data-dir runs: ...', an option the user never gave."""
    (tmp_path / "runs").write_text("a file where the data dir would go")
    backend = str(Path(glassnet.__file__).resolve().parents[1])  # run from tmp_path: this checkout
    clean = {k: v for k, v in os.environ.items() if k != "GLASSNET_DATA_DIR"}
    result = subprocess.run(
        [sys.executable, "-m", "glassnet", "serve", "--port", "1"],
        capture_output=True, text=True, env={**clean, "PYTHONPATH": backend}, cwd=tmp_path, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "--data-dir" not in result.stderr.split(";")[0]
    assert result.stderr.startswith(
        f"glassnet serve: error: the data dir (runs/ under the current folder; --data-dir or "
        f"GLASSNET_DATA_DIR for another) {tmp_path / 'runs'}: exists and is not a folder"
    ), result.stderr


def test_a_missing_glassnet_dataset_is_not_told_to_set_glassnet_dataset(tmp_path: Path) -> None:
    """QA3 inst #9: the advice for a wrong GLASSNET_DATASET was 'or set GLASSNET_DATASET'."""
    result = _run(
        "train", "--preset", "mlp", "--epochs", "1", env={"GLASSNET_DATASET": str(tmp_path / "nope")}
    )
    assert result.returncode == 2
    assert "dataset directory not found (from GLASSNET_DATASET: correct it" in result.stderr, result.stderr
    assert "or set GLASSNET_DATASET" not in result.stderr


def test_a_failed_save_keeps_the_network_in_the_temporary_folder(tmp_path: Path) -> None:
    from glassnet.cli import _save
    from glassnet.nn import Sequential
    from glassnet.presets import load_preset

    model = Sequential.from_spec(load_preset("notes"))
    said: list[str] = []
    written = _save(Path("/proc/glassnet-nope/m.npz"), said.append, model, {"epochs": 1}, None)
    try:
        assert written.parent == Path(tempfile.gettempdir()) and written.name.startswith("m-")
        assert written.suffix == ".npz"
        assert load_checkpoint(written).model.param_count() == model.param_count()
        assert said and "cannot write the checkpoint to /proc/glassnet-nope/m.npz" in said[0]
    finally:
        written.unlink()


def test_a_failed_save_never_overwrites_a_file_in_the_temporary_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """QA3 inst #8: the rescue went to <tmp>/<name>, replacing an earlier rescue or anyone's file."""
    from glassnet.cli import _save
    from glassnet.nn import Sequential
    from glassnet.presets import load_preset

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    (tmp_path / "m.npz").write_bytes(b"someone else's file")
    model = Sequential.from_spec(load_preset("notes"))
    first = _save(Path("/proc/glassnet-nope/m.npz"), lambda line: None, model, {"epochs": 1}, None)
    second = _save(Path("/proc/glassnet-nope/m.npz"), lambda line: None, model, {"epochs": 2}, None)
    assert (tmp_path / "m.npz").read_bytes() == b"someone else's file"
    assert first != second and first.parent == second.parent == tmp_path
    assert load_checkpoint(first).meta["epochs"] == 1 and load_checkpoint(second).meta["epochs"] == 2


UNKNOWN = "error: unrecognized arguments:"


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["--bogus"], f"glassnet: {UNKNOWN} --bogus (see glassnet --help)"),
        (["serve", "extra-arg"], f"glassnet serve: {UNKNOWN} extra-arg (see glassnet serve --help)"),
        (["--bogus", "evaluate", "cnn"], f"glassnet: {UNKNOWN} --bogus (see glassnet --help)"),
        ([], "glassnet: error: the following arguments are required: COMMAND (see glassnet --help)"),
    ],
)
def test_a_usage_error_names_the_argument_and_its_command(argv: list[str], line: str, capsys) -> None:
    with pytest.raises(SystemExit) as done:
        main(argv)
    assert done.value.code == 2 and capsys.readouterr().err == line + "\n"


def test_the_help_gives_an_install_that_works() -> None:
    """glassnet is not on PyPI: the help's extras come from the wheel or the checkout."""
    text = build_parser().format_help()
    assert "pip install glassnet[" not in text
    assert "pip install 'dist/glassnet-<version>-py3-none-any.whl[onnx]'" in text
    assert "pip install -e '.[onnx]'" in text
