"""Media dependencies: the storage client, the media service, public URLs for list endpoints."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from sqlalchemy.ext.asyncio import AsyncSession

from lms.accounts.deps import bearer_token
from lms.settings import Settings
from media.delivery import Delivery, DeliveryCache, provide_delivery
from media.public import PublicUrls
from media.service import MediaService
from media.storage import build_storage


def media_state(settings: Settings) -> dict[str, Any]:
    """App state entries: one storage client per app, and the cache of public URLs built on it."""
    storage = build_storage(settings)
    return {
        "media_storage": storage,
        "media_public_urls": PublicUrls(storage),
        "media_delivery_cache": DeliveryCache(),
    }


def provide_public_urls(state: State) -> PublicUrls:
    """Public URLs of covers and thumbnails for list endpoints (e.g. the catalogue)."""
    urls: PublicUrls = state.media_public_urls
    return urls


def provide_media(
    db_session: NamedDependency[AsyncSession], delivery: NamedDependency[Delivery]
) -> MediaService:
    return MediaService(db_session, delivery)


def provide_bearer(request: Request[object, object, State]) -> str | None:
    return bearer_token(request)


dependencies = {
    "media": Provide(provide_media, sync_to_thread=False),
    "public_urls": Provide(provide_public_urls, sync_to_thread=False),
    "delivery": Provide(provide_delivery, sync_to_thread=False),
    "bearer": Provide(provide_bearer, sync_to_thread=False),
}
