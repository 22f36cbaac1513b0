"""Public URLs of covers and their thumbnails, cached per process for list endpoints (the catalogue).

Presigning per item per request is too slow for a list, and unnecessary: public objects are readable
without a signature and their keys are deterministic (``thumbnails/<asset id>/w<width>.webp``), so once an
asset has been processed its URLs never change. Only found, processed assets are cached; an asset that is
still processing is looked up again next time. A cover cannot be deleted while a course points at it
(foreign key RESTRICT), so a cached entry cannot outlive its object while it is in use.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from media.repository import public_rows
from media.storage import Storage


class PublicImage(msgspec.Struct, frozen=True):
    """A public image: its own URL, its WebP thumbnails' by width, and its size once processed."""

    url: str
    thumbnails: dict[int, str]  # JSON: {"320": url, "960": url}; empty until processing has run
    width: int | None = None
    height: int | None = None

    def best(self, width: int) -> str:
        """The smallest thumbnail at least ``width`` wide, else the largest, else the original."""
        fitting = sorted(w for w in self.thumbnails if w >= width)
        if fitting:
            return self.thumbnails[fitting[0]]
        return self.thumbnails[max(self.thumbnails)] if self.thumbnails else self.url


def public_image(storage: Storage, bucket: str, key: str, details: dict[str, Any]) -> PublicImage:
    thumbs = {
        int(t["width"]): storage.public_url(str(t["bucket"]), str(t["key"]))
        for t in details.get("thumbnails", [])
    }
    width, height = details.get("width"), details.get("height")
    return PublicImage(
        storage.public_url(bucket, key),
        thumbs,
        width=int(width) if width is not None else None,
        height=int(height) if height is not None else None,
    )


class PublicUrls:
    """An LRU of asset id -> PublicImage, filled with one query for the ids a request misses."""

    def __init__(self, storage: Storage, max_entries: int = 10_000) -> None:
        self.storage = storage
        self.max_entries = max_entries
        self._cache: OrderedDict[uuid.UUID, PublicImage] = OrderedDict()

    def forget(self, asset_id: uuid.UUID) -> None:
        self._cache.pop(asset_id, None)

    def image(
        self, asset_id: uuid.UUID, bucket: str, key: str, details: dict[str, Any] | str | None
    ) -> PublicImage:
        """The public image of an asset row the caller already read (e.g. joined into its own query).

        The caller's query decides which rows qualify (ready, public); this only builds and caches URLs.
        ``details`` may be the JSON text, decoded only when the asset is not cached yet.
        """
        hit = self._cache.get(asset_id)
        if hit is not None:
            self._cache.move_to_end(asset_id)
            return hit
        if not isinstance(details, dict):
            details = msgspec.json.decode(details) if details else {}
        image = public_image(self.storage, bucket, key, details)
        if details.get("processed"):
            self._remember(asset_id, image)
        return image

    async def images(
        self, session: AsyncSession | AsyncConnection, asset_ids: Sequence[uuid.UUID | None]
    ) -> dict[uuid.UUID, PublicImage]:
        """Public images for the given ids (unknown, private or unprocessed ones are left out)."""
        found: dict[uuid.UUID, PublicImage] = {}
        missing: list[uuid.UUID] = []
        for asset_id in asset_ids:
            if asset_id is None:
                continue
            hit = self._cache.get(asset_id)
            if hit is None:
                missing.append(asset_id)
            else:
                self._cache.move_to_end(asset_id)
                found[asset_id] = hit
        if missing:
            rows = await public_rows(session, missing)
            for asset_id, bucket, key, details in rows:
                found[asset_id] = self.image(asset_id, bucket, key, details)
        return found

    def _remember(self, asset_id: uuid.UUID, image: PublicImage) -> None:
        self._cache[asset_id] = image
        if len(self._cache) > self.max_entries:
            self._cache.popitem(last=False)
