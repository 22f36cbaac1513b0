"""Media rules: who may upload what, when an upload counts as done, who may read an asset, when it may go."""

from __future__ import annotations

import logging
import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from lms import audit
from lms.accounts.models import User
from lms.errors import Conflict, NotFound, PayloadTooLarge, ValidationFailed
from lms.settings import Settings
from media import processing, rules
from media.delivery import NOT_FOUND, Delivery, Viewer
from media.models import Asset, AssetKind, AssetPurpose, AssetStatus
from media.repository import AssetRepository
from media.schemas import CompletedPart, UploadRequest
from media.sniff import SNIFF_BYTES, sniff
from media.storage import Storage, UploadedPart, UploadForm, UploadIncomplete

logger = logging.getLogger("media")

MAX_PARTS = 10_000  # S3's limit per multipart upload
SWEEP_BATCH = 200  # stale uploads one sweep removes at most; the next sweep takes the rest


@dataclass(frozen=True, slots=True)
class Multipart:
    part_size: int
    part_count: int
    part_urls: list[tuple[int, str]]


@dataclass(frozen=True, slots=True)
class UploadTicket:
    asset: Asset
    form: UploadForm | None
    multipart: Multipart | None
    expires_at: datetime


def asset_objects(asset: Asset) -> list[tuple[str, str]]:
    """Every stored object that belongs to the asset: the file and its thumbnails."""
    objects = [(asset.bucket, asset.object_key)]
    objects += [(str(t["bucket"]), str(t["key"])) for t in asset.details.get("thumbnails", [])]
    return objects


def _summary(asset: Asset) -> dict[str, Any]:
    return {
        "kind": asset.kind.value,
        "purpose": asset.purpose.value,
        "filename": asset.filename,
        "content_type": asset.content_type,
        "size_bytes": asset.size_bytes,
        "object_key": asset.object_key,
    }


