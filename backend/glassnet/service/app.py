"""The FastAPI application: ``create_app(settings)`` and its lifespan.

Start-up: take the data dir's lock (a second server on the same folder stops there), remove the
temporary files a crash left, open the run store, check the dataset, load the default model into
the registry, start the hub and the run manager, and settle the runs the last server left unfinished
(:mod:`.recovery`: those that trained continue, queued ones queue again, paused ones are interrupted).
Shutdown (SIGTERM, Ctrl-C, or the end of a TestClient): close every
WebSocket with 1001, checkpoint and stop every training process — within a few seconds.

Routes: ``/healthz`` ``/readyz`` ``/api/runs…`` ``/api/architecture`` ``/api/protocol``
``/api/stats`` ``/ws``, the predict, models and explain routes (``/api/predict``, ``/api/models``,
``/api/explain…``), the
OpenAPI docs at ``/docs``, and the dashboard (``frontend/``) as static files at ``/``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import inspect
import logging
import os
import struct
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from .. import __version__
from ..data.classes import default_validation
from ..data.mnist import DEFAULT_DATASET_DIR, FILE_STEMS, dataset_classes, resolve_dataset_dir
from .disk import DiskCheck
from .errors import AllowedMethods, BodySizeLimit, document_errors, install_error_handlers
from .executors import make_executor
from .explain import DigitBank, Explainer
from .fastsend import KeepRawSend
from .hub import Hub
from .inference import ModelRegistry, UnknownModelError
from .locks import clean_data_dir, hold_data_dir, release_data_dir, rowless_runs, sweep_deleted
from .metrics import RequestMetrics, ServiceMetrics
from .metrics import router as metrics_router
from .mydigits import DigitStore
from .owners import Classroom
from .pool import HeavyPool
from .predictlane import PredictLane
from .predictprocess import PredictProcess, wanted
from .quotas import Quotas
from .recovery import recover, served_data
from .routes import (
    augment,
    catalog,
    classroom,
    docs,
    explain,
    health,
    learned,
    models,
    mydigits,
    predict,
    runs,
    ws,
)
from .runlog import RunObserver
from .schemas import Readiness
from .security import OPEN_PATHS, Guard, ensure_token, quiet_refused_handshakes
from .settings import Settings, get_settings
from .store import RunStore, check_database
from .worker import RUN_ID, RunManager, run_checkpoint

log = logging.getLogger("glassnet.app")

PLACEHOLDER = """<!doctype html><meta charset="utf-8"><title>glassnet</title>
<h1>glassnet</h1><p>This server has no dashboard (its frontend folder has no index.html). The API is at
<a href="/docs">/docs</a>.</p>"""


def idx_shape(path: Path) -> tuple[int, ...]:
    """The shape in an IDX file's header (gzip or not), without reading the data."""
    with path.open("rb") as raw:
        magic = raw.read(2)
    opener = gzip.open if magic == b"\x1f\x8b" else open
    with opener(path, "rb") as f:  # type: ignore[operator]
        head = f.read(4)
        if len(head) < 4 or head[:2] != b"\x00\x00" or not 1 <= head[3] <= 4:
            raise ValueError(f"{path}: not an IDX file")
        dims = f.read(4 * head[3])
        return struct.unpack(f">{head[3]}I", dims)


def check_dataset(directory: Path | None) -> tuple[Path, list[int], int]:
    """(folder, image shape [1, H, W], training images) from the IDX headers; ValueError if not."""
    root = resolve_dataset_dir(directory)
    shapes = {}
    for key, stem in FILE_STEMS.items():
        path = next((p for p in (root / stem, root / f"{stem}.gz") if p.is_file()), None)
        if path is None:
            raise ValueError(f"{root / stem}: file not found (neither {stem} nor {stem}.gz)")
        try:
            shapes[key] = idx_shape(path)
        except (OSError, EOFError, struct.error) as exc:
            raise ValueError(f"{path}: unreadable ({exc})") from None
    train = shapes["train_images"]
    if len(train) != 3:
        raise ValueError(f"{root}: training images must be N x H x W, got {train}")
    return root, [1, train[1], train[2]], train[0]


