"""A small pool of bare asyncpg connections for the hottest single-statement paths.

SQLAlchemy's pool costs about 100 µs per checkout and return (events, greenlet switches, reset), and
asyncpg's own pool resets every connection it takes back with a round trip. The statements run here are
each their own transaction (autocommit), so a connection carries no state from one use to the next and
needs no reset: taking and returning one is an ``asyncio.Queue`` operation, first come, first served.

A connection that saw any error, or a cancellation, is closed rather than reused; a new one is opened on
demand. Connections older than ``recycle`` seconds are closed when returned, as SQLAlchemy's pool does.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from litestar.datastructures import State

from lms.settings import Settings

RECYCLE_SECONDS = 1800.0
# The statements run here are written for generic plans (literals where a partial index must match, the
# search query parsed once in an initplan), so they are planned once per connection and statement. Left
# to choose, PostgreSQL kept planning some catalogue shapes for every execution at 10,000 courses, which
# cost about as much as executing them (see docs/decisions/0012).
#
# A random page read costs 1.1 sequential ones, not PostgreSQL's default 4 (made for spinning disks): the
# catalogue's pages are in memory or on SSD. With 4, a catalogue of a hundred courses read all of
# ``course_runs`` once per card to find its next run (a table of a few pages looked cheaper to scan than
# its index) and its newest page took twice as long as at 10,000 courses.
SERVER_SETTINGS = {"timezone": "UTC", "plan_cache_mode": "force_generic_plan", "random_page_cost": "1.1"}
# Called with the text of every statement run through a driver pool while registered (tests count
# queries with it); empty in production, where checking it is the only cost.
STATEMENT_LISTENERS: list[Callable[[str], None]] = []


def plain_url(url: str) -> str:
    """asyncpg wants ``postgresql://``; operators may give SQLAlchemy's ``postgresql+asyncpg://``."""
    for prefix in ("postgresql+asyncpg://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix) :]
    return url


class DriverPool:
    """At most ``size`` asyncpg connections, handed out in FIFO order and opened lazily."""

    def __init__(self, url: str, size: int, *, timeout: float, recycle: float = RECYCLE_SECONDS) -> None:
        self._url = plain_url(url)
        self._timeout = timeout
        self._recycle = recycle
        self._idle: asyncio.Queue[tuple[Any, float]] = asyncio.Queue()
        self._slots = asyncio.Semaphore(size)
        self._closed = False

    @classmethod
    def from_settings(cls, settings: Settings) -> DriverPool:
        if not settings.database_url:
            raise RuntimeError("no database URL: set LMS_DATABASE_URL or run `lms dev`")
        return cls(
            settings.database_url,
            settings.database_pool_size + settings.database_max_overflow,
            timeout=settings.database_pool_timeout,
        )

    async def _open(self) -> tuple[Any, float]:
        connection = await asyncpg.connect(self._url, timeout=self._timeout, server_settings=SERVER_SETTINGS)
        return connection, time.monotonic()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Any]:
        """A connection for one or more self-contained statements; errors surface as asyncpg's."""
        if self._closed:
            raise RuntimeError("the driver pool is closed")
        # Waiting longer than the pool timeout is answered like an unreachable database (503).
        if self._slots.locked():
            await asyncio.wait_for(self._slots.acquire(), self._timeout)
        else:
            await self._slots.acquire()
        try:
            entry = await self._take()
            try:
                yield _Observed(entry[0]) if STATEMENT_LISTENERS else entry[0]
            except asyncpg.PostgresError:
                # The server refused a statement; the connection itself is fine unless left in a transaction.
                self._give_back(entry)
                raise
            except BaseException:
                entry[0].terminate()  # its state is unknown (lost, a cancelled query): never reuse it
                raise
            self._give_back(entry)
        finally:
            self._slots.release()

    async def _take(self) -> tuple[Any, float]:
        while not self._idle.empty():
            entry = self._idle.get_nowait()
            if not entry[0].is_closed():  # the server may have ended it meanwhile (a restart, a kill)
                return entry
        return await self._open()

    def _give_back(self, entry: tuple[Any, float]) -> None:
        connection, opened = entry
        if self._closed or connection.is_in_transaction() or time.monotonic() - opened > self._recycle:
            connection.terminate()
        else:
            self._idle.put_nowait(entry)

    async def close(self) -> None:
        self._closed = True
        while not self._idle.empty():
            connection, _ = self._idle.get_nowait()
            try:
                await connection.close(timeout=self._timeout)
            except Exception:  # shutting down: a broken connection is simply dropped
                connection.terminate()


class _Observed:
    """A connection that tells ``STATEMENT_LISTENERS`` each statement before running it."""

    def __init__(self, connection: Any) -> None:
        self._connection = connection

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._connection, name)
        if name not in {"execute", "fetch", "fetchrow", "fetchval", "executemany"}:
            return method

        def observed(query: str, *args: Any, **kwargs: Any) -> Any:
            for listener in STATEMENT_LISTENERS:
                listener(query)
            return method(query, *args, **kwargs)

        return observed


def driver_pool(state: State) -> DriverPool:
    pool: DriverPool = state.driver_pool
    return pool
