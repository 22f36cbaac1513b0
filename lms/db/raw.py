"""Statements run on a session's own asyncpg connection, inside its transaction.

For the batch statements of a worker's hottest path only: SQLAlchemy's work per statement and per row
(compiling an ``IN`` list, processing result rows, the ORM's bulk update by primary key) took four times
as long as PostgreSQL took to run them. A statement here is either written for arrays (``= ANY($1)``,
``unnest``) or a Core statement compiled once; it shares the session's transaction, so it commits or rolls
back with the rest.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import asyncpg as asyncpg_dialect
from sqlalchemy.ext.asyncio import AsyncSession, async_scoped_session
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

_DIALECT = asyncpg_dialect.dialect()  # type: ignore[no-untyped-call]


async def driver_connection(session: AsyncSession | async_scoped_session[AsyncSession]) -> Any:
    """The asyncpg connection under ``session``, in the session's transaction (begun now if need be)."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    if driver is None:
        raise RuntimeError("the session's connection is closed")
    if not driver.is_in_transaction():
        # SQLAlchemy begins the transaction with the session's first statement.
        await session.execute(select(1))
    return driver


@dataclass(frozen=True, slots=True)
class Compiled:
    """A Core statement compiled once for asyncpg: its SQL and the order of its named parameters."""

    sql: str
    names: tuple[str, ...]
    constants: Mapping[str, Any]

    def args(self, **values: Any) -> list[Any]:
        merged = {**self.constants, **values}
        return [merged[name] for name in self.names]


def compiled(statement: ClauseElement) -> Compiled:
    """Compile once, at import or behind a cache: compiling costs more than running the statement."""
    done = cast("SQLCompiler", statement.compile(dialect=_DIALECT))
    constants = {k: v.value if isinstance(v, enum.Enum) else v for k, v in done.params.items()}
    return Compiled(str(done), tuple(done.positiontup or ()), constants)
