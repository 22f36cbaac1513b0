"""Enrolling, the waitlist and withdrawal through the real app."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from datetime import timedelta

import httpx
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from courses.models import Course, CourseRun, CourseStatus
from courses.repository import refresh_popularity
from enrolments.models import Enrolment
from lms.accounts.models import Role, User
from lms.db.outbox import OutboxMessage
from tests.enrolments.helpers import API, Client, Sessions, build_course, enrol, event, post_events
from tests.support import Factory


async def seats(db: AsyncSession, run_id: uuid.UUID) -> int:
    db.expire_all()
    return int((await db.execute(select(CourseRun.seats_taken).where(CourseRun.id == run_id))).scalar_one())


async def test_learner_enrols_once_and_a_second_request_returns_the_same_enrolment(
    client: Client, factory: Factory, sessionmaker: Sessions, db: AsyncSession
) -> None:
    built = await build_course(sessionmaker, capacity=10)
    _, headers = await factory.login_as(Role.LEARNER)

    first = await client.post(f"{API}/me/enrolments", json={"run_id": str(built.run_id)}, headers=headers)
    second = await client.post(f"{API}/me/enrolments", json={"run_id": str(built.run_id)}, headers=headers)

    assert first.status_code == 201
    assert second.status_code == 200
    assert first.json()["id"] == second.json()["id"]
    assert first.json()["status"] == "enrolled"
    assert await seats(db, built.run_id) == 1
    mails = (await db.execute(select(OutboxMessage.task))).scalars().all()
    assert mails == ["enrolments.confirmation_email"]


async def test_one_learner_enrolling_many_times_at_once_gets_one_enrolment_and_one_seat(
    concurrent_client: httpx.AsyncClient, factory: Factory, sessionmaker: Sessions, db: AsyncSession
) -> None:
    built = await build_course(sessionmaker, capacity=10)
    _, headers = await factory.login_as(Role.LEARNER)

    answers = await asyncio.gather(
        *[
            concurrent_client.post(
                f"{API}/me/enrolments", json={"run_id": str(built.run_id)}, headers=headers
            )
            for _ in range(20)
        ]
    )

    assert sorted(a.status_code for a in answers) == [200] * 19 + [201]
    assert len({a.json()["id"] for a in answers}) == 1
    assert await seats(db, built.run_id) == 1
    rows = (await db.execute(select(func.count()).select_from(Enrolment))).scalar_one()
    mails = (await db.execute(select(func.count()).select_from(OutboxMessage))).scalar_one()
    assert (rows, mails) == (1, 1)


async def test_a_logged_out_or_deactivated_learner_cannot_enrol_and_nothing_changes(
    client: Client, factory: Factory, sessionmaker: Sessions, db: AsyncSession
) -> None:
    built = await build_course(sessionmaker, capacity=10)
    _, logged_out = await factory.login_as(Role.LEARNER)
    assert (await client.post(f"{API}/auth/logout", headers=logged_out)).status_code == 204
    deactivated, still_signed = await factory.login_as(Role.LEARNER)
    await db.execute(update(User).where(User.id == deactivated.id).values(is_active=False))
    await db.commit()

    for headers in (logged_out, still_signed, {"Authorization": "Bearer not-a-token"}, {}):
        answer = await client.post(
            f"{API}/me/enrolments", json={"run_id": str(built.run_id)}, headers=headers
        )
        assert answer.status_code == 401, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")

    assert await seats(db, built.run_id) == 0
    assert (await db.execute(select(func.count()).select_from(Enrolment))).scalar_one() == 0
    assert (await db.execute(select(func.count()).select_from(OutboxMessage))).scalar_one() == 0


async def test_a_run_without_capacity_counts_no_seats_until_staff_give_it_one(
    client: Client, factory: Factory, sessionmaker: Sessions, db: AsyncSession
) -> None:
    built = await build_course(sessionmaker, capacity=None)
    learners = [await factory.login_as(Role.LEARNER) for _ in range(5)]
    _, staff = await factory.login_as(Role.STAFF)
    run_url = f"{API}/staff/runs/{built.run_id}"

    first = [await enrol(client, headers, built.run_id) for _, headers in learners[:3]]

    assert [a["status"] for a in first] == ["enrolled"] * 3
    assert await seats(db, built.run_id) == 0  # enrolling never wrote the run's row
    staff_view = await client.get(f"{API}/staff/courses/{built.course_id}", headers=staff)
    assert [run["seats_taken"] for run in staff_view.json()["runs"]] == [3]  # staff see the learners
    await refresh_popularity(db)
    await db.commit()
    popularity = select(Course.popularity).where(Course.id == built.course_id)
    assert (await db.execute(popularity)).scalar_one() == 3  # counted from the learners instead

    too_small = await client.patch(run_url, json={"capacity": 2}, headers=staff)
    assert too_small.status_code == 422, too_small.text
    assert too_small.json()["errors"][0]["field"] == "capacity"
    assert "3 seats" in too_small.text
    assert (await client.patch(run_url, json={"capacity": 4}, headers=staff)).status_code == 200
    assert await seats(db, built.run_id) == 3

    later = [await enrol(client, headers, built.run_id) for _, headers in learners[3:]]
    assert [a["status"] for a in later] == ["enrolled", "waitlisted"]
    assert await seats(db, built.run_id) == 4
    assert (await client.delete(run_url, headers=staff)).status_code == 409


async def test_full_run_puts_learners_on_a_waitlist_with_a_visible_position(
    client: Client, factory: Factory, sessionmaker: Sessions, db: AsyncSession
) -> None:
    built = await build_course(sessionmaker, capacity=1)
    learners = [await factory.login_as(Role.LEARNER) for _ in range(3)]

    answers = [await enrol(client, headers, built.run_id) for _, headers in learners]

    assert [a["status"] for a in answers] == ["enrolled", "waitlisted", "waitlisted"]
    assert [a["waitlist_position"] for a in answers] == [None, 1, 2]
    mine = await client.get(f"{API}/me/enrolments", headers=learners[2][1])
    assert mine.json()[0]["waitlist_position"] == 2
    assert await seats(db, built.run_id) == 1


async def test_withdrawal_promotes_the_first_in_line_and_owes_a_notification(
    client: Client, factory: Factory, sessionmaker: Sessions, db: AsyncSession
) -> None:
    built = await build_course(sessionmaker, capacity=1)
    learners = [await factory.login_as(Role.LEARNER) for _ in range(3)]
    answers = [await enrol(client, headers, built.run_id) for _, headers in learners]

    withdrawn = await client.delete(f"{API}/me/enrolments/{answers[0]['id']}", headers=learners[0][1])

    assert withdrawn.status_code == 200
    assert withdrawn.json()["status"] == "withdrawn"
    second = await client.get(f"{API}/me/enrolments", headers=learners[1][1])
    third = await client.get(f"{API}/me/enrolments", headers=learners[2][1])
    assert (second.json()[0]["status"], second.json()[0]["waitlist_position"]) == ("enrolled", None)
    assert (third.json()[0]["status"], third.json()[0]["waitlist_position"]) == ("waitlisted", 1)
    assert await seats(db, built.run_id) == 1
    promoted = await db.execute(
        select(OutboxMessage.payload).where(OutboxMessage.task == "enrolments.promotion_email")
    )
    assert promoted.scalars().all() == [{"enrolment_id": answers[1]["id"]}]


async def test_more_room_seats_the_waiting_learners_first_in_line_first(
    client: Client, factory: Factory, sessionmaker: Sessions, db: AsyncSession
) -> None:
    built = await build_course(sessionmaker, capacity=1)
    learners = [await factory.login_as(Role.LEARNER) for _ in range(4)]
    _, staff = await factory.login_as(Role.STAFF)
    run_url = f"{API}/staff/runs/{built.run_id}"
    answers = [await enrol(client, headers, built.run_id) for _, headers in learners]

    async def statuses() -> list[tuple[str, int | None]]:
        found = []
        for _, headers in learners:
            mine = (await client.get(f"{API}/me/enrolments", headers=headers)).json()[0]
            found.append((mine["status"], mine["waitlist_position"]))
        return found

    assert (await client.patch(run_url, json={"capacity": 3}, headers=staff)).status_code == 200
    assert await statuses() == [("enrolled", None), ("enrolled", None), ("enrolled", None), ("waitlisted", 1)]
    assert await seats(db, built.run_id) == 3
    assert (await client.patch(run_url, json={"capacity": 2}, headers=staff)).status_code == 422
    assert (await client.patch(run_url, json={"capacity": None}, headers=staff)).status_code == 200
    assert [status for status, _ in await statuses()] == ["enrolled"] * 4
    promoted = await db.execute(
        select(OutboxMessage.payload)
        .where(OutboxMessage.task == "enrolments.promotion_email")
        .order_by(OutboxMessage.created_at)
    )
    assert sorted(p["enrolment_id"] for p in promoted.scalars()) == sorted(a["id"] for a in answers[1:])


async def test_withdrawal_without_a_waitlist_frees_the_seat(
    client: Client, factory: Factory, sessionmaker: Sessions, db: AsyncSession
) -> None:
    built = await build_course(sessionmaker, capacity=5)
    _, headers = await factory.login_as(Role.LEARNER)
    enrolment = await enrol(client, headers, built.run_id)

    await client.delete(f"{API}/me/enrolments/{enrolment['id']}", headers=headers)
    again = await client.delete(f"{API}/me/enrolments/{enrolment['id']}", headers=headers)

    assert again.status_code == 200
    assert await seats(db, built.run_id) == 0


async def test_learner_withdraws_and_enrols_again_keeping_their_progress(
    client: Client, factory: Factory, sessionmaker: Sessions, db: AsyncSession
) -> None:
    built = await build_course(sessionmaker, capacity=5)
    _, headers = await factory.login_as(Role.LEARNER)
    first = await enrol(client, headers, built.run_id)
    done = await post_events(
        client, headers, first["id"], event("lesson_completed", built.lessons["article"])
    )
    assert done.status_code == 200, done.text
    await client.delete(f"{API}/me/enrolments/{first['id']}", headers=headers)

    response = await client.post(f"{API}/me/enrolments", json={"run_id": str(built.run_id)}, headers=headers)

    assert response.status_code == 201
    assert response.json()["id"] != first["id"]
    detail = await client.get(f"{API}/me/enrolments/{response.json()['id']}", headers=headers)
    states = {lesson["kind"]: lesson["state"] for lesson in detail.json()["lessons"]}
    assert states["article"] == "completed"
    history = await client.get(f"{API}/me/enrolments", params={"include_withdrawn": True}, headers=headers)
    assert sorted(e["status"] for e in history.json()) == ["enrolled", "withdrawn"]


async def test_enrolling_in_a_draft_closed_past_or_unopened_run_is_refused_with_the_reason(
    client: Client, factory: Factory, sessionmaker: Sessions
) -> None:
    _, headers = await factory.login_as(Role.LEARNER)
    draft = await build_course(sessionmaker, status=CourseStatus.DRAFT)
    closed = await build_course(sessionmaker, closes=timedelta(days=-1))
    past = await build_course(sessionmaker, run_starts=timedelta(days=-30), run_ends=timedelta(days=-2))
    unopened = await build_course(sessionmaker, opens=timedelta(days=3))

    answers = {}
    for name, built in (("draft", draft), ("closed", closed), ("past", past), ("unopened", unopened)):
        response = await client.post(
            f"{API}/me/enrolments", json={"run_id": str(built.run_id)}, headers=headers
        )
        answers[name] = (response.status_code, response.json()["reason"])

    assert answers["draft"] == (409, "The course is not published.")
    assert answers["closed"] == (409, "Enrolment for this run is closed.")
    assert answers["past"] == (409, "This run is over.")
    assert answers["unopened"][0] == 409
    assert answers["unopened"][1].startswith("Enrolment opens at")
    unknown = await client.post(f"{API}/me/enrolments", json={"run_id": str(uuid.uuid4())}, headers=headers)
    assert unknown.status_code == 404


async def test_another_learners_enrolment_is_not_found(
    client: Client, factory: Factory, sessionmaker: Sessions
) -> None:
    built = await build_course(sessionmaker)
    _, owner = await factory.login_as(Role.LEARNER)
    _, other = await factory.login_as(Role.LEARNER)
    enrolment = await enrol(client, owner, built.run_id)
    path = f"{API}/me/enrolments/{enrolment['id']}"

    detail = await client.get(path, headers=other)
    progress = await post_events(
        client, other, enrolment["id"], event("lesson_opened", built.lessons["article"])
    )
    withdrawal = await client.delete(path, headers=other)

    assert (detail.status_code, progress.status_code, withdrawal.status_code) == (404, 404, 404)
    anonymous = await client.get(f"{API}/me/enrolments")
    assert anonymous.status_code == 401


async def test_staff_enrol_list_and_withdraw_learners(
    client: Client, factory: Factory, sessionmaker: Sessions, db: AsyncSession
) -> None:
    built = await build_course(sessionmaker, capacity=1, closes=timedelta(days=-1))
    _, staff = await factory.login_as(Role.STAFF)
    first = await factory.user(Role.LEARNER, full_name="=HYPERLINK(1)")
    second = await factory.user(Role.LEARNER)
    base = f"{API}/staff/runs/{built.run_id}/enrolments"

    a = await client.post(base, json={"email": first.email.upper()}, headers=staff)
    b = await client.post(base, json={"user_id": str(second.id)}, headers=staff)
    unknown = await client.post(base, json={"email": "nobody@example.org"}, headers=staff)
    roster = await client.get(base, headers=staff)
    sheet = await client.get(f"{base}.csv", headers=staff)

    assert (a.status_code, a.json()["status"]) == (201, "enrolled")  # staff may enrol after closing
    assert (b.status_code, b.json()["status"]) == (201, "waitlisted")
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "email"
    assert [(x["email"], x["status"], x["waitlist_position"]) for x in roster.json()] == [
        (first.email, "enrolled", None),
        (second.email, "waitlisted", 1),
    ]
    assert sheet.headers["content-type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(sheet.text)))
    assert [r["email"] for r in rows] == [first.email, second.email]
    assert rows[0]["full_name"] == "'=HYPERLINK(1)"  # never a formula in a spreadsheet

    withdrawn = await client.delete(f"{base}/{a.json()['id']}", headers=staff)
    assert withdrawn.json()["status"] == "withdrawn"
    after = await client.get(base, params={"status": "enrolled"}, headers=staff)
    assert [x["email"] for x in after.json()] == [second.email]

    _, learner = await factory.login_as(Role.LEARNER)
    assert (await client.get(base, headers=learner)).status_code == 403


async def test_bulk_enrolment_reports_every_row_and_a_malformed_row_is_not_fatal(
    client: Client, factory: Factory, sessionmaker: Sessions, db: AsyncSession
) -> None:
    built = await build_course(sessionmaker, capacity=2)
    _, staff = await factory.login_as(Role.STAFF)
    users = [await factory.user(Role.LEARNER) for _ in range(3)]
    already = await factory.user(Role.LEARNER)
    await client.post(
        f"{API}/staff/runs/{built.run_id}/enrolments", json={"email": already.email}, headers=staff
    )
    body = "\n".join(
        [
            "name,email",
            f"Ada,{users[0].email}",
            f'"Bob,"{users[1].email}"',  # a stray quote
            "Carla,not-an-email",
            "Dani,ghost@example.org",
            f"Ada again,{users[0].email.upper()}",
            f"Eva,{already.email}",
            f"Fina,{users[2].email}",
            "",
        ]
    )

    response = await client.post(
        f"{API}/staff/runs/{built.run_id}/enrolments/bulk",
        content=body.encode(),
        headers={**staff, "Content-Type": "text/csv"},
    )

    assert response.status_code == 200, response.text
    outcomes = [(row["line"], row["outcome"]) for row in response.json()["rows"]]
    assert outcomes == [
        (2, "enrolled"),
        (3, "invalid_email"),
        (4, "invalid_email"),
        (5, "unknown_account"),
        (6, "already_enrolled"),
        (7, "already_enrolled"),
        (8, "waitlisted"),
    ]
    assert response.json()["counts"]["already_enrolled"] == 2
    live = await db.execute(
        select(func.count()).where(Enrolment.run_id == built.run_id, Enrolment.status != "withdrawn")
    )
    assert live.scalar_one() == 3


async def test_run_progress_report_as_json_and_csv(
    client: Client, factory: Factory, sessionmaker: Sessions
) -> None:
    built = await build_course(sessionmaker, lessons=("article", "quiz"), capacity=2)
    assert built.quiz is not None
    _, staff = await factory.login_as(Role.STAFF)
    learners = [await factory.login_as(Role.LEARNER) for _ in range(3)]
    enrolments = [await enrol(client, headers, built.run_id) for _, headers in learners]
    done = await post_events(
        client,
        learners[0][1],
        enrolments[0]["id"],
        event("lesson_completed", built.lessons["article"]),
        event("quiz_attempt", built.quiz.lesson_id, answers=built.quiz.answers(2)),
    )
    assert done.json()["status"] == "completed"
    await post_events(
        client,
        learners[1][1],
        enrolments[1]["id"],
        event("quiz_attempt", built.quiz.lesson_id, answers=built.quiz.answers(0)),
    )

    report = await client.get(f"{API}/staff/runs/{built.run_id}/progress", headers=staff)
    sheet = await client.get(f"{API}/staff/runs/{built.run_id}/progress.csv", headers=staff)

    data = report.json()
    assert (data["enrolled"], data["waitlisted"], data["completed"], data["active"]) == (2, 1, 1, 2)
    assert data["completion_rate"] == 0.5
    assert data["average_progress"] == 50.0
    [quiz] = data["quizzes"]
    assert (quiz["learners_attempted"], quiz["learners_passed"], quiz["pass_rate"]) == (2, 1, 0.5)
    metrics = {row[0]: row[1] for row in csv.reader(io.StringIO(sheet.text))}
    assert metrics["completion_rate"] == "0.5"
    assert metrics["quiz_pass_rate"] == "0.5"
