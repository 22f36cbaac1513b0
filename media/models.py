"""Media assets: objects in storage with their kind, purpose, state and what processing found."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, Enum, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from lms.db.base import Base, Timestamps, UUIDPrimaryKey


class AssetKind(enum.StrEnum):
    VIDEO = "video"
    IMAGE = "image"
    DOCUMENT = "document"
    CAPTIONS = "captions"


class AssetPurpose(enum.StrEnum):
    PUBLIC = "public"  # course covers, speaker photos: anyone may fetch them
    LESSON = "lesson"  # lesson media: staff and learners enrolled in a run of a course using it


class AssetStatus(enum.StrEnum):
    PENDING = "pending"  # upload authorised, object not confirmed yet
    READY = "ready"  # object confirmed; processing may still be running
    FAILED = "failed"  # processing failed; ``failure_reason`` says why


def _enum(cls: type[enum.StrEnum], name: str) -> Enum:
    return Enum(cls, name=name, values_callable=lambda e: [m.value for m in e])


class Asset(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "media_assets"
    __table_args__ = (
        UniqueConstraint("bucket", "object_key"),
        CheckConstraint("size_bytes > 0", name="size_positive"),
        CheckConstraint("status <> 'failed' OR failure_reason IS NOT NULL", name="failed_has_reason"),
        Index("ix_media_assets_pending", "created_at", postgresql_where="status = 'pending'"),
    )

    kind: Mapped[AssetKind] = mapped_column(_enum(AssetKind, "asset_kind"))
    purpose: Mapped[AssetPurpose] = mapped_column(_enum(AssetPurpose, "asset_purpose"))
    status: Mapped[AssetStatus] = mapped_column(
        _enum(AssetStatus, "asset_status"), default=AssetStatus.PENDING
    )
    bucket: Mapped[str] = mapped_column(String(63))
    object_key: Mapped[str] = mapped_column(String(512))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    uploaded_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)  # dimensions, duration, pages, cues
    failure_reason: Mapped[str | None] = mapped_column(Text)
    processed_at: Mapped[datetime | None]
    # The S3 multipart upload in progress for large videos; cleared once the parts are assembled.
    upload_id: Mapped[str | None] = mapped_column(String(1024))
