"""Capacity under load: hundreds of simultaneous enrolments through the real app never overbook."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from courses.models import CourseRun
from enrolments.models import Enrolment, EnrolmentStatus
from lms.accounts.models import AuthSession, Role, User
from tests.enrolments.helpers import API, Client, Sessions, build_course
from tests.support import DEFAULT_PASSWORD, Factory

LEARNERS = 500
CAPACITY = 50
WITHDRAWALS = 10


async def many_learners(sessionmaker: Sessions, factory: Factory, count: int) -> list[dict[str, str]]:
    """``count`` learners with a login session each, inserted in bulk (one password hash for all)."""
    password_hash = factory.deps.passwords.hash(DEFAULT_PASSWORD)
    now = datetime.now(UTC)
    users = [
        {
            "id": uuid.uuid4(),
            "email": f"crowd-{n}-{uuid.uuid4().hex[:6]}@example.org",
            "password_hash": password_hash,
            "full_name": f"Aprenent {n}",
            "preferred_language": "ca",
            "role": Role.LEARNER,
            "is_active": True,
        }
        for n in range(count)
    ]
    sessions = [
        {
            "id": uuid.uuid4(),
            "user_id": u["id"],
            "refresh_token_hash": uuid.uuid4().hex,
            "expires_at": now + timedelta(hours=1),
        }
        for u in users
    ]
    async with sessionmaker() as session, session.begin():
        await session.execute(insert(User), users)
        await session.execute(insert(AuthSession), sessions)
    tokens = factory.deps.tokens
    ids = [(uuid.UUID(str(s["user_id"])), uuid.UUID(str(s["id"]))) for s in sessions]
    return [{"Authorization": f"Bearer {tokens.access_token(user, sid, now)}"} for user, sid in ids]


@pytest.mark.slow
async def test_five_hundred_simultaneous_enrolments_fill_fifty_seats_exactly(
    client: Client, factory: Factory, sessionmaker: Sessions, db: AsyncSession
) -> None:
    built = await build_course(sessionmaker, capacity=CAPACITY)
    crowd = await many_learners(sessionmaker, factory, LEARNERS)
    body = {"run_id": str(built.run_id)}

    answers = await asyncio.gather(
        *(client.post(f"{API}/me/enrolments", json=body, headers=headers) for headers in crowd)
    )

    assert sorted({a.status_code for a in answers}) == [201]
    statuses = [a.json()["status"] for a in answers]
    assert statuses.count("enrolled") == CAPACITY
    assert statuses.count("waitlisted") == LEARNERS - CAPACITY
    positions = sorted(a.json()["waitlist_position"] for a in answers if a.json()["status"] == "waitlisted")
    assert positions[0] == 1  # positions were read while others were still joining; they start at 1
    run = (await db.execute(select(CourseRun).where(CourseRun.id == built.run_id))).scalar_one()
    assert run.seats_taken == CAPACITY
    rows = await db.execute(
        select(Enrolment.user_id, func.count())
        .where(Enrolment.run_id == built.run_id)
        .group_by(Enrolment.user_id)
    )
    assert {count for _, count in rows.all()} == {1}  # nobody twice

    # Ten seated learners withdraw at once: the first ten in line, and only they, get the seats.
    line = (
        (
            await db.execute(
                select(Enrolment.id)
                .where(Enrolment.run_id == built.run_id, Enrolment.status == EnrolmentStatus.WAITLISTED)
                .order_by(Enrolment.waitlist_ticket)
            )
        )
        .scalars()
        .all()
    )
    leaving = [
        (a.json()["id"], h) for a, h in zip(answers, crowd, strict=True) if a.json()["status"] == "enrolled"
    ]
    withdrawals = await asyncio.gather(
        *(client.delete(f"{API}/me/enrolments/{eid}", headers=h) for eid, h in leaving[:WITHDRAWALS])
    )

    assert {w.status_code for w in withdrawals} == {200}
    db.expire_all()
    promoted = (
        (
            await db.execute(
                select(Enrolment.id).where(
                    Enrolment.run_id == built.run_id, Enrolment.promoted_at.is_not(None)
                )
            )
        )
        .scalars()
        .all()
    )
    assert sorted(promoted) == sorted(line[:WITHDRAWALS])
    seated = await db.execute(
        select(func.count()).where(
            Enrolment.run_id == built.run_id, Enrolment.status == EnrolmentStatus.ENROLLED
        )
    )
    assert seated.scalar_one() == CAPACITY
    run = (await db.execute(select(CourseRun).where(CourseRun.id == built.run_id))).scalar_one()
    assert run.seats_taken == CAPACITY
    new_head = await client.get(
        f"{API}/me/enrolments", headers=crowd[[a.json()["id"] for a in answers].index(str(line[WITHDRAWALS]))]
    )
    assert new_head.json()[0]["waitlist_position"] == 1


@pytest.mark.slow
async def test_a_capacity_given_to_a_busy_unlimited_run_counts_every_seat(
    client: Client, factory: Factory, sessionmaker: Sessions, db: AsyncSession
) -> None:
    """Enrolments in a run without a capacity count no seats; staff giving it one mid-rush must count the
    learners enrolled before, during and after, each exactly once."""
    built = await build_course(sessionmaker, capacity=None)
    crowd = await many_learners(sessionmaker, factory, 300)
    _, staff = await factory.login_as(Role.STAFF)
    body = {"run_id": str(built.run_id)}
    third_in = asyncio.Event()
    done = 0

    async def enrol_one(headers: dict[str, str]) -> Any:
        nonlocal done
        answer = await client.post(f"{API}/me/enrolments", json=body, headers=headers)
        done += 1
        if done == 100:
            third_in.set()
        return answer

    async def set_capacity() -> int:
        await third_in.wait()
        answer = await client.patch(f"{API}/staff/runs/{built.run_id}", json={"capacity": 400}, headers=staff)
        return answer.status_code

    capacity_change = asyncio.create_task(set_capacity())
    answers = await asyncio.gather(*(enrol_one(headers) for headers in crowd))

    assert await capacity_change == 200
    assert {(a.status_code, a.json()["status"]) for a in answers} == {(201, "enrolled")}
    db.expire_all()
    run = (await db.execute(select(CourseRun).where(CourseRun.id == built.run_id))).scalar_one()
    seated = (
        await db.execute(
            select(func.count()).where(
                Enrolment.run_id == built.run_id, Enrolment.status == EnrolmentStatus.ENROLLED
            )
        )
    ).scalar_one()
    assert (run.capacity, run.seats_taken, seated) == (400, 300, 300)
