"""The local-folder backend over HTTP: what S3 would serve, for the embedded default.

``GET /files/<bucket>/<key>`` streams an object (Range supported) when the URL is signed, or when the bucket
is the public one. ``POST /files/<bucket>`` takes an upload form and enforces its signed policy (key,
content type, length range, expiry) as S3 does. ``PUT /files/<bucket>/<key>?uploadId=&partNumber=`` takes
one part of a multipart upload. With the S3 backend these routes answer 404.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, BinaryIO

import anyio.to_thread
from litestar import Controller, Request, Response, get, post, put
from litestar.datastructures import State
from litestar.params import FromPath
from litestar.response import Stream
from litestar.status_codes import HTTP_204_NO_CONTENT
from multipart import MultipartSegment, ParserError, PushMultipartParser

from lms.errors import BadRequest, Forbidden, NotFound, PayloadTooLarge
from media import signing
from media.storage import InvalidKey, LocalObject, LocalStorage

CHUNK = 256 * 1024
MAX_FORM_FIELD = 64 * 1024  # the policy document and its companions are small
MAX_FORM_FIELDS = 20
DENIED = "The signature is invalid or has expired."


class RangeNotSatisfiable(Exception):
    pass


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The single byte range asked for, inclusive; None for the whole file (absent or multi-range)."""
    if not header:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None  # RFC 9110 lets a server ignore ranges it does not support and send everything
    first, dash, last = spec.strip().partition("-")
    if not dash:
        return None
    try:
        if not first:  # the last N bytes
            length = int(last)
            if length <= 0:
                raise RangeNotSatisfiable
            return max(0, size - length), size - 1
        start = int(first)
        end = int(last) if last else size - 1
    except ValueError:
        return None
    if start >= size or end < start:
        raise RangeNotSatisfiable
    return start, min(end, size - 1)


