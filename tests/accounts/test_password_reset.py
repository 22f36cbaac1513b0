"""Password reset: a single-use link by e-mail, valid 30 minutes, with no account enumeration."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from lms.accounts.models import PasswordResetToken
from lms.db.outbox import OutboxMessage, OutboxStatus
from lms.settings import Settings
from tests.support import (
    DEFAULT_PASSWORD,
    Factory,
    SmtpServer,
    running_worker,
    settings_env,
    smtp_server,
    wait_for,
)

Client = AsyncTestClient[Litestar]
API = "/api/v1/auth"
NEW_PASSWORD = "a completely new passphrase"


async def owed_token(db: AsyncSession) -> str:
    row = (
        await db.execute(select(OutboxMessage).where(OutboxMessage.task == "accounts.password_reset_email"))
    ).scalar_one()
    token: str = row.payload["token"]
    return token


async def test_reset_answers_alike_for_known_and_unknown_addresses(
    client: Client, factory: Factory, db: AsyncSession
) -> None:
    user = await factory.user()
    known = await client.post(f"{API}/password-reset", json={"email": user.email})
    unknown = await client.post(f"{API}/password-reset", json={"email": "nobody@example.org"})

    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json()
    tasks = (await db.execute(select(OutboxMessage.task))).scalars().all()
    assert tasks == ["accounts.password_reset_email"]


async def test_reset_link_sets_a_new_password_once_and_ends_every_session(
    client: Client, factory: Factory, db: AsyncSession
) -> None:
    user = await factory.user()
    old_session = await factory.headers(user)
    await client.post(f"{API}/password-reset", json={"email": user.email})
    token = await owed_token(db)
    stored = (await db.execute(select(PasswordResetToken.token_hash))).scalar_one()
    assert token not in stored, "only a digest of the token is stored"

    done = await client.post(
        f"{API}/password-reset/confirm", json={"token": token, "new_password": NEW_PASSWORD}
    )
    again = await client.post(
        f"{API}/password-reset/confirm", json={"token": token, "new_password": "yet another one!"}
    )

    assert done.status_code == 204
    assert again.status_code == 400
    assert (await client.get("/api/v1/me", headers=old_session)).status_code == 401
    old = await client.post(f"{API}/login", json={"email": user.email, "password": DEFAULT_PASSWORD})
    new = await client.post(f"{API}/login", json={"email": user.email, "password": NEW_PASSWORD})
    assert (old.status_code, new.status_code) == (401, 200)


async def test_expired_link_is_refused(client: Client, factory: Factory, db: AsyncSession) -> None:
    user = await factory.user()
    await client.post(f"{API}/password-reset", json={"email": user.email})
    token = await owed_token(db)
    await db.execute(update(PasswordResetToken).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    await db.commit()

    response = await client.post(
        f"{API}/password-reset/confirm", json={"token": token, "new_password": NEW_PASSWORD}
    )

    assert response.status_code == 400
    assert "expired" in response.json()["detail"]


async def test_unknown_token_and_short_password_are_refused(
    client: Client, factory: Factory, db: AsyncSession
) -> None:
    user = await factory.user()
    await client.post(f"{API}/password-reset", json={"email": user.email})
    token = await owed_token(db)

    forged = await client.post(
        f"{API}/password-reset/confirm", json={"token": "x" * 43, "new_password": NEW_PASSWORD}
    )
    short = await client.post(f"{API}/password-reset/confirm", json={"token": token, "new_password": "short"})

    assert forged.status_code == 400
    assert short.status_code == 422
    assert short.json()["errors"][0]["field"] == "new_password"


async def owed_tokens(db: AsyncSession) -> list[str]:
    """Every reset link e-mailed so far, oldest first."""
    rows = await db.execute(
        select(OutboxMessage.payload)
        .where(OutboxMessage.task == "accounts.password_reset_email")
        .order_by(OutboxMessage.created_at)
    )
    return [str(payload["token"]) for payload in rows.scalars()]


async def confirm(client: httpx.AsyncClient, token: str, new_password: str) -> int:
    answer = await client.post(
        f"{API}/password-reset/confirm", json={"token": token, "new_password": new_password}
    )
    return answer.status_code


async def log_in(client: httpx.AsyncClient, email: str, password: str) -> int:
    answer = await client.post(f"{API}/login", json={"email": email, "password": password})
    return answer.status_code


async def test_a_reset_withdraws_the_other_links_of_the_account_and_only_of_that_account(
    client: Client, factory: Factory, db: AsyncSession
) -> None:
    user, other = await factory.user(), await factory.user()
    await client.post(f"{API}/password-reset", json={"email": user.email})
    await client.post(f"{API}/password-reset", json={"email": other.email})
    await client.post(f"{API}/password-reset", json={"email": user.email})
    older, others, newer = await owed_tokens(db)

    assert await confirm(client, newer, NEW_PASSWORD) == 204
    assert await confirm(client, older, "the older link's passphrase") == 400

    assert await log_in(client, user.email, NEW_PASSWORD) == 200
    assert await log_in(client, user.email, "the older link's passphrase") == 401
    assert await confirm(client, others, "the other account's passphrase") == 204


async def test_links_confirmed_at_the_same_time_change_the_password_once(
    concurrent_client: httpx.AsyncClient, factory: Factory, db: AsyncSession
) -> None:
    user = await factory.user()
    for _ in range(4):
        await concurrent_client.post(f"{API}/password-reset", json={"email": user.email})
    tokens = await owed_tokens(db)

    answers = await asyncio.gather(
        *(
            concurrent_client.post(
                f"{API}/password-reset/confirm", json={"token": token, "new_password": f"passphrase {n:04}"}
            )
            for n, token in enumerate(tokens)
        )
    )

    assert sorted(a.status_code for a in answers) == [204, 400, 400, 400]
    [chosen] = [n for n, a in enumerate(answers) if a.status_code == 204]
    assert await log_in(concurrent_client, user.email, f"passphrase {chosen:04}") == 200


async def test_a_password_change_withdraws_outstanding_reset_links(
    client: Client, factory: Factory, db: AsyncSession
) -> None:
    user, headers = await factory.login_as()
    await client.post(f"{API}/password-reset", json={"email": user.email})
    [token] = await owed_tokens(db)
    changed = await client.post(
        "/api/v1/me/password",
        headers=headers,
        json={"current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert changed.status_code == 204

    assert await confirm(client, token, "someone else's passphrase") == 400
    assert await log_in(client, user.email, NEW_PASSWORD) == 200


async def test_reset_requests_are_rate_limited(client: Client, factory: Factory, settings: Settings) -> None:
    user = await factory.user()
    statuses = [
        (await client.post(f"{API}/password-reset", json={"email": user.email})).status_code
        for _ in range(settings.login_rate_limit + 1)
    ]
    assert statuses[-1] == 429


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with smtp_server() as server:
        yield server


async def test_reset_email_is_sent_in_the_learners_language_and_the_secret_leaves_the_outbox(
    client: Client,
    factory: Factory,
    settings: Settings,
    smtp: SmtpServer,
    sessionmaker: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    user = await factory.user(language="es")
    env = settings_env(
        settings, LMS_MAIL_BACKEND="smtp", LMS_SMTP_HOST=smtp.host, LMS_SMTP_PORT=str(smtp.port)
    )
    with running_worker(env, tmp_path / "worker.log", "--pool=solo"):
        await client.post(f"{API}/password-reset", json={"email": user.email})
        assert wait_for(lambda: bool(smtp.to(user.email)), timeout=30)

    [mail] = smtp.to(user.email)
    assert mail["Subject"].startswith("Restablece")
    payload = mail.get_payload(decode=True)
    assert isinstance(payload, bytes)
    body = payload.decode()
    link = re.search(r"http://testserver/reset-password\?token=(\S+)", body)
    assert link is not None
    async with sessionmaker() as session:
        row = (await session.execute(select(OutboxMessage))).scalar_one()
    assert row.status is OutboxStatus.DONE
    assert row.payload == {}
    confirm = await client.post(
        f"{API}/password-reset/confirm", json={"token": link.group(1), "new_password": NEW_PASSWORD}
    )
    assert confirm.status_code == 204
