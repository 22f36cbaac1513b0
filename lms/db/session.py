"""Engine, sessions and the one-transaction-per-unit-of-work rule, with work that runs only after commit."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from litestar.datastructures import State
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from lms.errors import DomainError
from lms.settings import Settings

logger = logging.getLogger("lms.db")

AfterCommit = Callable[[], Awaitable[None]]
_AFTER_COMMIT_KEY = "lms.after_commit"


def async_url(url: str) -> str:
    """Accept plain ``postgresql://`` URLs from operators and use the asyncpg driver."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    return url


def create_engine(settings: Settings, url: str | None = None, **overrides: Any) -> AsyncEngine:
    """Build the pooled async engine the app or a worker process uses."""
    target = url or settings.database_url
    if not target:
        raise RuntimeError("no database URL: set LMS_DATABASE_URL or run `lms dev`")
    options: dict[str, Any] = {
        "pool_size": settings.database_pool_size,
        "max_overflow": settings.database_max_overflow,
        "pool_timeout": settings.database_pool_timeout,
        # No pre-ping: it costs a round trip on every checkout. A connection broken by a database restart
        # fails one request with 503, and SQLAlchemy then invalidates the whole pool; recycling bounds the age
        # of idle connections.
        "pool_recycle": 1800,
        "echo": settings.database_echo,
        "connect_args": {"timeout": settings.database_pool_timeout, "server_settings": {"timezone": "UTC"}},
    }
    options.update(overrides)
    return create_async_engine(async_url(target), **options)


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=True)


def after_commit(session: AsyncSession, callback: AfterCommit) -> None:
    """Run ``callback`` once the session's transaction has committed; drop it if it rolls back."""
    session.info.setdefault(_AFTER_COMMIT_KEY, []).append(callback)


async def _run_after_commit(session: AsyncSession) -> None:
    callbacks: list[AfterCommit] = session.info.pop(_AFTER_COMMIT_KEY, [])
    for callback in callbacks:
        try:
            await callback()
        except Exception:
            # The data is committed and owed work is recorded durably; the sweep will retry it.
            logger.exception("after-commit callback failed; the outbox sweep will retry it")


async def commit(session: AsyncSession) -> None:
    """Commit, then run what was waiting for the commit."""
    try:
        await session.commit()
    except BaseException:
        session.info.pop(_AFTER_COMMIT_KEY, None)
        raise
    await _run_after_commit(session)


async def rollback(session: AsyncSession) -> None:
    session.info.pop(_AFTER_COMMIT_KEY, None)
    await session.rollback()


@asynccontextmanager
async def unit_of_work(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One transaction: committed when the block ends normally, rolled back when it raises."""
    async with sessionmaker() as session:
        try:
            yield session
        except DomainError as exc:
            await (commit(session) if exc.keep_changes else rollback(session))
            raise
        except BaseException:
            await rollback(session)
            raise
        await commit(session)


async def provide_db_session(state: State) -> AsyncIterator[AsyncSession]:
    """The request's transaction: committed before the response is sent, so a failed commit is an error.

    Requests take a slot before they take a connection. The slots queue first come, first served; the
    pool's own waiters do not (measured: p50 28 ms but p99 over a second once requests outnumber the
    pool), so the pool itself should never have to make a request wait.
    """
    slots: asyncio.Semaphore = state.db_slots
    async with slots, unit_of_work(state.sessionmaker) as session:
        yield session


def request_slots(settings: Settings) -> asyncio.Semaphore:
    """The fair queue in front of the request transactions of one API process."""
    return asyncio.Semaphore(settings.database_pool_size + settings.database_max_overflow)