def dataset_facts(settings: Settings) -> tuple[Path, list[int], int, int, list[str]]:
    """(folder, image shape [1, H, W], training images, validation images, class names) of the
    settings' dataset, from the IDX headers; a ValueError naming the problem otherwise. ``glassnet
    serve`` calls it before it starts, so a mistyped --dataset is one line, not a server that
    cannot train."""
    root, image_shape, n_train = check_dataset(settings.dataset)
    validation = default_validation(n_train) if settings.validation is None else settings.validation
    if not 0 <= validation < n_train:
        raise ValueError(
            f"validation {validation} must be below the {n_train} training images "
            f"(e.g. GLASSNET_VALIDATION={default_validation(n_train)})"
        )
    classes = list(dataset_classes(root, settings.classes).names)
    if settings.transpose:
        image_shape = [image_shape[0], image_shape[2], image_shape[1]]
    return root, image_shape, n_train, validation, classes


def _ready(app: FastAPI, settings: Settings) -> None:
    """Fill ``app.state.readiness`` (and the dataset facts the runs routes check against)."""
    problems: list[str] = []
    dataset, image_shape, n_train, classes, validation = None, None, None, None, settings.validation
    try:
        root, image_shape, n_train, validation, classes = dataset_facts(settings)
        dataset = str(root)
    except ValueError as exc:
        problems.append(f"dataset: {exc}")
    default_model = None
    try:
        model_id, _, _ = app.state.registry.load(settings.default_model)
        default_model = model_id
    except Exception as exc:  # any reason the default model cannot serve
        problems.append(f"default model {settings.default_model!r}: {exc}")
    # Readiness is public: no absolute path of this machine in it, only folder names.
    known = (settings.dataset, dataset, DEFAULT_DATASET_DIR, settings.data_dir, settings.models_dir)
    for folder in {p for p in known if p}:
        folder = Path(folder)
        problems = [
            p.replace(str(folder.resolve()), folder.name).replace(str(folder), folder.name) for p in problems
        ]
    if dataset is not None:
        dataset = "bundled MNIST" if settings.dataset is None else Path(dataset).name
    app.state.image_shape = image_shape
    app.state.train_size = n_train
    app.state.validation = validation  # the effective number, settings.validation or the default
    app.state.classes = classes  # the dataset's class names: one output neuron each
    app.state.readiness = Readiness(
        ready=not problems,
        dataset=dataset,
        image_shape=image_shape,
        default_model=default_model,
        problems=problems,
    )
    for problem in problems:
        log.warning("not ready: %s", problem)


async def shutdown_service(app: FastAPI) -> None:
    """Close viewers (1001) and checkpoint/stop training. Idempotent; called by the lifespan and,
    under ``glassnet serve``, before uvicorn closes the sockets itself (it would use 1012)."""
    state = app.state
    if getattr(state, "closing", True):
        return
    state.closing = True
    await state.hub.close_all(1001, "server shutting down")
    await state.manager.shutdown()


async def _flush_unsaved(store: RunStore, every: float = 2.0) -> None:
    """Write the status changes a full disk held back, as soon as there is room again."""
    while True:
        await asyncio.sleep(every)
        if store.unsaved:
            with contextlib.suppress(Exception):
                store.flush_unsaved()


