"""Seating waiting learners when a run gains room: staff raised its capacity, or removed it."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from enrolments.models import Enrolment, EnrolmentStatus
from enrolments.tasks import promotion_email


async def promote_waitlisted(
    session: AsyncSession, run_id: uuid.UUID, room: int | None, now: datetime
) -> list[uuid.UUID]:
    """Seat the first ``room`` learners in the run's line (everyone waiting when ``room`` is None).

    The caller holds the run's row lock, as seat decisions require. Each promoted learner is owed the
    promotion e-mail; a waiting row another transaction holds (a learner leaving the line) is skipped.
    """
    if room is not None and room <= 0:
        return []
    stmt = (
        select(Enrolment)
        .where(Enrolment.run_id == run_id, Enrolment.status == EnrolmentStatus.WAITLISTED)
        .order_by(Enrolment.waitlist_ticket)
        .with_for_update(skip_locked=True)
    )
    if room is not None:
        stmt = stmt.limit(room)
    promoted = list((await session.execute(stmt)).scalars())
    for enrolment in promoted:
        enrolment.status = EnrolmentStatus.ENROLLED
        enrolment.enrolled_at = now
        enrolment.promoted_at = now
    await session.flush()
    for enrolment in promoted:
        promotion_email.enqueue(session, enrolment_id=str(enrolment.id))
    return [enrolment.id for enrolment in promoted]
