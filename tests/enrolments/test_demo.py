"""The demo learners of `lms dev`: some part-way through courses, two with a course finished."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from certificates.models import Certificate, CertificateStatus
from enrolments.models import Enrolment, EnrolmentStatus
from lms.accounts.models import User
from lms.db.session import unit_of_work
from lms.demo import load_demo
from lms.settings import Settings


async def test_demo_learners_who_finish_a_course_pass_its_quizzes_and_are_owed_a_certificate(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, db: AsyncSession
) -> None:
    for _ in range(2):  # loading again adds nothing
        async with unit_of_work(sessionmaker) as session:
            await load_demo(session, settings)

    completed = (
        await db.execute(
            select(User.email)
            .join(Enrolment, Enrolment.user_id == User.id)
            .where(Enrolment.status == EnrolmentStatus.COMPLETED)
            .order_by(User.email)
        )
    ).scalars()
    owed = (await db.execute(select(Certificate.status))).scalars()

    assert list(completed) == ["aprendiz@aula.localhost", "learner.en@aula.localhost"]
    assert list(owed) == [CertificateStatus.PENDING] * 2  # the worker issues them once `lms dev` runs
