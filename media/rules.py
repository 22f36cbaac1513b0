"""What may be uploaded (types and sizes per kind, from settings) and where it is stored."""

from __future__ import annotations

import re
import unicodedata
import uuid
from dataclasses import dataclass

from lms.settings import Settings
from media.models import AssetKind, AssetPurpose

MAX_FILENAME = 120  # characters kept in the object key; the full name stays in the row
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True, slots=True)
class KindRule:
    kind: AssetKind
    content_types: frozenset[str]
    max_bytes: int


def kind_rules(settings: Settings) -> dict[AssetKind, KindRule]:
    return {
        AssetKind.VIDEO: KindRule(
            AssetKind.VIDEO, frozenset(settings.media_video_types), settings.media_video_max_bytes
        ),
        AssetKind.IMAGE: KindRule(
            AssetKind.IMAGE, frozenset(settings.media_image_types), settings.media_image_max_bytes
        ),
        AssetKind.DOCUMENT: KindRule(
            AssetKind.DOCUMENT, frozenset(settings.media_document_types), settings.media_document_max_bytes
        ),
        AssetKind.CAPTIONS: KindRule(
            AssetKind.CAPTIONS, frozenset(settings.media_captions_types), settings.media_captions_max_bytes
        ),
    }


def kind_of(settings: Settings, content_type: str) -> KindRule | None:
    """The kind an allowed content type belongs to."""
    for rule in kind_rules(settings).values():
        if content_type in rule.content_types:
            return rule
    return None


def bucket_for(settings: Settings, purpose: AssetPurpose) -> str:
    return settings.bucket_public if purpose is AssetPurpose.PUBLIC else settings.bucket_media


def safe_filename(filename: str) -> str:
    """An ASCII, path-free version of the uploader's file name, for object keys."""
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    cleaned = _UNSAFE.sub("-", ascii_name).strip("-.") or "file"
    if len(cleaned) > MAX_FILENAME:
        stem, dot, ext = cleaned.rpartition(".")
        cleaned = (
            (stem[: MAX_FILENAME - len(ext) - 1] + dot + ext)
            if dot and len(ext) <= 10
            else cleaned[:MAX_FILENAME]
        )
    return cleaned


def object_key(purpose: AssetPurpose, asset_id: uuid.UUID, filename: str) -> str:
    """Deterministic from the asset; the random UUID makes it unguessable."""
    prefix = "public" if purpose is AssetPurpose.PUBLIC else "lesson"
    return f"{prefix}/{asset_id}/{safe_filename(filename)}"


def thumbnail_key(asset_id: uuid.UUID, width: int) -> str:
    return f"thumbnails/{asset_id}/w{width}.webp"
