"""The edge middleware: every request passes through it once, before routing.

It gives each request an id (echoed as X-Request-ID and carried by every log line), counts and times it
for Prometheus, optionally logs one access line, and answers CORS. It is one layer written for speed,
because it wraps every request: CORS costs nothing unless the request carries an Origin header.
"""

from __future__ import annotations

from collections.abc import Iterable
from random import getrandbits
from time import perf_counter

from litestar.enums import ScopeType
from litestar.types import (
    ASGIApp,
    HTTPResponseBodyEvent,
    HTTPResponseStartEvent,
    Message,
    Receive,
    Scope,
    Send,
)

from lms.observability import Metrics, access_logger, request_id_var

REQUEST_ID_HEADER = b"x-request-id"
MAX_INCOMING_REQUEST_ID = 64  # longer ids from clients are replaced, so logs cannot be flooded through them
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
CORS_MAX_AGE = b"600"  # seconds browsers may cache a preflight answer
CORS_METHODS = b"GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
CORS_ALLOWED_HEADERS = (
    b"authorization, content-type, accept, accept-language, if-none-match, x-request-id, range"
)
CORS_EXPOSED_HEADERS = b"x-request-id, etag, retry-after, location, content-disposition, content-range"


def _route_of(scope: Scope) -> str:
    # The template, not the concrete path, so metrics do not grow a series per id.
    template = scope.get("path_template")
    return str(template) if template else "unmatched"


class EdgeMiddleware:
    """Request id, metrics, access log and CORS in one ASGI layer."""

    def __init__(self, app: ASGIApp, metrics: Metrics, access_log: bool, cors_origins: Iterable[str]) -> None:
        self.app = app
        self.metrics = metrics
        self.access_log = access_log
        origins = {o.rstrip("/").encode() for o in cors_origins}
        self.any_origin = b"*" in origins
        self.origins = frozenset(origins)

    def _origin_allowed(self, origin: bytes) -> bool:
        return self.any_origin or origin in self.origins

    async def _preflight(self, origin: bytes, send: Send, request_id: bytes) -> int:
        headers: list[tuple[bytes, bytes]] = [
            (b"vary", b"Origin"),
            (REQUEST_ID_HEADER, request_id),
            (b"content-length", b"0"),
        ]
        if self._origin_allowed(origin):
            headers += [
                (b"access-control-allow-origin", b"*" if self.any_origin else origin),
                (b"access-control-allow-methods", CORS_METHODS),
                (b"access-control-allow-headers", CORS_ALLOWED_HEADERS),
                (b"access-control-max-age", CORS_MAX_AGE),
            ]
        start: HTTPResponseStartEvent = {"type": "http.response.start", "status": 204, "headers": headers}
        body: HTTPResponseBodyEvent = {"type": "http.response.body", "body": b"", "more_body": False}
        await send(start)
        await send(body)
        return 204

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        request_id = ""
        origin = b""
        preflight = False
        for name, value in scope["headers"]:
            if name == REQUEST_ID_HEADER:
                if len(value) <= MAX_INCOMING_REQUEST_ID and value.isascii() and value.decode().isprintable():
                    request_id = value.decode("ascii")
            elif name == b"origin":
                origin = value.rstrip(b"/")
            elif name == b"access-control-request-method":
                preflight = True
        if not request_id:
            # An id, not a secret: 128 bits from the process's generator (reseeded in forked workers)
            # cost no system call, where secrets.token_hex asks the kernel for every request.
            request_id = f"{getrandbits(128):032x}"
        extra_headers = [(REQUEST_ID_HEADER, request_id.encode("ascii"))]
        if origin and self._origin_allowed(origin):
            extra_headers += [
                (b"access-control-allow-origin", b"*" if self.any_origin else origin),
                (b"access-control-expose-headers", CORS_EXPOSED_HEADERS),
                (b"vary", b"Origin"),
            ]
        token = request_id_var.set(request_id)
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500
        start = perf_counter()

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), *extra_headers]
            await send(message)

        try:
            if preflight and origin and scope["method"] == "OPTIONS":
                status = await self._preflight(origin, send, extra_headers[0][1])
            else:
                await self.app(scope, receive, send_with_headers)
        finally:
            elapsed = perf_counter() - start
            route = _route_of(scope)
            method = scope["method"]
            self.metrics.observe(method if method in KNOWN_METHODS else "OTHER", route, status, elapsed)
            if self.access_log:
                access_logger.info(
                    "%s %s %d",
                    method,
                    scope["path"],
                    status,
                    extra={"fields": {"status": status, "ms": round(elapsed * 1000, 2), "route": route}},
                )
            request_id_var.reset(token)
