"""Object storage behind one interface: S3-compatible through the minio client, or a local folder."""

from __future__ import annotations

import hashlib
import io
import json
import mimetypes
import os
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, urlencode, urlsplit

import anyio.to_thread
from minio import Minio
from minio.datatypes import Part, PostPolicy
from minio.error import S3Error

from lms.settings import Settings, StorageBackend
from media import signing

MISSING_CODES = frozenset({"NoSuchKey", "NoSuchObject", "NotFound", "NoSuchUpload"})
COPY_CHUNK = 1024 * 1024
MinioParams = dict[str, str | list[str] | tuple[str]]


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    size: int
    content_type: str | None
    etag: str | None


@dataclass(frozen=True, slots=True)
class UploadForm:
    """A browser POSTs ``fields`` plus the file (last) as multipart/form-data to ``url``."""

    url: str
    fields: dict[str, str]
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class UploadedPart:
    part_number: int
    etag: str


class Storage(Protocol):
    """What every backend offers. Blocking client calls never run on the event loop."""

    # How many objects are best stored at once by a caller's own threads (``put_bytes_now``).
    store_lanes: int

    async def ping(self) -> None:
        """Raise when the store cannot be reached."""

    async def ensure_buckets(self) -> None:
        """Create the buckets that are missing."""

    # The methods below are the contract shared by media and certificates; see media/README.md.
    async def put_bytes(self, bucket: str, key: str, data: bytes, content_type: str) -> None:
        """Store ``data`` under ``key`` (overwriting: keys are deterministic, so a retry is harmless)."""

    def put_bytes_now(self, bucket: str, key: str, data: bytes, content_type: str) -> None:
        """``put_bytes``, blocking: for callers that run it in their own threads."""

    async def get_bytes(self, bucket: str, key: str, length: int | None = None) -> bytes:
        """Read the object, or only its first ``length`` bytes."""

    async def stat(self, bucket: str, key: str) -> ObjectInfo | None:
        """Size and type of the object, or None when it does not exist."""

    async def delete(self, bucket: str, key: str) -> None:
        """Remove the object; removing a missing object is not an error."""

    async def presigned_get_url(
        self,
        bucket: str,
        key: str,
        *,
        expires: int,
        filename: str | None = None,
        content_type: str | None = None,
    ) -> str:
        """A URL a browser can GET for ``expires`` seconds, with Content-Type and Content-Disposition set."""

    # Uploads straight from the browser, and delivery of public objects.
    def public_url(self, bucket: str, key: str) -> str:
        """The unsigned URL of an object in the public bucket (pure: no I/O, safe to cache)."""

    async def presigned_post(
        self, bucket: str, key: str, *, content_type: str, min_size: int, max_size: int, expires: int
    ) -> UploadForm:
        """A POST form bound to one key, one content type and a length range, valid ``expires`` seconds."""

    async def create_multipart(self, bucket: str, key: str, content_type: str) -> str:
        """Start a multipart upload; returns its id."""

    async def presigned_part_url(
        self, bucket: str, key: str, upload_id: str, part_number: int, *, expires: int
    ) -> str:
        """A URL the browser PUTs one part to; the answer's ETag header is needed to complete."""

    async def complete_multipart(
        self, bucket: str, key: str, upload_id: str, parts: Sequence[UploadedPart]
    ) -> None:
        """Assemble the parts into the object; raises ``UploadIncomplete`` when they do not match."""

    async def abort_multipart(self, bucket: str, key: str, upload_id: str) -> None:
        """Drop an unfinished multipart upload and its parts; a missing upload is not an error."""

    async def probe_source(self, bucket: str, key: str, *, expires: int) -> str:
        """A path or URL a local tool (ffprobe) can read the object from, with range requests."""


class UploadIncomplete(Exception):
    """The parts named do not form the upload (missing, wrong ETag, unknown upload)."""


class InvalidKey(ValueError):
    """A key that would leave its bucket, or a bucket this deployment does not have."""


def bucket_names(settings: Settings) -> tuple[str, ...]:
    return (settings.bucket_public, settings.bucket_media, settings.bucket_certificates)


def _expiry(expires: int) -> datetime:
    return datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=expires)


