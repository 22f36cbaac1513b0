"""Input that would fail deep inside is answered at the door: the NUL character (U+0000), which PostgreSQL
cannot store (a 422 naming the field), and JSON bodies that are not UTF-8 or nest too deeply (400)."""

from __future__ import annotations

import uuid

import pytest
from litestar import Litestar, post
from litestar.di import NamedDependency
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from courses.models import Course
from lms.accounts.models import Role, User
from lms.guard import nul_field
from lms.settings import Settings
from tests.courses.helpers import API, course_body, run_body
from tests.lms.test_errors import assert_problem
from tests.support import Factory, handlers_client

Client = AsyncTestClient[Litestar]


def field_of(response: object, status: int = 422) -> str:
    body = assert_problem(response, status)
    errors = body["errors"]
    assert isinstance(errors, list)
    assert len(errors) == 1
    assert "U+0000" in errors[0]["message"]
    field: str = errors[0]["field"]
    return field


async def test_a_nul_in_a_json_field_is_a_422_naming_it_and_nothing_is_saved(
    client: Client, factory: Factory, db: AsyncSession
) -> None:
    register = await client.post(
        f"{API}/auth/register",
        json={"email": "nul@example.org", "password": "a long passphrase", "full_name": "Anna\x00Puig"},
    )
    login = await client.post(f"{API}/auth/login", json={"email": "a\x00@example.org", "password": "x" * 12})
    _, staff = await factory.login_as(Role.STAFF)
    title = await client.post(
        f"{API}/staff/courses", json=course_body("nul-title", title={"ca": "Excel\x00"}), headers=staff
    )
    tag = await client.post(
        f"{API}/staff/courses", json=course_body("nul-tag", tags=["excel", "full\x00"]), headers=staff
    )

    assert field_of(register) == "full_name"
    assert field_of(login) == "email"
    assert field_of(title) == "title.ca"
    assert field_of(tag) == "tags[1]"
    assert await db.scalar(select(func.count()).select_from(User).where(User.email == "nul@example.org")) == 0
    assert await db.scalar(select(func.count()).select_from(Course).where(Course.slug.like("nul-%"))) == 0


async def test_a_nul_in_a_query_parameter_is_a_422_naming_it(client: Client, factory: Factory) -> None:
    _, staff = await factory.login_as(Role.STAFF)

    assert field_of(await client.get(f"{API}/courses?category=ofi%00matica")) == "category"
    assert field_of(await client.get(f"{API}/courses?q=excel%00")) == "q"
    assert field_of(await client.get(f"{API}/users?q=anna%00", headers=staff)) == "q"


async def test_a_nul_in_the_path_names_no_resource(client: Client) -> None:
    assert_problem(await client.get(f"{API}/courses/excel%00basic"), 404)


async def test_an_escaped_backslash_before_u0000_is_ordinary_text(client: Client, db: AsyncSession) -> None:
    """``\\\\u0000`` in JSON is a backslash followed by "u0000", which a lesson on programming may well
    contain: stored as written."""
    response = await client.post(
        f"{API}/auth/register",
        json={"email": "escaped@example.org", "password": "a long passphrase", "full_name": "C:\\u0000"},
    )

    assert response.status_code == 202, response.text
    stored = await db.scalar(select(User.full_name).where(User.email == "escaped@example.org"))
    assert stored == "C:\\u0000"


def test_the_field_is_named_as_validation_errors_name_fields() -> None:
    document = {"title": {"ca": "ok"}, "questions": [{"options": [{"text": "a"}, {"text": "b\x00"}]}]}

    assert nul_field(document) == "questions[0].options[1].text"
    assert nul_field({"ok\x00": 1}) == "ok"
    assert nul_field("\x00") == ""
    assert nul_field({"a": [1, "two", None]}) is None


async def test_text_the_database_cannot_store_is_a_422_wherever_it_comes_from(settings: Settings) -> None:
    """Past the door (any route, any source), PostgreSQL's refusal is still answered as bad input."""

    @post("/unchecked")
    async def unchecked(db_session: NamedDependency[AsyncSession]) -> None:
        db_session.add(User(id=uuid.uuid4(), email="x@example.org", password_hash="x", full_name="a\x00b"))
        await db_session.flush()

    async with handlers_client(settings, unchecked) as client:
        body = assert_problem(await client.post("/unchecked"), 422)
    assert "U+0000" in str(body["detail"])


async def test_a_json_body_that_is_not_utf8_is_a_400_and_nothing_is_saved(
    client: Client, db: AsyncSession
) -> None:
    body = '{"email": "latin1@example.org", "password": "a long passphrase", "full_name": "Nu\xf1ez"}'
    response = await client.post(
        f"{API}/auth/register", content=body.encode("latin-1"), headers={"content-type": "application/json"}
    )

    problem = assert_problem(response, 400)
    assert "UTF-8" in str(problem["detail"])
    assert (
        await db.scalar(select(func.count()).select_from(User).where(User.email == "latin1@example.org")) == 0
    )


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", ""])
async def test_json_nested_too_deeply_is_a_400(client: Client, content_type: str) -> None:
    """Whatever the content type says: the body is read as JSON all the same."""
    response = await client.post(
        f"{API}/auth/login", content=b"[" * 5000 + b"]" * 5000, headers={"content-type": content_type}
    )

    assert "nested too deeply" in str(assert_problem(response, 400)["detail"])


async def test_a_csv_keeps_its_own_answer_about_its_encoding(client: Client, factory: Factory) -> None:
    _, staff = await factory.login_as(Role.STAFF)
    course = await client.post(f"{API}/staff/courses", json=course_body("csv-latin1"), headers=staff)
    run = await client.post(f"{API}/staff/courses/{course.json()['id']}/runs", json=run_body(), headers=staff)
    response = await client.post(
        f"{API}/staff/runs/{run.json()['id']}/enrolments/bulk",
        content="email\nnu\xf1ez@example.org\n".encode("latin-1"),
        headers={**staff, "content-type": "text/csv"},
    )

    assert "CSV must be UTF-8" in str(assert_problem(response, 422)["detail"])


async def test_a_long_flat_document_is_decoded_as_usual(client: Client, factory: Factory) -> None:
    """Many brackets side by side are not depth: the body reaches its handler, which validates it."""
    _, staff = await factory.login_as(Role.STAFF)
    digcomp = [{"code": "9.9", "level": 1}] * 600
    response = await client.post(
        f"{API}/staff/courses", json=course_body("flat-long", digcomp=digcomp), headers=staff
    )

    assert assert_problem(response, 422)["errors"][0]["field"].startswith("digcomp")  # type: ignore[index]
