"""Changing the sign-in address: confirmed by the password, then by a single-use link to the new address."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.header import decode_header, make_header
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from lms.accounts.models import EmailChangeToken, User
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
API = "/api/v1"
NEW = "new.address@example.org"


async def owed(db: AsyncSession, task: str) -> list[dict[str, str]]:
    rows = await db.execute(select(OutboxMessage.payload).where(OutboxMessage.task == task))
    return [dict(payload) for payload in rows.scalars()]


async def login(client: Client, email: str) -> int:
    answer = await client.post(f"{API}/auth/login", json={"email": email, "password": DEFAULT_PASSWORD})
    return answer.status_code


async def test_the_address_changes_only_when_the_link_sent_to_it_is_opened(
    client: Client, factory: Factory, db: AsyncSession
) -> None:
    user, headers = await factory.login_as()
    old = user.email

    asked = await client.post(
        f"{API}/me/email",
        json={"new_email": "New.Address@Example.org", "password": DEFAULT_PASSWORD},
        headers=headers,
    )

    assert asked.status_code == 202
    assert "link" in asked.json()["detail"]
    [mail] = await owed(db, "accounts.email_change_email")
    assert mail["new_email"] == NEW
    stored = (await db.execute(select(EmailChangeToken.token_hash))).scalar_one()
    assert mail["token"] not in stored, "only a digest of the token is stored"
    assert (await login(client, old), await login(client, NEW)) == (200, 401)  # not yet

    confirmed = await client.post(f"{API}/auth/email/confirm", json={"token": mail["token"]})
    again = await client.post(f"{API}/auth/email/confirm", json={"token": mail["token"]})

    assert confirmed.status_code == 204
    assert again.status_code == 400
    assert "already used" in again.json()["detail"]
    assert (await login(client, old), await login(client, NEW)) == (401, 200)
    me = await client.get(f"{API}/me", headers=headers)  # sessions carry on
    assert me.json()["email"] == NEW
    assert await owed(db, "accounts.email_changed_notice") == [
        {"user_id": str(user.id), "old_email": old, "new_email": NEW}
    ]


async def test_the_password_must_confirm_the_request_and_nothing_is_sent_otherwise(
    client: Client, factory: Factory, db: AsyncSession
) -> None:
    user, headers = await factory.login_as()
    wrong = await client.post(
        f"{API}/me/email", json={"new_email": NEW, "password": "not my password"}, headers=headers
    )
    same = await client.post(
        f"{API}/me/email",
        json={"new_email": user.email.upper(), "password": DEFAULT_PASSWORD},
        headers=headers,
    )
    malformed = await client.post(
        f"{API}/me/email", json={"new_email": "no-at-sign", "password": DEFAULT_PASSWORD}, headers=headers
    )
    anonymous = await client.post(f"{API}/me/email", json={"new_email": NEW, "password": DEFAULT_PASSWORD})

    assert (wrong.status_code, wrong.json()["errors"][0]["field"]) == (422, "password")
    assert (same.status_code, same.json()["errors"][0]["field"]) == (422, "new_email")
    assert (malformed.status_code, malformed.json()["errors"][0]["field"]) == (422, "new_email")
    assert anonymous.status_code == 401
    assert await db.scalar(select(EmailChangeToken.id)) is None
    assert await db.scalar(select(OutboxMessage.id)) is None


async def test_an_address_another_account_uses_is_refused_before_and_when_confirming(
    client: Client, factory: Factory, db: AsyncSession
) -> None:
    other = await factory.user()
    user, headers = await factory.login_as()
    taken = await client.post(
        f"{API}/me/email", json={"new_email": other.email, "password": DEFAULT_PASSWORD}, headers=headers
    )
    assert taken.status_code == 409

    await client.post(
        f"{API}/me/email", json={"new_email": NEW, "password": DEFAULT_PASSWORD}, headers=headers
    )
    [mail] = await owed(db, "accounts.email_change_email")
    await factory.user(email=NEW)  # someone registers the address before the link is opened
    late = await client.post(f"{API}/auth/email/confirm", json={"token": mail["token"]})

    assert late.status_code == 409
    db.expire_all()
    assert (await db.get(User, user.id)).email == user.email  # type: ignore[union-attr]


async def test_expired_and_unknown_links_change_nothing(
    client: Client, factory: Factory, db: AsyncSession
) -> None:
    user, headers = await factory.login_as()
    await client.post(
        f"{API}/me/email", json={"new_email": NEW, "password": DEFAULT_PASSWORD}, headers=headers
    )
    [mail] = await owed(db, "accounts.email_change_email")
    await db.execute(update(EmailChangeToken).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    await db.commit()

    expired = await client.post(f"{API}/auth/email/confirm", json={"token": mail["token"]})
    unknown = await client.post(f"{API}/auth/email/confirm", json={"token": "x" * 43})

    assert expired.status_code == unknown.status_code == 400
    assert await login(client, user.email) == 200


async def test_spaces_around_the_new_address_are_trimmed(
    client: Client, factory: Factory, db: AsyncSession
) -> None:
    _, headers = await factory.login_as()
    asked = await client.post(
        f"{API}/me/email",
        json={"new_email": " New.Address@Example.org ", "password": DEFAULT_PASSWORD},
        headers=headers,
    )

    assert asked.status_code == 202, asked.text
    [mail] = await owed(db, "accounts.email_change_email")
    assert mail["new_email"] == NEW
    assert (await client.post(f"{API}/auth/email/confirm", json={"token": mail["token"]})).status_code == 204
    assert await login(client, NEW) == 200


@pytest.mark.parametrize("new_email", ["no-at-sign", "new address@example.org", "new.address@", " "])
async def test_an_invalid_new_address_is_refused_in_words(
    client: Client, factory: Factory, db: AsyncSession, new_email: str
) -> None:
    _, headers = await factory.login_as()
    refused = await client.post(
        f"{API}/me/email", json={"new_email": new_email, "password": DEFAULT_PASSWORD}, headers=headers
    )

    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["errors"] == [{"field": "new_email", "message": "is not a valid e-mail address"}]
    assert await db.scalar(select(EmailChangeToken.id)) is None


async def test_moving_to_a_new_address_withdraws_reset_links_sent_to_the_old_one(
    client: Client, factory: Factory, db: AsyncSession
) -> None:
    user, headers = await factory.login_as()
    await client.post(f"{API}/auth/password-reset", json={"email": user.email})
    [reset] = await owed(db, "accounts.password_reset_email")
    await client.post(
        f"{API}/me/email", json={"new_email": NEW, "password": DEFAULT_PASSWORD}, headers=headers
    )
    [mail] = await owed(db, "accounts.email_change_email")
    assert (await client.post(f"{API}/auth/email/confirm", json={"token": mail["token"]})).status_code == 204

    late = await client.post(
        f"{API}/auth/password-reset/confirm",
        json={"token": reset["token"], "new_password": "a completely new passphrase"},
    )

    assert late.status_code == 400
    assert await login(client, NEW) == 200


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with smtp_server() as server:
        yield server


async def test_the_link_goes_to_the_new_address_and_the_notice_to_the_old_one_in_the_learners_language(
    client: Client, factory: Factory, settings: Settings, smtp: SmtpServer, db: AsyncSession, tmp_path: Path
) -> None:
    user, headers = await factory.login_as(language="es")
    old = user.email
    env = settings_env(
        settings, LMS_MAIL_BACKEND="smtp", LMS_SMTP_HOST=smtp.host, LMS_SMTP_PORT=str(smtp.port)
    )
    with running_worker(env, tmp_path / "worker.log", "--pool=solo"):
        await client.post(
            f"{API}/me/email", json={"new_email": NEW, "password": DEFAULT_PASSWORD}, headers=headers
        )
        assert wait_for(lambda: bool(smtp.to(NEW)), timeout=30)
        [mail] = smtp.to(NEW)
        body = mail.get_payload(decode=True)
        assert isinstance(body, bytes)
        link = re.search(r"http://testserver/confirm-email\?token=(\S+)", body.decode())
        assert link is not None
        assert mail["Subject"].startswith("Confirma tu nueva")
        assert not smtp.to(old)  # nothing for the old address until the change is made

        confirmed = await client.post(f"{API}/auth/email/confirm", json={"token": link.group(1)})
        assert confirmed.status_code == 204
        assert wait_for(lambda: bool(smtp.to(old)), timeout=30)

    [notice] = smtp.to(old)
    assert (
        str(make_header(decode_header(notice["Subject"]))) == "La dirección de tu cuenta en Aula ha cambiado"
    )
    text = notice.get_payload(decode=True)
    assert isinstance(text, bytes)
    assert NEW in text.decode()
    sent = (
        await db.execute(select(OutboxMessage).where(OutboxMessage.task == "accounts.email_change_email"))
    ).scalar_one()
    assert (sent.status, sent.payload) == (OutboxStatus.DONE, {})  # the secret left the outbox


async def test_a_new_password_withdraws_address_changes_asked_for_with_the_old_one(
    client: Client, factory: Factory, db: AsyncSession
) -> None:
    """Whoever knew the old password and asked to move the account to their own address loses the link."""
    user, headers = await factory.login_as()
    await client.post(
        f"{API}/me/email", json={"new_email": NEW, "password": DEFAULT_PASSWORD}, headers=headers
    )
    [change] = await owed(db, "accounts.email_change_email")
    await client.post(f"{API}/auth/password-reset", json={"email": user.email})
    [reset] = await owed(db, "accounts.password_reset_email")
    renewed = await client.post(
        f"{API}/auth/password-reset/confirm",
        json={"token": reset["token"], "new_password": "a completely new passphrase"},
    )

    late = await client.post(f"{API}/auth/email/confirm", json={"token": change["token"]})

    assert renewed.status_code == 204
    assert late.status_code == 400
    assert await login(client, NEW) == 401
    assert (await db.execute(select(User.email).where(User.id == user.id))).scalar_one() == user.email
