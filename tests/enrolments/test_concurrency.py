"""Capacity under load: hundreds of simultaneous enrolments through the real app never overbook."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from certificates.models import Certificate
from courses.models import CourseRun
from enrolments.models import Enrolment, EnrolmentStatus, LessonProgress
from enrolments.service import EnrolmentService
from lms.accounts.models import AuthSession, Role, User
from tests.enrolments.helpers import API, Sessions, build_course, enrol, event, post_events
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


async def seats_of(db: AsyncSession, run_id: uuid.UUID) -> tuple[int | None, int, int]:
    """A run's capacity, the seats it counts and its enrolled learners, read afresh."""
    db.expire_all()
    run = (await db.execute(select(CourseRun).where(CourseRun.id == run_id))).scalar_one()
    seated = await db.execute(
        select(func.count()).where(Enrolment.run_id == run_id, Enrolment.status == EnrolmentStatus.ENROLLED)
    )
    return run.capacity, run.seats_taken, seated.scalar_one()


async def waiting_for_locks(sessionmaker: Sessions) -> list[str]:
    """The statements of the connections to the test database waiting for a lock another one holds."""
    async with sessionmaker() as session:
        found = await session.execute(
            text(
                "SELECT query FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        )
        return list(found.scalars())


async def until_waiting(
    sessionmaker: Sessions, task: asyncio.Task[Any], *, running: str = "", count: int = 1
) -> None:
    """Return once ``count`` connections wait for a lock, one of them running a statement that contains
    ``running``; fail if ``task`` finishes first or nothing waits within ten seconds."""
    for _ in range(1000):
        waiting = await waiting_for_locks(sessionmaker)
        if len(waiting) >= count and any(running in statement for statement in waiting):
            return
        if task.done():
            raise AssertionError(f"finished without waiting for a lock: {task.result().text}")
        await asyncio.sleep(0.01)
    raise AssertionError("nothing waited for a lock")


@pytest.mark.slow
async def test_five_hundred_simultaneous_enrolments_fill_fifty_seats_exactly(
    concurrent_client: httpx.AsyncClient, factory: Factory, sessionmaker: Sessions, db: AsyncSession
) -> None:
    built = await build_course(sessionmaker, capacity=CAPACITY)
    crowd = await many_learners(sessionmaker, factory, LEARNERS)
    body = {"run_id": str(built.run_id)}

    answers = await asyncio.gather(
        *(concurrent_client.post(f"{API}/me/enrolments", json=body, headers=headers) for headers in crowd)
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
        *(
            concurrent_client.delete(f"{API}/me/enrolments/{eid}", headers=h)
            for eid, h in leaving[:WITHDRAWALS]
        )
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
    new_head = await concurrent_client.get(
        f"{API}/me/enrolments", headers=crowd[[a.json()["id"] for a in answers].index(str(line[WITHDRAWALS]))]
    )
    assert new_head.json()[0]["waitlist_position"] == 1


@pytest.mark.slow
async def test_a_capacity_given_to_a_busy_unlimited_run_counts_every_seat(
    concurrent_client: httpx.AsyncClient, factory: Factory, sessionmaker: Sessions, db: AsyncSession
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
        answer = await concurrent_client.post(f"{API}/me/enrolments", json=body, headers=headers)
        done += 1
        if done == 100:
            third_in.set()
        return answer

    async def set_capacity() -> int:
        await third_in.wait()
        answer = await concurrent_client.patch(
            f"{API}/staff/runs/{built.run_id}", json={"capacity": 400}, headers=staff
        )
        return answer.status_code

    capacity_change = asyncio.create_task(set_capacity())
    answers = await asyncio.gather(*(enrol_one(headers) for headers in crowd))

    assert await capacity_change == 200
    assert {(a.status_code, a.json()["status"]) for a in answers} == {(201, "enrolled")}
    assert await seats_of(db, built.run_id) == (400, 300, 300)


async def test_a_capacity_change_counts_an_enrolment_still_in_flight(
    concurrent_client: httpx.AsyncClient, factory: Factory, sessionmaker: Sessions, db: AsyncSession
) -> None:
    """An enrolment in an unlimited run has inserted its row but not committed when staff give the run a
    capacity: the change waits for it to commit, and counts it."""
    built = await build_course(sessionmaker, capacity=None)
    learner, _ = await factory.login_as(Role.LEARNER)
    _, staff = await factory.login_as(Role.STAFF)
    async with sessionmaker() as in_flight, in_flight.begin():
        enrolled = await EnrolmentService(in_flight, factory.settings).enrol(learner.id, built.run_id)
        assert enrolled.enrolment.status == "enrolled"
        change = asyncio.create_task(
            concurrent_client.patch(f"{API}/staff/runs/{built.run_id}", json={"capacity": 10}, headers=staff)
        )
        await until_waiting(sessionmaker, change)  # for the enrolment's transaction to end
    answer = await change

    assert answer.status_code == 200
    assert answer.json()["seats_taken"] == 1
    assert await seats_of(db, built.run_id) == (10, 1, 1)


async def test_an_enrolment_starting_while_a_capacity_change_commits_takes_a_seat(
    concurrent_client: httpx.AsyncClient, factory: Factory, sessionmaker: Sessions, db: AsyncSession
) -> None:
    """The race of the slow test above, made certain. Staff give an unlimited run a capacity; after the
    seats are counted and before the change commits, a learner enrols. That enrolment must wait and take
    a seat under the new capacity: one that decided on the old "unlimited" would hold no seat, and the run
    would count one learner fewer than it has."""
    built = await build_course(sessionmaker, capacity=None)
    _, learner = await factory.login_as(Role.LEARNER)
    _, staff = await factory.login_as(Role.STAFF)
    async with sessionmaker() as holder, holder.begin():
        # The change writes its audit entry after counting: holding that table stops it right there.
        await holder.execute(text("LOCK TABLE audit_log IN EXCLUSIVE MODE"))
        change = asyncio.create_task(
            concurrent_client.patch(f"{API}/staff/runs/{built.run_id}", json={"capacity": 10}, headers=staff)
        )
        await until_waiting(sessionmaker, change, running="audit_log")
        enrolment = asyncio.create_task(
            concurrent_client.post(
                f"{API}/me/enrolments", json={"run_id": str(built.run_id)}, headers=learner
            )
        )
        await until_waiting(sessionmaker, enrolment, count=2)
    changed, enrolled = await change, await enrolment

    assert changed.status_code == 200
    assert (enrolled.status_code, enrolled.json()["status"]) == (201, "enrolled")
    assert await seats_of(db, built.run_id) == (10, 1, 1)


async def test_learners_enrol_while_staff_edit_their_course(
    concurrent_client: httpx.AsyncClient, factory: Factory, sessionmaker: Sessions, db: AsyncSession
) -> None:
    """A staff edit holds the course row until it commits; enrolments, which only reference the course,
    go on meanwhile. (Made to wait, an enrolment holding its own locks deadlocked with a capacity change.)"""
    built = await build_course(sessionmaker, capacity=None, lessons=("article",))
    _, learner = await factory.login_as(Role.LEARNER)
    _, staff = await factory.login_as(Role.STAFF)
    async with sessionmaker() as holder, holder.begin():
        await holder.execute(text("LOCK TABLE audit_log IN EXCLUSIVE MODE"))  # the edit stops before commit
        edit = asyncio.create_task(
            concurrent_client.patch(
                f"{API}/staff/courses/{built.course_id}", json={"category": "ofimatica"}, headers=staff
            )
        )
        await until_waiting(sessionmaker, edit, running="audit_log")
        enrolment = asyncio.create_task(
            concurrent_client.post(
                f"{API}/me/enrolments", json={"run_id": str(built.run_id)}, headers=learner
            )
        )
        answered_first, _ = await asyncio.wait({enrolment}, timeout=10)
        edit_still_open = not edit.done()
    enrolled, edited = await enrolment, await edit

    assert answered_first  # the enrolment did not wait for the edit to commit
    assert edit_still_open
    assert (enrolled.status_code, enrolled.json()["status"]) == (201, "enrolled")
    assert (edited.status_code, edited.json()["category"]) == (200, "ofimatica")


async def test_progress_batches_sent_at_once_all_count_and_complete_the_course_once(
    concurrent_client: httpx.AsyncClient, factory: Factory, sessionmaker: Sessions, db: AsyncSession
) -> None:
    """A phone back online sends its queued batches together: ten ten-second stretches of a 100-second
    video. Every stretch counts, the course completes, and it completes once."""
    built = await build_course(sessionmaker, lessons=("video",), video_seconds=100)
    _, headers = await factory.login_as(Role.LEARNER)
    enrolment = await enrol(concurrent_client, headers, built.run_id)
    video = built.lessons["video"]

    answers = await asyncio.gather(
        *(
            post_events(
                concurrent_client,
                headers,
                enrolment["id"],
                event("video_watched", video, from_second=start, to_second=start + 10),
            )
            for start in range(0, 100, 10)
        )
    )

    assert [a.status_code for a in answers] == [200] * 10
    progress = await db.get(LessonProgress, (uuid.UUID(enrolment["id"]), video))
    assert progress is not None
    assert float(progress.watched_seconds) == 100.0
    mine = await concurrent_client.get(f"{API}/me/enrolments", headers=headers)
    assert mine.json()[0]["status"] == "completed"
    owed = await db.scalar(select(func.count()).select_from(Certificate))
    assert owed == 1


async def test_quiz_attempts_sent_at_once_stop_at_the_limit(
    concurrent_client: httpx.AsyncClient, factory: Factory, sessionmaker: Sessions, db: AsyncSession
) -> None:
    built = await build_course(sessionmaker, lessons=("quiz",), pass_mark=100, max_attempts=2)
    assert built.quiz is not None
    _, headers = await factory.login_as(Role.LEARNER)
    enrolment = await enrol(concurrent_client, headers, built.run_id)
    quiz = built.quiz

    answers = await asyncio.gather(
        *(
            post_events(
                concurrent_client,
                headers,
                enrolment["id"],
                event("quiz_attempt", quiz.lesson_id, id=f"q{n}", answers=quiz.answers(1)),
            )
            for n in range(6)
        )
    )

    assert sorted(a.status_code for a in answers) == [200, 200, 409, 409, 409, 409]
    attempts = sorted(a.json()["quiz_results"][0]["attempt"] for a in answers if a.status_code == 200)
    assert attempts == [1, 2]
