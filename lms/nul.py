"""The NUL character (U+0000): PostgreSQL cannot store it in text, so requests carrying it are refused at
the door, naming the field, instead of failing in the database.

JSON spells it ``\\u0000`` and a query string ``%00``; neither appears in ordinary input, so the check is
one substring search per request, and the request is decoded again only to name the field.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from litestar import Request

from lms.errors import NotFound, ValidationFailed

MESSAGE = "must not contain the NUL character (U+0000)"
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


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


async def refuse_nul(request: Request[Any, Any, Any]) -> None:
    """Before every handler: a NUL in the path is no resource (404); in a query parameter or a JSON
    field it is a 422 naming it."""
    scope = request.scope
    if "\x00" in scope["path"]:
        raise NotFound("No such resource.")
    query: bytes = scope.get("query_string", b"")
    if b"%00" in query:
        for name, value in parse_qsl(query.decode("utf-8", "replace"), keep_blank_values=True):
            if "\x00" in name or "\x00" in value:
                raise ValidationFailed.on(name.replace("\x00", "") or "query", MESSAGE)
    if scope["method"] in _BODY_METHODS and "json" in request.headers.get("content-type", ""):
        body = await request.body()  # kept by the request: the handler reads the same bytes
        if b"\\u0000" in body:
            try:
                document = json.loads(body)
            except ValueError:
                return  # malformed: the handler's decoding answers it
            where = nul_field(document)
            if where is not None:
                raise ValidationFailed.on(where or "body", MESSAGE)