def _response_params(filename: str | None, content_type: str | None) -> dict[str, str]:
    params: dict[str, str] = {}
    if content_type:
        params["response-content-type"] = content_type
    if filename:
        params["response-content-disposition"] = signing.content_disposition(filename)
    return params


@dataclass(frozen=True, slots=True)
class LocalObject:
    path: Path
    size: int
    content_type: str
    mtime: float


_NAMED_TYPES = mimetypes.MimeTypes()  # Python's own table only, not the machine's: the same everywhere


def _type_of_name(key: str) -> str | None:
    return _NAMED_TYPES.guess_type(key, strict=True)[0]


class LocalStorage:
    """A folder per bucket under the data folder, for the embedded default.

    Presigned URLs point at the API's ``/files`` routes and carry an HMAC of what they allow, so the
    browser code is the same as with S3: POST a form to upload, PUT parts, GET with Range to stream.
    """

    META = ".meta"  # content types of stored objects, beside the bucket folders
    MULTIPART = ".multipart"
    # Creating files in one folder takes its lock: two writers keep the disk busy, more only compete with
    # the database and the caller for the CPU (measured: batches of 50 PDFs 2-3% faster than with eight).
    store_lanes = 2

    def __init__(self, settings: Settings) -> None:
        self.root = settings.resolved_storage_dir
        self.buckets = bucket_names(settings)
        self.public_bucket = settings.bucket_public
        self.base_url = settings.public_url.rstrip("/") + "/files"
        self._settings = settings
        self._key: str | None = None

    @property
    def signing_key(self) -> str:
        if self._key is None:
            self._key = self._settings.signing_key()
        return self._key

    # -- paths -------------------------------------------------------------------------------------
    def _path(self, bucket: str, key: str, area: str | None = None) -> Path:
        if bucket not in self.buckets:
            raise InvalidKey(f"unknown bucket {bucket!r}")
        parts = key.split("/")
        if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\x00" in key:
            raise InvalidKey(f"invalid object key {key!r}")
        base = self.root / area / bucket if area else self.root / bucket
        return base.joinpath(*parts)

    def path_for(self, bucket: str, key: str) -> Path:
        return self._path(bucket, key)

    def _meta_path(self, bucket: str, key: str) -> Path:
        return self._path(bucket, key, self.META)

    def _write_bytes(self, target: Path, data: bytes) -> None:
        """Write ``data`` to a temporary file beside ``target`` and rename it into place.

        The temporary name is this thread's own (a thread writes one file at a time), and the folder is
        created only when missing: tempfile's random names and an mkdir per call cost more than the write.
        """
        tmp = target.parent / f".upload-{os.getpid()}-{threading.get_ident()}"
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(tmp, flags, 0o600)
        except FileNotFoundError:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, flags, 0o600)
        try:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            finally:
                os.close(fd)
            tmp.replace(target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def store_file(self, bucket: str, key: str, source: Path, content_type: str) -> None:
        """Move a finished temporary file into place with its content type (blocking)."""
        target = self._path(bucket, key)
        target.parent.mkdir(parents=True, exist_ok=True)
        source.replace(target)
        self._store_type(bucket, key, content_type)

    def _store_type(self, bucket: str, key: str, content_type: str) -> None:
        """Keep the object's content type beside it, unless its name already says it.

        Creating a file is most of what storing a small object costs on some disks, so the type of a
        ``.pdf`` stored as ``application/pdf`` is not written down: it is read back from the name.
        """
        meta = self._meta_path(bucket, key)
        if content_type == _type_of_name(key):
            meta.unlink(missing_ok=True)  # a type written for an earlier object under this key
        else:
            self._write_bytes(meta, json.dumps({"content_type": content_type}).encode())

    def open_object(self, bucket: str, key: str) -> LocalObject | None:
        """The file behind an object with its size and type (blocking)."""
        try:
            path = self._path(bucket, key)
            st = path.stat()
        except (InvalidKey, FileNotFoundError, NotADirectoryError):
            return None
        if not path.is_file():
            return None
        try:
            meta = json.loads(self._meta_path(bucket, key).read_text())
            content_type = str(meta["content_type"])
        except (OSError, ValueError, KeyError):
            content_type = _type_of_name(key) or "application/octet-stream"
        return LocalObject(path, st.st_size, content_type, st.st_mtime)

    def temp_dir(self) -> Path:
        folder = self.root / ".incoming"
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    # -- the contract --------------------------------------------------------------------------------
    def _ensure(self) -> None:
        for bucket in self.buckets:
            Path(self.root, bucket).mkdir(parents=True, exist_ok=True)

    async def ensure_buckets(self) -> None:
        await anyio.to_thread.run_sync(self._ensure)

    async def ping(self) -> None:
        if not self.root.is_dir():
            raise FileNotFoundError(f"storage folder {self.root} is missing")

    def put_bytes_now(self, bucket: str, key: str, data: bytes, content_type: str) -> None:
        self._write_bytes(self._path(bucket, key), data)
        self._store_type(bucket, key, content_type)

    async def put_bytes(self, bucket: str, key: str, data: bytes, content_type: str) -> None:
        # In a thread even when small: creating a file sometimes takes a millisecond or two of waiting.
        await anyio.to_thread.run_sync(self.put_bytes_now, bucket, key, data, content_type)

    def _get(self, bucket: str, key: str, length: int | None) -> bytes:
        found = self.open_object(bucket, key)
        if found is None:
            raise FileNotFoundError(f"{bucket}/{key}")
        with found.path.open("rb") as handle:
            return handle.read() if length is None else handle.read(length)

    async def get_bytes(self, bucket: str, key: str, length: int | None = None) -> bytes:
        return await anyio.to_thread.run_sync(self._get, bucket, key, length)

    def _stat(self, bucket: str, key: str) -> ObjectInfo | None:
        found = self.open_object(bucket, key)
        if found is None:
            return None
        return ObjectInfo(found.size, found.content_type, f"{found.size:x}-{int(found.mtime * 1000):x}")

    async def stat(self, bucket: str, key: str) -> ObjectInfo | None:
        return await anyio.to_thread.run_sync(self._stat, bucket, key)

    def _delete(self, bucket: str, key: str) -> None:
        try:
            self._path(bucket, key).unlink(missing_ok=True)
            self._meta_path(bucket, key).unlink(missing_ok=True)
        except (InvalidKey, NotADirectoryError):
            return

    async def delete(self, bucket: str, key: str) -> None:
        await anyio.to_thread.run_sync(self._delete, bucket, key)

    def public_url(self, bucket: str, key: str) -> str:
        return f"{self.base_url}/{bucket}/{quote(key)}"

    def signed_url(self, method: str, bucket: str, key: str, expires: int, params: dict[str, str]) -> str:
        """A URL to the ``/files`` routes whose query is covered by the signature."""
        self._path(bucket, key)  # refuse keys that could never be served
        query = {**params, signing.EXPIRES_PARAM: str(int(time.time()) + expires)}
        query[signing.SIGNATURE_PARAM] = signing.sign(
            self.signing_key, *self.signed_parts(method, bucket, key, query)
        )
        return f"{self.public_url(bucket, key)}?{urlencode(query, quote_via=quote)}"

    @staticmethod
    def signed_parts(method: str, bucket: str, key: str, query: dict[str, str]) -> list[str]:
        covered = sorted((k, v) for k, v in query.items() if k != signing.SIGNATURE_PARAM)
        return [method, bucket, key, urlencode(covered, quote_via=quote)]

    def check_signature(self, method: str, bucket: str, key: str, query: dict[str, str]) -> bool:
        """True when the query was signed by us for this method and object and has not expired."""
        signature = query.get(signing.SIGNATURE_PARAM, "")
        try:
            expires = int(query.get(signing.EXPIRES_PARAM, ""))
        except ValueError:
            return False
        if expires < time.time():
            return False
        return signing.verify(self.signing_key, signature, *self.signed_parts(method, bucket, key, query))

    async def presigned_get_url(
        self,
        bucket: str,
        key: str,
        *,
        expires: int,
        filename: str | None = None,
        content_type: str | None = None,
    ) -> str:
        return self.signed_url("GET", bucket, key, expires, _response_params(filename, content_type))

    async def presigned_post(
        self, bucket: str, key: str, *, content_type: str, min_size: int, max_size: int, expires: int
    ) -> UploadForm:
        self._path(bucket, key)
        policy = signing.UploadPolicy(bucket, key, content_type, min_size, max_size, _expiry(expires))
        encoded = policy.encode()
        fields = {
            "key": key,
            "Content-Type": content_type,
            signing.POLICY_FIELD: encoded,
            signing.POLICY_SIGNATURE_FIELD: signing.sign(self.signing_key, "POST", encoded),
        }
        return UploadForm(f"{self.base_url}/{bucket}", fields, policy.expires_at)

    def check_policy(self, encoded: str, signature: str) -> signing.UploadPolicy | None:
        """The policy of an upload form when we signed it and it is still valid, else None."""
        if not signing.verify(self.signing_key, signature, "POST", encoded):
            return None
        try:
            policy = signing.decode_policy(encoded)
        except ValueError:
            return None
        return policy if policy.expires_at > datetime.now(UTC) else None

    # -- multipart -----------------------------------------------------------------------------------
    def upload_dir(self, upload_id: str) -> Path:
        if not upload_id.isalnum():
            raise InvalidKey("invalid upload id")
        return self.root / self.MULTIPART / upload_id

    def _create_multipart(self, bucket: str, key: str, content_type: str) -> str:
        self._path(bucket, key)
        upload_id = secrets.token_hex(16)
        folder = self.upload_dir(upload_id)
        folder.mkdir(parents=True)
        meta = {"bucket": bucket, "key": key, "content_type": content_type}
        (folder / "upload.json").write_text(json.dumps(meta))
        return upload_id

    async def create_multipart(self, bucket: str, key: str, content_type: str) -> str:
        return await anyio.to_thread.run_sync(self._create_multipart, bucket, key, content_type)

    def upload_meta(self, bucket: str, key: str, upload_id: str) -> dict[str, str] | None:
        """The upload's recorded target when it exists and belongs to this object (blocking)."""
        try:
            meta: dict[str, str] = json.loads((self.upload_dir(upload_id) / "upload.json").read_text())
        except (InvalidKey, OSError, ValueError):
            return None
        return meta if meta.get("bucket") == bucket and meta.get("key") == key else None

    def part_path(self, upload_id: str, part_number: int) -> Path:
        return self.upload_dir(upload_id) / f"{part_number:05d}.part"

    async def presigned_part_url(
        self, bucket: str, key: str, upload_id: str, part_number: int, *, expires: int
    ) -> str:
        params = {"partNumber": str(part_number), "uploadId": upload_id}
        return self.signed_url("PUT", bucket, key, expires, params)

    def _complete(self, bucket: str, key: str, upload_id: str, parts: Sequence[UploadedPart]) -> None:
        meta = self.upload_meta(bucket, key, upload_id)
        if meta is None:
            raise UploadIncomplete("no such upload")
        numbers = [p.part_number for p in parts]
        if not parts or numbers != sorted(set(numbers)):
            raise UploadIncomplete("parts must be listed once each, in ascending order")
        fd, tmp = tempfile.mkstemp(dir=self.temp_dir(), prefix=".assemble-")
        try:
            with os.fdopen(fd, "wb") as out:
                for part in parts:
                    path = self.part_path(upload_id, part.part_number)
                    digest = hashlib.md5(usedforsecurity=False)
                    try:
                        with path.open("rb") as source:
                            while chunk := source.read(COPY_CHUNK):
                                digest.update(chunk)
                                out.write(chunk)
                    except FileNotFoundError as exc:
                        raise UploadIncomplete(f"part {part.part_number} was not uploaded") from exc
                    if digest.hexdigest() != part.etag.strip('"'):
                        raise UploadIncomplete(f"part {part.part_number} has another ETag")
            self.store_file(bucket, key, Path(tmp), meta["content_type"])
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        shutil.rmtree(self.upload_dir(upload_id), ignore_errors=True)

    async def complete_multipart(
        self, bucket: str, key: str, upload_id: str, parts: Sequence[UploadedPart]
    ) -> None:
        await anyio.to_thread.run_sync(self._complete, bucket, key, upload_id, parts)

    def _abort(self, bucket: str, key: str, upload_id: str) -> None:
        if self.upload_meta(bucket, key, upload_id) is not None:
            shutil.rmtree(self.upload_dir(upload_id), ignore_errors=True)

    async def abort_multipart(self, bucket: str, key: str, upload_id: str) -> None:
        await anyio.to_thread.run_sync(self._abort, bucket, key, upload_id)

    async def probe_source(self, bucket: str, key: str, *, expires: int) -> str:
        return str(self.path_for(bucket, key))


def _endpoint_url(settings: Settings, endpoint: str) -> str:
    scheme = "https" if settings.s3_secure else "http"
    return (endpoint if "://" in endpoint else f"{scheme}://{endpoint}").rstrip("/")


def minio_client(settings: Settings, endpoint: str) -> Minio:
    # The region is given, so presigning never asks the server for it: the public endpoint may be a
    # host name only browsers resolve.
    parts = urlsplit(_endpoint_url(settings, endpoint))
    return Minio(
        parts.netloc,
        access_key=settings.s3_access_key.get_secret_value(),
        secret_key=settings.s3_secret_key.get_secret_value(),
        secure=parts.scheme == "https",
        region=settings.s3_region,
    )


def _public_read_policy(bucket: str) -> str:
    """Anyone may GET objects of the public bucket; nobody may list it."""
    statement = {
        "Effect": "Allow",
        "Principal": {"AWS": ["*"]},
        "Action": ["s3:GetObject"],
        "Resource": [f"arn:aws:s3:::{bucket}/*"],
    }
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def _missing(exc: S3Error) -> bool:
    return exc.code in MISSING_CODES


class S3Storage:
    """An S3-compatible server spoken to through the minio client; blocking calls run in threads.

    Two clients: ``client`` talks to the internal endpoint (the service name inside the deployment);
    ``signer`` only signs URLs for the public endpoint the browser uses and never connects.
    """

    store_lanes = 8  # network round trips overlap

    def __init__(self, settings: Settings) -> None:
        assert settings.s3_endpoint
        public = settings.s3_public_endpoint or settings.s3_endpoint
        self.client = minio_client(settings, settings.s3_endpoint)
        self.signer = minio_client(settings, public)
        self.public_base = _endpoint_url(settings, public)
        self.public_bucket = settings.bucket_public
        self.buckets = bucket_names(settings)

    def _ensure(self) -> None:
        for bucket in self.buckets:
            if not self.client.bucket_exists(bucket):
                self.client.make_bucket(bucket)
        self.client.set_bucket_policy(self.public_bucket, _public_read_policy(self.public_bucket))

    async def ensure_buckets(self) -> None:
        await anyio.to_thread.run_sync(self._ensure)

    async def ping(self) -> None:
        await anyio.to_thread.run_sync(self.client.bucket_exists, self.buckets[0])

    def put_bytes_now(self, bucket: str, key: str, data: bytes, content_type: str) -> None:
        self.client.put_object(bucket, key, io.BytesIO(data), len(data), content_type=content_type)

    async def put_bytes(self, bucket: str, key: str, data: bytes, content_type: str) -> None:
        await anyio.to_thread.run_sync(self.put_bytes_now, bucket, key, data, content_type)

    def _get(self, bucket: str, key: str, length: int | None) -> bytes:
        try:
            response = self.client.get_object(bucket, key, offset=0, length=length or 0)
        except S3Error as exc:
            if exc.code == "InvalidRange":  # an empty object has no first byte
                return b""
            raise
        try:
            data: bytes = response.read()
            return data
        finally:
            response.close()
            response.release_conn()

    async def get_bytes(self, bucket: str, key: str, length: int | None = None) -> bytes:
        return await anyio.to_thread.run_sync(self._get, bucket, key, length)

    def _stat(self, bucket: str, key: str) -> ObjectInfo | None:
        try:
            found: Any = self.client.stat_object(bucket, key)
        except S3Error as exc:
            if _missing(exc):
                return None
            raise
        return ObjectInfo(int(found.size), found.content_type, found.etag)

    async def stat(self, bucket: str, key: str) -> ObjectInfo | None:
        return await anyio.to_thread.run_sync(self._stat, bucket, key)

    async def delete(self, bucket: str, key: str) -> None:
        await anyio.to_thread.run_sync(self.client.remove_object, bucket, key)

    def public_url(self, bucket: str, key: str) -> str:
        return _public_object_url(self.public_base, bucket, key)

    async def presigned_get_url(
        self,
        bucket: str,
        key: str,
        *,
        expires: int,
        filename: str | None = None,
        content_type: str | None = None,
    ) -> str:
        # Signing is pure computation (the region is configured), so it stays on the loop: a thread hop
        # would cost more than the HMACs.
        url: str = self.signer.get_presigned_url(
            "GET",
            bucket,
            key,
            expires=timedelta(seconds=expires),
            response_headers=MinioParams(_response_params(filename, content_type)),
        )
        return url

    async def presigned_post(
        self, bucket: str, key: str, *, content_type: str, min_size: int, max_size: int, expires: int
    ) -> UploadForm:
        expires_at = _expiry(expires)
        policy = PostPolicy(bucket, expires_at.replace(tzinfo=None))
        policy.add_equals_condition("key", key)
        policy.add_equals_condition("Content-Type", content_type)
        policy.add_content_length_range_condition(min_size, max_size)
        fields: dict[str, str] = {"key": key, "Content-Type": content_type}
        fields.update(self.signer.presigned_post_policy(policy))
        return UploadForm(f"{self.public_base}/{bucket}", fields, expires_at)

    def _create_multipart(self, bucket: str, key: str, content_type: str) -> str:
        # minio exposes the multipart calls only as underscored methods; they are the plain S3 API calls.
        upload_id: str = self.client._create_multipart_upload(bucket, key, {"Content-Type": content_type})
        return upload_id

    async def create_multipart(self, bucket: str, key: str, content_type: str) -> str:
        return await anyio.to_thread.run_sync(self._create_multipart, bucket, key, content_type)

    async def presigned_part_url(
        self, bucket: str, key: str, upload_id: str, part_number: int, *, expires: int
    ) -> str:
        url: str = self.signer.get_presigned_url(
            "PUT",
            bucket,
            key,
            expires=timedelta(seconds=expires),
            extra_query_params={"uploadId": upload_id, "partNumber": str(part_number)},
        )
        return url

    def _complete(self, bucket: str, key: str, upload_id: str, parts: Sequence[UploadedPart]) -> None:
        listed = [Part(p.part_number, p.etag.strip('"')) for p in parts]
        try:
            self.client._complete_multipart_upload(bucket, key, upload_id, listed)
        except S3Error as exc:
            if exc.code in {"InvalidPart", "InvalidPartOrder", "NoSuchUpload", "EntityTooSmall"}:
                raise UploadIncomplete(exc.message or exc.code) from exc
            raise

    async def complete_multipart(
        self, bucket: str, key: str, upload_id: str, parts: Sequence[UploadedPart]
    ) -> None:
        await anyio.to_thread.run_sync(self._complete, bucket, key, upload_id, parts)

    def _abort(self, bucket: str, key: str, upload_id: str) -> None:
        try:
            self.client._abort_multipart_upload(bucket, key, upload_id)
        except S3Error as exc:
            if not _missing(exc):
                raise

    async def abort_multipart(self, bucket: str, key: str, upload_id: str) -> None:
        await anyio.to_thread.run_sync(self._abort, bucket, key, upload_id)

    async def probe_source(self, bucket: str, key: str, *, expires: int) -> str:
        # Signed for the internal endpoint: the worker reaches the store by its service name.
        url: str = self.client.presigned_get_object(bucket, key, expires=timedelta(seconds=expires))
        return url


@lru_cache(maxsize=4096)
def _public_object_url(base: str, bucket: str, key: str) -> str:
    return f"{base}/{bucket}/{quote(key)}"


def build_storage(settings: Settings) -> Storage:
    if settings.resolved_storage_backend is StorageBackend.S3:
        return S3Storage(settings)
    return LocalStorage(settings)
