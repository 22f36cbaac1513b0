"""Arranging courses, runs and lessons for enrolment tests (rows written directly, committed)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from courses.models import (
    Course,
    CourseFormat,
    CourseModule,
    CourseRun,
    CourseStatus,
    Lesson,
    LessonKind,
    QuestionKind,
    QuizOption,
    QuizQuestion,
)
from lms.db.session import unit_of_work

Client = AsyncTestClient[Litestar]
Sessions = async_sessionmaker[AsyncSession]
API = "/api/v1"


def now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Quiz:
    lesson_id: uuid.UUID
    # question id -> (correct option ids, wrong option ids)
    questions: dict[uuid.UUID, tuple[list[uuid.UUID], list[uuid.UUID]]] = field(default_factory=dict)

    def answers(self, right: int) -> list[dict[str, Any]]:
        """Answers with the first ``right`` questions correct and the others wrong."""
        out = []
        for n, (qid, (correct, wrong)) in enumerate(self.questions.items()):
            chosen = correct if n < right else wrong[:1]
            out.append({"question_id": str(qid), "option_ids": [str(o) for o in chosen]})
        return out


@dataclass
class Built:
    course_id: uuid.UUID
    run_id: uuid.UUID
    lessons: dict[str, uuid.UUID]
    quiz: Quiz | None = None


async def build_course(
    sessionmaker: Sessions,
    *,
    course_format: CourseFormat = CourseFormat.MOOC,
    status: CourseStatus = CourseStatus.PUBLISHED,
    capacity: int | None = None,
    certificates: bool = True,
    lessons: tuple[str, ...] = ("article", "video", "quiz"),
    video_seconds: int = 600,
    pass_mark: int = 50,
    max_attempts: int | None = 2,
    run_starts: timedelta = timedelta(days=-1),
    run_ends: timedelta | None = timedelta(days=60),
    opens: timedelta | None = None,
    closes: timedelta | None = None,
    live_minutes: int | None = None,
    module_release: timedelta | None = None,
    title: dict[str, str] | None = None,
    **course_fields: Any,
) -> Built:
    """A course with one module of the given lesson kinds and one run, all committed."""
    moment = now()
    course = Course(
        id=uuid.uuid4(),
        slug=f"curs-{uuid.uuid4().hex[:10]}",
        format=course_format,
        status=status,
        published_at=moment if status is not CourseStatus.DRAFT else None,
        title=title
        or {"ca": "Competències digitals", "es": "Competencias digitales", "en": "Digital skills"},
        certificates_enabled=certificates,
        estimated_hours=4.0,
        **course_fields,
    )
    run = CourseRun(
        id=uuid.uuid4(),
        course_id=course.id,
        starts_at=moment + run_starts,
        ends_at=moment + run_ends if run_ends is not None else None,
        enrolment_opens_at=moment + opens if opens is not None else None,
        enrolment_closes_at=moment + closes if closes is not None else None,
        capacity=capacity,
        live_starts_at=moment - timedelta(hours=2) if live_minutes else None,
        live_duration_minutes=live_minutes,
        meeting_url="https://meet.example.org/aula" if live_minutes else None,
    )
    module = CourseModule(
        id=uuid.uuid4(),
        course_id=course.id,
        position=0,
        title={"ca": "Mòdul 1"},
        available_from=moment + module_release if module_release is not None else None,
    )
    built = Built(course.id, run.id, {})
    rows: list[Any] = []
    for position, kind in enumerate(lessons):
        lesson = Lesson(
            id=uuid.uuid4(),
            module_id=module.id,
            course_id=course.id,
            position=position,
            kind=LessonKind(kind),
            title={"ca": f"Lliçó {position + 1}", "en": f"Lesson {position + 1}"},
            required=True,
            article_html={"ca": "<p>Hola</p>"} if kind == "article" else {},
            video_duration_seconds=video_seconds if kind == "video" else None,
            pass_mark=pass_mark if kind == "quiz" else None,
            max_attempts=max_attempts if kind == "quiz" else None,
        )
        rows.append(lesson)
        built.lessons.setdefault(kind, lesson.id)
        if kind == "quiz":
            quiz = Quiz(lesson.id)
            for qn in range(2):
                question = QuizQuestion(
                    id=uuid.uuid4(),
                    lesson_id=lesson.id,
                    position=qn,
                    kind=QuestionKind.SINGLE,
                    prompt={"ca": f"Pregunta {qn + 1}"},
                )
                right = QuizOption(
                    id=uuid.uuid4(), question_id=question.id, position=0, text={"ca": "Sí"}, is_correct=True
                )
                wrong = QuizOption(
                    id=uuid.uuid4(), question_id=question.id, position=1, text={"ca": "No"}, is_correct=False
                )
                rows += [question, right, wrong]
                quiz.questions[question.id] = ([right.id], [wrong.id])
            built.quiz = quiz
    async with unit_of_work(sessionmaker) as session:
        session.add(course)
        await session.flush()
        session.add_all([run, module])
        await session.flush()
        for row in rows:
            session.add(row)
            await session.flush()
    return built


async def enrol(client: httpx.AsyncClient, headers: dict[str, str], run_id: uuid.UUID) -> dict[str, Any]:
    response = await client.post(f"{API}/me/enrolments", json={"run_id": str(run_id)}, headers=headers)
    assert response.status_code in (200, 201), response.text
    data: dict[str, Any] = response.json()
    return data


async def post_events(
    client: httpx.AsyncClient, headers: dict[str, str], enrolment_id: str, *events: dict[str, Any]
) -> Any:
    return await client.post(
        f"{API}/me/enrolments/{enrolment_id}/progress", json={"events": list(events)}, headers=headers
    )


def event(kind: str, lesson_id: uuid.UUID | None, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"id": fields.pop("id", uuid.uuid4().hex), "type": kind}
    if lesson_id is not None:
        body["lesson_id"] = str(lesson_id)
    body["at"] = fields.pop("at", now().isoformat())
    body.update(fields)
    return body
