"""Arranging certificates as the platform makes them: a course, a run, a completed enrolment."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from certificates.models import Certificate
from certificates.service import owe_certificate
from courses.models import Course, CourseFormat, CourseRun, CourseStatus
from enrolments.models import Enrolment, EnrolmentStatus
from lms.accounts.models import User
from lms.db.outbox import OutboxMessage, OutboxStatus
from lms.db.session import unit_of_work
from lms.settings import Settings
from media.storage import build_storage
from workers.app import execute
from workers.registry import REGISTRY
from workers.runtime import Runtime

Sessions = async_sessionmaker[AsyncSession]
API = "/api/v1"


async def make_course(
    sessionmaker: Sessions,
    *,
    slug: str | None = None,
    title: dict[str, str] | None = None,
    course_format: CourseFormat = CourseFormat.MOOC,
    hours: float | None = 20.0,
    timezone: str = "Europe/Madrid",
) -> tuple[uuid.UUID, uuid.UUID]:
    """A published course with certificates and one run; returns (course id, run id)."""
    now = datetime.now(UTC)
    course = Course(
        id=uuid.uuid4(),
        slug=slug or f"curs-{uuid.uuid4().hex[:8]}",
        format=course_format,
        status=CourseStatus.PUBLISHED,
        published_at=now,
        title=title or {"ca": "Fotografia digital", "es": "Fotografía digital", "en": "Digital photography"},
        estimated_hours=hours,
        certificates_enabled=True,
    )
    run = CourseRun(
        id=uuid.uuid4(), course_id=course.id, starts_at=now - timedelta(days=30), timezone=timezone
    )
    async with unit_of_work(sessionmaker) as session:
        session.add(course)
        await session.flush()
        session.add(run)
    return course.id, run.id


async def complete(
    sessionmaker: Sessions,
    user: User,
    course_id: uuid.UUID,
    run_id: uuid.UUID,
    completed_at: datetime | None = None,
) -> uuid.UUID:
    """What the completion transaction does: the enrolment completes and its certificate becomes owed."""
    moment = completed_at or datetime.now(UTC)
    async with unit_of_work(sessionmaker) as session:
        enrolment = Enrolment(
            id=uuid.uuid4(),
            user_id=user.id,
            run_id=run_id,
            course_id=course_id,
            status=EnrolmentStatus.COMPLETED,
            enrolled_at=moment - timedelta(days=20),
            completed_at=moment,
        )
        session.add(enrolment)
        await session.flush()
        await owe_certificate(
            session,
            enrolment_id=enrolment.id,
            user_id=user.id,
            course_id=course_id,
            run_id=run_id,
            completed_at=moment,
        )
        found = await session.execute(select(Certificate.id).where(Certificate.enrolment_id == enrolment.id))
        certificate_id: uuid.UUID = found.scalar_one()
    return certificate_id


async def run_owed(settings: Settings, task: str = "certificates.issue") -> int:
    """Run every pending outbox message of ``task`` through the same path a worker takes."""
    runtime = Runtime(settings, None)
    try:
        await build_storage(settings).ensure_buckets()
        async with runtime.sessionmaker() as session:
            ids = (
                await session.execute(
                    select(OutboxMessage.id)
                    .where(OutboxMessage.task == task, OutboxMessage.status == OutboxStatus.PENDING)
                    .order_by(OutboxMessage.created_at)
                )
            ).scalars()
            pending = list(ids)
        for outbox_id in pending:
            await execute(runtime, REGISTRY[task], str(outbox_id), {})
        return len(pending)
    finally:
        await runtime.aclose()


async def get_certificate(db: AsyncSession, certificate_id: uuid.UUID) -> Certificate:
    db.expire_all()
    certificate = await db.get(Certificate, certificate_id, populate_existing=True)
    assert certificate is not None
    return certificate


def snapshot_of(response_json: dict[str, Any]) -> dict[str, Any]:
    return {k: response_json[k] for k in ("learner_name", "course_title", "course_format", "hours")}
