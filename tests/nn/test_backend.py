"""The array backend: device selection, the fallback message, and code paths that take their
array module from one place (so the same code runs on CuPy; the GPU itself is checked by
bench/gpu_check.py on a machine that has one)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import numpy as np
import pytest

import glassnet.nn
from glassnet.extras import install_hint
from glassnet.nn import Sequential, backend
from glassnet.nn.backend import DeviceUnavailableError, check_device, device_problem
from glassnet.presets import load_preset
from glassnet.training.step import TrainStep

NN = Path(glassnet.nn.__file__).parent
# Host-side by design: the notes' loop reference, float64 gradient checks, file I/O, seeded init.
# explain.py / explain_maps.py: one example, on a float64 host copy of the network (the Learn view).
HOST_MODULES = {
    "backend.py",
    "reference.py",
    "gradcheck.py",
    "checkpoint.py",
    "init.py",
    "explain.py",
    "explain_maps.py",
}
# What nn code may still name on NumPy directly: types, dtypes, and host-side set-up.
NUMPY_NAMES = {"ndarray", "dtype", "float32", "float64", "int8", "int32", "int64", "floating", "issubdtype"}
HOST_FUNCTIONS = {"__init__", "init_params", "state_dict", "load_state_dict", "check_hyperparameters"}


def test_cpu_is_numpy_and_unknown_devices_are_refused() -> None:
    assert device_problem("cpu") is None and check_device("cpu") == "cpu"
    assert backend.module_for("cpu") is np
    with pytest.raises(DeviceUnavailableError, match="unknown device 'tpu'; choose one of cpu, cuda"):
        check_device("tpu")
    assert issubclass(DeviceUnavailableError, ValueError)  # the CLI and the API report ValueErrors


def test_cuda_says_what_is_missing() -> None:
    problem = device_problem("cuda")
    if backend._cupy() is None:  # this machine: no CuPy installed
        assert problem is not None
        assert "CuPy is not installed" in problem and install_hint("gpu") in problem  # this install's command
        with pytest.raises(DeviceUnavailableError, match="device 'cuda' is not available: CuPy is not"):
            check_device("cuda")
    else:  # CuPy present: either it sees a GPU, or it says it finds none
        assert problem is None or "finds no" in problem


def test_a_model_that_cannot_move_stays_on_the_cpu_and_trains() -> None:
    model = Sequential.from_spec(load_preset("mlp"))
    if device_problem("cuda") is None:
        pytest.skip("this machine has a GPU: bench/gpu_check.py covers it")
    with pytest.raises(DeviceUnavailableError):
        model.to("cuda")
    assert model.device == "cpu" and model.pack().is_current()
    x = np.random.default_rng(0).random((16, 1, 28, 28), dtype=np.float32)
    result = TrainStep(model)(x, np.arange(16) % 10)
    assert np.isfinite(result.loss)


def test_numpy_arrays_stay_numpy_without_importing_cupy() -> None:
    loaded = "cupy" in sys.modules
    a = np.zeros(3, np.float32)
    assert backend.array_module(a) is np and backend.array_module(a, [1]) is np
    assert backend.to_host(a) is a and backend.to_device(a, "cpu") is a
    assert backend.device_of(a) == "cpu" and backend.is_array(a) and not backend.is_array([1.0])
    assert ("cupy" in sys.modules) == loaded  # asking about NumPy arrays never imports CuPy


def test_model_to_cpu_keeps_the_weights() -> None:
    model = Sequential.from_spec(load_preset("cnn"), np.random.default_rng(0))
    before = model.pack().data.copy()
    assert model.to("cpu") is model and model.device == "cpu"
    np.testing.assert_array_equal(model.pack().data, before)


def _numpy_calls(path: Path) -> list[str]:
    """``np.<name>`` uses outside host-side set-up functions that are not types or dtypes."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[str] = []

    def visit(node: ast.AST, function: str | None) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            function = node.name
            # annotations name types only
            for child in [*node.body, *node.decorator_list]:
                visit(child, function)
            return
        if isinstance(node, ast.AnnAssign):
            if node.value is not None:
                visit(node.value, function)
            return
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "np"
            and node.attr not in NUMPY_NAMES
            and function not in HOST_FUNCTIONS
            and function is not None
        ):
            found.append(f"{path.name}:{node.lineno} np.{node.attr} in {function}()")
        for child in ast.iter_child_nodes(node):
            visit(child, function)

    visit(tree, None)
    return found


def test_nn_code_takes_its_array_module_from_the_backend() -> None:
    """Computation in nn goes through ``array_module(x)`` / the pack's module, never ``np.``
    directly, so the same code runs on CuPy arrays. (A new ``np.maximum(...)`` in a layer's
    forward fails here.)"""
    offenders = []
    for path in sorted([*NN.glob("*.py"), *NN.glob("layers/*.py")]):
        if path.name not in HOST_MODULES:
            offenders += _numpy_calls(path)
    assert offenders == [], "\n".join(offenders)
