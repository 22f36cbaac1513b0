"""Bad input and broken dependencies get RFC 9457 problem+json answers, never a 500."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator

import pytest
from litestar import Litestar, post
from litestar.di import NamedDependency
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from lms.accounts.models import Role, User
from lms.app import create_app
from lms.pagination import MAX_OFFSET
from lms.settings import Settings
from tests.support import Factory, free_port, handlers_client

Client = AsyncTestClient[Litestar]
REGISTER = "/api/v1/auth/register"
VALID = {"email": "anna@example.org", "password": "long enough password", "full_name": "Anna"}


def assert_problem(response: object, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    assert response.headers["content-type"].startswith("application/problem+json")  # type: ignore[attr-defined]
    body: dict[str, object] = response.json()  # type: ignore[attr-defined]
    assert body["status"] == status
    assert {"type", "title", "detail", "instance"} <= body.keys()
    return body


async def test_malformed_json_is_a_400(client: Client) -> None:
    response = await client.post(
        REGISTER, content=b'{"email": "a@b.org",', headers={"content-type": "application/json"}
    )
    body = assert_problem(response, 400)
    assert body["title"] == "Malformed request"
    assert "JSON" in str(body["detail"])


async def test_wrong_type_names_the_field(client: Client) -> None:
    body = assert_problem(await client.post(REGISTER, json={**VALID, "full_name": 42}), 422)
    assert body["errors"] == [{"field": "full_name", "message": "Expected `str`, got `int`"}]


async def test_unknown_field_is_refused(client: Client) -> None:
    body = assert_problem(await client.post(REGISTER, json={**VALID, "role": "admin"}), 422)
    assert body["errors"][0]["field"] == "role"  # type: ignore[index]
    assert "unknown field" in body["errors"][0]["message"].lower()  # type: ignore[index]


async def test_overlong_string_names_the_field_and_limit(client: Client) -> None:
    body = assert_problem(await client.post(REGISTER, json={**VALID, "full_name": "x" * 201}), 422)
    assert body["errors"][0]["field"] == "full_name"  # type: ignore[index]
    assert "200" in body["errors"][0]["message"]  # type: ignore[index]


async def test_nested_field_path_is_reported(client: Client) -> None:
    profile = {"consent": True, "birth_year": 1800}
    body = assert_problem(await client.post(REGISTER, json={**VALID, "profile": profile}), 422)
    assert body["errors"][0]["field"] == "profile.birth_year"  # type: ignore[index]


async def test_oversized_body_is_a_413(client: Client, settings: Settings) -> None:
    huge = {**VALID, "full_name": "x" * (settings.max_request_body + 10)}
    assert_problem(await client.post(REGISTER, json=huge), 413)


async def test_unknown_route_is_a_404_problem(client: Client) -> None:
    assert_problem(await client.get("/api/v1/nothing-here"), 404)


async def test_wrong_method_is_a_405_problem(client: Client) -> None:
    assert_problem(await client.delete(REGISTER), 405)


async def test_invalid_query_parameter_names_it(client: Client, factory: object) -> None:
    from lms.accounts.models import Role
    from tests.support import Factory

    assert isinstance(factory, Factory)
    _, headers = await factory.login_as(Role.STAFF)
    body = assert_problem(await client.get("/api/v1/users", params={"limit": "many"}, headers=headers), 422)
    assert body["errors"][0]["field"] == "limit"  # type: ignore[index]


@pytest.mark.parametrize(
    "path", ["/api/v1/users", "/api/v1/staff/courses", "/api/v1/media", "/api/v1/certificates"]
)
async def test_an_offset_past_any_list_is_a_422(client: Client, factory: Factory, path: str) -> None:
    """An offset PostgreSQL cannot hold (past bigint) is refused by name instead of failing in the query."""
    _, headers = await factory.login_as(Role.STAFF)
    for offset in (str(MAX_OFFSET + 1), "1338156513114591576123768832"):
        body = assert_problem(await client.get(path, params={"offset": offset}, headers=headers), 422)
        assert body["errors"][0]["field"] == "offset"  # type: ignore[index]
    deepest = await client.get(path, params={"offset": str(MAX_OFFSET)}, headers=headers)
    assert deepest.status_code == 200, deepest.text
    assert deepest.json()["items"] == []
    assert deepest.json()["offset"] == MAX_OFFSET


async def test_a_learner_paging_past_their_certificates_gets_a_422(client: Client, factory: Factory) -> None:
    _, headers = await factory.login_as(Role.LEARNER)
    response = await client.get("/api/v1/me/certificates", params={"offset": str(2**63)}, headers=headers)
    assert assert_problem(response, 422)["errors"][0]["field"] == "offset"  # type: ignore[index]


async def test_every_response_carries_a_request_id(client: Client) -> None:
    response = await client.get("/api/v1/nothing-here", headers={"x-request-id": "trace-123"})
    assert response.headers["x-request-id"] == "trace-123"
    assert response.json()["request_id"] == "trace-123"
    fresh = await client.get("/health/live")
    assert len(fresh.headers["x-request-id"]) == 32


@pytest.fixture
async def client_without_database(settings: Settings) -> AsyncIterator[Client]:
    """The real app pointed at a PostgreSQL that is not running."""
    stopped = settings.model_copy(
        update={
            "database_url": f"postgresql://postgres@127.0.0.1:{free_port()}/aula",
            "database_pool_timeout": 1.0,
        }
    )
    async with AsyncTestClient(app=create_app(stopped), base_url="http://testserver.local") as client:
        yield client


async def test_stopped_database_is_a_503_and_never_a_500(
    client_without_database: Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        login = await client_without_database.post(
            "/api/v1/auth/login", json={"email": "a@example.org", "password": "whatever-long"}
        )
        ready = await client_without_database.get("/health/ready")

    body = assert_problem(login, 503)
    assert "database" in str(body["detail"]).lower()
    assert login.headers["retry-after"]
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"].startswith("unavailable")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_constraint_violation_the_service_missed_is_a_409(
    settings: Settings, factory: object
) -> None:
    """A race can break a unique or foreign key after the service's own checks: 409, never 500."""
    assert isinstance(factory, Factory)
    taken = await factory.user()

    @post("/racy")
    async def racy(db_session: NamedDependency[AsyncSession]) -> None:
        db_session.add(User(id=uuid.uuid4(), email=taken.email, password_hash="x", full_name="Twin"))
        await db_session.flush()

    async with handlers_client(settings, racy) as client:
        body = assert_problem(await client.post("/racy"), 409)
    assert body["constraint"] == "uq_users_email"
