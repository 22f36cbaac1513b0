"""The storage contract, on the local-folder backend and on a real S3 server (moto) alike."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from media import signing
from media.storage import InvalidKey, LocalStorage, S3Storage, UploadedPart, UploadIncomplete
from tests.media import samples
from tests.media.conftest import Backend


def _key(prefix: str = "lesson") -> str:
    return f"{prefix}/{uuid.uuid4()}/file.pdf"


async def test_objects_round_trip_and_missing_ones_are_none(backend: Backend) -> None:
    storage, bucket, key = backend.storage, backend.settings.bucket_media, _key()
    data = samples.pdf()

    await storage.put_bytes(bucket, key, data, "application/pdf")

    info = await storage.stat(bucket, key)
    assert info is not None
    assert info.size == len(data)
    assert info.content_type == "application/pdf"
    assert await storage.get_bytes(bucket, key) == data
    assert await storage.get_bytes(bucket, key, 5) == b"%PDF-"
    await storage.delete(bucket, key)
    assert await storage.stat(bucket, key) is None
    await storage.delete(bucket, key)  # deleting twice is not an error


async def test_upload_policy_binds_key_type_length_and_a_short_expiry(backend: Backend) -> None:
    key = _key()
    before = datetime.now(UTC)

    form = await backend.storage.presigned_post(
        backend.settings.bucket_media,
        key,
        content_type="application/pdf",
        min_size=10,
        max_size=20,
        expires=900,
    )

    policy = signing.decode_policy(form.fields["policy"])
    assert policy.bucket == backend.settings.bucket_media
    assert policy.key == key
    assert policy.content_type == "application/pdf"
    assert (policy.min_size, policy.max_size) == (10, 20)
    assert before < policy.expires_at <= before + timedelta(minutes=15, seconds=1)
    assert form.fields["key"] == key
    assert form.fields["Content-Type"] == "application/pdf"


async def test_browser_uploads_with_the_form_and_streams_with_ranges(backend: Backend) -> None:
    bucket, key, data = backend.settings.bucket_media, _key(), samples.pdf()
    form = await backend.storage.presigned_post(
        bucket, key, content_type="application/pdf", min_size=len(data), max_size=len(data), expires=300
    )

    sent = await backend.fetch(
        "POST", form.url, data=form.fields, files={"file": ("informe.pdf", data, "application/pdf")}
    )
    assert sent.status_code == 204, sent.text

    url = await backend.storage.presigned_get_url(
        bucket, key, expires=60, filename="Informe anual.pdf", content_type="application/pdf"
    )
    whole = await backend.fetch("GET", url)
    part = await backend.fetch("GET", url, headers={"Range": "bytes=1-4"})
    tail = await backend.fetch("GET", url, headers={"Range": "bytes=-3"})

    assert whole.status_code == 200
    assert whole.content == data
    assert whole.headers["accept-ranges"] == "bytes"
    assert whole.headers["content-type"] == "application/pdf"
    assert whole.headers["content-disposition"].startswith('inline; filename="Informe anual.pdf"')
    assert part.status_code == 206
    assert part.content == b"PDF-"
    assert part.headers["content-range"] == f"bytes 1-4/{len(data)}"
    assert tail.content == data[-3:]


async def test_public_objects_are_readable_without_a_signature(backend: Backend) -> None:
    bucket, key = backend.settings.bucket_public, f"thumbnails/{uuid.uuid4()}/w320.webp"
    await backend.storage.put_bytes(bucket, key, b"RIFF0000WEBPVP8 ", "image/webp")

    url = backend.storage.public_url(bucket, key)
    response = await backend.fetch("GET", url)

    assert "Signature" not in url
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/webp"


async def test_private_objects_need_a_signature(backend: Backend) -> None:
    bucket, key = backend.settings.bucket_media, _key()
    await backend.storage.put_bytes(bucket, key, b"%PDF-1.7 private", "application/pdf")

    response = await backend.fetch("GET", backend.storage.public_url(bucket, key))

    assert response.status_code == 403


async def test_large_videos_upload_in_presigned_parts(backend: Backend) -> None:
    bucket, key = backend.settings.bucket_media, f"lesson/{uuid.uuid4()}/video.mp4"
    first, second = samples.mp4_header(5 * 1024 * 1024), b"tail of the video"
    upload_id = await backend.storage.create_multipart(bucket, key, "video/mp4")

    etags = []
    for number, chunk in ((1, first), (2, second)):
        url = await backend.storage.presigned_part_url(bucket, key, upload_id, number, expires=300)
        answer = await backend.fetch("PUT", url, content=chunk)
        assert answer.status_code == 200, answer.text
        etags.append(UploadedPart(number, answer.headers["etag"]))
    with pytest.raises(UploadIncomplete):
        await backend.storage.complete_multipart(
            bucket, key, upload_id, [etags[0], UploadedPart(2, "0" * 32)]
        )
    await backend.storage.complete_multipart(bucket, key, upload_id, etags)

    info = await backend.storage.stat(bucket, key)
    assert info is not None
    assert info.size == len(first) + len(second)
    assert info.content_type == "video/mp4"
    assert await backend.storage.get_bytes(bucket, key, 8) == first[:8]


async def test_an_aborted_multipart_upload_cannot_be_completed(backend: Backend) -> None:
    bucket, key = backend.settings.bucket_media, f"lesson/{uuid.uuid4()}/video.mp4"
    upload_id = await backend.storage.create_multipart(bucket, key, "video/mp4")

    await backend.storage.abort_multipart(bucket, key, upload_id)

    if isinstance(backend.storage, S3Storage):
        # moto answers 500 to any call on an aborted upload; the listing shows it is gone.
        listed = backend.storage.client._list_multipart_uploads(bucket, prefix=key)
        assert [u.upload_id for u in listed.uploads] == []
    else:
        with pytest.raises(UploadIncomplete):
            await backend.storage.complete_multipart(bucket, key, upload_id, [UploadedPart(1, "0" * 32)])


# -- the local backend enforces what S3 enforces -----------------------------------------------------


LOCAL_ONLY = pytest.mark.parametrize("backend", ["local"], indirect=True)  # the local backend's own routes


@pytest.fixture
def local(backend: Backend) -> LocalStorage:
    assert isinstance(backend.storage, LocalStorage)
    return backend.storage


async def _form(local: LocalStorage, bucket: str, key: str, size: int, expires: int = 300) -> dict[str, str]:
    form = await local.presigned_post(
        bucket, key, content_type="image/png", min_size=size, max_size=size, expires=expires
    )
    return form.fields


@LOCAL_ONLY
@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"key": "lesson/other/file.png"}, 403),
        ({"Content-Type": "text/html"}, 403),
        ({"x-aula-signature": "forged"}, 403),
        ({"x-aula-signature": "fälschung"}, 403),  # non-ASCII: refused like any other forgery
    ],
)
async def test_local_upload_refuses_forms_that_break_their_policy(
    backend: Backend, local: LocalStorage, change: dict[str, str], status: int
) -> None:
    bucket, key, data = backend.settings.bucket_media, _key(), samples.png(10, 10)
    fields = {**await _form(local, bucket, key, len(data)), **change}

    answer = await backend.fetch(
        "POST", f"{local.base_url}/{bucket}", data=fields, files={"file": ("a.png", data, "image/png")}
    )

    assert answer.status_code == status
    assert await local.stat(bucket, key) is None


@LOCAL_ONLY
async def test_local_upload_refuses_files_outside_the_length_range(
    backend: Backend, local: LocalStorage
) -> None:
    bucket, key, data = backend.settings.bucket_media, _key(), samples.png(10, 10)
    fields = await _form(local, bucket, key, len(data))

    bigger = await backend.fetch(
        "POST", f"{local.base_url}/{bucket}", data=fields, files={"file": ("a.png", data + b"x", "image/png")}
    )
    smaller = await backend.fetch(
        "POST", f"{local.base_url}/{bucket}", data=fields, files={"file": ("a.png", data[:-1], "image/png")}
    )

    assert bigger.status_code == 413
    assert smaller.status_code == 400
    assert await local.stat(bucket, key) is None
    assert not list(local.temp_dir().iterdir())  # nothing half-written is left behind


@LOCAL_ONLY
async def test_local_upload_refuses_an_expired_policy(backend: Backend, local: LocalStorage) -> None:
    bucket, key, data = backend.settings.bucket_media, _key(), samples.png(10, 10)
    policy = signing.UploadPolicy(
        bucket, key, "image/png", len(data), len(data), datetime.now(UTC) - timedelta(seconds=1)
    )
    encoded = policy.encode()
    fields = {
        "key": key,
        "Content-Type": "image/png",
        "policy": encoded,
        "x-aula-signature": signing.sign(local.signing_key, "POST", encoded),
    }

    answer = await backend.fetch(
        "POST", f"{local.base_url}/{bucket}", data=fields, files={"file": ("a.png", data, "image/png")}
    )

    assert answer.status_code == 403


@LOCAL_ONLY
async def test_local_links_stop_working_when_tampered_or_expired(
    backend: Backend, local: LocalStorage
) -> None:
    bucket, key = backend.settings.bucket_media, _key()
    await local.put_bytes(bucket, key, b"%PDF-1.7", "application/pdf")
    url = await local.presigned_get_url(
        bucket, key, expires=60, filename="a.pdf", content_type="application/pdf"
    )
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}

    other_type = await backend.fetch("GET", url.replace("application%2Fpdf", "text%2Fhtml"))
    other_key = await backend.fetch("GET", url.replace("/file.pdf?", "/other.pdf?"))
    expired_at = str(int(time.time()) - 1)
    expired = await backend.fetch(
        "GET",
        url.replace(
            f"{signing.EXPIRES_PARAM}={query[signing.EXPIRES_PARAM]}", f"{signing.EXPIRES_PARAM}={expired_at}"
        ),
    )

    signature = f"{signing.SIGNATURE_PARAM}={query[signing.SIGNATURE_PARAM]}"
    non_ascii = await backend.fetch("GET", url.replace(signature, f"{signing.SIGNATURE_PARAM}=%C3%A9t%C3%A9"))

    assert (other_type.status_code, other_key.status_code, expired.status_code) == (403, 403, 403)
    assert non_ascii.status_code == 403
    assert (await backend.fetch("GET", url)).status_code == 200


@LOCAL_ONLY
async def test_local_backend_refuses_keys_that_leave_their_bucket(local: LocalStorage) -> None:
    for key in ("../secret_key", "lesson/../../x", "/etc/passwd", ""):
        with pytest.raises(InvalidKey):
            local.path_for("aula-media", key)
    with pytest.raises(InvalidKey):
        local.path_for("not-a-bucket", "lesson/a.pdf")


@LOCAL_ONLY
async def test_local_range_beyond_the_end_is_not_satisfiable(backend: Backend, local: LocalStorage) -> None:
    bucket, key = backend.settings.bucket_media, _key()
    await local.put_bytes(bucket, key, b"%PDF-1.7", "application/pdf")
    url = await local.presigned_get_url(bucket, key, expires=60)

    answer = await backend.fetch("GET", url, headers={"Range": "bytes=100-200"})

    assert answer.status_code == 416
    assert answer.headers["content-range"] == "bytes */8"


async def test_an_object_keeps_the_type_it_was_stored_with_when_overwritten(backend: Backend) -> None:
    storage, bucket, key = backend.storage, backend.settings.bucket_media, _key()

    await storage.put_bytes(bucket, key, b"not really a pdf", "application/octet-stream")
    first = await storage.stat(bucket, key)
    await storage.put_bytes(bucket, key, samples.pdf(), "application/pdf")
    second = await storage.stat(bucket, key)
    await storage.put_bytes(bucket, f"{key}.txt", b"plain", "text/plain; charset=utf-8")
    third = await storage.stat(bucket, f"{key}.txt")

    assert [info.content_type if info else None for info in (first, second, third)] == [
        "application/octet-stream",
        "application/pdf",
        "text/plain; charset=utf-8",
    ]
