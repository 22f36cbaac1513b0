"""Short-lived, per-process memory for the delivery redirect, so a hit needs no database round trip.

A presigned URL already grants access for ``media_download_ttl`` seconds (minutes), so remembering a
*positive* decision for a few seconds does not widen what a caller can do: a logout, a withdrawal or a
deletion takes effect within ``VIEWER_TTL``/``ACCESS_TTL`` seconds, well inside the life of any URL handed
out just before. Refusals are never remembered (a learner who has just enrolled gets in at once).
See docs/decisions/0008-media-delivery-cache.md.
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Generic, TypeVar

from litestar.datastructures import State
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from lms.accounts.deps import STAFF_ROLES
from lms.accounts.models import User
from lms.accounts.service import AccountService
from lms.errors import NotFound, Unauthorized
from lms.settings import Settings
from media.models import AssetPurpose, AssetStatus
from media.repository import AssetRepository, DeliveryRow
from media.storage import Storage

NOT_FOUND = "No such asset."  # the same answer for unknown and forbidden assets

VIEWER_TTL = 10.0  # seconds a checked bearer token is trusted without asking the sessions table again
ACCESS_TTL = 30.0  # seconds an allowed (learner, asset) pair and an asset's row are remembered
MAX_ENTRIES = 20_000  # per map; the oldest entries go first

K = TypeVar("K")
V = TypeVar("V")


class TTLCache(Generic[K, V]):
    """A small LRU whose entries also expire."""

    def __init__(self, ttl: float, max_entries: int = MAX_ENTRIES) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._items: OrderedDict[K, tuple[float, V]] = OrderedDict()

    def get(self, key: K) -> V | None:
        found = self._items.get(key)
        if found is None:
            return None
        expires, value = found
        if expires < time.monotonic():
            del self._items[key]
            return None
        return value

    def put(self, key: K, value: V) -> None:
        self._items[key] = (time.monotonic() + self.ttl, value)
        self._items.move_to_end(key)
        if len(self._items) > self.max_entries:
            self._items.popitem(last=False)

    def drop(self, key: K) -> None:
        self._items.pop(key, None)


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who asks for an asset: enough to decide access."""

    id: uuid.UUID
    is_staff: bool

    @classmethod
    def of(cls, user: User) -> Viewer:
        return cls(user.id, user.role in STAFF_ROLES)


class DeliveryCache:
    def __init__(self) -> None:
        self.viewers: TTLCache[str, Viewer] = TTLCache(VIEWER_TTL)
        self.rows: TTLCache[uuid.UUID, DeliveryRow] = TTLCache(ACCESS_TTL)
        self.allowed: TTLCache[tuple[uuid.UUID, uuid.UUID], bool] = TTLCache(ACCESS_TTL)

    def forget_asset(self, asset_id: uuid.UUID) -> None:
        self.rows.drop(asset_id)


@asynccontextmanager
async def _reader(state: State) -> AsyncIterator[AsyncSession]:
    """A session for the few reads a cache miss needs; nothing is written, so no transaction is kept."""
    sessionmaker: async_sessionmaker[AsyncSession] = state.sessionmaker
    async with sessionmaker() as session:
        yield session


class Delivery:
    """Redirects to assets: access checked against remembered decisions first, the database on a miss."""

    def __init__(self, state: State) -> None:
        self.state = state
        self.storage: Storage = state.media_storage
        self.settings: Settings = state.settings
        self.cache: DeliveryCache = state.media_delivery_cache

    async def viewer(self, token: str | None) -> Viewer | None:
        """The caller, like the ``viewer`` dependency, with recently checked tokens remembered.

        A remembered token is trusted for ``VIEWER_TTL`` seconds without decoding it again or asking the
        sessions table, so a hit costs no database round trip and no JWT verification.
        """
        if token is None:
            return None
        known = self.cache.viewers.get(token)
        if known is not None:
            return known
        async with _reader(self.state) as session:
            found = await AccountService(session, self.state.account_deps).authenticate(token)
        if found is None:
            raise Unauthorized("The access token is invalid or expired; log in again or refresh it.")
        viewer = Viewer.of(found[0])
        self.cache.viewers.put(token, viewer)
        return viewer

    async def _row(self, asset_id: uuid.UUID) -> DeliveryRow:
        row = self.cache.rows.get(asset_id)
        if row is None:
            async with _reader(self.state) as session:
                row = await AssetRepository(session=session, auto_refresh=False).delivery_row(asset_id)
            if row is None or row.status is AssetStatus.PENDING:
                raise NotFound(NOT_FOUND)
            self.cache.rows.put(asset_id, row)
        return row

    async def may_read(self, viewer: Viewer | None, asset_id: uuid.UUID) -> bool:
        """Lesson media: staff, and learners seated in a run of a course that uses it."""
        if viewer is None:
            return False
        if viewer.is_staff or self.cache.allowed.get((viewer.id, asset_id)):
            return True
        async with _reader(self.state) as session:
            repository = AssetRepository(session=session, auto_refresh=False)
            allowed: bool = await repository.learner_may_read(asset_id, viewer.id, datetime.now(UTC))
        if allowed:  # refusals are not remembered: a learner who has just enrolled gets in at once
            self.cache.allowed.put((viewer.id, asset_id), True)
        return allowed

    async def url(self, viewer: Viewer | None, asset_id: uuid.UUID) -> tuple[str, bool]:
        """Where the caller may read the asset, and whether that is a public URL (else a presigned GET)."""
        row = await self._row(asset_id)
        if row.purpose is AssetPurpose.PUBLIC:
            return self.storage.public_url(row.bucket, row.object_key), True
        if not await self.may_read(viewer, row.id):
            raise NotFound(NOT_FOUND)
        url = await self.storage.presigned_get_url(
            row.bucket,
            row.object_key,
            expires=self.settings.media_download_ttl,
            filename=row.filename,
            content_type=row.content_type,
        )
        return url, False


def provide_delivery(state: State) -> Delivery:
    return Delivery(state)
