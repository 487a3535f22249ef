"""Service settings: ``Settings`` read from ``GLASSNET_*`` environment variables.

Only deployment and streaming knobs live here; hyperparameters and architectures are request
bodies. ``get_settings()`` is the single place the app reads them from, so tests can pass their
own ``Settings`` to ``create_app`` or override the dependency.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

from ..resources import resource_dir

# List settings read from one variable: a comma-separated list, or a JSON list.
LIST_FORMAT = 'a comma-separated list (a.example,b.example) or a JSON list (["a.example"])'
COMMA_LISTS = frozenset({"allowed_hosts", "allowed_origins"})


class CommaListEnv(EnvSettingsSource):
    """The environment, with the :data:`COMMA_LISTS` variables handed to their validator as they
    are written (pydantic-settings would decode them as JSON only, and fail with a message that
    names neither the variable nor the format). Works on every pydantic-settings >= 2.2, where
    ``NoDecode`` (2.7) does not exist yet."""

    def prepare_field_value(
        self, field_name: str, field: FieldInfo, value: Any, value_is_complex: bool
    ) -> Any:
        if field_name in COMMA_LISTS and isinstance(value, str):
            return value
        return super().prepare_field_value(field_name, field, value, value_is_complex)


def comma_list(value: object) -> object:
    """``"a, b"`` -> ``["a", "b"]``; ``'["a"]'`` -> ``["a"]``; a list as it is; "" -> []."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("["):
        try:
            return json.loads(text)
        except ValueError:
            raise ValueError(f"not a JSON list; give {LIST_FORMAT}") from None
    return [item.strip() for item in text.split(",") if item.strip()]


class Settings(BaseSettings):
    """Everything the service can be configured with (env var = ``GLASSNET_`` + upper name)."""

    model_config = SettingsConfigDict(env_prefix="GLASSNET_", extra="ignore")

    host: str = Field("127.0.0.1", description="address to bind (--host); beyond loopback: token mode")
    port: int = Field(8000, ge=1, le=65535, description="port to listen on (--port)")
    data_dir: Path = Field(Path("runs"), description="runs.sqlite3 and the runs' checkpoints")
    dataset: Path | None = Field(None, description="IDX folder to train on; None = bundled MNIST")
    models_dir: Path = Field(
        resource_dir("models"), description="the bundled checkpoints offered for predictions (package data)"
    )
    frontend_dir: Path = Field(resource_dir("frontend"), description="the dashboard's files (package data)")
    default_model: str = Field("cnn", description="the model predictions use unless asked otherwise")
    validation: int | None = Field(
        None,
        ge=0,
        description="training images held out for validation; None: 5000, or a tenth of a smaller set",
    )
    transpose: bool = Field(False, description="the dataset's images are stored transposed (EMNIST)")
    classes: str | None = Field(None, description="class names: a known set, a file or a comma list")
    tensorboard_dir: Path | None = Field(None, description="TensorBoard event files, one folder per run")

    # Where runs train (service/executors/): spawned processes here, or Ray actors on a cluster.
    executor: Literal["local", "ray"] = Field(
        "local", description="local: a process per run on this machine; ray: a Ray actor per run"
    )
    ray_address: str | None = Field(
        None, description="the Ray cluster's address (host:port of its head), for executor=ray"
    )
    ray_cpus_per_run: float = Field(1.0, gt=0, le=64, description="CPUs a Ray run reserves on its node")

    # Runs: how many train at once; more are queued (up to max_queued, then 409), fairly by owner.
    max_active_runs: int | None = Field(
        None,
        ge=1,
        le=4096,
        description="runs that train at once; None = one per core (local) or the cluster's CPUs / "
        "ray_cpus_per_run (ray)",
    )
    max_queued_runs: int = Field(500, ge=0, le=100_000, description="runs that may wait, all owners")
    max_queued_per_owner: int = Field(16, ge=1, le=100_000, description="runs one owner may have waiting")
    join_code: str | None = Field(
        None,
        min_length=4,
        max_length=128,
        description="students take their own token with this code (POST /api/join); needs token mode",
    )
    max_students: int = Field(
        1000, ge=1, le=1_000_000, description="names that may join with the code (the teacher may add more)"
    )
    device: Literal["cpu", "cuda"] = Field(
        "cpu",
        description="where runs train unless a run asks otherwise: cuda = a GPU through CuPy "
        "(the gpu extra); when it is not available, runs train on the CPU (logged)",
    )
    train_cpus: str | None = Field(
        None,
        pattern=r"^\d+(-\d+)?(,\d+(-\d+)?)*$",
        description="CPUs the local training processes run on, e.g. '1-15' (Linux CPU list): the rest "
        "stay for the server and its viewers; None = every CPU",
    )
    worker_blas_threads: int | None = Field(
        None,
        ge=1,
        description="OpenBLAS/OMP threads in a training process; None = BLAS's default (all cores), "
        "which with OPENBLAS_THREAD_TIMEOUT=4 (service/executors/local.py) trains as fast as headless",
    )

    # Streaming rates, seconds between frames (while training).
    metrics_interval_s: float = Field(0.1, gt=0, le=10, description="batch metrics: 10 frames/s")
    heavy_interval_s: float = Field(0.8, gt=0, le=60, description="activations/kernels/gradients")
    live_checkpoint_s: float = Field(1.0, gt=0, le=600, description="live weights for predictions")
    checkpoint_interval_s: float = Field(
        30.0, gt=0, le=3600, description="resume point every this often, mid-epoch too (at most this is lost)"
    )
    command_timeout_s: float = Field(30.0, gt=0, description="a command to a training run waits this long")

    # Viewers.
    viewer_queue: int = Field(64, ge=4, le=10_000, description="frames queued per viewer")
    hidden_heavy_interval_s: float = Field(
        10.0,
        ge=0,
        le=3600,
        description="a heavy frame for a panel the viewer does not show: at most one per this many "
        "seconds (0 = none)",
    )
    viewer_send_timeout_s: float = Field(5.0, gt=0, description="a stalled viewer is dropped after")
    crowd_viewers: int = Field(
        100, ge=1, le=1_000_000, description="viewers of one run from which its metrics frames are merged"
    )
    crowd_metrics_interval_s: float = Field(
        0.16,
        ge=0,
        le=10,
        description="a crowd's metrics: at most one frame per this many seconds (the points merged, "
        "none lost; 0 = never merge)",
    )
    slow_request_s: float = Field(
        20.0,
        gt=0,
        le=3600,
        description="a request's headers must arrive within this many seconds, and its body may pause "
        "no longer (slow clients holding connections open are closed)",
    )
    ws_ping_interval_s: float = Field(10.0, gt=0, description="WebSocket pings this often")
    ws_ping_timeout_s: float = Field(10.0, gt=0, description="a socket whose pong is this late is closed")
    allowed_origins: list[str] = Field(
        default_factory=list,
        description="extra origins (exact, e.g. a TLS proxy's https://example.org) whose pages may change "
        "state and open the WebSocket; no CORS: a page on another origin still cannot read the REST API; "
        "comma-separated (or a JSON list)",
    )

    # Who may come in (service/security.py).
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Host names served besides loopback, the bound address and (beyond loopback) IP "
        "addresses; comma-separated (or a JSON list); '*' = any",
    )
    token: str | None = Field(
        None,
        min_length=16,
        description="required for every request when set; generated when bound beyond loopback",
    )
    open_view: bool = Field(
        False, description="with a token: let anyone view (GET, watching sockets) without it"
    )

    auto_resume: bool = Field(
        True,
        description="after a restart, runs that were training continue and queued ones keep their place "
        "(off: each is interrupted, resumable by hand)",
    )

    # Disk (service/disk.py): refusals are 507 with a message.
    max_data_bytes: int = Field(20 * 2**30, ge=2**20, description="cap on everything the data dir holds")
    min_free_bytes: int = Field(
        16 * 2**20, ge=0, description="free disk space needed to start or resume runs"
    )

    # Per-client quotas (429 with Retry-After): a student by name, anyone else by address
    # (security.quota_client); joins by address.
    quota_runs_per_hour: int = Field(
        120, ge=1, description="runs a client may create per hour (a student: per name, else per address)"
    )
    quota_uploads_per_hour: int = Field(
        60, ge=1, description="models a client may upload per hour (a student: per name, else per address)"
    )
    quota_upload_bytes: int = Field(
        2 * 2**30, ge=2**20, description="stored uploads per client (a student: per name, else per address)"
    )
    quota_names_per_hour: int = Field(
        5,
        ge=1,
        description="student names a client (an address) may join under per hour (POST /api/join): a "
        "student's caps are per name, so one machine cannot mint names to get past them",
    )

    # Heavy work (spec checks, decoding, validation, predictions) off the event loop.
    heavy_workers: int = Field(2, ge=1, le=32, description="threads of the heavy-work pool")
    heavy_queue: int = Field(
        64, ge=0, le=1000, description="jobs that may wait; one more is a 503 (a class's pages ask together)"
    )

    predict_process: Literal["auto", "on", "off"] = Field(
        "auto",
        description="read plain JSON predictions in a second process, started on the first one, so "
        "that a class's predictions use a second core (service/predictprocess.py); auto: where the "
        "machine has more than one core",
    )

    # Input caps.
    max_body_bytes: int = Field(2 * 1024 * 1024, ge=1024, description="largest request body (413 past it)")
    max_ws_message_bytes: int = Field(1024 * 1024, ge=1024, description="largest WebSocket message received")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, CommaListEnv(settings_cls), dotenv_settings, file_secret_settings

    @field_validator(*COMMA_LISTS, mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        return comma_list(value)

    @field_validator("host", "data_dir", mode="before")
    @classmethod
    def _not_empty(cls, value: object) -> object:
        # GLASSNET_HOST= in an env file would bind every address (and print http://:8000/);
        # GLASSNET_DATA_DIR= would write into the current folder. An empty value is a mistake.
        if isinstance(value, str) and not value.strip():
            raise ValueError("must not be empty (leave the variable unset for the default)")
        return value

    @property
    def database_path(self) -> Path:
        return self.data_dir / "runs.sqlite3"


@lru_cache
def get_settings() -> Settings:
    """The process's settings (cached). Tests build their own ``Settings`` instead."""
    return Settings()