async def _chunks(path: Path, start: int, length: int) -> AsyncIterator[bytes]:
    async with await anyio.open_file(path, "rb") as handle:
        await handle.seek(start)
        remaining = length
        while remaining > 0:
            chunk = await handle.read(min(CHUNK, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
            yield chunk


def _local(state: State) -> LocalStorage:
    storage = state.media_storage
    if not isinstance(storage, LocalStorage):
        raise NotFound("Files are served by the object store in this deployment.")
    return storage


def _query(request: Request[Any, Any, Any]) -> dict[str, str]:
    return dict(request.query_params.items())


class _IncomingFile:
    """A temporary file in the storage folder that becomes the object once complete."""

    def __init__(self, folder: Path) -> None:
        fd, name = tempfile.mkstemp(dir=folder, prefix=".incoming-")
        self.path = Path(name)
        self.handle: BinaryIO = os.fdopen(fd, "wb")
        self.size = 0
        self.md5 = hashlib.md5(usedforsecurity=False)

    async def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        self.md5.update(chunk)
        await anyio.to_thread.run_sync(self.handle.write, chunk)

    async def close(self) -> None:
        await anyio.to_thread.run_sync(self.handle.close)

    async def discard(self) -> None:
        await self.close()
        self.path.unlink(missing_ok=True)


def _boundary(content_type: str) -> bytes:
    kind, _, params = content_type.partition(";")
    if kind.strip().lower() != "multipart/form-data":
        raise BadRequest("Send the upload as multipart/form-data.")
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.lower() == "boundary" and value:
            return value.strip('"').encode()
    raise BadRequest("The multipart/form-data body has no boundary.")


def _admit(storage: LocalStorage, bucket: str, fields: dict[str, str]) -> signing.UploadPolicy:
    """The form's policy, when it is ours, current, and the form keeps to it."""
    policy = storage.check_policy(
        fields.get(signing.POLICY_FIELD, ""), fields.get(signing.POLICY_SIGNATURE_FIELD, "")
    )
    if policy is None:
        raise Forbidden("The upload policy is invalid or has expired.")
    if policy.bucket != bucket or fields.get("key") != policy.key:
        raise Forbidden("The upload policy does not allow this key.")
    if fields.get("Content-Type") != policy.content_type:
        raise Forbidden("The upload policy does not allow this content type.")
    return policy


class _UploadForm:
    """Reads an upload form as it streams in: fields first, then the file, checked against the policy."""

    def __init__(self, storage: LocalStorage, bucket: str, boundary: bytes) -> None:
        self.storage = storage
        self.bucket = bucket
        self.boundary = boundary
        self.fields: dict[str, str] = {}
        self.policy: signing.UploadPolicy | None = None
        self.incoming: _IncomingFile | None = None
        self._segment: MultipartSegment | None = None
        self._buffer = bytearray()

    async def read(self, stream: AsyncIterator[bytes]) -> None:
        try:
            with PushMultipartParser(self.boundary, max_segment_count=MAX_FORM_FIELDS) as parser:
                async for chunk in stream:
                    for event in parser.parse(chunk):
                        await self._on(event)
                    if parser.closed:
                        return
                raise BadRequest("The upload form ended early.")
        except ParserError as exc:
            raise BadRequest("The upload form is not valid multipart/form-data.") from exc

    async def _on(self, event: MultipartSegment | bytearray | None) -> None:
        if isinstance(event, MultipartSegment):
            self._segment = event
            if event.name == "file":
                self.policy = _admit(self.storage, self.bucket, self.fields)
                self.incoming = _IncomingFile(self.storage.temp_dir())
        elif event:
            if self.incoming is not None and self.policy is not None:
                await self.incoming.write(bytes(event))
                if self.incoming.size > self.policy.max_size:
                    limit = self.policy.max_size
                    raise PayloadTooLarge(f"The file is larger than the {limit} bytes this upload allows.")
            else:
                self._buffer.extend(event)
                if len(self._buffer) > MAX_FORM_FIELD:
                    raise BadRequest("A form field is too long.")
        elif self._segment is not None:  # the end of a segment
            if self._segment.name != "file":
                self.fields[self._segment.name] = self._buffer.decode()
            self._buffer.clear()
            self._segment = None

    def finished(self) -> tuple[signing.UploadPolicy, _IncomingFile]:
        if self.incoming is None or self.policy is None:
            raise BadRequest("The form has no file field (it must come last).")
        if self.incoming.size < self.policy.min_size:
            limit = self.policy.min_size
            raise BadRequest(f"The file is smaller than the {limit} bytes this upload expects.")
        return self.policy, self.incoming

    async def discard(self) -> None:
        if self.incoming is not None:
            await self.incoming.discard()


class FilesController(Controller):
    path = "/files"
    tags = ["files"]
    include_in_schema = False

    @get("/{bucket:str}/{key:path}")
    async def download(
        self, request: Request[Any, Any, Any], state: State, bucket: FromPath[str], key: FromPath[str]
    ) -> Response[Any]:
        """Stream an object, honouring Range (video seeking)."""
        storage = _local(state)
        key = key.lstrip("/")
        query = _query(request)
        public = bucket == storage.public_bucket
        if not public and not storage.check_signature("GET", bucket, key, query):
            raise Forbidden(DENIED)
        found: LocalObject | None = await anyio.to_thread.run_sync(storage.open_object, bucket, key)
        if found is None:
            raise NotFound("No such object.")
        headers = {
            "Accept-Ranges": "bytes",
            "Cache-Control": "public, max-age=300" if public else "private, max-age=60",
            "X-Content-Type-Options": "nosniff",
            "ETag": f'"{found.size:x}-{int(found.mtime * 1000):x}"',
        }
        disposition = query.get("response-content-disposition")
        if disposition and not public:
            headers["Content-Disposition"] = disposition
        content_type = (query.get("response-content-type") if not public else None) or found.content_type
        try:
            span = parse_range(request.headers.get("range"), found.size)
        except RangeNotSatisfiable:
            headers["Content-Range"] = f"bytes */{found.size}"
            return Response(content=b"", status_code=416, headers=headers, media_type=content_type)
        start, end = span if span is not None else (0, found.size - 1)
        length = max(0, end - start + 1)
        headers["Content-Length"] = str(length)
        if span is not None:
            headers["Content-Range"] = f"bytes {start}-{end}/{found.size}"
        return Stream(
            _chunks(found.path, start, length),
            status_code=206 if span is not None else 200,
            headers=headers,
            media_type=content_type,
        )

    @post("/{bucket:str}", status_code=HTTP_204_NO_CONTENT, request_max_body_size=None)
    async def upload(self, request: Request[Any, Any, Any], state: State, bucket: FromPath[str]) -> None:
        """Take a browser upload form and enforce its policy, as an S3 POST would."""
        storage = _local(state)
        form = _UploadForm(storage, bucket, _boundary(request.headers.get("content-type", "")))
        try:
            await form.read(request.stream())
            policy, incoming = form.finished()
            await incoming.close()
            await anyio.to_thread.run_sync(
                storage.store_file, policy.bucket, policy.key, incoming.path, policy.content_type
            )
        except BaseException:
            await form.discard()
            raise

    @put("/{bucket:str}/{key:path}", status_code=200, request_max_body_size=None)
    async def upload_part(
        self, request: Request[Any, Any, Any], state: State, bucket: FromPath[str], key: FromPath[str]
    ) -> Response[bytes]:
        """Take one part of a multipart upload; its ETag (MD5) is needed to complete the upload."""
        storage = _local(state)
        key = key.lstrip("/")
        query = _query(request)
        if not storage.check_signature("PUT", bucket, key, query):
            raise Forbidden(DENIED)
        upload_id = query.get("uploadId", "")
        try:
            part_number = int(query.get("partNumber", ""))
            meta = await anyio.to_thread.run_sync(storage.upload_meta, bucket, key, upload_id)
        except (ValueError, InvalidKey) as exc:
            raise NotFound("No such upload.") from exc
        if meta is None:
            raise NotFound("No such upload.")
        limit = state.settings.media_video_max_bytes
        incoming = _IncomingFile(storage.upload_dir(upload_id))
        try:
            async for chunk in request.stream():
                await incoming.write(chunk)
                if incoming.size > limit:
                    raise PayloadTooLarge("The part is larger than any upload allows.")
            await incoming.close()
            await anyio.to_thread.run_sync(incoming.path.replace, storage.part_path(upload_id, part_number))
        except BaseException:
            await incoming.discard()
            raise
        return Response(
            content=b"", headers={"ETag": f'"{incoming.md5.hexdigest()}"'}, media_type="text/plain"
        )