class MediaService:
    def __init__(self, session: AsyncSession, delivery: Delivery) -> None:
        self.session = session
        self.delivery = delivery
        self.storage = delivery.storage
        self.settings = delivery.settings
        self.assets = AssetRepository(session=session, auto_refresh=False)

    # -- uploads -------------------------------------------------------------------------------------
    def _rule_for(self, data: UploadRequest) -> rules.KindRule:
        content_type = data.content_type.strip().lower()
        rule = rules.kind_of(self.settings, content_type)
        if data.kind is not None:
            rule = rules.kind_rules(self.settings)[data.kind]
            if content_type not in rule.content_types:
                allowed = ", ".join(sorted(rule.content_types))
                raise ValidationFailed.on("content_type", f"a {data.kind.value} must be one of: {allowed}")
        if rule is None:
            raise ValidationFailed.on("content_type", f"{content_type} is not a type Aula accepts")
        if data.size_bytes > rule.max_bytes:
            raise PayloadTooLarge(
                f"A {rule.kind.value} may be at most {rule.max_bytes} bytes; this one is {data.size_bytes}.",
                extra={"max_bytes": rule.max_bytes},
            )
        return rule

    async def request_upload(self, actor: User, data: UploadRequest) -> UploadTicket:
        """Authorise one direct upload: a pending asset and a form (or parts) bound to its object key."""
        rule = self._rule_for(data)
        filename = data.filename.strip().replace("\x00", "")
        if not filename:
            raise ValidationFailed.on("filename", "must not be blank")
        asset_id = uuid.uuid4()
        asset = Asset(
            id=asset_id,
            kind=rule.kind,
            purpose=data.purpose,
            status=AssetStatus.PENDING,
            bucket=rules.bucket_for(self.settings, data.purpose),
            object_key=rules.object_key(data.purpose, asset_id, filename),
            filename=filename,
            content_type=data.content_type.strip().lower(),
            size_bytes=data.size_bytes,
            uploaded_by=actor.id,
            details={},
        )
        ttl = self.settings.media_upload_ttl
        form: UploadForm | None = None
        multipart: Multipart | None = None
        if rule.kind is AssetKind.VIDEO and data.size_bytes > self.settings.media_multipart_threshold:
            part_size = max(self.settings.media_part_size, math.ceil(data.size_bytes / MAX_PARTS))
            count = math.ceil(data.size_bytes / part_size)
            asset.upload_id = await self.storage.create_multipart(
                asset.bucket, asset.object_key, asset.content_type
            )
            urls = [(n, await self._part_url(asset, n)) for n in range(1, count + 1)]
            multipart = Multipart(part_size, count, urls)
        else:
            form = await self.storage.presigned_post(
                asset.bucket,
                asset.object_key,
                content_type=asset.content_type,
                min_size=data.size_bytes,
                max_size=data.size_bytes,
                expires=ttl,
            )
        self.session.add(asset)
        await self.session.flush()
        audit.record(
            self.session,
            actor_id=actor.id,
            action="media.upload_requested",
            entity_type="media_asset",
            entity_id=asset.id,
            after=_summary(asset),
        )
        return UploadTicket(asset, form, multipart, self._upload_expiry())

    async def _part_url(self, asset: Asset, part_number: int) -> str:
        assert asset.upload_id is not None
        return await self.storage.presigned_part_url(
            asset.bucket,
            asset.object_key,
            asset.upload_id,
            part_number,
            expires=self.settings.media_upload_ttl,
        )

    async def part_urls(
        self, asset_id: uuid.UUID, part_numbers: list[int]
    ) -> tuple[list[tuple[int, str]], datetime]:
        """Fresh part URLs for a multipart upload still in progress (the first ones may have expired)."""
        asset = await self.assets.get_one_or_none(Asset.id == asset_id)
        if asset is None:
            raise NotFound(NOT_FOUND)
        if asset.status is not AssetStatus.PENDING or asset.upload_id is None:
            raise Conflict("This asset is not waiting for multipart parts.")
        urls = [(n, await self._part_url(asset, n)) for n in sorted(set(part_numbers))]
        return urls, self._upload_expiry()

    def _upload_expiry(self) -> datetime:
        return datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=self.settings.media_upload_ttl)

    async def complete(self, actor: User, asset_id: uuid.UUID, parts: list[CompletedPart] | None) -> Asset:
        """Check the uploaded object (present, declared size, real type) and make the asset ready."""
        asset = await self.assets.locked(asset_id)
        if asset is None:
            raise NotFound(NOT_FOUND)
        if asset.status is not AssetStatus.PENDING:
            return asset  # completing twice (a retried request) answers the same
        if asset.upload_id is not None:
            await self._assemble(asset, parts)
        info = await self.storage.stat(asset.bucket, asset.object_key)
        if info is None:
            raise Conflict("The upload has not arrived; send the file first, then complete the upload.")
        if info.size != asset.size_bytes:
            await self._reject(
                asset, "size_bytes", f"{info.size} bytes arrived, {asset.size_bytes} were declared"
            )
        real = sniff(await self.storage.get_bytes(asset.bucket, asset.object_key, SNIFF_BYTES))
        if real != asset.content_type:
            found = real or "an unrecognised type"
            await self._reject(asset, "content_type", f"the file is {found}, not {asset.content_type}")
        asset.status = AssetStatus.READY
        from media.tasks import process_asset  # the task module imports this one

        process_asset.enqueue(self.session, asset_id=str(asset.id))
        audit.record(
            self.session,
            actor_id=actor.id,
            action="media.uploaded",
            entity_type="media_asset",
            entity_id=asset.id,
            after=_summary(asset),
        )
        return asset

    async def _assemble(self, asset: Asset, parts: list[CompletedPart] | None) -> None:
        assert asset.upload_id is not None
        if not parts:
            raise ValidationFailed.on("parts", "a multipart upload is completed with its parts' ETags")
        listed = [UploadedPart(p.part_number, p.etag) for p in sorted(parts, key=lambda p: p.part_number)]
        try:
            await self.storage.complete_multipart(asset.bucket, asset.object_key, asset.upload_id, listed)
        except UploadIncomplete as exc:
            raise Conflict(f"The upload is not complete: {exc}") from exc
        asset.upload_id = None

    async def _reject(self, asset: Asset, field: str, message: str) -> None:
        """Keep nothing of an upload that is not what it claimed: object and row go, the refusal commits."""
        await self.storage.delete(asset.bucket, asset.object_key)
        await self.session.delete(asset)
        audit.record(
            self.session,
            actor_id=None,
            action="media.upload_rejected",
            entity_type="media_asset",
            entity_id=asset.id,
            before=_summary(asset),
            after={"reason": message},
        )
        error = ValidationFailed.on(field, message)
        error.keep_changes = True
        raise error

    # -- reading -------------------------------------------------------------------------------------
    async def get(self, asset_id: uuid.UUID) -> Asset:
        asset = await self.assets.get_one_or_none(Asset.id == asset_id)
        if asset is None:
            raise NotFound(NOT_FOUND)
        return asset

    async def search(
        self,
        kind: AssetKind | None,
        purpose: AssetPurpose | None,
        status: AssetStatus | None,
        limit: int,
        offset: int,
    ) -> tuple[list[Asset], int]:
        return await self.assets.search(kind=kind, purpose=purpose, status=status, limit=limit, offset=offset)

    async def thumbnail(self, viewer: Viewer | None, asset_id: uuid.UUID, width: int) -> tuple[str, bool]:
        """A thumbnail of an image asset, with the same access rule as the image itself."""
        asset = await self.assets.get_one_or_none(Asset.id == asset_id)
        if asset is None or asset.status is not AssetStatus.READY:
            raise NotFound(NOT_FOUND)
        thumb = next((t for t in asset.details.get("thumbnails", []) if t["width"] == width), None)
        public = asset.purpose is AssetPurpose.PUBLIC
        if thumb is None or not (public or await self.delivery.may_read(viewer, asset.id)):
            raise NotFound("No such thumbnail.")
        if public:
            return self.storage.public_url(thumb["bucket"], thumb["key"]), True
        url = await self.storage.presigned_get_url(
            thumb["bucket"], thumb["key"], expires=self.settings.media_download_ttl, content_type="image/webp"
        )
        return url, False

    # -- lifecycle -----------------------------------------------------------------------------------
    async def delete(self, actor: User, asset_id: uuid.UUID) -> None:
        """Remove an asset nothing uses; its objects are removed by owed work after commit."""
        asset = await self.assets.locked(asset_id)
        if asset is None:
            raise NotFound(NOT_FOUND)
        uses = await self.assets.uses(asset.id)
        if uses:
            published = any(u.published for u in uses)
            where = "a published course" if published else "a course"
            raise Conflict(
                f"The asset is used by {where}; replace it there first.",
                extra={
                    "uses": [
                        {
                            "entity": u.entity,
                            "id": str(u.entity_id),
                            "course_id": str(u.course_id),
                            "published": u.published,
                        }
                        for u in uses
                    ]
                },
            )
        await self.session.delete(asset)
        try:
            await self.session.flush()
        except IntegrityError as exc:  # a reference added after our check; the foreign key refuses
            raise Conflict("The asset is in use; replace it there first.") from exc
        _owe_removal(self.session, asset)
        self.delivery.cache.forget_asset(asset.id)
        audit.record(
            self.session,
            actor_id=actor.id,
            action="media.deleted",
            entity_type="media_asset",
            entity_id=asset.id,
            before=_summary(asset),
        )


