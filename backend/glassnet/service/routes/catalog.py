"""What the page used to keep its own copies of: the presets, the layer types with their options,
the optimizers, losses and limits (``GET /api/presets``, ``GET /api/layers``), and the probe
digits (``GET /api/probes``). The editor and the Learn view read these; nothing is duplicated in
``frontend/js``."""

from __future__ import annotations

import inspect
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from ...nn.init import INITS
from ...nn.layers import ACTIVATION_TYPES, LAYER_TYPES, NEW_LAYER
from ...nn.losses import LOSSES
from ...nn.model import MAX_LAYERS, MAX_PARAMS
from ...nn.optim import DEFAULTS, HYPERPARAMETERS, OPTIMIZERS
from ...nn.schedules import SCHEDULES
from ...presets import PRESETS, load_preset
from ...training.config import MAX_BATCH, MAX_EPOCHS
from ..learned import probe_set
from .deps import ExplainerDep, Pool

router = APIRouter(prefix="/api", tags=["catalog"])


class LayerType(BaseModel):
    type: str
    activation: bool = Field(description="an activation function (no parameters, one output per input)")
    options: dict[str, Any] = Field(description="option -> the constructor's default (null: required)")
    new: dict[str, Any] = Field(description="what a newly added layer of this type starts with")


class Catalog(BaseModel):
    layers: list[LayerType]
    losses: list[str]
    optimizers: list[str]
    hyperparameters: dict[str, list[str]] = Field(description="optimizer -> the settings it has")
    defaults: dict[str, float] = Field(description="optimizer settings' defaults")
    schedules: list[str]
    inits: list[str]
    max_layers: int
    max_params: int
    max_batch: int
    max_epochs: int


class Probe(BaseModel):
    probe: int
    label: int
    test_index: int


def _options(cls: type) -> dict[str, Any]:
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    return {
        p.name: (None if p.default is inspect.Parameter.empty else p.default)
        for p in params
        if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD and p.name not in ("rng", "name")
    }


def all_presets() -> dict[str, dict[str, Any]]:
    """Each preset as its JSON file holds it: ``input_shape``, ``layers``, ``loss``, ``train``."""
    return {name: load_preset(name) for name in PRESETS}


def layer_catalog() -> Catalog:
    """The layer types with their options, the costs, optimizers, schedules and limits."""
    return Catalog(
        layers=[
            LayerType(
                type=kind,
                activation=kind in ACTIVATION_TYPES,
                options=_options(cls),
                new={"type": kind, **NEW_LAYER.get(kind, {})},
            )
            for kind, cls in LAYER_TYPES.items()
        ],
        losses=list(LOSSES),
        optimizers=list(OPTIMIZERS),
        hyperparameters={k: list(v) for k, v in HYPERPARAMETERS.items()},
        defaults=dict(DEFAULTS),
        schedules=list(SCHEDULES),
        inits=list(INITS),
        max_layers=MAX_LAYERS,
        max_params=MAX_PARAMS,
        max_batch=MAX_BATCH,
        max_epochs=MAX_EPOCHS,
    )


@router.get("/presets", summary="The bundled presets (spec and training settings)")
async def presets() -> dict[str, dict[str, Any]]:
    """Each preset as its JSON file holds it: ``input_shape``, ``layers``, ``loss``, ``train``."""
    return all_presets()


@router.get("/layers", response_model=Catalog, summary="Layer types, costs, optimizers and limits")
async def layers() -> Catalog:
    return layer_catalog()


@router.get("/probes", response_model=list[Probe], summary="The probe digits, one of each")
async def probes(explainer: ExplainerDep, pool: Pool) -> list[Probe]:
    """The test digits every run is watched through (``activations`` frames, the Learn view's
    "a probe digit"), in order: probe k is the first test image of digit k."""
    _, labels, indices = await pool.run(probe_set, explainer.digits)
    return [Probe(probe=k, label=int(labels[k]), test_index=indices[k]) for k in range(len(indices))]
