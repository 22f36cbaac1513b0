"""Request and response shapes of the media API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from lms.accounts.schemas import Strict
from media.models import AssetKind, AssetPurpose, AssetStatus

Filename = Annotated[str, Meta(min_length=1, max_length=255)]
ContentType = Annotated[str, Meta(min_length=3, max_length=100)]
PartNumber = Annotated[int, Meta(ge=1, le=10_000)]  # S3's limits


class UploadRequest(Strict, kw_only=True):
    """Staff ask to upload one file; the server answers where and how to send it."""

    filename: Filename
    content_type: ContentType
    size_bytes: Annotated[int, Meta(ge=1)]
    purpose: AssetPurpose
    kind: AssetKind | None = None  # inferred from the content type when left out


class Thumbnail(msgspec.Struct):
    width: int
    height: int
    url: str | None  # set for public assets; lesson thumbnails go through the delivery endpoint


class Asset(msgspec.Struct, kw_only=True):
    """An asset as staff see it."""

    id: uuid.UUID
    kind: AssetKind
    purpose: AssetPurpose
    status: AssetStatus
    filename: str
    content_type: str
    size_bytes: int
    url: str  # the delivery endpoint (public assets: their public URL)
    details: dict[str, Any]
    thumbnails: list[Thumbnail]
    failure_reason: str | None
    processed_at: datetime | None
    created_at: datetime


class PartUrl(msgspec.Struct):
    part_number: int
    url: str


class Upload(msgspec.Struct, kw_only=True, omit_defaults=True):
    """How to send the file: a POST form (``post``) or presigned parts (``multipart``)."""

    asset: Asset
    method: Literal["post", "multipart"]
    url: str | None = None
    fields: dict[str, str] | None = None
    part_size: int | None = None
    part_count: int | None = None
    parts: list[PartUrl] | None = None
    expires_at: datetime
    complete_url: str


class PartUrlsRequest(Strict):
    part_numbers: Annotated[list[PartNumber], Meta(min_length=1, max_length=1000)]


class PartUrls(msgspec.Struct):
    parts: list[PartUrl]
    expires_at: datetime


class CompletedPart(Strict):
    part_number: PartNumber
    etag: Annotated[str, Meta(min_length=1, max_length=200)]


class CompleteRequest(Strict, kw_only=True):
    parts: Annotated[list[CompletedPart], Meta(max_length=10_000)] | None = None  # multipart uploads only
