"""Checkpoints: exact round trip, atomic writes, and refusing anything that is not a checkpoint."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest

from glassnet.nn import (
    CheckpointError,
    Sequential,
    load_checkpoint,
    read_checkpoint,
    save_checkpoint,
)
from glassnet.nn.checkpoint import checkpoint_bytes
from glassnet.presets import load_preset


@pytest.fixture
def model() -> Sequential:
    return Sequential.from_spec(load_preset("cnn"), np.random.default_rng(3))


def test_round_trip_is_exact(tmp_path: Path, model: Sequential) -> None:
    path = save_checkpoint(
        tmp_path / "m.npz",
        model,
        {"preset": "cnn", "test_accuracy": 0.5},
        load_preset("cnn"),
        {"0.W.m": np.ones((16, 1, 5, 5), np.float32), "steps": np.array(4)},
    )
    ckpt = load_checkpoint(path)
    for name, p in model.state_dict().items():
        assert np.array_equal(ckpt.model.state_dict()[name], p), name
    assert ckpt.meta == {"preset": "cnn", "test_accuracy": 0.5}
    assert ckpt.spec["train"]["optimizer"] == "adam"  # the full preset is kept
    assert ckpt.optimizer_state["steps"] == 4
    x = np.random.default_rng(0).random((2, 1, 28, 28), dtype=np.float32)
    assert np.array_equal(ckpt.model.forward(x), model.forward(x))
    # Nothing but the final file is left in the folder.
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]


def test_meta_takes_numpy_numbers_and_names_what_is_not_json(tmp_path: Path, model: Sequential) -> None:
    """meta={"acc": np.float32(0.98)} raised TypeError 'Object of type float32 is not JSON
    serializable', and a NaN 'Out of range float values…' without saying where (QA5-LIB)."""
    path = tmp_path / "m.npz"
    save_checkpoint(path, model, meta={"acc": np.float32(0.5), "confusion": np.eye(2, dtype=np.int64)})
    assert load_checkpoint(path).meta == {"acc": 0.5, "confusion": [[1, 0], [0, 1]]}
    for meta, key in (({"seed": 0, "loss": float("nan")}, "loss"), ({"seed": 0, "when": object()}, "when")):
        with pytest.raises(ValueError, match=rf"checkpoint meta\['{key}'\]: .*no NaN or infinity"):
            save_checkpoint(path, model, meta=meta)
    assert load_checkpoint(path).meta["acc"] == 0.5  # a refused save leaves the file as it was


def test_overwrite_is_atomic_when_writing_fails(tmp_path: Path, model: Sequential, monkeypatch) -> None:
    path = save_checkpoint(tmp_path / "m.npz", model, {"v": 1})
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("os.fsync", boom)
    with pytest.raises(OSError):
        save_checkpoint(path, model, {"v": 2})
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]


def _archive(**arrays: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def test_corrupt_and_hostile_files_are_refused(tmp_path: Path, model: Sequential) -> None:
    good = checkpoint_bytes(model, {"a": 1})
    cases = {
        "truncated": good[: len(good) // 2],
        "garbage": b"this is not a checkpoint",
        "empty": b"",
        "single array": _npy_bytes(),
        "object array": _archive(**{"__spec__": np.array([{"x": 1}], dtype=object)}),
        "no spec": _archive(**{"0.W": np.zeros(3)}),
    }
    for label, data in cases.items():
        with pytest.raises(CheckpointError):
            read_checkpoint(data, name=label)
    with pytest.raises(CheckpointError, match="no such file"):
        load_checkpoint(tmp_path / "missing.npz")


def _npy_bytes() -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.zeros(3))
    return buf.getvalue()


def _rewrite(data: bytes, replace: dict[str, np.ndarray], drop: tuple[str, ...] = ()) -> bytes:
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files if k not in drop}
    arrays.update(replace)
    return _archive(**arrays)


def test_shape_mismatch_missing_and_nan_weights_are_refused(model: Sequential) -> None:
    good = checkpoint_bytes(model)
    with pytest.raises(CheckpointError, match=r"0\.W: expected shape \(16, 1, 5, 5\), got \(3, 3\)"):
        read_checkpoint(_rewrite(good, {"0.W": np.zeros((3, 3), np.float32)}))
    with pytest.raises(CheckpointError, match="missing"):
        read_checkpoint(_rewrite(good, {}, drop=("3.b",)))
    nan = model.state_dict()["0.b"].copy()
    nan[0] = np.nan
    with pytest.raises(CheckpointError, match="finite"):
        read_checkpoint(_rewrite(good, {"0.b": nan}))
    bad_spec = np.frombuffer(b'{"layers": [{"type": "nope"}]}', np.uint8)
    with pytest.raises(CheckpointError, match="unknown layer type"):
        read_checkpoint(_rewrite(good, {"__spec__": bad_spec}))


def test_pickled_payload_is_never_executed(tmp_path: Path) -> None:
    """An .npz carrying a pickle must be refused without running it."""
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (marker.write_text, ("ran",))

    buf = io.BytesIO()
    np.savez(buf, __spec__=np.array([Evil()], dtype=object), __meta__=np.array([1], dtype=object))
    with pytest.raises(CheckpointError):
        read_checkpoint(buf.getvalue())
    assert not marker.exists()
    # A zip with a non-array member is refused too.
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w") as z:
        z.writestr("__spec__.npy", b"\x80\x04not an npy")
    with pytest.raises(CheckpointError):
        read_checkpoint(zbuf.getvalue())


def test_a_header_with_code_is_refused_without_the_parsers_insides(model: Sequential) -> None:
    """QA #12: a .npy header holding a call is refused (nothing runs), and the message is the
    fact, not ``<ast.Call object at 0x...>``."""
    good = io.BytesIO(checkpoint_bytes(model))
    bad = io.BytesIO()
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad, "w") as out:
        for name in src.namelist():
            data = src.read(name)
            if name == "0.W.npy":
                header = b"{'descr': '<f4', 'fortran_order': False, 'shape': (__import__('os').getpid(),), }"
                data = b"\x93NUMPY\x01\x00" + len(header.ljust(117) + b"\n").to_bytes(2, "little")
                data += header.ljust(117) + b"\n"
            out.writestr(name, data)
    with pytest.raises(CheckpointError) as exc:
        read_checkpoint(bad.getvalue(), name="m.npz")
    assert str(exc.value) == "m.npz: entry 0.W: unreadable array header", str(exc.value)
