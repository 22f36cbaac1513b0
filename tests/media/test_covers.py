"""Course covers in the public catalogue, on both storage backends: unsigned public URLs, one query."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from lms.accounts.models import Role
from tests.courses.helpers import course_body, published_course
from tests.courses.test_catalogue import counted_queries
from tests.media import samples
from tests.media.conftest import Backend
from tests.media.test_api import API, request_upload, run_processing, send_file, upload
from tests.support import Factory

SIGNATURES = ("X-Amz-Signature", "X-Amz-Credential", "sig=", "signature=")


async def _processed_cover(
    backend: Backend, staff: dict[str, str], sessionmaker: async_sessionmaker[AsyncSession]
) -> str:
    asset = await upload(backend, staff, samples.png(1200, 800), "portada.png", "image/png", "public")
    await run_processing(sessionmaker, backend, asset["id"])
    return str(asset["id"])


def _unsigned(url: str) -> bool:
    return not any(marker in url for marker in SIGNATURES)


async def test_a_processed_public_cover_shows_its_urls_in_the_catalogue_and_the_course(
    backend: Backend, factory: Factory, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    _, staff = await factory.login_as(Role.STAFF)
    cover_id = await _processed_cover(backend, staff, sessionmaker)
    await published_course(backend.client, staff, slug="amb-portada", cover_asset_id=cover_id)
    await published_course(backend.client, staff, slug="sense-portada")

    listed = (await backend.client.get(f"{API}/courses")).json()
    detail = (await backend.client.get(f"{API}/courses/amb-portada")).json()

    cards = {card["slug"]: card for card in listed["items"]}
    assert cards["sense-portada"]["cover"] is None
    cover = cards["amb-portada"]["cover"]
    assert cover == detail["cover"]
    assert (cover["width"], cover["height"]) == (1200, 800)
    assert sorted(cover["thumbnails"]) == ["320", "960"]
    for url in [cover["url"], *cover["thumbnails"].values()]:
        assert _unsigned(url), url
    small = await backend.fetch("GET", cover["thumbnails"]["320"])  # as a phone's browser would, no login
    assert small.status_code == 200
    assert small.content[8:12] == b"WEBP"
    assert (await backend.fetch("GET", cover["url"])).content == samples.png(1200, 800)


async def test_a_cover_shows_once_ready_and_the_etag_follows_it(
    backend: Backend, factory: Factory, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    _, staff = await factory.login_as(Role.STAFF)
    image = samples.png(640, 360)
    ticket = await request_upload(
        backend,
        staff,
        filename="portada.png",
        content_type="image/png",
        size_bytes=len(image),
        purpose="public",
    )
    course = await published_course(backend.client, staff, slug="portada-en-cami")
    # Staff may pick the cover while it is still uploading; the public sees none until it is ready.
    chosen = await backend.client.patch(
        f"{API}/staff/courses/{course['id']}", json={"cover_asset_id": ticket["asset"]["id"]}, headers=staff
    )
    assert chosen.status_code == 200, chosen.text

    async def card() -> tuple[Any, str]:
        answer = await backend.client.get(f"{API}/courses")
        return answer.json()["items"][0]["cover"], answer.headers["etag"]

    pending, pending_tag = await card()
    await send_file(backend, ticket, image)
    assert (await backend.client.post(ticket["complete_url"], headers=staff)).status_code == 200
    ready, ready_tag = await card()
    await run_processing(sessionmaker, backend, ticket["asset"]["id"])
    processed, processed_tag = await card()
    again = await backend.client.get(f"{API}/courses", headers={"If-None-Match": processed_tag})

    assert pending is None
    assert ready is not None
    assert ready["thumbnails"] == {}  # the original only, until the thumbnails exist
    assert sorted(processed["thumbnails"]) == ["320", "640"]  # keyed by real width: never upscaled
    assert (processed["width"], processed["height"]) == (640, 360)
    assert len({pending_tag, ready_tag, processed_tag}) == 3
    assert again.status_code == 304


async def test_lesson_media_and_failed_images_cannot_be_covers(
    backend: Backend, factory: Factory, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    _, staff = await factory.login_as(Role.STAFF)
    lesson_image = await upload(backend, staff, samples.png(40, 40), "esquema.png", "image/png", "lesson")
    # A PNG header with a body that cannot be decoded: the upload passes, processing fails it.
    broken_bytes = samples.png(8, 8)[:40] + b"\x00" * 200
    broken = await upload(backend, staff, broken_bytes, "trencada.png", "image/png", "public")
    await run_processing(sessionmaker, backend, broken["id"])

    as_lesson = await backend.client.post(
        f"{API}/staff/courses",
        json=course_body(slug="coberta-privada", cover_asset_id=lesson_image["id"]),
        headers=staff,
    )
    course = await published_course(backend.client, staff, slug="coberta-trencada")
    as_failed = await backend.client.patch(
        f"{API}/staff/courses/{course['id']}", json={"cover_asset_id": broken["id"]}, headers=staff
    )

    assert as_lesson.status_code == 422, as_lesson.text
    assert as_lesson.json()["errors"][0]["field"] == "cover_asset_id"
    assert "public" in as_lesson.json()["errors"][0]["message"]
    assert as_failed.status_code == 422, as_failed.text
    assert "could not be processed" in as_failed.json()["errors"][0]["message"]


async def test_the_catalogue_with_covers_still_runs_one_query(
    backend: Backend, factory: Factory, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    _, staff = await factory.login_as(Role.STAFF)
    for n in range(3):
        cover_id = await _processed_cover(backend, staff, sessionmaker)
        await published_course(backend.client, staff, slug=f"curs-{n}", cover_asset_id=cover_id)

    with counted_queries() as first:
        page = (await backend.client.get(f"{API}/courses")).json()
    with counted_queries() as filtered:
        answer = await backend.client.get(f"{API}/courses", params={"q": "digitals", "open_now": "true"})

    assert len(first) == 1, first
    assert len(filtered) == 1, filtered
    assert all(card["cover"] is not None for card in page["items"])
    assert answer.json()["total"] == 3
