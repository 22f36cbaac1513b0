"""Object storage behind one interface: S3-compatible through the minio client, or a local folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

import anyio.to_thread
from minio import Minio

from lms.settings import Settings, StorageBackend


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    size: int
    content_type: str | None
    etag: str | None


class Storage(Protocol):
    """What every backend offers. Blocking client calls never run on the event loop."""

    async def ping(self) -> None:
        """Raise when the store cannot be reached."""

    async def ensure_buckets(self) -> None:
        """Create the buckets that are missing."""

    # The methods below are the contract shared by media and certificates; see media/README.md.
    async def put_bytes(self, bucket: str, key: str, data: bytes, content_type: str) -> None:
        """Store ``data`` under ``key`` (overwriting: keys are deterministic, so a retry is harmless)."""

    async def get_bytes(self, bucket: str, key: str, length: int | None = None) -> bytes:
        """Read the object, or only its first ``length`` bytes."""

    async def stat(self, bucket: str, key: str) -> ObjectInfo | None:
        """Size and type of the object, or None when it does not exist."""

    async def delete(self, bucket: str, key: str) -> None:
        """Remove the object; removing a missing object is not an error."""

    async def presigned_get_url(
        self, bucket: str, key: str, *, expires: int, filename: str | None = None, content_type: str | None = None
    ) -> str:
        """A URL a browser can GET for ``expires`` seconds, with Content-Type and Content-Disposition set."""


def bucket_names(settings: Settings) -> tuple[str, ...]:
    return (settings.bucket_public, settings.bucket_media, settings.bucket_certificates)


class LocalStorage:
    """A folder per bucket under the data folder, for the embedded default."""

    def __init__(self, settings: Settings) -> None:
        self.root = settings.resolved_storage_dir
        self.buckets = bucket_names(settings)

    def _ensure(self) -> None:
        for bucket in self.buckets:
            Path(self.root, bucket).mkdir(parents=True, exist_ok=True)

    async def ensure_buckets(self) -> None:
        await anyio.to_thread.run_sync(self._ensure)

    async def ping(self) -> None:
        if not self.root.is_dir():
            raise FileNotFoundError(f"storage folder {self.root} is missing")


def minio_client(settings: Settings, endpoint: str) -> Minio:
    parts = urlsplit(endpoint if "://" in endpoint else f"{'https' if settings.s3_secure else 'http'}://{endpoint}")
    return Minio(
        parts.netloc,
        access_key=settings.s3_access_key.get_secret_value(),
        secret_key=settings.s3_secret_key.get_secret_value(),
        secure=parts.scheme == "https",
        region=settings.s3_region,
    )


class S3Storage:
    """An S3-compatible server spoken to through the minio client; blocking calls run in threads."""

    def __init__(self, settings: Settings) -> None:
        assert settings.s3_endpoint
        self.client = minio_client(settings, settings.s3_endpoint)
        self.buckets = bucket_names(settings)

    def _ensure(self) -> None:
        for bucket in self.buckets:
            if not self.client.bucket_exists(bucket):
                self.client.make_bucket(bucket)

    async def ensure_buckets(self) -> None:
        await anyio.to_thread.run_sync(self._ensure)

    async def ping(self) -> None:
        await anyio.to_thread.run_sync(self.client.bucket_exists, self.buckets[0])


def build_storage(settings: Settings) -> Storage:
    if settings.resolved_storage_backend is StorageBackend.S3:
        return S3Storage(settings)
    return LocalStorage(settings)
