"""glassnet.nn: a neural-network library written from scratch in NumPy.

Imports only NumPy and the standard library. Start with :mod:`.model` (Sequential, built from a
spec), the layers in :mod:`.layers`, the costs in :mod:`.losses`, gradient descent in :mod:`.optim`,
and the notes' loop-by-loop convolution in :mod:`.reference`.
"""

from .checkpoint import (
    Checkpoint,
    CheckpointError,
    load_checkpoint,
    read_checkpoint,
    save_checkpoint,
)
from .layers import LAYER_TYPES, Layer, layer_from_spec
from .losses import LOSSES, compute_loss, probabilities
from .model import LayerInfo, Sequential
from .optim import OPTIMIZERS, Optimizer, make_optimizer
from .schedules import SCHEDULES, Schedule

__all__ = [
    "LAYER_TYPES",
    "LOSSES",
    "OPTIMIZERS",
    "SCHEDULES",
    "Checkpoint",
    "CheckpointError",
    "Layer",
    "LayerInfo",
    "Optimizer",
    "Schedule",
    "Sequential",
    "compute_loss",
    "layer_from_spec",
    "load_checkpoint",
    "make_optimizer",
    "probabilities",
    "read_checkpoint",
    "save_checkpoint",
]
