"""Prometheus metrics, one registry per app so that two apps in one process (tests) never share counts."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "tierocr_http_requests",
            "HTTP requests answered.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "tierocr_http_request_seconds",
            "Time to the end of the response.",
            ["route"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
            registry=self.registry,
        )
        self.pages = Counter(
            "tierocr_pages", "Pages parsed, by the tier that produced them.", ["tier"], registry=self.registry
        )
        self.documents_in_flight = Gauge(
            "tierocr_documents_in_flight",
            "Documents being parsed or waiting for a worker.",
            registry=self.registry,
        )
        self.stream_cancelled = Counter(
            "tierocr_stream_cancelled",
            "Streams stopped early because the client went away.",
            registry=self.registry,
        )
        self.requests_abandoned = Counter(
            "tierocr_requests_abandoned",
            "Synchronous requests whose client hung up; their document stopped at the next page.",
            registry=self.registry,
        )
        self.jobs_submitted = Counter(
            "tierocr_jobs_submitted", "Async jobs accepted.", registry=self.registry
        )


class MetricsMiddleware:
    """Counts every response by its route template (not the raw path, which would explode the labels)."""

    def __init__(self, app: ASGIApp, metrics: Metrics, known_paths: tuple[str, ...] = ()) -> None:
        self.app = app
        self.metrics = metrics
        self.known_paths = frozenset(known_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def tracking_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        finally:
            route = scope.get("route")
            # Refusals by the body guard never reach the router; name them by path when it is one of ours.
            label = getattr(route, "path", None) or (
                scope["path"] if scope["path"] in self.known_paths else "unmatched"
            )
            self.metrics.requests.labels(scope["method"], label, str(status)).inc()
            self.metrics.latency.labels(label).observe(time.perf_counter() - start)
