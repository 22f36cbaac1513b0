"""Media through the HTTP API, on both backends: upload, completion check, delivery, deletion."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from courses.models import Course, CourseFormat, CourseModule, CourseRun, CourseStatus, Lesson, LessonKind
from enrolments.models import Enrolment, EnrolmentStatus
from lms.accounts.models import Role
from lms.db.outbox import OutboxMessage
from lms.db.session import unit_of_work
from media import service, signing
from media.models import Asset, AssetStatus
from tests.media import samples
from tests.media.conftest import Backend
from tests.support import Factory

API = "/api/v1"


async def request_upload(backend: Backend, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    response = await backend.client.post(f"{API}/media/uploads", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def send_file(backend: Backend, ticket: dict[str, Any], data: bytes) -> None:
    fields = ticket["fields"]
    answer = await backend.fetch(
        "POST", ticket["url"], data=fields, files={"file": ("upload", data, fields["Content-Type"])}
    )
    assert answer.status_code == 204, answer.text


async def upload(
    backend: Backend, headers: dict[str, str], data: bytes, filename: str, content_type: str, purpose: str
) -> dict[str, Any]:
    """Ask, send and complete: what a staff member's browser does."""
    ticket = await request_upload(
        backend, headers, filename=filename, content_type=content_type, size_bytes=len(data), purpose=purpose
    )
    await send_file(backend, ticket, data)
    done = await backend.client.post(ticket["complete_url"], headers=headers)
    assert done.status_code == 200, done.text
    return dict(done.json())


async def run_processing(
    sessionmaker: async_sessionmaker[AsyncSession], backend: Backend, asset_id: str
) -> None:
    """The processing task's body, for real, in its own transaction."""
    async with unit_of_work(sessionmaker) as session:
        await service.process(session, backend.storage, backend.settings, uuid.UUID(asset_id))


