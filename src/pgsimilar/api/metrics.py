"""Prometheus metrics: requests, latencies, search latency, and records per collection (read at scrape)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator

from fastapi import FastAPI, Request, Response
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

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
            for info in client.list_collections():
                count = client.get_collection(info.name, namespace=info.namespace).count()
                gauge.add_metric([info.namespace, info.name], count)
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

    def install(self, app: FastAPI) -> None:
        @app.middleware("http")
        async def measure(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
            started = time.perf_counter()
            status = 500
            try:
                response = await call_next(request)
                status = response.status_code
                return response
            finally:
                # The route template, not the path: ids in paths would explode the label set.
                route = getattr(request.scope.get("route"), "path", "unmatched")
                self.requests.labels(request.method, route, str(status)).inc()
                self.latency.labels(request.method, route).observe(time.perf_counter() - started)