def check_served_files(settings: Settings) -> None:
    """What ``glassnet serve`` checks before it starts, beyond the data dir and the dataset: the
    dashboard's files, the models folder and the default model, each a ValueError naming its
    ``GLASSNET_*`` setting (one line, exit 2) instead of a server that shows no dashboard or is
    not ready. ``create_app`` itself accepts them (an API-only app, as tests build it)."""
    if not (Path(settings.frontend_dir) / "index.html").is_file():
        raise ValueError(f"GLASSNET_FRONTEND_DIR={str(settings.frontend_dir)!r}: no index.html there")
    if not Path(settings.models_dir).is_dir():
        raise ValueError(f"GLASSNET_MODELS_DIR={str(settings.models_dir)!r}: not a folder")
    registry = ModelRegistry(
        models_dir=settings.models_dir, runs_dir=settings.data_dir, default_id=settings.default_model
    )
    # A run of this data dir may be the default model too (its id: the run's latest weights).
    registry.set_run_resolver(
        lambda run_id: run_checkpoint(settings.data_dir / run_id) if RUN_ID.fullmatch(run_id) else None
    )
    try:
        registry.load(settings.default_model)
    except Exception as exc:  # any reason it cannot serve, as readiness would say it
        problem = "no such model" if isinstance(exc, UnknownModelError) else str(exc)
        raise ValueError(
            f"GLASSNET_DEFAULT_MODEL={settings.default_model!r}: {problem} (a bundled model: "
            f"{', '.join(sorted(p.stem for p in Path(settings.models_dir).glob('*.npz'))) or 'none'}; "
            "or the id of a run in the data dir)"
        ) from None


