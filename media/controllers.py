"""Media API: direct uploads for staff, access-checked delivery by redirect, deletion."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, Response, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import (
    HTTP_200_OK,
    HTTP_201_CREATED,
    HTTP_204_NO_CONTENT,
    HTTP_307_TEMPORARY_REDIRECT,
)

from lms.accounts.models import User
from lms.pagination import Limit, Offset, Page
from lms.settings import Settings
from media import deps
from media.delivery import Delivery
from media.models import Asset, AssetKind, AssetPurpose, AssetStatus
from media.public import public_image
from media.schemas import Asset as AssetOut
from media.schemas import (
    CompleteRequest,
    PartUrl,
    PartUrls,
    PartUrlsRequest,
    Thumbnail,
    Upload,
    UploadRequest,
)
from media.service import MediaService
from media.storage import Storage

BEARER: list[dict[str, list[str]]] = [{"BearerToken": []}]


def to_asset(asset: Asset, storage: Storage, settings: Settings) -> AssetOut:
    public = asset.purpose is AssetPurpose.PUBLIC
    image = public_image(storage, asset.bucket, asset.object_key, asset.details) if public else None
    thumbnails = [
        Thumbnail(
            width=int(t["width"]),
            height=int(t["height"]),
            url=image.thumbnails.get(int(t["width"])) if image else None,
        )
        for t in asset.details.get("thumbnails", [])
    ]
    return AssetOut(
        id=asset.id,
        kind=asset.kind,
        purpose=asset.purpose,
        status=asset.status,
        filename=asset.filename,
        content_type=asset.content_type,
        size_bytes=asset.size_bytes,
        url=image.url if image else f"{settings.api_prefix}/media/{asset.id}",
        details={k: v for k, v in asset.details.items() if k not in ("thumbnails", "processed")},
        thumbnails=thumbnails,
        failure_reason=asset.failure_reason,
        processed_at=asset.processed_at,
        created_at=asset.created_at,
    )


def _redirect(url: str, *, public: bool) -> Response[bytes]:
    # Presigned URLs must not be cached beyond their life, nor shared between users.
    cache = "public, max-age=300" if public else "private, no-store"
    return Response(
        content=b"",
        status_code=HTTP_307_TEMPORARY_REDIRECT,
        headers={"Location": url, "Cache-Control": cache},
        media_type="text/plain",
    )


class MediaController(Controller):
    path = "/media"
    tags = ["media"]
    dependencies = deps.dependencies

    @post("/uploads", status_code=HTTP_201_CREATED, security=BEARER)
    async def request_upload(
        self,
        staff: NamedDependency[User],
        data: JSONBody[UploadRequest],
        media: NamedDependency[MediaService],
    ) -> Upload:
        """Staff: authorise one direct upload; answers a POST form, or part URLs for large videos."""
        ticket = await media.request_upload(staff, data)
        settings = media.settings
        asset = to_asset(ticket.asset, media.storage, settings)
        complete_url = f"{settings.api_prefix}/media/{ticket.asset.id}/complete"
        if ticket.multipart is not None:
            mp = ticket.multipart
            return Upload(
                asset=asset,
                method="multipart",
                part_size=mp.part_size,
                part_count=mp.part_count,
                parts=[PartUrl(n, url) for n, url in mp.part_urls],
                expires_at=ticket.expires_at,
                complete_url=complete_url,
            )
        assert ticket.form is not None
        return Upload(
            asset=asset,
            method="post",
            url=ticket.form.url,
            fields=ticket.form.fields,
            expires_at=ticket.form.expires_at,
            complete_url=complete_url,
        )

    @post("/{asset_id:uuid}/parts", status_code=HTTP_200_OK, security=BEARER)
    async def part_urls(
        self,
        staff: NamedDependency[User],
        asset_id: FromPath[uuid.UUID],
        data: JSONBody[PartUrlsRequest],
        media: NamedDependency[MediaService],
    ) -> PartUrls:
        """Staff: fresh URLs for parts of a multipart upload in progress."""
        urls, expires_at = await media.part_urls(asset_id, data.part_numbers)
        return PartUrls(parts=[PartUrl(n, url) for n, url in urls], expires_at=expires_at)

    @post("/{asset_id:uuid}/complete", status_code=HTTP_200_OK, security=BEARER)
    async def complete(
        self,
        staff: NamedDependency[User],
        asset_id: FromPath[uuid.UUID],
        media: NamedDependency[MediaService],
        data: JSONBody[CompleteRequest | None] = None,
    ) -> AssetOut:
        """Staff: the file is sent; check it (size, real type) and start processing."""
        asset = await media.complete(staff, asset_id, data.parts if data else None)
        return to_asset(asset, media.storage, media.settings)

    @get("/", security=BEARER)
    async def list_assets(
        self,
        staff: NamedDependency[User],
        media: NamedDependency[MediaService],
        kind: Annotated[AssetKind | None, QueryParameter()] = None,
        purpose: Annotated[AssetPurpose | None, QueryParameter()] = None,
        status: Annotated[AssetStatus | None, QueryParameter()] = None,
        limit: Limit = 20,
        offset: Offset = 0,
    ) -> Page[AssetOut]:
        """Staff: the media library, newest first."""
        items, total = await media.search(kind, purpose, status, limit, offset)
        return Page(
            items=[to_asset(a, media.storage, media.settings) for a in items],
            total=total,
            limit=limit,
            offset=offset,
        )

    @get("/{asset_id:uuid}/details", security=BEARER)
    async def details(
        self,
        staff: NamedDependency[User],
        asset_id: FromPath[uuid.UUID],
        media: NamedDependency[MediaService],
    ) -> AssetOut:
        """Staff: an asset's state, what processing found, or why it failed."""
        return to_asset(await media.get(asset_id), media.storage, media.settings)

    @get("/{asset_id:uuid}", security=BEARER)
    async def deliver(
        self,
        bearer: NamedDependency[str | None],
        asset_id: FromPath[uuid.UUID],
        delivery: NamedDependency[Delivery],
    ) -> Response[bytes]:
        """Redirect to the file: public assets for anyone, lesson media for staff and enrolled learners."""
        # No request transaction here: a cache hit touches no database at all (see media/delivery.py).
        url, public = await delivery.url(await delivery.viewer(bearer), asset_id)
        return _redirect(url, public=public)

    @get("/{asset_id:uuid}/thumbnails/{width:int}", security=BEARER)
    async def thumbnail(
        self,
        bearer: NamedDependency[str | None],
        asset_id: FromPath[uuid.UUID],
        width: FromPath[int],
        media: NamedDependency[MediaService],
    ) -> Response[bytes]:
        """Redirect to one of an image's WebP thumbnails, with the image's access rule."""
        viewer = await media.delivery.viewer(bearer)
        url, public = await media.thumbnail(viewer, asset_id, width)
        return _redirect(url, public=public)

    @delete("/{asset_id:uuid}", status_code=HTTP_204_NO_CONTENT, security=BEARER)
    async def delete_asset(
        self,
        staff: NamedDependency[User],
        asset_id: FromPath[uuid.UUID],
        media: NamedDependency[MediaService],
    ) -> None:
        """Staff: delete an asset no course uses; its files are removed after commit."""
        await media.delete(staff, asset_id)