def _owe_removal(session: AsyncSession, asset: Asset) -> None:
    from media.tasks import remove_objects

    remove_objects.enqueue(
        session,
        objects=[list(o) for o in asset_objects(asset)],
        upload_id=asset.upload_id,
    )


# -- work done by workers ------------------------------------------------------------------------------
async def process(session: AsyncSession, storage: Storage, settings: Settings, asset_id: uuid.UUID) -> None:
    """Learn what the file holds; a file that cannot be processed marks the asset failed, with why."""
    asset = await AssetRepository(session=session, auto_refresh=False).locked(asset_id)
    if asset is None or asset.status is not AssetStatus.READY or asset.processed_at is not None:
        return  # deleted meanwhile, or already processed: a second run is a no-op
    try:
        details = await _facts(storage, settings, asset)
    except processing.BadMedia as exc:
        asset.status = AssetStatus.FAILED
        asset.failure_reason = str(exc)[:2000]
        logger.info("asset %s failed processing: %s", asset.id, exc)
    else:
        asset.details = {**details, "processed": True}
    asset.processed_at = datetime.now(UTC)


async def _facts(storage: Storage, settings: Settings, asset: Asset) -> dict[str, Any]:
    if asset.kind is AssetKind.VIDEO:
        source = await storage.probe_source(
            asset.bucket, asset.object_key, expires=settings.media_download_ttl
        )
        return await processing.probe_video(settings.media_ffprobe, source)
    data = await storage.get_bytes(asset.bucket, asset.object_key)
    if asset.kind is AssetKind.IMAGE:
        facts, thumbs = processing.image_facts(data, settings.media_thumbnail_widths)
        # Thumbnails of public images are public (catalogue covers); lesson images keep theirs private.
        bucket = settings.bucket_public if asset.purpose is AssetPurpose.PUBLIC else settings.bucket_media
        stored = []
        for thumb in thumbs:
            key = rules.thumbnail_key(asset.id, thumb.width)
            await storage.put_bytes(bucket, key, thumb.data, "image/webp")
            stored.append({"width": thumb.width, "height": thumb.height, "bucket": bucket, "key": key})
        return {**facts, "thumbnails": stored}
    if asset.kind is AssetKind.DOCUMENT:
        return processing.pdf_facts(data)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise processing.BadMedia("the captions are not UTF-8 text") from exc
    return processing.parse_webvtt(text)


async def sweep_pending(session: AsyncSession, storage: Storage, settings: Settings, now: datetime) -> int:
    """Remove uploads still pending after the allowed age, with whatever arrived of them."""
    before = now - timedelta(seconds=settings.media_pending_max_age)
    repository = AssetRepository(session=session, auto_refresh=False)
    stale = [
        a for a in await repository.stale_pending(before, SWEEP_BATCH) if not await repository.uses(a.id)
    ]
    # An unfinished upload a course already points at stays (its foreign key would refuse the deletion and
    # block the whole sweep); staff see it pending and replace it.
    for asset in stale:
        # Objects first: if the commit then fails, the rows are still pending and the next sweep retries.
        if asset.upload_id is not None:
            await storage.abort_multipart(asset.bucket, asset.object_key, asset.upload_id)
        await storage.delete(asset.bucket, asset.object_key)
        await session.delete(asset)
    if stale:
        logger.info("removed %d unfinished uploads", len(stale))
    return len(stale)


async def remove_objects(storage: Storage, objects: list[list[str]], upload_id: str | None) -> None:
    """Delete stored objects (idempotent: deleting a missing object is not an error)."""
    for bucket, key in objects:
        if upload_id is not None:
            await storage.abort_multipart(bucket, key, upload_id)
            upload_id = None
        await storage.delete(bucket, key)
