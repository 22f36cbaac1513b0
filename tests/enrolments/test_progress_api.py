"""Progress events, server-side grading and completion, through the real app."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from certificates.models import Certificate, CertificateStatus
from courses.models import CourseFormat, CourseModule, Lesson, LessonKind
from enrolments.models import Enrolment, LessonProgress, ProgressEvent
from lms.accounts.models import Role
from lms.db.outbox import OutboxMessage
from tests.enrolments.helpers import API, Client, Sessions, build_course, enrol, event, now, post_events
from tests.support import Factory


async def test_a_retried_batch_changes_nothing(
    client: Client, factory: Factory, sessionmaker: Sessions, db: AsyncSession
) -> None:
    built = await build_course(sessionmaker)
    _, headers = await factory.login_as(Role.LEARNER)
    enrolment = await enrol(client, headers, built.run_id)
    batch = [
        event("lesson_opened", built.lessons["article"], id="a-1"),
        event("video_watched", built.lessons["video"], id="v-1", from_second=0, to_second=120),
        event("video_watched", built.lessons["video"], id="v-2", from_second=60, to_second=200),
    ]

    first = await post_events(client, headers, enrolment["id"], *batch)
    second = await post_events(client, headers, enrolment["id"], *batch)

    assert first.status_code == second.status_code == 200
    assert (first.json()["accepted"], first.json()["duplicates"]) == (3, 0)
    assert (second.json()["accepted"], second.json()["duplicates"]) == (0, 3)
    progress = await db.get(LessonProgress, (uuid.UUID(enrolment["id"]), built.lessons["video"]))
    assert progress is not None
    assert float(progress.watched_seconds) == 200.0  # [0,120) and [60,200) merged, counted once
    stored = (await db.execute(select(ProgressEvent.client_id))).scalars().all()
    assert sorted(stored) == ["a-1", "v-1", "v-2"]


async def test_seeking_to_the_end_does_not_complete_a_video_but_watching_ninety_percent_does(
    client: Client, factory: Factory, sessionmaker: Sessions
) -> None:
    built = await build_course(sessionmaker, lessons=("video",), video_seconds=100)
    _, headers = await factory.login_as(Role.LEARNER)
    enrolment = await enrol(client, headers, built.run_id)
    video = built.lessons["video"]

    seek = await post_events(
        client,
        headers,
        enrolment["id"],
        event("video_watched", video, from_second=0, to_second=10),
        event("video_watched", video, from_second=95, to_second=100),  # jumped to the end
    )
    watched = await post_events(
        client, headers, enrolment["id"], event("video_watched", video, from_second=10, to_second=85)
    )

    assert seek.json()["progress_percent"] == 0
    assert watched.json()["status"] == "completed"  # 90 of 100 seconds
    detail = await client.get(f"{API}/me/enrolments/{enrolment['id']}", headers=headers)
    [lesson] = detail.json()["lessons"]
    assert (lesson["state"], lesson["watched_percent"]) == ("completed", 90)


async def test_bad_events_are_refused_naming_the_field(
    client: Client, factory: Factory, sessionmaker: Sessions, db: AsyncSession
) -> None:
    built = await build_course(sessionmaker, video_seconds=100)
    assert built.quiz is not None
    _, headers = await factory.login_as(Role.LEARNER)
    enrolment = await enrol(client, headers, built.run_id)
    video = built.lessons["video"]
    first_question = next(iter(built.quiz.questions))
    cases = {
        "events[1].at": event("lesson_opened", video, at=(now() + timedelta(hours=1)).isoformat()),
        "events[1].lesson_id": event("lesson_opened", uuid.uuid4()),
        "events[1].to_second": event("video_watched", video, from_second=10, to_second=150),
        "events[1].from_second": event("video_watched", video, from_second=-5, to_second=10),
        "events[1].type": event("lesson_completed", video),  # videos complete by watching
        "events[1].answers[0].option_ids": event(
            "quiz_attempt",
            built.quiz.lesson_id,
            answers=[{"question_id": str(first_question), "option_ids": [str(uuid.uuid4())]}],
        ),
    }
    for field, bad in cases.items():
        good = event("lesson_opened", built.lessons["article"])
        response = await post_events(client, headers, enrolment["id"], good, bad)
        assert response.status_code == 422, (field, response.text)
        assert field in [e["field"] for e in response.json()["errors"]], (field, response.json())
    assert (await db.execute(select(ProgressEvent))).first() is None  # nothing of a refused batch is kept
    too_many = [event("lesson_opened", built.lessons["article"]) for _ in range(501)]
    assert (await post_events(client, headers, enrolment["id"], *too_many)).status_code == 422


async def test_lessons_not_released_yet_cannot_be_progressed_or_read(
    client: Client, factory: Factory, sessionmaker: Sessions
) -> None:
    built = await build_course(sessionmaker, module_release=timedelta(days=7))
    _, headers = await factory.login_as(Role.LEARNER)
    enrolment = await enrol(client, headers, built.run_id)

    response = await post_events(
        client, headers, enrolment["id"], event("lesson_opened", built.lessons["article"])
    )
    content = await client.get(f"{API}/me/lessons/{built.lessons['article']}", headers=headers)

    assert response.status_code == 422
    assert response.json()["errors"][0] == {"field": "events[0].lesson_id", "message": "is not released yet"}
    assert content.status_code == 404


async def test_quiz_attempts_are_graded_on_the_server_and_limited(
    client: Client, factory: Factory, sessionmaker: Sessions
) -> None:
    built = await build_course(sessionmaker, lessons=("quiz",), pass_mark=100, max_attempts=2)
    assert built.quiz is not None
    _, headers = await factory.login_as(Role.LEARNER)
    enrolment = await enrol(client, headers, built.run_id)
    quiz = built.quiz

    first = await post_events(
        client,
        headers,
        enrolment["id"],
        event("quiz_attempt", quiz.lesson_id, id="q1", answers=quiz.answers(1)),
    )
    retried = await post_events(
        client,
        headers,
        enrolment["id"],
        event("quiz_attempt", quiz.lesson_id, id="q1", answers=quiz.answers(1)),
    )
    second = await post_events(
        client,
        headers,
        enrolment["id"],
        event("quiz_attempt", quiz.lesson_id, id="q2", answers=quiz.answers(2)),
    )
    third = await post_events(
        client,
        headers,
        enrolment["id"],
        event("quiz_attempt", quiz.lesson_id, id="q3", answers=quiz.answers(2)),
    )

    assert first.json()["quiz_results"] == [
        {
            "event_id": "q1",
            "lesson_id": str(quiz.lesson_id),
            "attempt": 1,
            "score": 50,
            "passed": False,
            "attempts_left": 1,
        }
    ]
    assert "correct" not in first.text
    assert retried.json()["quiz_results"][0]["attempt"] == 1  # the same attempt, not a new one
    assert retried.json()["accepted"] == 0
    assert second.json()["quiz_results"][0] | {"lesson_id": None} == {
        "event_id": "q2",
        "lesson_id": None,
        "attempt": 2,
        "score": 100,
        "passed": True,
        "attempts_left": 0,
    }
    assert second.json()["status"] == "completed"
    assert third.status_code == 409


async def test_lesson_content_is_for_seated_learners_and_hides_the_answers(
    client: Client, factory: Factory, sessionmaker: Sessions
) -> None:
    built = await build_course(sessionmaker, capacity=1)
    assert built.quiz is not None
    _, seated = await factory.login_as(Role.LEARNER)
    _, waiting = await factory.login_as(Role.LEARNER)
    _, stranger = await factory.login_as(Role.LEARNER)
    await enrol(client, seated, built.run_id)
    await enrol(client, waiting, built.run_id)
    path = f"{API}/me/lessons/{built.quiz.lesson_id}"

    mine = await client.get(path, params={"lang": "en"}, headers=seated)

    assert mine.status_code == 200
    assert mine.json()["title"] == "Lesson 3"
    assert len(mine.json()["questions"]) == 2
    assert "is_correct" not in mine.text
    assert "correct" not in mine.text
    article = await client.get(f"{API}/me/lessons/{built.lessons['article']}", headers=seated)
    assert article.json()["article_html"] == "<p>Hola</p>"
    assert (await client.get(path, headers=waiting)).status_code == 404
    assert (await client.get(path, headers=stranger)).status_code == 404


async def test_completing_an_instant_course_records_completion_once_and_owes_the_certificate(
    client: Client, factory: Factory, sessionmaker: Sessions, db: AsyncSession
) -> None:
    built = await build_course(
        sessionmaker, course_format=CourseFormat.INSTANT, lessons=("article", "article"), run_ends=None
    )
    _, headers = await factory.login_as(Role.LEARNER)
    enrolment = await enrol(client, headers, built.run_id)
    outline = await client.get(f"{API}/me/enrolments/{enrolment['id']}", headers=headers)
    [one, two] = [lesson["id"] for lesson in outline.json()["lessons"]]

    half = await post_events(client, headers, enrolment["id"], event("lesson_completed", uuid.UUID(one)))
    done = await post_events(client, headers, enrolment["id"], event("lesson_completed", uuid.UUID(two)))
    again = await post_events(client, headers, enrolment["id"], event("lesson_opened", uuid.UUID(one)))

    assert (half.json()["status"], half.json()["progress_percent"]) == ("enrolled", 50)
    assert (done.json()["status"], done.json()["progress_percent"]) == ("completed", 100)
    assert again.json()["completed_at"] == done.json()["completed_at"]
    stored = await db.get(Enrolment, uuid.UUID(enrolment["id"]))
    assert stored is not None
    assert stored.completed_at is not None
    [certificate] = (await db.execute(select(Certificate))).scalars().all()
    assert certificate.status is CertificateStatus.PENDING
    assert certificate.enrolment_id == stored.id
    owed = (await db.execute(select(OutboxMessage.task))).scalars().all()
    assert owed.count("certificates.issue") == 1
    mine = await client.get(f"{API}/me/enrolments", headers=headers)
    assert mine.json()[0]["certificate"]["status"] == "pending"
    assert mine.json()[0]["progress_percent"] == 100


async def test_mooc_completion_needs_every_required_quiz_passed(
    client: Client, factory: Factory, sessionmaker: Sessions, db: AsyncSession
) -> None:
    built = await build_course(
        sessionmaker, lessons=("article", "quiz"), certificates=False, max_attempts=None
    )
    assert built.quiz is not None
    _, headers = await factory.login_as(Role.LEARNER)
    enrolment = await enrol(client, headers, built.run_id)

    failed = await post_events(
        client,
        headers,
        enrolment["id"],
        event("lesson_completed", built.lessons["article"]),
        event("quiz_attempt", built.quiz.lesson_id, answers=built.quiz.answers(0)),
    )
    passed = await post_events(
        client,
        headers,
        enrolment["id"],
        event("quiz_attempt", built.quiz.lesson_id, answers=built.quiz.answers(2)),
    )

    assert (failed.json()["status"], failed.json()["progress_percent"]) == ("enrolled", 50)
    assert passed.json()["status"] == "completed"
    assert passed.json()["quiz_results"][0]["attempts_left"] is None  # unlimited
    assert (await db.execute(select(Certificate))).first() is None  # certificates disabled


async def test_my_enrolments_show_where_to_resume(
    client: Client, factory: Factory, sessionmaker: Sessions
) -> None:
    built = await build_course(sessionmaker)
    _, headers = await factory.login_as(Role.LEARNER)
    enrolment = await enrol(client, headers, built.run_id)

    before = await client.get(f"{API}/me/enrolments", headers=headers)
    await post_events(
        client,
        headers,
        enrolment["id"],
        event("lesson_completed", built.lessons["article"]),
        event("video_watched", built.lessons["video"], from_second=0, to_second=30),
    )
    after = await client.get(f"{API}/me/enrolments", headers=headers)

    assert before.json()[0]["resume"] is None
    line = after.json()[0]
    assert line["resume"]["id"] == str(built.lessons["video"])
    assert line["progress_percent"] == 33
    assert line["last_activity_at"] is not None
    assert line["certificate"] is None


async def test_masterclass_completes_with_three_quarters_of_the_live_session(
    client: Client, factory: Factory, sessionmaker: Sessions
) -> None:
    built = await build_course(
        sessionmaker,
        course_format=CourseFormat.MASTERCLASS,
        lessons=("live_session", "video"),
        live_minutes=60,
    )
    _, headers = await factory.login_as(Role.LEARNER)
    enrolment = await enrol(client, headers, built.run_id)
    live_start = now() - timedelta(hours=2)

    def stay(minutes_from: int, minutes_to: int) -> dict[str, object]:
        return event(
            "attendance",
            None,
            at=(live_start + timedelta(minutes=minutes_from)).isoformat(),
            left_at=(live_start + timedelta(minutes=minutes_to)).isoformat(),
        )

    early = await post_events(client, headers, enrolment["id"], stay(-10, 20), stay(10, 30))
    late = await post_events(client, headers, enrolment["id"], stay(40, 90))

    assert early.json()["status"] == "enrolled"  # overlapping stays count once: 30 of the 45 minutes needed
    assert early.json()["progress_percent"] == 66
    assert late.json()["status"] == "completed"  # 30 + 20 (the session ended at minute 60)
    detail = await client.get(f"{API}/me/enrolments/{enrolment['id']}", headers=headers)
    assert detail.json()["attended_minutes"] == 50
    assert detail.json()["meeting_url"] == "https://meet.example.org/aula"


async def test_staff_mark_masterclass_attendance(
    client: Client, factory: Factory, sessionmaker: Sessions
) -> None:
    built = await build_course(
        sessionmaker, course_format=CourseFormat.MASTERCLASS, lessons=("live_session",), live_minutes=60
    )
    _, staff = await factory.login_as(Role.STAFF)
    _, headers = await factory.login_as(Role.LEARNER)
    enrolment = await enrol(client, headers, built.run_id)
    path = f"{API}/staff/enrolments/{enrolment['id']}/attendance"

    short = await client.put(path, json={"attended_minutes": 30}, headers=staff)
    enough = await client.put(path, json={"attended_minutes": 45}, headers=staff)
    by_learner = await client.put(path, json={"attended_minutes": 60}, headers=headers)

    assert (short.status_code, short.json()["status"]) == (200, "enrolled")
    assert enough.json()["status"] == "completed"
    assert by_learner.status_code == 403


async def test_watching_the_recording_completes_a_masterclass(
    client: Client, factory: Factory, sessionmaker: Sessions
) -> None:
    built = await build_course(
        sessionmaker,
        course_format=CourseFormat.MASTERCLASS,
        lessons=("live_session", "video"),
        live_minutes=60,
        video_seconds=3600,
    )
    _, headers = await factory.login_as(Role.LEARNER)
    enrolment = await enrol(client, headers, built.run_id)

    done = await post_events(
        client,
        headers,
        enrolment["id"],
        event("video_watched", built.lessons["video"], from_second=0, to_second=3300),
    )

    assert done.json()["status"] == "completed"


async def test_course_edits_apply_to_the_next_batch_of_a_learner_already_progressing(
    client: Client, factory: Factory, sessionmaker: Sessions
) -> None:
    built = await build_course(sessionmaker, lessons=("article",), module_release=timedelta(days=7))
    _, headers = await factory.login_as(Role.LEARNER)
    enrolment = await enrol(client, headers, built.run_id)
    refused = await post_events(
        client, headers, enrolment["id"], event("lesson_opened", built.lessons["article"])
    )

    async with sessionmaker() as session, session.begin():  # staff release the module and add a lesson
        module_id = await session.scalar(select(Lesson.module_id).where(Lesson.course_id == built.course_id))
        await session.execute(
            update(CourseModule).where(CourseModule.id == module_id).values(available_from=None)
        )
        added = Lesson(
            id=uuid.uuid4(),
            module_id=module_id,
            course_id=built.course_id,
            position=1,
            kind=LessonKind.ARTICLE,
            title={"ca": "Nova lliçó"},
            required=True,
            article_html={"ca": "<p>Nova</p>"},
        )
        session.add(added)
    accepted = await post_events(
        client,
        headers,
        enrolment["id"],
        event("lesson_opened", built.lessons["article"], id="after-1"),
        event("lesson_completed", added.id, id="after-2"),
    )

    assert refused.status_code == 422
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["accepted"] == 2
    assert accepted.json()["progress_percent"] == 50  # one of the two required lessons now
