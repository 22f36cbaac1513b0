"""What processing learns from real files, how it fails, the sweep of unfinished uploads, a real worker."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from courses.models import CourseStatus
from lms.accounts.models import Role
from lms.db.session import unit_of_work
from lms.settings import Settings
from media import processing, service
from media.models import Asset, AssetKind, AssetPurpose, AssetStatus
from media.sniff import sniff
from media.storage import build_storage
from tests.media import samples
from tests.media.conftest import Backend
from tests.media.test_api import API, _course_using, request_upload, upload
from tests.support import Factory, running_worker, settings_env


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (samples.png(4, 4), "image/png"),
        (samples.jpeg(4, 4), "image/jpeg"),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "image/webp"),
        (samples.pdf(1), "application/pdf"),
        (samples.mp4_header(64), "video/mp4"),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\xf7\x81\x01\x42\x82\x84webm", "video/webm"),
        (samples.VTT.encode(), "text/vtt"),
        (b"\xef\xbb\xbfWEBVTT\n\n", "text/vtt"),
        (b"WEBVTTX", None),
        (b"<!doctype html><html>", None),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x88matroska", None),
        (b"", None),
    ],
)
def test_sniffing_recognises_the_accepted_types_only(data: bytes, expected: str | None) -> None:
    assert sniff(data[:64]) == expected


def test_invalid_webvtt_is_refused_with_a_reason() -> None:
    with pytest.raises(processing.BadMedia, match="timing"):
        processing.parse_webvtt("WEBVTT\n\n1\n00:00:01,000 --> 00:00:02,000\nSRT commas\n")
    with pytest.raises(processing.BadMedia, match="ends before"):
        processing.parse_webvtt("WEBVTT\n\n00:00:05.000 --> 00:00:02.000\nbackwards\n")
    with pytest.raises(processing.BadMedia, match="no cues"):
        processing.parse_webvtt("WEBVTT\n\nNOTE only a note\n")


def test_thumbnails_are_never_upscaled() -> None:
    facts, thumbs = processing.image_facts(samples.png(500, 250), [320, 960])

    assert facts == {"width": 500, "height": 250}
    assert [(t.width, t.height) for t in thumbs] == [(320, 160), (500, 250)]


async def _ready_asset(
    sessionmaker: async_sessionmaker[AsyncSession],
    backend: Backend,
    data: bytes,
    kind: AssetKind,
    content_type: str,
    purpose: AssetPurpose = AssetPurpose.LESSON,
) -> uuid.UUID:
    """An asset whose object is stored and checked, as after a completed upload."""
    asset_id = uuid.uuid4()
    bucket = (
        backend.settings.bucket_public if purpose is AssetPurpose.PUBLIC else backend.settings.bucket_media
    )
    key = f"lesson/{asset_id}/file"
    await backend.storage.put_bytes(bucket, key, data, content_type)
    async with unit_of_work(sessionmaker) as session:
        session.add(
            Asset(
                id=asset_id,
                kind=kind,
                purpose=purpose,
                status=AssetStatus.READY,
                bucket=bucket,
                object_key=key,
                filename="file",
                content_type=content_type,
                size_bytes=len(data),
                details={},
            )
        )
    return asset_id


async def _process(
    sessionmaker: async_sessionmaker[AsyncSession],
    backend: Backend,
    asset_id: uuid.UUID,
    settings: Settings | None = None,
) -> Asset:
    async with unit_of_work(sessionmaker) as session:
        await service.process(session, backend.storage, settings or backend.settings, asset_id)
    async with sessionmaker() as session:
        asset = await session.get(Asset, asset_id)
        assert asset is not None
        return asset


async def test_an_image_that_cannot_be_decoded_marks_the_asset_failed(
    backend: Backend, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    broken = samples.png(40, 40)[:60]  # a real PNG signature, then nothing usable
    asset_id = await _ready_asset(sessionmaker, backend, broken, AssetKind.IMAGE, "image/png")

    asset = await _process(sessionmaker, backend, asset_id)

    assert asset.status is AssetStatus.FAILED
    assert asset.failure_reason is not None
    assert "cannot be decoded" in asset.failure_reason
    assert asset.processed_at is not None


async def test_broken_captions_and_pdfs_fail_with_a_reason_staff_can_see(
    backend: Backend, sessionmaker: async_sessionmaker[AsyncSession], factory: Factory
) -> None:
    captions = await _ready_asset(
        sessionmaker, backend, b"WEBVTT\n\nnot a cue\n", AssetKind.CAPTIONS, "text/vtt"
    )
    document = await _ready_asset(
        sessionmaker, backend, b"%PDF-1.7\ngarbage", AssetKind.DOCUMENT, "application/pdf"
    )
    _, staff = await factory.login_as(Role.STAFF)

    await _process(sessionmaker, backend, captions)
    await _process(sessionmaker, backend, document)

    for asset_id in (captions, document):
        shown = (await backend.client.get(f"{API}/media/{asset_id}/details", headers=staff)).json()
        assert shown["status"] == "failed"
        assert shown["failure_reason"]


async def test_processing_twice_is_a_no_op(
    backend: Backend, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    asset_id = await _ready_asset(
        sessionmaker, backend, samples.pdf(2), AssetKind.DOCUMENT, "application/pdf"
    )
    first = await _process(sessionmaker, backend, asset_id)

    second = await _process(sessionmaker, backend, asset_id)

    assert first.processed_at == second.processed_at
    assert second.details == {"pages": 2, "processed": True}


async def test_video_facts_are_unknown_without_ffprobe(
    backend: Backend, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    asset_id = await _ready_asset(sessionmaker, backend, samples.mp4_header(), AssetKind.VIDEO, "video/mp4")
    without = backend.settings.model_copy(update={"media_ffprobe": "ffprobe-is-not-installed"})

    asset = await _process(sessionmaker, backend, asset_id, without)

    assert asset.status is AssetStatus.READY
    assert asset.details["duration_seconds"] is None
    assert asset.details["width"] is None


@pytest.mark.skipif(shutil.which("ffprobe") is None or shutil.which("ffmpeg") is None, reason="needs ffmpeg")
async def test_video_duration_and_resolution_come_from_ffprobe(
    backend: Backend, sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    clip = samples.ffmpeg_video(tmp_path)
    assert clip is not None
    asset_id = await _ready_asset(sessionmaker, backend, clip, AssetKind.VIDEO, "video/mp4")

    asset = await _process(sessionmaker, backend, asset_id)

    assert asset.status is AssetStatus.READY
    assert (asset.details["width"], asset.details["height"]) == (320, 240)
    assert asset.details["duration_seconds"] == pytest.approx(2.0, abs=0.1)


async def test_the_sweep_removes_day_old_pending_uploads_and_their_objects(
    backend: Backend, factory: Factory, sessionmaker: async_sessionmaker[AsyncSession], db: AsyncSession
) -> None:
    _, staff = await factory.login_as(Role.STAFF)
    old = await request_upload(
        backend, staff, filename="old.pdf", content_type="application/pdf", size_bytes=100, purpose="lesson"
    )
    fresh = await request_upload(
        backend, staff, filename="new.pdf", content_type="application/pdf", size_bytes=100, purpose="lesson"
    )
    cover = await request_upload(
        backend, staff, filename="cover.png", content_type="image/png", size_bytes=100, purpose="public"
    )
    await _course_using(sessionmaker, cover["asset"]["id"], status=CourseStatus.DRAFT, as_cover=True)
    bucket = backend.settings.bucket_media
    await backend.storage.put_bytes(bucket, old["fields"]["key"], b"%PDF-" + b"0" * 95, "application/pdf")
    async with unit_of_work(sessionmaker) as session:
        await session.execute(
            update(Asset)
            .where(Asset.id.in_([uuid.UUID(old["asset"]["id"]), uuid.UUID(cover["asset"]["id"])]))
            .values(created_at=datetime.now(UTC) - timedelta(hours=25))
        )

    async with unit_of_work(sessionmaker) as session:
        removed = await service.sweep_pending(session, backend.storage, backend.settings, datetime.now(UTC))

    assert removed == 1
    assert await db.get(Asset, uuid.UUID(old["asset"]["id"])) is None
    assert await db.get(Asset, uuid.UUID(fresh["asset"]["id"])) is not None
    assert await db.get(Asset, uuid.UUID(cover["asset"]["id"])) is not None  # a course points at it
    assert await backend.storage.stat(bucket, old["fields"]["key"]) is None


async def test_a_real_worker_processes_an_upload_after_commit(
    settings: Settings, client: AsyncTestClient[Litestar], factory: Factory, tmp_path: Path
) -> None:
    _, staff = await factory.login_as(Role.STAFF)
    local = Backend("local", settings, build_storage(settings), client, httpx.AsyncClient())
    shown: dict[str, Any] = {}
    with running_worker(settings_env(settings), tmp_path / "worker.log", "--pool=solo", "--queues=media"):
        asset = await upload(local, staff, samples.png(800, 600), "foto.png", "image/png", "public")
        for _ in range(300):
            shown = (await client.get(f"{API}/media/{asset['id']}/details", headers=staff)).json()
            if shown["processed_at"]:
                break
            await asyncio.sleep(0.1)

    assert shown["details"] == {"width": 800, "height": 600}
    assert [t["width"] for t in shown["thumbnails"]] == [320, 800]
