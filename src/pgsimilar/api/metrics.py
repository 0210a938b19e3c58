"""Prometheus metrics: requests, latencies, search latency; records per collection and the job backlog
(read at scrape)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..core.client import Client


class _RecordCounts(Collector):
    """``pgsimilar_collection_records``: counted when scraped, so it is never stale."""

    def __init__(self, client: Callable[[], Client | None]) -> None:
        self._client = client

    def collect(self) -> Iterator[GaugeMetricFamily]:
        gauge = GaugeMetricFamily(
            "pgsimilar_collection_records",
            "Records stored per collection",
            labels=["namespace", "collection"],
        )
        client = self._client()
        if client is not None:
            for (namespace, name), count in client.record_counts().items():
                gauge.add_metric([namespace, name], count)
        yield gauge


class _JobBacklog(Collector):
    """``pgsimilar_job_items_pending``: upload items waiting for a worker (read when scraped)."""

    def __init__(self, client: Callable[[], Client | None]) -> None:
        self._client = client

    def collect(self) -> Iterator[GaugeMetricFamily]:
        gauge = GaugeMetricFamily("pgsimilar_job_items_pending", "Upload job items not processed yet")
        client = self._client()
        if client is not None:
            gauge.add_metric([], client.jobs.pending_items())
        yield gauge


class Metrics:
    """The metrics of one app (its own registry, so several apps in one process do not collide)."""

    def __init__(self, client: Callable[[], Client | None]) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "pgsimilar_http_requests", "HTTP requests", ["method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "pgsimilar_http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route"],
            registry=self.registry,
        )
        self.search_seconds = Histogram(
            "pgsimilar_search_duration_seconds", "Search latency, embedding included", registry=self.registry
        )
        self.registry.register(_RecordCounts(client))
        self.registry.register(_JobBacklog(client))


class MetricsMiddleware:
    """Counts and times every HTTP request by route template (ids in paths would explode the labels)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")  # set by the router as it matches
            self.metrics.requests.labels(scope["method"], route, str(status)).inc()
            self.metrics.latency.labels(scope["method"], route).observe(time.perf_counter() - started)
