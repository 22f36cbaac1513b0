"""What a worker process holds: settings, its engine and sessionmaker, the publisher, shared clients."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from lms.db.outbox import PUBLISHER_KEY, Publisher
from lms.db.session import create_engine, create_sessionmaker
from lms.settings import Settings

T = TypeVar("T")


class Runtime:
    """Loop-bound resources of one process, built lazily on first use."""

    def __init__(
        self, settings: Settings, publisher: Publisher | None, database_url: str | None = None
    ) -> None:
        self.settings = settings
        self.publisher = publisher
        self._database_url = database_url
        self._engine: AsyncEngine | None = None
        self._sessionmaker: async_sessionmaker[AsyncSession] | None = None
        self._resources: dict[str, Any] = {}

    @property
    def engine(self) -> AsyncEngine:
        if self._engine is None:
            # A worker runs one task at a time per process: a small pool is enough.
            self._engine = create_engine(self.settings, self._database_url, pool_size=2, max_overflow=2)
        return self._engine

    @property
    def sessionmaker(self) -> async_sessionmaker[AsyncSession]:
        if self._sessionmaker is None:
            self._sessionmaker = create_sessionmaker(self.engine)
            if self.publisher is not None:
                self._sessionmaker.configure(info={PUBLISHER_KEY: self.publisher})
        return self._sessionmaker

    def resource(self, key: str, factory: Callable[[Settings], T]) -> T:
        """A client shared by the tasks of this process (storage, mail), built once."""
        if key not in self._resources:
            self._resources[key] = factory(self.settings)
        value: T = self._resources[key]
        return value

    def forget(self) -> None:
        """Drop loop-bound state without awaiting it (the loop it belonged to is gone)."""
        if self._engine is not None:
            self._engine.sync_engine.dispose(close=False)
        self._engine = None
        self._sessionmaker = None
        self._resources.clear()

    async def aclose(self) -> None:
        if self._engine is not None:
            await self._engine.dispose()
        self._engine = None
        self._sessionmaker = None
