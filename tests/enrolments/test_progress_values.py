"""Values the API accepts but the database keeps differently: times, played seconds, counters.

Whatever the schema lets through must be refused naming its field (422) or kept as the database stores
it; never a 409 that a player retries forever, nor a 500.
"""

from __future__ import annotations

import uuid
from datetime import timedelta, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from courses.models import CourseFormat
from enrolments.models import LessonProgress, ProgressEvent, QuizAttempt
from lms.accounts.models import Role
from tests.enrolments.helpers import API, Client, Sessions, build_course, enrol, event, now, post_events
from tests.support import Factory


async def _stored_events(db: AsyncSession, enrolment_id: str) -> dict[str, ProgressEvent]:
    rows = await db.execute(
        select(ProgressEvent)
        .where(ProgressEvent.enrolment_id == uuid.UUID(enrolment_id))
        .execution_options(populate_existing=True)
    )
    return {e.client_id: e for e in rows.scalars()}


def _fields(response: Any) -> list[str]:
    return [e["field"] for e in response.json().get("errors", [])]


async def test_times_without_a_time_zone_are_refused_naming_the_field(
    client: Client, factory: Factory, sessionmaker: Sessions, db: AsyncSession
) -> None:
    mooc = await build_course(sessionmaker, video_seconds=100)
    masterclass = await build_course(
        sessionmaker, course_format=CourseFormat.MASTERCLASS, lessons=("live_session",), live_minutes=60
    )
    assert mooc.quiz is not None
    _, headers = await factory.login_as(Role.LEARNER)
    learning = await enrol(client, headers, mooc.run_id)
    attending = await enrol(client, headers, masterclass.run_id)
    naive = (now() - timedelta(minutes=30)).replace(tzinfo=None).isoformat()  # "2026-12-07T01:00:00"
    joined = (now() - timedelta(minutes=90)).isoformat()
    article, video, quiz = mooc.lessons["article"], mooc.lessons["video"], mooc.quiz
    cases: list[tuple[str, str, dict[str, Any]]] = [
        (learning["id"], "events[1].at", event("lesson_opened", article, at=naive)),
        (learning["id"], "events[1].at", event("lesson_completed", article, at=naive)),
        (
            learning["id"],
            "events[1].at",
            event("video_watched", video, at=naive, from_second=0, to_second=30),
        ),
        (
            learning["id"],
            "events[1].at",
            event("quiz_attempt", quiz.lesson_id, at=naive, answers=quiz.answers(2)),
        ),
        (attending["id"], "events[1].at", event("attendance", None, at=naive, left_at=now().isoformat())),
        (attending["id"], "events[1].left_at", event("attendance", None, at=joined, left_at=naive)),
    ]

    for enrolment_id, field, bad in cases:
        good = event("attendance", None, at=joined, left_at=now().isoformat())
        if enrolment_id == learning["id"]:
            good = event("lesson_opened", article)
        response = await post_events(client, headers, enrolment_id, good, bad)

        assert response.status_code == 422, (field, bad["type"], response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert _fields(response) == [field], (bad["type"], response.json())
    for enrolment_id in (learning["id"], attending["id"]):  # nothing of a refused batch is kept
        assert await _stored_events(db, enrolment_id) == {}
    assert (await db.execute(select(QuizAttempt))).first() is None
    assert (await db.execute(select(LessonProgress))).first() is None


async def test_times_in_any_offset_are_kept_as_the_same_instant(
    client: Client, factory: Factory, sessionmaker: Sessions, db: AsyncSession
) -> None:
    built = await build_course(
        sessionmaker, course_format=CourseFormat.MASTERCLASS, lessons=("live_session",), live_minutes=60
    )
    _, headers = await factory.login_as(Role.LEARNER)
    enrolment = await enrol(client, headers, built.run_id)
    joined, left = now() - timedelta(minutes=100), now() - timedelta(minutes=50)
    far_east, far_west = timezone(timedelta(hours=20)), timezone(-timedelta(hours=18, minutes=30))

    response = await post_events(
        client,
        headers,
        enrolment["id"],
        event(
            "attendance",
            None,
            id="stay",
            at=joined.astimezone(far_east).isoformat(),  # ISO 8601 allows offsets PostgreSQL does not
            left_at=left.astimezone(far_west).isoformat(),
        ),
    )

    assert response.status_code == 200, response.text
    stored = (await _stored_events(db, enrolment["id"]))["stay"]
    assert (stored.occurred_at, stored.ended_at) == (joined, left)


async def test_times_before_1970_are_refused_naming_the_field(
    client: Client, factory: Factory, sessionmaker: Sessions, db: AsyncSession
) -> None:
    built = await build_course(sessionmaker, lessons=("article",))
    _, headers = await factory.login_as(Role.LEARNER)
    enrolment = await enrol(client, headers, built.run_id)
    article = built.lessons["article"]

    for at in ("0001-01-01T00:00:00+01:00", "1969-12-31T23:59:59Z"):  # the first is 1 BC in UTC
        response = await post_events(
            client,
            headers,
            enrolment["id"],
            event("lesson_opened", article),
            event("lesson_opened", article, at=at),
        )
        assert response.status_code == 422, (at, response.text)
        assert _fields(response) == ["events[1].at"]
    reset_clock = await post_events(
        client, headers, enrolment["id"], event("lesson_opened", article, at="1970-01-01T00:00:00Z")
    )
    mine = await client.get(f"{API}/me/enrolments/{enrolment['id']}", headers=headers)

    assert reset_clock.status_code == 200, reset_clock.text
    assert mine.status_code == 200


async def test_intervals_empty_at_hundredths_of_a_second_are_ignored_and_the_batch_kept(
    client: Client, factory: Factory, sessionmaker: Sessions, db: AsyncSession
) -> None:
    built = await build_course(sessionmaker, lessons=("article", "video"), video_seconds=100)
    _, headers = await factory.login_as(Role.LEARNER)
    enrolment = await enrol(client, headers, built.run_id)
    video = built.lessons["video"]
    batch = [
        event("lesson_opened", built.lessons["article"], id="open"),
        event("video_watched", video, id="tiny", from_second=12.345, to_second=12.346),  # 12.35 to 12.35
        event("video_watched", video, id="tinier", from_second=0, to_second=1e-9),  # 0.00 to 0.00
        event("video_watched", video, id="short", from_second=12.344, to_second=12.346),  # 12.34 to 12.35
        event("video_watched", video, id="played", from_second=20, to_second=50),
    ]

    first = await post_events(client, headers, enrolment["id"], *batch)
    retried = await post_events(client, headers, enrolment["id"], *batch)

    assert first.status_code == 200, first.text
    assert (first.json()["accepted"], first.json()["duplicates"], first.json()["ignored"]) == (3, 0, 2)
    assert (retried.json()["accepted"], retried.json()["duplicates"], retried.json()["ignored"]) == (0, 3, 2)
    stored = await _stored_events(db, enrolment["id"])
    assert sorted(stored) == ["open", "played", "short"]
    assert (stored["short"].from_second, stored["short"].to_second) == (Decimal("12.34"), Decimal("12.35"))
    watched = await db.scalar(
        select(LessonProgress.watched_seconds).where(
            LessonProgress.enrolment_id == uuid.UUID(enrolment["id"]), LessonProgress.lesson_id == video
        )
    )
    assert watched == Decimal("30.01")


async def test_no_value_the_schema_accepts_breaks_a_database_constraint(
    client: Client, factory: Factory, sessionmaker: Sessions, db: AsyncSession
) -> None:
    built = await build_course(sessionmaker, lessons=("article", "video"), video_seconds=86_400)
    _, headers = await factory.login_as(Role.LEARNER)
    enrolment = await enrol(client, headers, built.run_id)
    path = f"{API}/me/enrolments/{enrolment['id']}/progress"
    video = built.lessons["video"]

    def played(start: str, end: str, client_id: str = "x") -> bytes:
        at = now().isoformat()
        return (
            f'{{"events": [{{"type": "video_watched", "id": "{client_id}", "lesson_id": "{video}", '
            f'"at": "{at}", "from_second": {start}, "to_second": {end}}}]}}'
        ).encode()

    refused = {
        "events[0].to_second": [
            played("0", "100000000000000000000000000000000000000"),
            played("0", "86400.001"),  # the schema's bound (a day), well inside numeric(10, 2)
            played("-0.0", "0.0"),
        ],
        "events[0].from_second": [played("-1e-9", "1")],
        "events[0].id": [played("0", "1", "x" * 65)],
    }
    for field, bodies in refused.items():
        for body in bodies:
            response = await client.post(
                path, content=body, headers=headers | {"Content-Type": "application/json"}
            )
            assert response.status_code == 422, (body, response.text)
            assert _fields(response) == [field], (body, response.json())
    # Not JSON, or a number no double holds: the body cannot be read (400, before any field is looked at).
    for literal in ("NaN", "Infinity", "-Infinity", "1e400", "-1e400"):
        response = await client.post(
            path, content=played("0", literal), headers=headers | {"Content-Type": "application/json"}
        )
        assert response.status_code == 400, (literal, response.text)
        assert response.json()["type"] == "urn:aula:problem:malformed_body"
    kept = [
        played("86399.996", "86400", "last-hundredth"),  # 86400.00 to 86400.00: empty, ignored
        played("-0.0", "5", "negative-zero"),
        played("86399.99", "86400", "\U0001f600" * 64),  # 64 characters of four bytes each
    ]
    for body in kept:
        response = await client.post(
            path, content=body, headers=headers | {"Content-Type": "application/json"}
        )
        assert response.status_code == 200, (body, response.text)
    stored = await _stored_events(db, enrolment["id"])
    assert sorted(stored) == sorted(["negative-zero", "\U0001f600" * 64])
    assert stored["negative-zero"].from_second == 0


async def test_a_quiz_attempt_answering_no_question_is_refused_and_uses_no_attempt(
    client: Client, factory: Factory, sessionmaker: Sessions
) -> None:
    built = await build_course(sessionmaker, lessons=("quiz",), max_attempts=1)
    assert built.quiz is not None
    _, headers = await factory.login_as(Role.LEARNER)
    enrolment = await enrol(client, headers, built.run_id)
    quiz = built.quiz
    unanswered = [{"question_id": str(q), "option_ids": []} for q in quiz.questions]

    for answers in ([], unanswered):
        tap = await post_events(
            client, headers, enrolment["id"], event("quiz_attempt", quiz.lesson_id, answers=answers)
        )
        assert tap.status_code == 422, (answers, tap.text)
        assert _fields(tap) == ["events[0].answers"]
    real = await post_events(
        client, headers, enrolment["id"], event("quiz_attempt", quiz.lesson_id, answers=quiz.answers(2))
    )

    assert real.status_code == 200, real.text
    [result] = real.json()["quiz_results"]
    assert (result["attempt"], result["score"], result["passed"]) == (1, 100, True)


async def test_an_unlimited_quiz_stops_at_the_last_attempt_the_database_can_count(
    client: Client, factory: Factory, sessionmaker: Sessions
) -> None:
    built = await build_course(sessionmaker, lessons=("quiz",), max_attempts=None, pass_mark=100)
    assert built.quiz is not None
    _, headers = await factory.login_as(Role.LEARNER)
    enrolment = await enrol(client, headers, built.run_id)
    quiz = built.quiz
    first = await post_events(
        client, headers, enrolment["id"], event("quiz_attempt", quiz.lesson_id, answers=quiz.answers(1))
    )
    async with sessionmaker() as session, session.begin():  # a very persistent learner (smallint's top)
        await session.execute(
            update(LessonProgress)
            .where(LessonProgress.enrolment_id == uuid.UUID(enrolment["id"]))
            .values(attempts_used=32_767)
        )

    one_more = await post_events(
        client, headers, enrolment["id"], event("quiz_attempt", quiz.lesson_id, answers=quiz.answers(2))
    )

    assert first.status_code == 200, first.text
    assert first.json()["quiz_results"][0]["attempts_left"] is None
    assert one_more.status_code == 409, one_more.text
    assert one_more.json()["detail"] == "No attempts are left for this quiz."
    async with sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(QuizAttempt)) == 1
