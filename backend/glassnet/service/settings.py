"""Service settings: ``Settings`` read from ``GLASSNET_*`` environment variables.

Only deployment and streaming knobs live here; hyperparameters and architectures are request
bodies. ``get_settings()`` is the single place the app reads them from, so tests can pass their
own ``Settings`` to ``create_app`` or override the dependency.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# backend/glassnet/service/settings.py -> parents[3] is the repository root.
REPO_ROOT = Path(__file__).resolve().parents[3]


class Settings(BaseSettings):
    """Everything the service can be configured with (env var = ``GLASSNET_`` + upper name)."""

    model_config = SettingsConfigDict(env_prefix="GLASSNET_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    data_dir: Path = Field(Path("runs"), description="runs.sqlite3 and the runs' checkpoints")
    dataset: Path | None = Field(None, description="IDX folder to train on; None = bundled MNIST")
    models_dir: Path = REPO_ROOT / "models"
    frontend_dir: Path = REPO_ROOT / "frontend"
    default_model: str = "cnn"
    validation: int = Field(5000, ge=0, description="training images held out for validation")

    # Runs: how many train at once; more are queued (up to max_queued, then 409).
    max_active_runs: int = Field(1, ge=1, le=8)
    max_queued_runs: int = Field(16, ge=0, le=1000)
    device: Literal["cpu", "cuda"] = Field(
        "cpu",
        description="where runs train unless a run asks otherwise: cuda = a GPU through CuPy "
        "(pip install 'glassnet[gpu]'); when it is not available, runs train on the CPU (logged)",
    )
    worker_blas_threads: int | None = Field(
        None,
        ge=1,
        description="OpenBLAS/OMP threads in a training process; None = BLAS's default (all cores), "
        "which with OPENBLAS_THREAD_TIMEOUT=4 (service/worker.py) trains as fast as headless",
    )

    # Streaming rates, seconds between frames (while training).
    metrics_interval_s: float = Field(0.1, gt=0, le=10, description="batch metrics: 10 frames/s")
    heavy_interval_s: float = Field(0.8, gt=0, le=60, description="activations/kernels/gradients")
    live_checkpoint_s: float = Field(1.0, gt=0, le=600, description="live weights for predictions")
    command_timeout_s: float = Field(30.0, gt=0)

    # Viewers.
    viewer_queue: int = Field(64, ge=4, le=10_000, description="frames queued per viewer")
    viewer_send_timeout_s: float = Field(5.0, gt=0, description="a stalled viewer is dropped after")
    ws_ping_interval_s: float = Field(10.0, gt=0)
    ws_ping_timeout_s: float = Field(10.0, gt=0)
    allowed_origins: list[str] = Field(default_factory=list, description="extra WebSocket origins")

    # Input caps.
    max_body_bytes: int = Field(2 * 1024 * 1024, ge=1024)
    max_ws_message_bytes: int = Field(1024 * 1024, ge=1024)

    @property
    def database_path(self) -> Path:
        return self.data_dir / "runs.sqlite3"


@lru_cache
def get_settings() -> Settings:
    """The process's settings (cached). Tests build their own ``Settings`` instead."""
    return Settings()
