"""Staff publishing over HTTP: permissions, validation, publish rules, reorder, duplicate, audit."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from courses.models import Course, CourseRun
from courses.repository import refresh_popularity
from lms.accounts.models import Role
from lms.audit import AuditEntry
from tests.courses.helpers import (
    API,
    NOW,
    Client,
    add_article,
    add_module,
    course_body,
    create_course,
    iso,
    published_course,
    run_body,
)
from tests.support import Factory


async def test_learners_get_403_and_anonymous_401_on_staff_endpoints(
    client: Client, factory: Factory
) -> None:
    _, learner = await factory.login_as(Role.LEARNER)

    anonymous = await client.post(f"{API}/staff/courses", json=course_body())
    as_learner = await client.post(f"{API}/staff/courses", json=course_body(), headers=learner)
    listing = await client.get(f"{API}/staff/courses", headers=learner)

    assert anonymous.status_code == 401
    assert as_learner.status_code == 403
    assert listing.status_code == 403


async def test_staff_create_a_draft_that_the_public_cannot_see(client: Client, factory: Factory) -> None:
    _, staff = await factory.login_as(Role.STAFF)

    course = await create_course(client, staff)

    assert course["status"] == "draft"
    assert course["title"]["ca"] == "Competències digitals bàsiques"
    assert (await client.get(f"{API}/courses/{course['slug']}")).status_code == 404
    assert (await client.get(f"{API}/courses")).json()["total"] == 0


async def test_admins_may_author_too(client: Client, factory: Factory) -> None:
    _, admin = await factory.login_as(Role.ADMIN)
    assert (await client.post(f"{API}/staff/courses", json=course_body(), headers=admin)).status_code == 201


async def test_bad_input_is_422_naming_the_field(client: Client, factory: Factory) -> None:
    _, staff = await factory.login_as(Role.STAFF)
    cases = {
        "digcomp[0].code": course_body(digcomp=[{"code": "9.9", "level": 2}]),
        "title.fr": course_body(title={"fr": "Compétences"}),
        "title": course_body(title={"ca": "  "}),
        "languages[0]": course_body(languages=["de"]),
    }
    for field, body in cases.items():
        response = await client.post(f"{API}/staff/courses", json=body, headers=staff)
        assert response.status_code == 422, (field, response.text)
        assert response.json()["errors"][0]["field"] == field

    level = await client.post(
        f"{API}/staff/courses", json=course_body(digcomp=[{"code": "1.1", "level": 9}]), headers=staff
    )
    assert level.status_code == 422
    assert "digcomp" in level.json()["errors"][0]["field"]


async def test_duplicate_slug_is_409(client: Client, factory: Factory) -> None:
    _, staff = await factory.login_as(Role.STAFF)
    await create_course(client, staff)

    again = await client.post(f"{API}/staff/courses", json=course_body(), headers=staff)

    assert again.status_code == 409


async def test_run_with_invalid_dates_is_422(client: Client, factory: Factory) -> None:
    _, staff = await factory.login_as(Role.STAFF)
    course = await create_course(client, staff)

    backwards = await client.post(
        f"{API}/staff/courses/{course['id']}/runs",
        json=run_body(ends_at=iso(NOW - timedelta(days=30))),
        headers=staff,
    )
    naive = await client.post(
        f"{API}/staff/courses/{course['id']}/runs",
        json=run_body(starts_at="2027-01-10T10:00:00"),
        headers=staff,
    )
    garbage = await client.post(
        f"{API}/staff/courses/{course['id']}/runs", json=run_body(starts_at="next tuesday"), headers=staff
    )
    zone = await client.post(
        f"{API}/staff/courses/{course['id']}/runs", json=run_body(timezone="Mars/Olympus"), headers=staff
    )

    assert backwards.status_code == 422
    assert backwards.json()["errors"][0]["field"] == "ends_at"
    assert naive.status_code == 422
    assert naive.json()["errors"][0]["field"] == "starts_at"
    assert garbage.status_code == 422
    assert garbage.json()["errors"][0]["field"] == "starts_at"
    assert zone.status_code == 422
    assert zone.json()["errors"][0]["field"] == "timezone"


async def test_publish_is_refused_with_the_list_of_problems(client: Client, factory: Factory) -> None:
    _, staff = await factory.login_as(Role.STAFF)
    mooc = await create_course(client, staff)
    masterclass = await create_course(
        client,
        staff,
        slug="ia-generativa-masterclass",
        format="masterclass",
        speakers=[{"name": "Laia Soler"}],
    )
    run = await client.post(f"{API}/staff/courses/{mooc['id']}/runs", json=run_body(), headers=staff)
    # A draft may be edited one date at a time, so a run can be inconsistent until publishing.
    await client.patch(
        f"{API}/staff/runs/{run.json()['id']}", json={"ends_at": iso(NOW - timedelta(days=60))}, headers=staff
    )
    await client.post(
        f"{API}/staff/courses/{masterclass['id']}/runs",
        json=run_body(meeting_url="https://meet.example.org/ia"),
        headers=staff,
    )

    refused_mooc = await client.post(f"{API}/staff/courses/{mooc['id']}/publish", headers=staff)
    refused_masterclass = await client.post(f"{API}/staff/courses/{masterclass['id']}/publish", headers=staff)

    assert refused_mooc.status_code == 409
    codes = {p["code"] for p in refused_mooc.json()["problems"]}
    assert {"no_lessons", "run_ends_before_start"} <= codes
    assert refused_masterclass.status_code == 409
    problems = refused_masterclass.json()["problems"]
    assert {
        k: v for k, v in next(p for p in problems if p["code"] == "no_session_time").items() if k != "message"
    } == {"field": "runs[0].live_starts_at", "code": "no_session_time"}
    assert (await client.get(f"{API}/courses")).json()["total"] == 0


async def test_publish_unpublish_archive_and_audit_trail(
    client: Client, factory: Factory, db: AsyncSession
) -> None:
    staff_user, staff = await factory.login_as(Role.STAFF)
    course = await published_course(client, staff)
    assert course["status"] == "published"
    assert (await client.get(f"{API}/courses/{course['slug']}")).status_code == 200

    unpublished = await client.post(f"{API}/staff/courses/{course['id']}/unpublish", headers=staff)
    assert unpublished.json()["status"] == "draft"
    assert (await client.get(f"{API}/courses/{course['slug']}")).status_code == 404
    archived = await client.post(f"{API}/staff/courses/{course['id']}/archive", headers=staff)
    assert archived.json()["status"] == "archived"

    entries = (
        (
            await db.execute(
                select(AuditEntry).where(AuditEntry.entity_id == course["id"]).order_by(AuditEntry.at)
            )
        )
        .scalars()
        .all()
    )
    actions = [e.action for e in entries]
    assert actions == ["course.create", "course.publish", "course.unpublish", "course.archive"]
    assert all(e.actor_id == staff_user.id for e in entries)
    publish = entries[1]
    assert publish.before is not None
    assert publish.after is not None
    assert (publish.before["status"], publish.after["status"]) == ("draft", "published")


async def test_staff_edit_is_audited_with_before_and_after(
    client: Client, factory: Factory, db: AsyncSession
) -> None:
    _, staff = await factory.login_as(Role.STAFF)
    course = await create_course(client, staff)

    response = await client.patch(
        f"{API}/staff/courses/{course['id']}",
        json={"title": {"ca": "Internet segura", "en": "Safe internet"}, "estimated_hours": 6},
        headers=staff,
    )

    assert response.status_code == 200
    assert response.json()["title"] == {"ca": "Internet segura", "en": "Safe internet"}
    entry = (await db.execute(select(AuditEntry).where(AuditEntry.action == "course.update"))).scalar_one()
    assert entry.before is not None
    assert entry.after is not None
    assert entry.before["title"]["ca"] == "Competències digitals bàsiques"
    assert entry.after["title"]["en"] == "Safe internet"
    assert entry.after["estimated_hours"] == 6


async def test_modules_and_lessons_reorder(client: Client, factory: Factory) -> None:
    _, staff = await factory.login_as(Role.STAFF)
    course = await create_course(client, staff)
    first = await add_module(client, staff, course["id"], "Primer")
    second = await add_module(client, staff, course["id"], "Segon")
    a = await add_article(client, staff, first, "A")
    b = await add_article(client, staff, first, "B")
    c = await add_article(client, staff, first, "C")

    modules = await client.put(
        f"{API}/staff/courses/{course['id']}/modules/order", json={"ids": [second, first]}, headers=staff
    )
    lessons = await client.put(
        f"{API}/staff/modules/{first}/lessons/order", json={"ids": [c["id"], a["id"], b["id"]]}, headers=staff
    )
    incomplete = await client.put(
        f"{API}/staff/modules/{first}/lessons/order", json={"ids": [c["id"], a["id"]]}, headers=staff
    )

    assert modules.status_code == 200, modules.text
    assert [m["title"]["ca"] for m in modules.json()["modules"]] == ["Segon", "Primer"]
    assert lessons.status_code == 200, lessons.text
    assert [x["title"]["ca"] for x in lessons.json()["lessons"]] == ["C", "A", "B"]
    assert incomplete.status_code == 422


async def test_quiz_answers_are_validated_and_never_shown_to_learners(
    client: Client, factory: Factory
) -> None:
    _, staff = await factory.login_as(Role.STAFF)
    course = await create_course(client, staff)
    module = await add_module(client, staff, course["id"])
    no_correct = {
        "kind": "quiz",
        "title": {"ca": "Test"},
        "quiz": {
            "pass_mark": 60,
            "questions": [
                {
                    "kind": "single",
                    "prompt": {"ca": "Quina contrasenya és més segura?"},
                    "options": [{"text": {"ca": "1234"}}, {"text": {"ca": "gat"}}],
                }
            ],
        },
    }
    refused = await client.post(f"{API}/staff/modules/{module}/lessons", json=no_correct, headers=staff)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "quiz.questions[0].options"

    no_correct["quiz"]["questions"][0]["options"][1]["correct"] = True  # type: ignore[index]
    no_correct["quiz"]["questions"].append(  # type: ignore[index]
        {
            "kind": "true_false",
            "prompt": {"ca": "Cal actualitzar el sistema?"},
            "options": [{"text": {"ca": "Cert"}, "correct": True}, {"text": {"ca": "Fals"}}],
        }
    )
    created = await client.post(f"{API}/staff/modules/{module}/lessons", json=no_correct, headers=staff)
    assert created.status_code == 201, created.text
    staff_view = created.json()
    assert staff_view["quiz"]["questions"][0]["options"][1]["correct"] is True

    preview = await client.get(f"{API}/staff/lessons/{staff_view['id']}/preview", headers=staff)
    assert preview.status_code == 200
    assert "correct" not in preview.text
    assert len(preview.json()["questions"]) == 2


async def test_staff_replace_a_quizs_questions(client: Client, factory: Factory, db: AsyncSession) -> None:
    _, staff = await factory.login_as(Role.STAFF)
    course = await create_course(client, staff)
    module = await add_module(client, staff, course["id"])

    def question(prompt: str, *answers: str) -> dict[str, Any]:
        options = [{"text": {"ca": a}, "correct": i == 0} for i, a in enumerate(answers)]
        return {"kind": "single", "prompt": {"ca": prompt}, "options": options}

    quiz = {"pass_mark": 50, "questions": [question("Primera?", "sí", "no"), question("Segona?", "a", "b")]}
    created = await client.post(
        f"{API}/staff/modules/{module}/lessons",
        json={"kind": "quiz", "title": {"ca": "Test"}, "quiz": quiz},
        headers=staff,
    )
    assert created.status_code == 201, created.text
    lesson = created.json()["id"]

    edited = await client.patch(
        f"{API}/staff/lessons/{lesson}",
        json={"quiz": {"pass_mark": 100, "questions": [question("Nova?", "x", "y", "z")]}},
        headers=staff,
    )
    again = await client.patch(
        f"{API}/staff/lessons/{lesson}",
        json={"quiz": {"pass_mark": 100, "questions": [question("Nova?", "x", "y", "z")]}},
        headers=staff,
    )

    assert edited.status_code == 200, edited.text
    assert again.status_code == 200, again.text
    questions = again.json()["quiz"]["questions"]
    assert [q["prompt"]["ca"] for q in questions] == ["Nova?"]
    assert [o["text"]["ca"] for o in questions[0]["options"]] == ["x", "y", "z"]
    assert again.json()["quiz"]["pass_mark"] == 100
    # The replaced questions and their options are gone, not left behind.
    left = await db.execute(
        text(
            "SELECT count(*) FROM quiz_options o JOIN quiz_questions q ON q.id = o.question_id"
            " WHERE q.lesson_id = :lesson"
        ),
        {"lesson": lesson},
    )
    assert left.scalar_one() == 3


async def test_duplicate_makes_a_new_draft_edition_with_runs_moved(client: Client, factory: Factory) -> None:
    _, staff = await factory.login_as(Role.STAFF)
    course = await published_course(client, staff)

    copy = await client.post(
        f"{API}/staff/courses/{course['id']}/duplicate",
        json={"slug": "competencies-digitals-basiques-2027", "shift_days": 180},
        headers=staff,
    )
    taken = await client.post(
        f"{API}/staff/courses/{course['id']}/duplicate", json={"slug": course["slug"]}, headers=staff
    )

    assert copy.status_code == 201, copy.text
    body = copy.json()
    assert body["status"] == "draft"
    assert body["id"] != course["id"]
    assert [m["title"] for m in body["modules"]] == [m["title"] for m in course["modules"]]
    assert (
        body["modules"][0]["lessons"][0]["article_html"] == course["modules"][0]["lessons"][0]["article_html"]
    )
    assert len(body["runs"]) == 1
    assert body["runs"][0]["seats_taken"] == 0
    assert body["runs"][0]["starts_at"] != course["runs"][0]["starts_at"]
    assert taken.status_code == 409


async def test_instant_course_has_one_evergreen_run(client: Client, factory: Factory) -> None:
    _, staff = await factory.login_as(Role.STAFF)
    course = await published_course(client, staff, slug="excel-en-30-minuts", format="instant")

    extra = await client.post(f"{API}/staff/courses/{course['id']}/runs", json=run_body(), headers=staff)
    public = await client.get(f"{API}/courses/excel-en-30-minuts")

    assert len(course["runs"]) == 1
    assert course["runs"][0]["ends_at"] is None
    assert extra.status_code == 409
    assert public.json()["runs"][0]["enrolment_open"] is True


async def test_capacity_cannot_drop_below_seats_taken(
    client: Client, factory: Factory, db: AsyncSession
) -> None:
    _, staff = await factory.login_as(Role.STAFF)
    course = await published_course(client, staff)
    run_id = course["runs"][0]["id"]
    run = (await db.execute(select(CourseRun).where(CourseRun.id == run_id))).scalar_one()
    run.seats_taken = 5
    await db.commit()

    response = await client.patch(f"{API}/staff/runs/{run_id}", json={"capacity": 3}, headers=staff)
    removal = await client.delete(f"{API}/staff/runs/{run_id}", headers=staff)

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "capacity"
    assert removal.status_code == 409
    assert await refresh_popularity(db) == 1
    popularity = (await db.execute(select(Course.popularity).where(Course.id == course["id"]))).scalar_one()
    assert popularity == 5


async def test_unknown_asset_is_422(client: Client, factory: Factory) -> None:
    _, staff = await factory.login_as(Role.STAFF)
    response = await client.post(
        f"{API}/staff/courses",
        json=course_body(cover_asset_id="7d7f3a4e-2f6b-4f43-9c1a-0a7a3a0d3a11"),
        headers=staff,
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "cover_asset_id"


async def test_unknown_ids_are_404(client: Client, factory: Factory) -> None:
    _, staff = await factory.login_as(Role.STAFF)
    missing = "7d7f3a4e-2f6b-4f43-9c1a-0a7a3a0d3a11"
    assert (await client.get(f"{API}/staff/courses/{missing}", headers=staff)).status_code == 404
    assert (await client.get(f"{API}/staff/lessons/{missing}", headers=staff)).status_code == 404
    assert (await client.patch(f"{API}/staff/runs/{missing}", json={}, headers=staff)).status_code == 404


async def test_dates_a_course_cannot_have_and_blank_speakers_are_refused_naming_the_field(
    client: Client, factory: Factory
) -> None:
    _, staff = await factory.login_as(Role.STAFF)
    course = await create_course(client, staff)
    module = await add_module(client, staff, course["id"])
    far: dict[str, Any] = {"starts_at": "9999-12-31T23:00:00-05:00"}  # year 10000 in UTC
    early: dict[str, Any] = {"starts_at": "0001-01-01T00:00:00+01:00"}  # year 0 in UTC

    answers = {
        "starts_at": await client.post(
            f"{API}/staff/courses/{course['id']}/runs", json=run_body(**far), headers=staff
        ),
        "starts_at ": await client.post(
            f"{API}/staff/courses/{course['id']}/runs", json=run_body(**early), headers=staff
        ),
        "available_from": await client.post(
            f"{API}/staff/courses/{course['id']}/modules",
            json={"title": {"ca": "M"}, "available_from": "9999-12-31T23:00:00-05:00"},
            headers=staff,
        ),
        "available_from ": await client.post(
            f"{API}/staff/modules/{module}/lessons",
            json={"kind": "article", "title": {"ca": "L"}, "available_from": "0001-01-01T00:30:00+01:00"},
            headers=staff,
        ),
        "speakers[0].name": await client.patch(
            f"{API}/staff/courses/{course['id']}", json={"speakers": [{"name": "   "}]}, headers=staff
        ),
    }

    for field, answer in answers.items():
        assert answer.status_code == 422, (field, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert answer.json()["errors"][0]["field"] == field.strip()


async def test_a_duplicated_edition_keeps_the_local_time_of_its_sessions_across_summer_time(
    client: Client, factory: Factory
) -> None:
    _, staff = await factory.login_as(Role.STAFF)
    course = await create_course(client, staff, slug="sessio-d-estiu", format="masterclass")
    summer = "2027-06-07T18:00:00+02:00"  # 18:00 in Barcelona, summer time
    run = await client.post(
        f"{API}/staff/courses/{course['id']}/runs",
        json={
            "starts_at": summer,
            "ends_at": "2027-06-07T20:00:00+02:00",
            "live_starts_at": summer,
            "live_duration_minutes": 90,
            "venue": "Cibernàrium",
            "timezone": "Europe/Madrid",
        },
        headers=staff,
    )
    assert run.status_code == 201, run.text

    copy = await client.post(
        f"{API}/staff/courses/{course['id']}/duplicate",
        json={"slug": "sessio-d-hivern", "shift_days": 175},  # into winter time
        headers=staff,
    )

    assert copy.status_code == 201, copy.text
    moved = copy.json()["runs"][0]
    local = ZoneInfo("Europe/Madrid")
    assert datetime.fromisoformat(moved["live_starts_at"]).astimezone(local).isoformat() == (
        "2027-11-29T18:00:00+01:00"
    )
    assert datetime.fromisoformat(moved["ends_at"]).astimezone(local).hour == 20


async def test_edits_that_would_leave_a_published_course_not_ready_are_refused_and_change_nothing(
    client: Client, factory: Factory
) -> None:
    _, staff = await factory.login_as(Role.STAFF)
    course = await published_course(client, staff)
    run = course["runs"][0]["id"]
    lesson = course["modules"][0]["lessons"][0]["id"]

    emptied = await client.patch(
        f"{API}/staff/lessons/{lesson}", json={"article_html": {"ca": "<script>x()</script>"}}, headers=staff
    )
    without_runs = await client.delete(f"{API}/staff/runs/{run}", headers=staff)
    live = await client.post(
        f"{API}/staff/modules/{course['modules'][0]['id']}/lessons",
        json={"kind": "live_session", "title": {"ca": "Sessió en directe"}},
        headers=staff,
    )
    renamed = await client.patch(
        f"{API}/staff/lessons/{lesson}", json={"title": {"ca": "Nou"}}, headers=staff
    )

    assert emptied.status_code == 409, emptied.text
    assert [p["code"] for p in emptied.json()["problems"]] == ["empty_article"]
    assert without_runs.status_code == 409, without_runs.text
    assert [p["code"] for p in without_runs.json()["problems"]] == ["no_runs"]
    assert live.status_code == 409, live.text
    assert [p["code"] for p in live.json()["problems"]] == ["live_session_required"]
    assert renamed.status_code == 200, renamed.text  # edits that keep it ready go through
    now = (await client.get(f"{API}/staff/courses/{course['id']}", headers=staff)).json()
    assert [r["id"] for r in now["runs"]] == [run]
    assert [x["article_html"] for x in now["modules"][0]["lessons"]] == [{"ca": "<p>Hola</p>"}]

    # Unpublished, the same edits are a draft's work in progress.
    assert (
        await client.post(f"{API}/staff/courses/{course['id']}/unpublish", headers=staff)
    ).status_code == 200
    again = await client.patch(
        f"{API}/staff/lessons/{lesson}", json={"article_html": {"ca": "<script>x()</script>"}}, headers=staff
    )
    assert again.status_code == 200, again.text
    assert again.json()["article_html"] == {}  # nothing was left of it
    refused = await client.post(f"{API}/staff/courses/{course['id']}/publish", headers=staff)
    assert refused.status_code == 409
    assert [p["code"] for p in refused.json()["problems"]] == ["empty_article"]


async def test_a_required_live_session_is_for_masterclasses_only(client: Client, factory: Factory) -> None:
    """Attendance is recorded for masterclass sessions only: a required one in a MOOC could never be done."""
    _, staff = await factory.login_as(Role.STAFF)
    course = await create_course(client, staff)
    module = await add_module(client, staff, course["id"])
    await add_article(client, staff, module)
    live = await client.post(
        f"{API}/staff/modules/{module}/lessons",
        json={"kind": "live_session", "title": {"ca": "Sessió en directe"}},
        headers=staff,
    )
    await client.post(f"{API}/staff/courses/{course['id']}/runs", json=run_body(), headers=staff)

    refused = await client.post(f"{API}/staff/courses/{course['id']}/publish", headers=staff)
    optional = await client.patch(
        f"{API}/staff/lessons/{live.json()['id']}", json={"required": False}, headers=staff
    )
    published = await client.post(f"{API}/staff/courses/{course['id']}/publish", headers=staff)

    assert refused.status_code == 409
    problems = refused.json()["problems"]
    assert [(p["code"], p["field"]) for p in problems] == [
        ("live_session_required", "modules[0].lessons[1].required")
    ]
    assert optional.status_code == 200
    assert published.status_code == 200, published.text
