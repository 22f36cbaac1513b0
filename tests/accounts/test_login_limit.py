"""The login limits count failed attempts, per address and per account, also when requests arrive together.

Each test runs with the in-process limiter and with the Redis one that several API processes share.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace

import httpx
import pytest
from litestar import Litestar

from lms.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter
from tests.support import DEFAULT_PASSWORD, Factory

LOGIN = "/api/v1/auth/login"


@pytest.fixture(params=["memory", "redis"])
async def one_address(
    request: pytest.FixtureRequest, concurrent_app: Litestar, broker_url: str | None
) -> AsyncIterator[httpx.AsyncClient]:
    """The real app over HTTP, every request from one client address of its own (a classroom behind one
    public IP), counted by a fresh limiter of the kind the test asks for."""
    limiter: RateLimiter
    if request.param == "redis":
        if broker_url is None or not broker_url.startswith("redis://"):
            pytest.skip("no Redis to share the counters through")
        limiter = RedisRateLimiter(broker_url)
    else:
        limiter = MemoryRateLimiter()
    deps = concurrent_app.state.account_deps
    concurrent_app.state.account_deps = replace(deps, limiter=limiter)
    try:
        async with client_at(concurrent_app, "classroom") as client:
            yield client
    finally:
        concurrent_app.state.account_deps = deps
        await limiter.aclose()


def client_at(app: Litestar, place: str) -> httpx.AsyncClient:
    """A client whose requests all come from one address of its own: unique, so that counters left in a
    shared Redis by another test run cannot meet this one's."""
    address = f"{place}-{uuid.uuid4().hex}"
    # Litestar and httpx type the ASGI application differently.
    transport = httpx.ASGITransport(app=app, client=(address, 50000))  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://testserver.local")


def nobody() -> str:
    """An address no account uses, different on every call (so only the per-address limit applies)."""
    return f"nobody-{uuid.uuid4().hex}@example.org"


async def log_in(client: httpx.AsyncClient, email: str, password: str) -> int:
    answer = await client.post(LOGIN, json={"email": email, "password": password})
    return answer.status_code


async def test_a_classroom_behind_one_address_can_all_log_in(
    one_address: httpx.AsyncClient, factory: Factory, concurrent_app: Litestar
) -> None:
    limit = concurrent_app.state.settings.login_rate_limit
    learners = [await factory.user() for _ in range(limit + 2)]

    statuses = [await log_in(one_address, learner.email, DEFAULT_PASSWORD) for learner in learners]

    assert statuses == [200] * (limit + 2)


async def test_failures_from_one_address_stay_limited_when_logins_succeed_in_between(
    one_address: httpx.AsyncClient, factory: Factory, concurrent_app: Litestar
) -> None:
    limit = concurrent_app.state.settings.login_rate_limit
    learner = await factory.user()
    statuses = []
    for _ in range(limit - 1):
        statuses.append(await log_in(one_address, nobody(), "a guessed password"))
        statuses.append(await log_in(one_address, learner.email, DEFAULT_PASSWORD))
    statuses.append(await log_in(one_address, nobody(), "a guessed password"))

    assert statuses == [401, 200] * (limit - 1) + [401]
    assert await log_in(one_address, nobody(), "a guessed password") == 429
    assert await log_in(one_address, learner.email, DEFAULT_PASSWORD) == 429, "the address used its budget"


async def test_failures_on_one_account_stay_limited_when_its_owner_logs_in_between(
    one_address: httpx.AsyncClient, factory: Factory, concurrent_app: Litestar
) -> None:
    limit = concurrent_app.state.settings.login_rate_limit
    learner = await factory.user()
    async with client_at(concurrent_app, "home") as owner:  # the owner logs in from elsewhere
        statuses = []
        for i in range(limit - 1):
            statuses.append(await log_in(one_address, learner.email, f"guess {i}"))
            statuses.append(await log_in(owner, learner.email, DEFAULT_PASSWORD))
        statuses.append(await log_in(one_address, learner.email, "one guess more"))

        assert statuses == [401, 200] * (limit - 1) + [401]
        assert await log_in(owner, learner.email, DEFAULT_PASSWORD) == 429, "the account used its budget"


async def test_a_burst_of_guesses_at_many_accounts_gets_no_more_tries_than_the_limit(
    one_address: httpx.AsyncClient, factory: Factory, concurrent_app: Litestar
) -> None:
    limit = concurrent_app.state.settings.login_rate_limit
    learners = [await factory.user() for _ in range(3)]
    guesses = [log_in(one_address, nobody(), "a guessed password") for _ in range(limit * 3)]
    logins = [log_in(one_address, learner.email, DEFAULT_PASSWORD) for learner in learners]

    answers = await asyncio.gather(*guesses, *logins)

    guessed, logged_in = answers[: len(guesses)], answers[len(guesses) :]
    assert set(guessed) <= {401, 429}
    assert guessed.count(401) <= limit, "logins given back must not make room for more guesses"
    assert set(logged_in) <= {200, 429}