def _telemetry_options() -> dict[str, object]:
    """FastAPI's own OpenTelemetry, off unless ``FASTAPI_OTEL_AUTO_CONFIGURE=true`` asks for it.

    glassnet counts its requests itself (``/metrics``, service/metrics.py). FastAPI's native
    telemetry (newer versions, with ``opentelemetry-api`` installed) looks the global providers
    up on every request to see whether anyone listens: ~5% of the event loop under a class's
    predictions. A deployment that exports spans sets the variable and gets FastAPI's defaults.
    Older FastAPI versions have no ``telemetry`` argument: nothing to turn off there.
    """
    if "telemetry" not in inspect.signature(FastAPI.__init__).parameters:
        return {}
    if os.environ.get("FASTAPI_OTEL_AUTO_CONFIGURE", "").lower() == "true":
        return {}
    return {"telemetry": {"tracing": False, "metrics": False, "logs": False}}


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = ensure_token(settings or get_settings())
    # A damaged runs.sqlite3 is a ValueError naming it now (glassnet serve: one line, exit 2),
    # not a traceback from the lifespan inside uvicorn.
    check_database(settings.database_path)
    quiet_refused_handshakes()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        # Nothing in the data dir is touched before its lock is ours (a second server stops here).
        hold_data_dir(settings.data_dir)
        removed = clean_data_dir(settings.data_dir)
        if removed:
            log.info("removed %d temporary files left by a crash", len(removed))
        store = RunStore(settings.database_path)
        swept = sweep_deleted(settings.data_dir, store.has, store.delete)
        if swept:
            log.info("finished deleting %d runs (their files) that a kill had interrupted", len(swept))
        rowless = rowless_runs(settings.data_dir, store.has)
        if rowless:
            log.warning(
                "%d run folders in %s are not in the run list (a database moved aside or restored?): "
                "kept; their checkpoints can be uploaded as models (e.g. %s)",
                len(rowless),
                settings.data_dir,
                settings.data_dir / rowless[0] / "last.npz",
            )
        store.damaged_runs()  # logs each run whose row cannot be read (left out, the rest served)
        hub = Hub(
            settings.viewer_queue,
            settings.viewer_send_timeout_s,
            settings.hidden_heavy_interval_s,
            settings.crowd_viewers,
            settings.crowd_metrics_interval_s,
        )
        classroom = Classroom(settings.database_path)
        executor = make_executor(settings)
        await executor.open()  # never raises: an unreachable cluster is a problem /readyz names
        manager = RunManager(settings, store, hub, executor, pinned=lambda: classroom.pinned)
        manager.observer = RunObserver(app.state.metrics)
        registry = ModelRegistry(
            models_dir=settings.models_dir, runs_dir=settings.data_dir, default_id=settings.default_model
        )
        registry.set_run_resolver(manager.checkpoint_for)
        app.state.digits = DigitStore(settings.database_path)
        app.state.explainer = Explainer(
            registry, DigitBank(settings.dataset, settings.validation), is_run=manager.is_run
        )
        app.state.pool = HeavyPool(settings.heavy_workers, settings.heavy_queue)
        app.state.disk = DiskCheck(settings.data_dir, settings.max_data_bytes, settings.min_free_bytes)
        app.state.quotas = Quotas(
            settings.quota_runs_per_hour,
            settings.quota_uploads_per_hour,
            settings.quota_upload_bytes,
            settings.quota_names_per_hour,
        )
        app.state.settings = settings
        app.state.store = store
        app.state.classroom = classroom
        app.state.hub = hub
        app.state.manager = manager
        app.state.registry = registry
        if wanted(settings.predict_process):  # started on the first plain prediction
            app.state.predict_process = PredictProcess(
                settings.models_dir, settings.data_dir, settings.default_model
            )
        app.state.closing = False
        await asyncio.to_thread(_ready, app, settings)
        if app.state.validation is not None:  # the trainer's split: validation digits by index
            app.state.explainer.digits.validation = app.state.validation
        # The runs the last server left unfinished: continued, queued again or interrupted.
        classes = app.state.classes
        app.state.served_data = None if classes is None else served_data(settings, classes)
        cannot_train = next((p for p in app.state.readiness.problems if p.startswith("dataset")), None)
        await recover(manager, app.state.served_data, cannot_train)
        flusher = asyncio.create_task(_flush_unsaved(store))
        try:
            yield
        finally:
            flusher.cancel()
            await shutdown_service(app)
            if getattr(app.state, "predict_process", None) is not None:
                await app.state.predict_process.close()
            await executor.close()
            classroom.close()
            app.state.pool.shutdown()
            app.state.digits.close()
            store.close()
            release_data_dir(settings.data_dir)

    app = FastAPI(
        title="glassnet",
        version=__version__,
        summary="Watch a neural network learn: NumPy networks trained live, streamed over WebSockets.",
        lifespan=lifespan,
        docs_url=None,  # served offline below, without a CDN or an inline script
        redoc_url=None,
        **_telemetry_options(),  # type: ignore[arg-type]
    )
    app.state.settings = settings
    app.state.metrics = ServiceMetrics(lambda: app.state)
    install_error_handlers(app)
    document_errors(app, OPEN_PATHS)
    app.add_middleware(AllowedMethods, fastapi=app)
    # Plain JSON digits are answered here, past the checks below and before FastAPI's routing.
    app.add_middleware(PredictLane, fastapi=app)
    app.add_middleware(BodySizeLimit, limit=settings.max_body_bytes, fastapi=app)
    app.add_middleware(Guard, settings=settings)  # Host, token, Origin, headers
    # Outside Guard: the requests it refuses (400, 401, 403) are counted with their status too.
    app.add_middleware(RequestMetrics, metrics=lambda: app.state.metrics, routes=app)
    app.add_middleware(KeepRawSend)  # outermost: the server's own send, for fastsend
    # The router tries its routes in this order; /api/predict, the route a class calls most,
    # comes first (its one exact path shadows no other route).
    for module in (
        predict,
        health,
        runs,
        classroom,
        learned,
        catalog,
        ws,
        models,
        explain,
        mydigits,
        augment,
        docs,
    ):
        app.include_router(module.router)
    app.include_router(metrics_router)
    app.mount("/docs/assets", StaticFiles(directory=docs.ASSETS), name="docs-assets")
    frontend = Path(settings.frontend_dir)
    if (frontend / "index.html").is_file():
        # Mounted last: /api, /ws, /healthz, /readyz and /docs are matched first.
        app.mount("/", StaticFiles(directory=frontend, html=True), name="frontend")
    else:

        @app.get("/", include_in_schema=False)
        async def placeholder() -> HTMLResponse:
            return HTMLResponse(PLACEHOLDER)

    return app
