"""Caps are checked from shapes before anything is allocated; checkpoints are checked member by
member (header, declared size) before their data is read; weights must be finite in float32."""

from __future__ import annotations

import io
import struct
import tracemalloc
import zipfile

import numpy as np
import pytest

from glassnet.nn import Sequential
from glassnet.nn.checkpoint import CheckpointError, checkpoint_bytes, read_checkpoint, read_checkpoint_info
from glassnet.nn.model import MAX_ACTIVATION_BYTES, MAX_PARAMS
from specs import HUGE_DENSE, SMALL, WIDE_CONV


def peak_bytes(fn) -> tuple[int, object]:
    tracemalloc.start()
    try:
        try:
            result = fn()
        except Exception as exc:
            result = exc
        return tracemalloc.get_traced_memory()[1], result
    finally:
        tracemalloc.stop()


def test_a_huge_layer_is_refused_before_any_weight_exists() -> None:
    peak, error = peak_bytes(lambda: Sequential.from_spec(HUGE_DENSE))
    assert isinstance(error, ValueError)
    assert str(error).startswith("layer 1 (dense): ")
    assert f"{MAX_PARAMS:,}" in str(error) and "784·10000000 + 10000000" in str(error)
    assert peak < 2 * 2**20  # 7.8e9 weights would be 31 GiB


def test_shape_only_model_counts_like_the_allocated_one() -> None:
    spec = {
        "input_shape": [1, 28, 28],
        "layers": [
            {"type": "conv2d", "filters": 8, "kernel": 5},
            {"type": "relu"},
            {"type": "maxpool2d", "size": 2},
            {"type": "flatten"},
            {"type": "dense", "units": 10},
        ],
    }
    light = Sequential.from_spec(spec, allocate=False)
    full = Sequential.from_spec(spec)
    assert light.param_count() == full.param_count() == 8 * 25 + 8 + 8 * 12 * 12 * 10 + 10
    assert [i.as_dict() for i in light.summary()] == [i.as_dict() for i in full.summary()]
    assert light.param_shapes() == {k: v.shape for k, v in full.state_dict().items()}
    assert all(not layer.params for layer in light.layers)


def test_activation_memory_of_a_batch_is_capped_naming_the_layer() -> None:
    model = Sequential.from_spec(WIDE_CONV, allocate=False)
    # Per sample: input 784, conv output 32·28·28 and its patches 25·28·28, ReLU, flatten, 10.
    per_sample = 784 + 25088 + 25 * 784 + 25088 + 25088 + 10
    assert sum(model.layer_numbers()) == per_sample
    assert model.batch_bytes(4096) == 4096 * per_sample * 4
    with pytest.raises(ValueError, match=r"^layer 0 \(conv2d\): a batch of 4,096 needs") as exc:
        model.check_batch_memory(4096)
    fits = model.max_batch()
    assert f"at most {fits:,}" in str(exc.value)
    model.check_batch_memory(fits)  # the largest batch it names does fit
    assert fits * per_sample * 4 <= MAX_ACTIVATION_BYTES < (fits + 1) * per_sample * 4


def test_a_network_whose_single_sample_is_over_the_cap_does_not_build() -> None:
    spec = {
        "input_shape": [1, 4096, 4096],
        "layers": [{"type": "conv2d", "filters": 16, "kernel": 3, "padding": "same"}, {"type": "flatten"}],
    }
    peak, error = peak_bytes(lambda: Sequential.from_spec(spec))
    assert isinstance(error, ValueError) and str(error).startswith("layer 0 (conv2d): a batch of 1 needs")
    assert "even one sample does not fit" in str(error)
    assert peak < 2 * 2**20


def test_weights_infinite_in_float32_are_refused_and_nothing_changes() -> None:
    model = Sequential.from_spec(SMALL)
    before = {k: v.copy() for k, v in model.state_dict().items()}
    state = {k: v.astype(np.float64) for k, v in before.items()}
    state["1.W"][3, 4] = 1e300  # finite in float64, inf once cast to float32
    with pytest.raises(ValueError, match=r"parameter 1\.W: expected finite .* float32"):
        model.load_state_dict(state)
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[key])
    data = checkpoint_bytes(model)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    buf = io.BytesIO()
    np.save(buf, state["1.W"])
    members["1.W.npy"] = buf.getvalue()
    with pytest.raises(CheckpointError, match=r"1\.W: expected finite"):
        read_checkpoint(_zip(members))


def _zip(members: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return out.getvalue()


def _members() -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(checkpoint_bytes(Sequential.from_spec(SMALL)))) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def test_a_zip_bomb_is_refused_from_its_directory_without_inflating() -> None:
    members = _members()
    # 1 GiB of zeros in one member: ~1 MiB compressed; its declared size gives it away.
    big = np.lib.format.header_data_from_array_1_0(np.zeros((2**28,), np.float32))
    head = io.BytesIO()
    np.lib.format.write_array_header_1_0(head, big)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        with zf.open("optim.1.W.m.npy", "w", force_zip64=True) as f:
            f.write(head.getvalue())
            chunk = bytes(2**24)
            for _ in range(64):
                f.write(chunk)
    data = out.getvalue()
    assert len(data) < 2 * 2**20
    peak, error = peak_bytes(lambda: read_checkpoint(data))
    assert isinstance(error, CheckpointError) and "declare" in str(error) and "uncompressed" in str(error)
    assert peak < 3 * len(data) + 2**20


def test_an_npy_header_claiming_two_to_the_forty_floats_is_refused_before_reading() -> None:
    members = _members()
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776,), }"
    header = header + " " * (63 - (len(header) + 10) % 64) + "\n"
    members["1.b.npy"] = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + bytes(40)
    peak, error = peak_bytes(lambda: read_checkpoint(_zip(members)))
    assert isinstance(error, CheckpointError)
    assert "1.b" in str(error)
    assert peak < 2**20


def test_member_headers_are_checked_against_the_spec() -> None:
    members = _members()
    buf = io.BytesIO()
    np.save(buf, np.zeros((5, 10), np.float32))
    members["1.W.npy"] = buf.getvalue()
    with pytest.raises(CheckpointError, match=r"parameter 1\.W: expected shape \(784, 10\), got \(5, 10\)"):
        read_checkpoint(_zip(members))
    members = _members()
    buf = io.BytesIO()
    np.save(buf, np.zeros((3,), np.float32))
    members["optim.1.W.m.npy"] = buf.getvalue()
    with pytest.raises(CheckpointError, match=r"optimizer entry '1\.W\.m' does not match"):
        read_checkpoint(_zip(members))
    members = _members()
    members["extra.txt"] = b"hello"
    with pytest.raises(CheckpointError, match="unexpected entry"):
        read_checkpoint(_zip(members))


def test_a_huge_spec_inside_a_checkpoint_is_refused_before_its_arrays() -> None:
    members = _members()
    members["__spec__.npy"] = _json_npy(HUGE_DENSE)
    peak, error = peak_bytes(lambda: read_checkpoint(_zip(members)))
    assert isinstance(error, CheckpointError) and "layer 1 (dense)" in str(error)
    assert peak < 2 * 2**20
    spec, _, light = read_checkpoint_info(_zip(_members()))
    assert light.param_count() == 7850 and spec["layers"][1]["units"] == 10


def _json_npy(value: dict) -> bytes:
    import json

    buf = io.BytesIO()
    np.save(buf, np.frombuffer(json.dumps(value).encode(), dtype=np.uint8))
    return buf.getvalue()
