"""What every API request is checked for before its handler: input that would otherwise fail deep inside.

- The NUL character (U+0000): PostgreSQL cannot store it in text, so a request carrying it is refused at
  the door, naming the field, instead of failing in the database (decision 15). JSON spells it ``\\u0000``
  and a query string ``%00``; neither appears in ordinary input, so the check is one substring search, and
  the request is decoded again only to name the field.
- JSON bodies that are not UTF-8, or nested deeper than the decoder goes: a 400 like any malformed body.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import msgspec
from litestar import Request
from litestar.exceptions import ClientException

from lms.errors import NotFound, ValidationFailed

MESSAGE = "must not contain the NUL character (U+0000)"
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_NOT_JSON = ("multipart/", "application/x-www-form-urlencoded", "text/csv")
# Opening brackets beyond which a body is decoded once more here, to tell a document nested too deeply
# (which the decoder answers with RecursionError) from a long flat one; ours nest a few levels.
_MANY_BRACKETS = 500


def nul_field(value: Any, path: str = "") -> str | None:
    """Where the first NUL in a decoded JSON document is, as errors name fields (``title.ca``,
    ``options[1].text``); ``""`` for the document itself, None when there is none."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            if "\x00" in key:
                return child.replace("\x00", "")
            if (found := nul_field(item, child)) is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if (found := nul_field(item, f"{path}[{index}]")) is not None:
                return found
    return None


async def guard_request(request: Request[Any, Any, Any]) -> None:
    """Before every API handler: a NUL in the path is no resource (404), in a query parameter or a JSON
    field a 422 naming it; a JSON body that is not UTF-8 or is nested too deeply is a 400."""
    scope = request.scope
    if "\x00" in scope["path"]:
        raise NotFound("No such resource.")
    query: bytes = scope.get("query_string", b"")
    if b"%00" in query:
        for name, value in parse_qsl(query.decode("utf-8", "replace"), keep_blank_values=True):
            if "\x00" in name or "\x00" in value:
                raise ValidationFailed.on(name.replace("\x00", "") or "query", MESSAGE)
    # Litestar reads a handler's ``data`` as JSON whatever the content type says. Forms and CSV files are
    # read as such by the handlers that take them (a CSV names its own encoding problems).
    if scope["method"] in _BODY_METHODS and not request.headers.get("content-type", "").lower().startswith(
        _NOT_JSON
    ):
        _check_json_body(await request.body())  # kept by the request: the handler reads the same bytes


def _check_json_body(body: bytes) -> None:
    if not body.isascii():
        try:
            body.decode()
        except UnicodeDecodeError as exc:
            raise ClientException(f"byte {exc.start} is not UTF-8 text") from exc
    if body.count(b"[") + body.count(b"{") > _MANY_BRACKETS:
        try:
            msgspec.json.decode(body)
        except RecursionError as exc:
            raise ClientException("the document is nested too deeply") from exc
        except msgspec.DecodeError:
            pass  # malformed: the handler's decoding answers it
    if b"\\u0000" in body:
        try:
            document = msgspec.json.decode(body)
        except msgspec.DecodeError:
            return  # malformed: the handler's decoding answers it
        where = nul_field(document)
        if where is not None:
            raise ValidationFailed.on(where or "body", MESSAGE)
