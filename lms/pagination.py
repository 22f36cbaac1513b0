"""The page shape every list endpoint answers with, and its query parameters."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

import msgspec
from litestar.params import QueryParameter

T = TypeVar("T")

# Deeper than any list is walked page by page, and well inside PostgreSQL's bigint: a larger offset is a
# 422 naming the parameter, not a database error.
MAX_OFFSET = 1_000_000

Limit = Annotated[int, QueryParameter(ge=1, le=100)]
Offset = Annotated[int, QueryParameter(ge=0, le=MAX_OFFSET)]


class Page(msgspec.Struct, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int
