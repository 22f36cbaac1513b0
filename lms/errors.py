"""Domain errors that carry their HTTP status, and the one handler that renders RFC 9457 problem+json."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import msgspec
from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.exceptions import NotFoundException as LitestarNotFound
from litestar.types import ExceptionHandlersMap
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

PROBLEM_MEDIA_TYPE = "application/problem+json"
logger = logging.getLogger("lms.errors")


class FieldError(msgspec.Struct, frozen=True):
    """One offending field of a request."""

    field: str
    message: str


class DomainError(Exception):
    """An expected failure: it becomes a problem+json response with its status, never a 500."""

    status: ClassVar[int] = 400
    title: ClassVar[str] = "Bad request"
    code: ClassVar[str] = "bad_request"

    def __init__(
        self,
        detail: str,
        *,
        errors: Sequence[FieldError] = (),
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
        keep_changes: bool = False,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        # A refusal that must still record something (a revoked session, a counted attempt) sets this,
        # and the transaction commits before the error is answered.
        self.keep_changes = keep_changes
        self.errors = list(errors)
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})


class BadRequest(DomainError):
    pass


class Unauthorized(DomainError):
    status, title, code = 401, "Unauthorized", "unauthorized"

    def __init__(self, detail: str = "Authentication is required.", **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": 'Bearer realm="aula"'})
        super().__init__(detail, **kwargs)


class Forbidden(DomainError):
    status, title, code = 403, "Forbidden", "forbidden"


class NotFound(DomainError):
    status, title, code = 404, "Not found", "not_found"


class Conflict(DomainError):
    status, title, code = 409, "Conflict", "conflict"


class PayloadTooLarge(DomainError):
    status, title, code = 413, "Payload too large", "payload_too_large"


class ValidationFailed(DomainError):
    status, title, code = 422, "Validation failed", "validation_failed"

    @classmethod
    def on(cls, field: str, message: str) -> ValidationFailed:
        """One field is wrong: say which and why."""
        return cls(f"{field}: {message}", errors=[FieldError(field, message)])


class TooManyRequests(DomainError):
    status, title, code = 429, "Too many requests", "rate_limited"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail, headers={"Retry-After": str(max(1, retry_after))})


class ServiceUnavailable(DomainError):
    status, title, code = 503, "Service unavailable", "service_unavailable"


def problem_response(
    request: Request[Any, Any, Any] | None,
    *,
    status: int,
    title: str,
    detail: str,
    code: str,
    errors: Sequence[FieldError] = (),
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Response[dict[str, Any]]:
    """Build one RFC 9457 problem document."""
    body: dict[str, Any] = {
        "type": f"urn:aula:problem:{code}",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if request is not None:
        body["instance"] = request.url.path
        request_id = request.scope.get("state", {}).get("request_id")
        if request_id:
            body["request_id"] = request_id
    if errors:
        body["errors"] = [{"field": e.field, "message": e.message} for e in errors]
    if extra:
        body.update(extra)
    return Response(
        content=body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=dict(headers or {})
    )


def _domain_handler(request: Request[Any, Any, Any], exc: DomainError) -> Response[dict[str, Any]]:
    return problem_response(
        request,
        status=exc.status,
        title=exc.title,
        detail=exc.detail,
        code=exc.code,
        errors=exc.errors,
        headers=exc.headers,
        extra=exc.extra,
    )


_UNKNOWN_FIELD = re.compile(r"unknown field `(?P<name>[^`]+)`")
_AT_PATH = re.compile(r" - at `\$\.?(?P<path>[^`]*)`$")


def _field_error(item: Mapping[str, Any]) -> FieldError:
    """Name the offending field as the client wrote it: ``full_name``, ``profile.birth_year``, ``limit``."""
    message = str(item.get("message") or "invalid value")
    key = item.get("key")
    field = str(key) if key and key != "data" else ""
    if unknown := _UNKNOWN_FIELD.search(message):
        field = ".".join(p for p in (field, unknown.group("name")) if p)
    elif at := _AT_PATH.search(message):
        field = ".".join(p for p in (field, at.group("path")) if p)
        message = message[: at.start()]
    return FieldError(field or "body", message)


def _validation_handler(
    request: Request[Any, Any, Any], exc: ValidationException
) -> Response[dict[str, Any]]:
    items = exc.extra if isinstance(exc.extra, list) else []
    errors = [_field_error(item) for item in items if isinstance(item, Mapping)]
    if not errors:
        errors = [FieldError("body", str(exc.detail or "invalid request"))]
    summary = "; ".join(f"{e.field}: {e.message}" for e in errors)
    return problem_response(
        request,
        status=422,
        title="Validation failed",
        code="validation_failed",
        detail=summary,
        errors=errors,
    )


def _http_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    status = exc.status_code
    titles = {
        400: "Bad request",
        401: "Unauthorized",
        403: "Forbidden",
        404: "Not found",
        405: "Method not allowed",
        413: "Payload too large",
        429: "Too many requests",
    }
    detail = str(exc.detail)
    code = titles.get(status, "error").lower().replace(" ", "_")
    if status == 400:
        # Litestar's only plain 400s come from bodies it cannot decode (truncated or malformed JSON).
        return problem_response(
            request,
            status=400,
            title="Malformed request",
            code="malformed_body",
            detail=f"The request body could not be read as JSON: {detail}.",
        )
    if status == 413:
        detail = "The request body is larger than this endpoint accepts."
    headers = dict(exc.headers or {})
    if isinstance(exc, NotAuthorizedException):
        headers.setdefault("WWW-Authenticate", 'Bearer realm="aula"')
    if status >= 500:
        logger.error("http error %s: %s", status, detail)
        detail = "The server could not complete the request."
    return problem_response(
        request, status=status, title=titles.get(status, "Error"), detail=detail, code=code, headers=headers
    )


def _database_unavailable(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    logger.warning("database unavailable: %s", type(exc).__name__)
    return problem_response(
        request,
        status=503,
        title="Service unavailable",
        code="database_unavailable",
        detail="The database is unreachable right now; nothing was changed. Try again shortly.",
        headers={"Retry-After": "5"},
    )


_CONNECTION_ERRORS = (OSError, ConnectionError, TimeoutError, PoolTimeoutError)


def is_connection_error(exc: BaseException) -> bool:
    """True when the exception means the database cannot be reached (not that a query was wrong)."""
    if isinstance(exc, _CONNECTION_ERRORS):
        return True
    if isinstance(exc, (OperationalError, InterfaceError)):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    origin = exc.__cause__ or exc.__context__
    name = type(exc).__name__
    if name in {"CannotConnectNowError", "ConnectionDoesNotExistError", "TooManyConnectionsError"}:
        return True
    return origin is not None and origin is not exc and isinstance(origin, _CONNECTION_ERRORS)


# Text PostgreSQL cannot store (a NUL character, or one the database encoding lacks). Requests are checked
# for NUL at the door (``lms.guard``); this answers whatever reaches the database another way.
_UNSTORABLE_TEXT = frozenset({"22021", "22P05"})


def _unstorable_text(exc: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if getattr(current, "sqlstate", None) in _UNSTORABLE_TEXT:
            return True
        current = getattr(current, "orig", None) or current.__cause__ or current.__context__
    return False


def _unstorable_text_answer(request: Request[Any, Any, Any], exc: BaseException) -> Response[dict[str, Any]]:
    logger.warning("unstorable text on %s %s: %s", request.method, request.url.path, type(exc).__name__)
    return problem_response(
        request,
        status=422,
        title="Validation failed",
        code="validation_failed",
        detail="The request contains a character that cannot be stored (such as U+0000); nothing was saved.",
    )


def _integrity_handler(request: Request[Any, Any, Any], exc: IntegrityError) -> Response[dict[str, Any]]:
    """A constraint the service did not anticipate (often a race): the change conflicts, nothing was saved."""
    if _unstorable_text(exc):
        return _unstorable_text_answer(request, exc)
    constraint = getattr(getattr(exc.orig, "__cause__", None), "constraint_name", None)
    logger.warning("integrity error on %s %s: %s", request.method, request.url.path, constraint or exc.orig)
    return problem_response(
        request,
        status=409,
        title="Conflict",
        code="conflict",
        detail="The change conflicts with the current data; nothing was saved. Reload and try again.",
        extra={"constraint": constraint} if constraint else None,
    )


def _unexpected_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    if is_connection_error(exc):
        return _database_unavailable(request, exc)
    if _unstorable_text(exc):
        return _unstorable_text_answer(request, exc)
    logger.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(
        request,
        status=500,
        title="Internal server error",
        code="internal_error",
        detail="The server could not complete the request; it has been logged.",
    )


exception_handlers: ExceptionHandlersMap = {
    DomainError: _domain_handler,
    ValidationException: _validation_handler,
    HTTPException: _http_handler,
    NotAuthorizedException: _http_handler,
    PermissionDeniedException: _http_handler,
    LitestarNotFound: _http_handler,
    IntegrityError: _integrity_handler,
    Exception: _unexpected_handler,
}
