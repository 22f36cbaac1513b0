"""Demo enrolments and progress for `lms dev`: the demo learners are part-way through a few courses."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from courses.models import Course, CourseFormat, CourseRun, CourseStatus, QuizOption, QuizQuestion
from courses.repository import enrolment_open, refresh_popularity
from enrolments import schemas as s
from enrolments.models import Enrolment
from enrolments.progress import ProgressService
from enrolments.repository import EnrolmentRepository
from enrolments.service import EnrolmentService
from lms.accounts.models import User
from lms.errors import DomainError
from lms.settings import Settings

logger = logging.getLogger("enrolments.demo")


async def _open_runs(session: AsyncSession, course_format: CourseFormat, count: int) -> list[uuid.UUID]:
    now = datetime.now(UTC)
    stmt = (
        select(CourseRun.id)
        .join(Course, Course.id == CourseRun.course_id)
        .where(Course.status == CourseStatus.PUBLISHED, Course.format == course_format, enrolment_open(now))
        .order_by(Course.slug, CourseRun.starts_at)
        .limit(count)
    )
    return list((await session.execute(stmt)).scalars())


async def _correct_answers(session: AsyncSession, lesson_id: uuid.UUID) -> list[s.Answer]:
    """The right options of each question: a demo learner who finishes a course passes its quizzes."""
    stmt = (
        select(QuizOption.question_id, QuizOption.id)
        .join(QuizQuestion, QuizQuestion.id == QuizOption.question_id)
        .where(QuizQuestion.lesson_id == lesson_id, QuizOption.is_correct)
        .order_by(QuizQuestion.position, QuizOption.position)
    )
    correct: dict[uuid.UUID, list[uuid.UUID]] = {}
    for question_id, option_id in await session.execute(stmt):
        correct.setdefault(question_id, []).append(option_id)
    return [s.Answer(question_id=question, option_ids=options) for question, options in correct.items()]


async def _progress(
    session: AsyncSession, settings: Settings, user: User, enrolment_id: uuid.UUID, share: float
) -> None:
    """Work through the first ``share`` of the released lessons, as the learner's app would report it."""
    enrolment = await session.get(Enrolment, enrolment_id)
    if enrolment is None:
        return
    outline = await EnrolmentRepository(session=session, auto_commit=False).outline(enrolment.course_id)
    now = datetime.now(UTC)
    released = [x for x in outline if x.released_from is None or x.released_from <= now]
    events: list[s.Event] = []
    at = now - timedelta(hours=len(released) + 1)
    for lesson in released[: round(len(released) * share)]:
        at += timedelta(minutes=30)
        tag = f"demo-{lesson.id.hex[:12]}"
        events.append(s.LessonOpened(id=f"{tag}-open", at=at, lesson_id=lesson.id))
        if lesson.kind.value in ("article", "image", "document", "embed"):
            events.append(s.LessonCompleted(id=f"{tag}-done", at=at, lesson_id=lesson.id))
        elif lesson.kind.value == "quiz":
            answers = await _correct_answers(session, lesson.id)
            events.append(s.QuizAttemptEvent(id=f"{tag}-quiz", at=at, lesson_id=lesson.id, answers=answers))
        elif lesson.kind.value == "video" and lesson.video_duration_seconds:
            events.append(
                s.VideoWatched(
                    id=f"{tag}-play",
                    at=at,
                    lesson_id=lesson.id,
                    from_second=0,
                    to_second=lesson.video_duration_seconds,
                )
            )
    if events:
        await ProgressService(session, settings).ingest(user.id, enrolment_id, s.ProgressBatch(events=events))


async def load(session: AsyncSession, settings: Settings) -> None:
    users = {
        u.email: u
        for u in (await session.execute(select(User).where(User.email.like("%@aula.localhost")))).scalars()
    }
    learner, staff = users.get("learner@aula.localhost"), users.get("staff@aula.localhost")
    if learner is None or staff is None:
        return
    if await session.scalar(select(Enrolment.id).where(Enrolment.user_id == learner.id).limit(1)) is not None:
        return  # already loaded
    service = EnrolmentService(session, settings)
    plan = [
        ("learner@aula.localhost", CourseFormat.MOOC, 0, 0.5),
        ("learner@aula.localhost", CourseFormat.INSTANT, 0, 0.0),
        ("learner@aula.localhost", CourseFormat.MASTERCLASS, 0, 0.0),
        ("aprendiz@aula.localhost", CourseFormat.MOOC, 0, 0.25),
        ("aprendiz@aula.localhost", CourseFormat.INSTANT, 1, 1.0),  # completed: a certificate is owed
        ("learner.en@aula.localhost", CourseFormat.INSTANT, 2, 1.0),
        ("learner.en@aula.localhost", CourseFormat.MOOC, 1, 0.1),
    ]
    for email, course_format, index, share in plan:
        user = users.get(email)
        runs = await _open_runs(session, course_format, index + 1)
        if user is None or len(runs) <= index:
            continue
        try:
            async with session.begin_nested():
                enrolled = await service.enrol(user.id, runs[index], by=staff)
                if share:
                    await _progress(session, settings, user, enrolled.enrolment.id, share)
        except DomainError as exc:  # a demo course that does not fit the plan is skipped, not fatal
            logger.info("demo enrolment of %s skipped: %s", email, exc.detail)
    await refresh_popularity(session)  # the worker's periodic refresh would do it within a minute
