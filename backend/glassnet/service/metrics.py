"""``GET /metrics``: the service's figures in the Prometheus text format (``prometheus-client``).

Each app has its own registry (several apps in one test process do not share counters). Series:

* ``glassnet_http_requests_total{method, route, status}`` — requests answered, by route template;
* ``glassnet_http_request_seconds{route}`` and ``glassnet_predict_seconds`` — latency histograms;
* ``glassnet_active_runs``, ``glassnet_queued_runs``, ``glassnet_viewers`` — read at scrape time;
* ``glassnet_training_samples_per_second`` (the latest report of each training run, by ``run``) and
  ``glassnet_training_samples_total`` — training throughput;
* ``glassnet_checkpoint_writes_total``, ``glassnet_checkpoint_failures_total``;
* ``glassnet_predict_lane_total{how}`` — plain JSON predictions answered by the express lane
  (``how``: ``process``, the second process; ``here``, the server's own) or handed on to the
  route (``route``), and ``glassnet_predict_process_starts_total`` (service/predictlane.py,
  service/predictprocess.py);
* ``glassnet_dropped_frames_total``, ``glassnet_published_frames_total``,
  ``glassnet_merged_metrics_frames_total``, ``glassnet_slow_viewers_disconnected_total`` — the
  hub's fan-out.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["RequestMetrics", "ServiceMetrics", "router"]

# Latency buckets (seconds): a prediction takes ~1 ms on its own and tens of ms under load.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class _LiveState(Collector):
    """Figures read from the run manager and the hub when Prometheus scrapes."""

    def __init__(self, state: Callable[[], Any]) -> None:
        self.state = state

    def collect(self) -> Iterator[Any]:
        state = self.state()
        manager, hub = getattr(state, "manager", None), getattr(state, "hub", None)
        if manager is not None:
            yield GaugeMetricFamily(
                "glassnet_active_runs", "Runs with a training process", len(manager.workers)
            )
            yield GaugeMetricFamily(
                "glassnet_queued_runs", "Runs waiting for a training slot", len(manager.queue)
            )
        lane = getattr(state, "predict_lane", None)
        if lane is not None:
            family = CounterMetricFamily(
                "glassnet_predict_lane",
                "POST /api/predict requests the express lane answered (how: process, here) "
                "or handed on (route)",
                labels=["how"],
            )
            for how, count in lane.counts().items():
                family.add_metric([how], count)
            yield family
        child = getattr(state, "predict_process", None)
        if child is not None:
            yield CounterMetricFamily(
                "glassnet_predict_process_starts", "Second processes started for predictions", child.starts
            )
        if hub is not None:
            stats = hub.stats()
            yield GaugeMetricFamily("glassnet_viewers", "Connected WebSocket viewers", stats["viewers"])
            yield CounterMetricFamily(
                "glassnet_dropped_frames",
                "Heavy or metrics frames dropped for slow viewers",
                stats["dropped_frames"],
            )
            yield CounterMetricFamily(
                "glassnet_published_frames", "Frames published to viewers", stats["published_frames"]
            )
            yield CounterMetricFamily(
                "glassnet_merged_metrics_frames",
                "Metrics frames merged into a later one for a crowd of viewers (no point lost)",
                stats["merged_metrics_frames"],
            )
            yield CounterMetricFamily(
                "glassnet_direct_frames",
                "Frames written straight to an idle viewer's socket (framed once for all viewers)",
                stats["direct_frames"],
            )
            yield CounterMetricFamily(
                "glassnet_slow_viewers_disconnected",
                "Viewers dropped for not reading",
                stats["disconnected_slow"],
            )


class ServiceMetrics:
    """The registry and the series the service updates as things happen."""

    def __init__(self, state: Callable[[], Any]) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "glassnet_http_requests", "HTTP requests answered", ["method", "route", "status"], registry=r
        )
        self.request_seconds = Histogram(
            "glassnet_http_request_seconds",
            "HTTP request latency",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.predict_seconds = Histogram(
            "glassnet_predict_seconds",
            "Prediction latency (POST /api/predict, whole request)",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.samples_per_s = Gauge(
            "glassnet_training_samples_per_second",
            "Training throughput of a run (latest report)",
            ["run"],
            registry=r,
        )
        self.samples = Counter("glassnet_training_samples", "Samples trained by all runs", registry=r)
        self.checkpoint_writes = Counter("glassnet_checkpoint_writes", "Checkpoints written", registry=r)
        self.checkpoint_failures = Counter(
            "glassnet_checkpoint_failures", "Checkpoints that could not be written", registry=r
        )
        r.register(_LiveState(state))

    def run_ended(self, run_id: str) -> None:
        """A run's process ended: its throughput series goes away."""
        with contextlib.suppress(KeyError):
            self.samples_per_s.remove(run_id)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def _route_of(app: Any, scope: Scope) -> str:
    """The route template a request matched (bounded label values), else ``other``."""
    matched = scope.get("route")  # set by the router on recent Starlette versions
    if matched is not None and getattr(matched, "path", None) is not None:
        return matched.path
    # Older versions, and a request refused before routing (Guard): match again.
    for route in _flat_routes(app.router.routes):
        path = getattr(route, "path", None)
        if path is not None and route.matches(scope)[0] == Match.FULL:
            return path or "/"
    return "other"


def _flat_routes(routes: list[Any]) -> Iterator[Any]:
    """The routes in matching order, included routers opened (recent FastAPI keeps each
    ``include_router`` as one entry holding the router, older versions copied its routes)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _flat_routes(inner.routes)
        else:
            yield route


class RequestMetrics:
    """ASGI middleware: counts and times every HTTP request (WebSockets are counted by the hub)."""

    def __init__(self, app: ASGIApp, metrics: Callable[[], ServiceMetrics | None], routes: Any) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        metrics = self.metrics() if scope["type"] == "http" else None
        if metrics is None:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def send_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            seconds = time.perf_counter() - started
            route = _route_of(self.routes, scope)
            metrics.requests.labels(scope["method"], route, str(status[0])).inc()
            metrics.request_seconds.labels(route).observe(seconds)
            if route == "/api/predict":
                metrics.predict_seconds.observe(seconds)


router = APIRouter(tags=["health"])


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format"}},
)
async def metrics(request: Request) -> Response:
    return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE_LATEST)
