"""What the enrolment and progress domain asks of courses."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from courses import service
from courses.models import CourseStatus, LessonKind
from lms.accounts.models import Role
from tests.courses.helpers import API, NOW, Client, add_module, iso, published_course
from tests.support import Factory


async def test_enrolment_reads_a_run_with_its_course_lessons_and_quiz_key(
    client: Client, factory: Factory, db: AsyncSession
) -> None:
    _, staff = await factory.login_as(Role.STAFF)
    course = await published_course(client, staff)
    module = await add_module(client, staff, course["id"], "Setmana 2")
    await client.patch(
        f"{API}/staff/modules/{module}", json={"available_from": iso(NOW + timedelta(days=14))}, headers=staff
    )
    quiz = await client.post(
        f"{API}/staff/modules/{module}/lessons",
        json={
            "kind": "quiz",
            "title": {"ca": "Comprova-ho"},
            "required": False,
            "quiz": {
                "pass_mark": 70,
                "max_attempts": 3,
                "questions": [
                    {
                        "kind": "multiple",
                        "prompt": {"ca": "Quines són xarxes socials?"},
                        "options": [
                            {"text": {"ca": "Mastodon"}, "correct": True},
                            {"text": {"ca": "Bluesky"}, "correct": True},
                            {"text": {"ca": "Excel"}},
                        ],
                    }
                ],
            },
        },
        headers=staff,
    )
    assert quiz.status_code == 201, quiz.text

    run = await service.get_run_for_enrolment(db, course["runs"][0]["id"])
    lessons = await service.course_lessons(db, course["id"])
    key = await service.quiz_answer_key(db, quiz.json()["id"])
    content = await service.lesson_content(db, quiz.json()["id"], "ca")

    assert run is not None
    assert run.course.status is CourseStatus.PUBLISHED
    assert run.seats_taken == 0
    assert [(x.kind, x.required) for x in lessons] == [(LessonKind.ARTICLE, True), (LessonKind.QUIZ, False)]
    assert lessons[1].available_from is not None
    assert lessons[1].available_from > NOW
    assert key is not None
    assert key.pass_mark == 70
    assert key.max_attempts == 3
    assert len(key.questions[0].correct_option_ids) == 2
    assert content is not None
    assert content.questions is not None
    assert [o.text for o in content.questions[0].options] == ["Mastodon", "Bluesky", "Excel"]
    assert await service.quiz_answer_key(db, lessons[0].id) is None
