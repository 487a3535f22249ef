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
from pathlib import Path

import pytest

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
        (["train"], {"GLASSNET_DATA_DIR": "/proc/nope"}, "--out /proc/nope/models/cnn-"),
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


def test_ctrl_c_checkpoints_and_resume_finishes(small_mnist: Path, tmp_path: Path) -> None:
    out = tmp_path / "run.npz"
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
    proc.send_signal(signal.SIGINT)
    stdout, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, stdout
    assert f"continue with: glassnet train --resume {out}" in stdout
    ckpt = load_checkpoint(out)
    stopped = ckpt.meta["trainer"]["epoch"]
    assert ckpt.meta["interrupted"] and 1 <= stopped < 400 and ckpt.optimizer_state

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
        assert shown.endswith("s left"), repr(shown)  # never "0s leftt"
    assert "\n" not in stream.getvalue()  # one line, redrawn in place
