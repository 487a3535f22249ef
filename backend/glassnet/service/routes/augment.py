"""``POST /api/augment``: what augmentation does to a digit — a strip of its varied versions.

The same transforms, with the same settings, as a run that augments (``augment`` in ``POST
/api/runs``): a probe or test digit (or a drawing) and ``count`` versions of it, seeded. Pictures
only (uint8, 0 background, 255 ink), so a learner sees what the network will be shown.
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ...data.augment import Augment, augment_batch, batch_rng
from ...data.mnist import IdxFormatError
from ..schemas import AugmentSettings, ErrorBody
from .deps import AppState, Pool
from .explain import Source

router = APIRouter(prefix="/api/augment", tags=["augment"])


class AugmentPreview(Source):
    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)

    settings: AugmentSettings | None = Field(None, description="Default: what augment: true uses.")
    count: int = Field(8, ge=1, le=32, description="How many varied versions.")
    seed: int = Field(0, ge=0, le=2**32 - 1)

    @model_validator(mode="after")
    def _no_target(self) -> AugmentPreview:
        if self.target is not None:
            raise ValueError("target has no meaning here: augmentation keeps the label")
        return self


class Picture(BaseModel):
    shape: list[int]
    data: str = Field(description="uint8 pixels, row by row, base64")


class AugmentResult(BaseModel):
    source: dict[str, Any]
    original: Picture
    variants: list[Picture]
    settings: dict[str, Any]


def _picture(x: np.ndarray) -> dict[str, Any]:
    img = np.round(np.clip(x, 0, 1) * 255).astype(np.uint8)
    return {"shape": list(img.shape), "data": base64.b64encode(img.tobytes()).decode("ascii")}


@router.post(
    "",
    response_model=AugmentResult,
    responses={404: {"model": ErrorBody}, 422: {"model": ErrorBody}},
    summary="A digit and its augmented versions",
)
async def preview(body: AugmentPreview, state: AppState, pool: Pool) -> Any:
    explainer = getattr(state, "explainer", None)
    if explainer is None:
        raise HTTPException(503, "the digits are not ready")
    cfg = Augment.from_dict(body.settings.model_dump()) if body.settings else Augment()

    def run() -> dict[str, Any]:
        digit = explainer.digits.resolve(body.model_dump())
        batch = np.repeat(digit.x[None], body.count, axis=0)
        varied = augment_batch(batch, cfg, batch_rng(body.seed, 0, 0))
        return {
            "source": digit.source(),
            "original": _picture(digit.x[0]),
            "variants": [_picture(v[0]) for v in varied],
            "settings": cfg.as_dict(),
        }

    try:
        return await pool.run(run)
    except IdxFormatError as exc:
        raise HTTPException(503, f"the dataset cannot be read: {exc}") from None
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
