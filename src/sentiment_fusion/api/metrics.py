"""Prometheus metrics of one app: requests by route and status, latency, model time.

Each app gets its own registry (several apps in one test process do not collide). With
several uvicorn workers, ``serve`` sets ``PROMETHEUS_MULTIPROC_DIR`` and ``/metrics`` adds up
every worker's numbers.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64)


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "sentiment_fusion_http_requests",
            "HTTP requests by route template, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "sentiment_fusion_http_request_duration_seconds",
            "HTTP request latency",
            ["route", "method"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.in_progress = Gauge(
            "sentiment_fusion_http_requests_in_progress",
            "HTTP requests being served",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.inference = Histogram(
            "sentiment_fusion_inference_seconds",
            "model time of one micro-batch",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "sentiment_fusion_inference_batch_size",
            "posts per micro-batch",
            buckets=_BATCH_BUCKETS,
            registry=self.registry,
        )
        self.posts = Counter(
            "sentiment_fusion_predictions", "posts scored, by modalities given", ["modalities"], registry=self.registry
        )
        self.model_ready = Gauge(
            "sentiment_fusion_model_ready",
            "1 once the model is loaded",
            registry=self.registry,
            multiprocess_mode="min",
        )

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route, method).observe(seconds)

    def render(self) -> bytes:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(self.registry)