async def test_staff_upload_a_cover_and_anyone_gets_it_with_thumbnails(
    backend: Backend, factory: Factory, db: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    _, staff = await factory.login_as(Role.STAFF)
    image = samples.png(1200, 800)

    ticket = await request_upload(
        backend,
        staff,
        filename="Portada curs.png",
        content_type="image/png",
        size_bytes=len(image),
        purpose="public",
    )
    assert ticket["method"] == "post"
    assert ticket["asset"]["status"] == "pending"
    assert ticket["fields"]["key"].startswith(f"public/{ticket['asset']['id']}/")
    # moto does not enforce the policy: read back what was signed
    policy = signing.decode_policy(ticket["fields"]["policy"])
    assert (policy.bucket, policy.key) == (backend.settings.bucket_public, ticket["fields"]["key"])
    assert policy.content_type == "image/png"
    assert (policy.min_size, policy.max_size) == (len(image), len(image))
    assert policy.expires_at <= datetime.now(UTC) + timedelta(minutes=15)
    await send_file(backend, ticket, image)
    done = await backend.client.post(ticket["complete_url"], headers=staff)
    assert done.status_code == 200
    assert done.json()["status"] == "ready"
    owed = (await db.execute(select(OutboxMessage.task, OutboxMessage.payload))).all()
    assert ("media.process", {"asset_id": ticket["asset"]["id"]}) in [tuple(r) for r in owed]

    await run_processing(sessionmaker, backend, ticket["asset"]["id"])

    details = (
        await backend.client.get(
            follow_redirects=False, url=f"{API}/media/{ticket['asset']['id']}/details", headers=staff
        )
    ).json()
    assert details["details"] == {"width": 1200, "height": 800}
    assert [(t["width"], t["height"]) for t in details["thumbnails"]] == [(320, 213), (960, 640)]
    small = await backend.fetch("GET", details["thumbnails"][0]["url"])
    assert small.status_code == 200
    assert small.content[8:12] == b"WEBP"
    delivered = await backend.client.get(
        follow_redirects=False, url=f"{API}/media/{ticket['asset']['id']}"
    )  # anonymous
    assert delivered.status_code == 307
    assert delivered.headers["location"] == details["url"]
    assert (await backend.fetch("GET", delivered.headers["location"])).content == image


async def test_lesson_document_is_streamed_to_staff_only_with_ranges(
    backend: Backend, factory: Factory, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    _, staff = await factory.login_as(Role.STAFF)
    _, learner = await factory.login_as(Role.LEARNER)
    document = samples.pdf(pages=4)
    asset = await upload(backend, staff, document, "Guia del curs.pdf", "application/pdf", "lesson")
    await run_processing(sessionmaker, backend, asset["id"])

    anonymous = await backend.client.get(follow_redirects=False, url=f"{API}/media/{asset['id']}")
    stranger = await backend.client.get(
        follow_redirects=False, url=f"{API}/media/{asset['id']}", headers=learner
    )
    unknown = await backend.client.get(
        follow_redirects=False, url=f"{API}/media/{uuid.uuid4()}", headers=staff
    )
    delivered = await backend.client.get(
        follow_redirects=False, url=f"{API}/media/{asset['id']}", headers=staff
    )

    assert anonymous.status_code == stranger.status_code == unknown.status_code == 404
    assert stranger.json()["detail"] == unknown.json()["detail"]  # nothing says the asset exists
    assert delivered.status_code == 307
    assert delivered.headers["cache-control"] == "private, no-store"
    streamed = await backend.fetch("GET", delivered.headers["location"], headers={"Range": "bytes=0-7"})
    assert streamed.status_code == 206
    assert streamed.content == document[:8]
    assert streamed.headers["content-type"] == "application/pdf"
    assert 'filename="Guia del curs.pdf"' in streamed.headers["content-disposition"]
    details = (
        await backend.client.get(
            follow_redirects=False, url=f"{API}/media/{asset['id']}/details", headers=staff
        )
    ).json()
    assert details["details"] == {"pages": 4}


async def test_captions_are_parsed_into_cues(
    backend: Backend, factory: Factory, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    _, staff = await factory.login_as(Role.STAFF)
    asset = await upload(backend, staff, samples.VTT.encode(), "subtitols.vtt", "text/vtt", "lesson")

    await run_processing(sessionmaker, backend, asset["id"])

    details = (
        await backend.client.get(
            follow_redirects=False, url=f"{API}/media/{asset['id']}/details", headers=staff
        )
    ).json()
    assert details["status"] == "ready"
    assert details["details"]["cue_count"] == 2
    assert details["details"]["cues"][1] == {"start": 2.5, "end": 5.0, "text": "Comencem!"}


async def test_upload_requests_are_checked_against_the_allow_lists(
    backend: Backend, factory: Factory
) -> None:
    _, staff = await factory.login_as(Role.STAFF)
    _, learner = await factory.login_as(Role.LEARNER)
    url = f"{API}/media/uploads"
    base = {"filename": "a.png", "content_type": "image/png", "size_bytes": 1000, "purpose": "lesson"}

    unknown_type = await backend.client.post(url, json={**base, "content_type": "text/html"}, headers=staff)
    wrong_kind = await backend.client.post(url, json={**base, "kind": "video"}, headers=staff)
    unknown_kind = await backend.client.post(url, json={**base, "kind": "hologram"}, headers=staff)
    too_big = await backend.client.post(url, json={**base, "size_bytes": 20 * 1024**2 + 1}, headers=staff)
    video_too_big = await backend.client.post(
        url, json={**base, "content_type": "video/mp4", "size_bytes": 2 * 1024**3 + 1}, headers=staff
    )
    by_learner = await backend.client.post(url, json=base, headers=learner)

    assert unknown_type.status_code == wrong_kind.status_code == unknown_kind.status_code == 422
    assert unknown_type.json()["errors"][0]["field"] == "content_type"
    assert too_big.status_code == video_too_big.status_code == 413
    assert by_learner.status_code == 403


async def test_completing_an_upload_that_never_arrived_is_a_conflict(
    backend: Backend, factory: Factory, db: AsyncSession
) -> None:
    _, staff = await factory.login_as(Role.STAFF)
    ticket = await request_upload(
        backend, staff, filename="a.pdf", content_type="application/pdf", size_bytes=100, purpose="lesson"
    )

    done = await backend.client.post(ticket["complete_url"], headers=staff)

    assert done.status_code == 409
    stored = await db.get(Asset, uuid.UUID(ticket["asset"]["id"]))
    assert stored is not None
    assert stored.status is AssetStatus.PENDING


async def _assert_nothing_kept(backend: Backend, db: AsyncSession, ticket: dict[str, Any]) -> None:
    assert await db.get(Asset, uuid.UUID(ticket["asset"]["id"])) is None
    bucket = backend.settings.bucket_media
    assert await backend.storage.stat(bucket, ticket["fields"]["key"]) is None


async def test_a_pdf_renamed_as_video_is_rejected_and_nothing_is_kept(
    backend: Backend, factory: Factory, db: AsyncSession
) -> None:
    _, staff = await factory.login_as(Role.STAFF)
    document = samples.pdf()
    ticket = await request_upload(
        backend,
        staff,
        filename="classe.mp4",
        content_type="video/mp4",
        size_bytes=len(document),
        purpose="lesson",
    )
    await send_file(backend, ticket, document)

    done = await backend.client.post(ticket["complete_url"], headers=staff)

    assert done.status_code == 422
    assert "application/pdf" in done.json()["detail"]
    await _assert_nothing_kept(backend, db, ticket)


async def test_html_posing_as_an_image_is_rejected(
    backend: Backend, factory: Factory, db: AsyncSession
) -> None:
    _, staff = await factory.login_as(Role.STAFF)
    page = b"<!doctype html><script>alert(1)</script>"
    ticket = await request_upload(
        backend, staff, filename="foto.png", content_type="image/png", size_bytes=len(page), purpose="lesson"
    )
    await send_file(backend, ticket, page)

    done = await backend.client.post(ticket["complete_url"], headers=staff)

    assert done.status_code == 422
    await _assert_nothing_kept(backend, db, ticket)


async def test_an_object_of_another_size_than_declared_is_rejected(
    backend: Backend, factory: Factory, db: AsyncSession
) -> None:
    # moto does not enforce the POST policy's length range, so the object is put behind the form's back.
    _, staff = await factory.login_as(Role.STAFF)
    document = samples.pdf()
    ticket = await request_upload(
        backend,
        staff,
        filename="a.pdf",
        content_type="application/pdf",
        size_bytes=len(document) + 10,
        purpose="lesson",
    )
    await backend.storage.put_bytes(
        backend.settings.bucket_media, ticket["fields"]["key"], document, "application/pdf"
    )

    done = await backend.client.post(ticket["complete_url"], headers=staff)

    assert done.status_code == 422
    assert done.json()["errors"][0]["field"] == "size_bytes"
    await _assert_nothing_kept(backend, db, ticket)


async def test_completing_twice_answers_the_same(
    backend: Backend, factory: Factory, db: AsyncSession
) -> None:
    _, staff = await factory.login_as(Role.STAFF)
    asset = await upload(backend, staff, samples.pdf(), "a.pdf", "application/pdf", "lesson")

    again = await backend.client.post(f"{API}/media/{asset['id']}/complete", headers=staff)

    assert again.status_code == 200
    assert again.json()["status"] == "ready"
    tasks = (await db.execute(select(OutboxMessage.task))).scalars().all()
    assert tasks.count("media.process") == 1


async def _course_using(
    sessionmaker: async_sessionmaker[AsyncSession],
    asset_id: str | None,
    *,
    status: CourseStatus,
    as_cover: bool,
) -> uuid.UUID:
    async with unit_of_work(sessionmaker) as session:
        course = Course(
            id=uuid.uuid4(),
            slug=f"curs-{uuid.uuid4().hex[:8]}",
            format=CourseFormat.INSTANT,
            status=status,
            title={"ca": "Curs"},
            published_at=datetime.now(UTC) if status is CourseStatus.PUBLISHED else None,
            cover_asset_id=uuid.UUID(asset_id) if as_cover and asset_id else None,
        )
        session.add(course)
        await session.flush()
        if not as_cover and asset_id:
            module = CourseModule(id=uuid.uuid4(), course_id=course.id, position=0, title={"ca": "Mòdul"})
            session.add(module)
            await session.flush()
            session.add(
                Lesson(
                    id=uuid.uuid4(),
                    module_id=module.id,
                    course_id=course.id,
                    position=0,
                    kind=LessonKind.DOCUMENT,
                    title={"ca": "Lliçó"},
                    asset_id=uuid.UUID(asset_id),
                )
            )
        return course.id


async def test_staff_delete_an_unused_asset_and_its_objects_go_after_commit(
    backend: Backend, factory: Factory, db: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    _, staff = await factory.login_as(Role.STAFF)
    asset = await upload(backend, staff, samples.png(400, 300), "a.png", "image/png", "public")
    await run_processing(sessionmaker, backend, asset["id"])
    stored = await db.get(Asset, uuid.UUID(asset["id"]))
    assert stored is not None
    objects = service.asset_objects(stored)
    assert len(objects) == 3  # the image and two thumbnails

    deleted = await backend.client.delete(f"{API}/media/{asset['id']}", headers=staff)

    assert deleted.status_code == 204
    db.expunge_all()
    assert await db.get(Asset, uuid.UUID(asset["id"])) is None
    owed = (
        await db.execute(select(OutboxMessage).where(OutboxMessage.task == "media.remove_objects"))
    ).scalar_one()
    await service.remove_objects(backend.storage, owed.payload["objects"], owed.payload["upload_id"])
    for bucket, key in objects:
        assert await backend.storage.stat(bucket, key) is None
    again = await backend.client.delete(f"{API}/media/{asset['id']}", headers=staff)
    assert again.status_code == 404


async def test_an_asset_a_course_uses_cannot_be_deleted(
    backend: Backend, factory: Factory, db: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    _, staff = await factory.login_as(Role.STAFF)
    cover = await upload(backend, staff, samples.png(40, 30), "cover.png", "image/png", "public")
    handout = await upload(backend, staff, samples.pdf(), "a.pdf", "application/pdf", "lesson")
    await _course_using(sessionmaker, cover["id"], status=CourseStatus.PUBLISHED, as_cover=True)
    await _course_using(sessionmaker, handout["id"], status=CourseStatus.DRAFT, as_cover=False)

    cover_refused = await backend.client.delete(f"{API}/media/{cover['id']}", headers=staff)
    handout_refused = await backend.client.delete(f"{API}/media/{handout['id']}", headers=staff)

    assert cover_refused.status_code == handout_refused.status_code == 409
    assert "published" in cover_refused.json()["detail"]
    assert cover_refused.json()["uses"][0]["entity"] == "course_cover"
    assert handout_refused.json()["uses"][0] | {"id": None, "course_id": None} == {
        "entity": "lesson",
        "id": None,
        "course_id": None,
        "published": False,
    }
    kept = await db.get(Asset, uuid.UUID(cover["id"]))
    assert kept is not None
    assert await backend.storage.stat(kept.bucket, kept.object_key) is not None


async def _enrol(
    sessionmaker: async_sessionmaker[AsyncSession],
    user_id: uuid.UUID,
    course_id: uuid.UUID,
    status: EnrolmentStatus,
) -> uuid.UUID:
    async with unit_of_work(sessionmaker) as session:
        run = CourseRun(id=uuid.uuid4(), course_id=course_id, starts_at=datetime.now(UTC) - timedelta(days=1))
        session.add(run)
        await session.flush()
        now = datetime.now(UTC)
        session.add(
            Enrolment(
                id=uuid.uuid4(),
                user_id=user_id,
                run_id=run.id,
                course_id=course_id,
                status=status,
                enrolled_at=now,
                waitlist_ticket=1 if status is EnrolmentStatus.WAITLISTED else None,
                completed_at=now if status is EnrolmentStatus.COMPLETED else None,
            )
        )
        return run.id


async def test_learners_seated_in_a_run_of_the_course_read_its_lesson_media(
    backend: Backend, factory: Factory, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    _, staff = await factory.login_as(Role.STAFF)
    seated, seated_headers = await factory.login_as(Role.LEARNER)
    waiting, waiting_headers = await factory.login_as(Role.LEARNER)
    _, other_headers = await factory.login_as(Role.LEARNER)
    handout = await upload(backend, staff, samples.pdf(), "a.pdf", "application/pdf", "lesson")
    unrelated = await upload(backend, staff, samples.pdf(), "b.pdf", "application/pdf", "lesson")
    course_id = await _course_using(
        sessionmaker, handout["id"], status=CourseStatus.PUBLISHED, as_cover=False
    )
    await _enrol(sessionmaker, seated.id, course_id, EnrolmentStatus.ENROLLED)
    await _enrol(sessionmaker, waiting.id, course_id, EnrolmentStatus.WAITLISTED)

    async def status(asset: dict[str, Any], headers: dict[str, str]) -> int:
        answer = await backend.client.get(
            f"{API}/media/{asset['id']}", headers=headers, follow_redirects=False
        )
        return answer.status_code

    assert await status(handout, seated_headers) == 307
    assert await status(unrelated, seated_headers) == 404  # never another course's private file
    assert await status(handout, waiting_headers) == 404
    assert await status(handout, other_headers) == 404


async def test_a_masterclass_recording_is_for_learners_of_that_run(
    backend: Backend, factory: Factory, sessionmaker: async_sessionmaker[AsyncSession], db: AsyncSession
) -> None:
    _, staff = await factory.login_as(Role.STAFF)
    learner, headers = await factory.login_as(Role.LEARNER)
    recording = await upload(backend, staff, samples.mp4_header(), "sessio.mp4", "video/mp4", "lesson")
    course_id = await _course_using(sessionmaker, None, status=CourseStatus.PUBLISHED, as_cover=True)
    run_id = await _enrol(sessionmaker, learner.id, course_id, EnrolmentStatus.COMPLETED)
    before = await backend.client.get(
        f"{API}/media/{recording['id']}", headers=headers, follow_redirects=False
    )
    run = await db.get(CourseRun, run_id)
    assert run is not None
    run.recording_asset_id = uuid.UUID(recording["id"])
    await db.commit()

    after = await backend.client.get(
        f"{API}/media/{recording['id']}", headers=headers, follow_redirects=False
    )

    assert (before.status_code, after.status_code) == (404, 307)


async def test_staff_list_the_media_library(backend: Backend, factory: Factory) -> None:
    _, staff = await factory.login_as(Role.STAFF)
    await upload(backend, staff, samples.pdf(), "a.pdf", "application/pdf", "lesson")
    await request_upload(
        backend, staff, filename="b.png", content_type="image/png", size_bytes=10, purpose="public"
    )

    ready = await backend.client.get(f"{API}/media", params={"status": "ready"}, headers=staff)
    everything = await backend.client.get(f"{API}/media", headers=staff)

    assert [a["filename"] for a in ready.json()["items"]] == ["a.pdf"]
    assert everything.json()["total"] == 2


async def test_a_bad_token_on_a_media_link_is_unauthorized(backend: Backend, factory: Factory) -> None:
    _, staff = await factory.login_as(Role.STAFF)
    asset = await upload(backend, staff, samples.pdf(), "a.pdf", "application/pdf", "lesson")

    answer = await backend.client.get(
        f"{API}/media/{asset['id']}", headers={"Authorization": "Bearer not-a-token"}, follow_redirects=False
    )

    assert answer.status_code == 401
