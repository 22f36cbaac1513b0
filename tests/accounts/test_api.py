"""Accounts through the HTTP API: registration, login, tokens, the caller's account, roles."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from lms.accounts.models import AuthSession, LearnerProfile, Role, User
from lms.db.outbox import OutboxMessage
from tests.support import DEFAULT_PASSWORD, Factory

Client = AsyncTestClient[Litestar]
API = "/api/v1"


def registration(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "email": "Marta.Puig@Example.org",
        "password": "una contrasenya llarga",
        "full_name": "Marta Puig i Ribera",
        "preferred_language": "ca",
    }
    body.update(overrides)
    return body


async def login(client: Client, email: str, password: str) -> dict[str, str]:
    response = await client.post(f"{API}/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def test_register_login_and_read_me(client: Client, db: AsyncSession) -> None:
    response = await client.post(f"{API}/auth/register", json=registration())
    assert response.status_code == 202
    headers = await login(client, "marta.puig@example.org", "una contrasenya llarga")

    me = await client.get(f"{API}/me", headers=headers)

    assert me.status_code == 200
    body = me.json()
    assert body["email"] == "marta.puig@example.org"
    assert body["full_name"] == "Marta Puig i Ribera"
    assert body["role"] == "learner"
    assert "password_hash" not in body
    stored = (await db.execute(select(User).where(User.email == "marta.puig@example.org"))).scalar_one()
    assert stored.password_hash.startswith("$argon2id$")
    welcome = (await db.execute(select(OutboxMessage.task))).scalars().all()
    assert welcome == ["accounts.welcome_email"]


async def test_duplicate_registration_answers_like_a_new_one_and_notifies_the_owner(
    client: Client, db: AsyncSession
) -> None:
    first = await client.post(f"{API}/auth/register", json=registration())
    second = await client.post(f"{API}/auth/register", json=registration(full_name="Someone Else"))

    assert first.status_code == second.status_code == 202
    assert first.json() == second.json()
    users = (await db.execute(select(User))).scalars().all()
    assert [u.full_name for u in users] == ["Marta Puig i Ribera"]
    tasks = sorted((await db.execute(select(OutboxMessage.task))).scalars().all())
    assert tasks == ["accounts.registration_attempt_notice", "accounts.welcome_email"]


async def test_login_errors_do_not_reveal_which_accounts_exist(client: Client, factory: Factory) -> None:
    user = await factory.user()
    wrong_password = await client.post(
        f"{API}/auth/login", json={"email": user.email, "password": "nope-nope-nope"}
    )
    unknown = await client.post(
        f"{API}/auth/login", json={"email": "ghost@example.org", "password": "nope-nope"}
    )

    assert wrong_password.status_code == unknown.status_code == 401
    assert wrong_password.json()["detail"] == unknown.json()["detail"]
    assert wrong_password.headers["content-type"].startswith("application/problem+json")


async def test_repeated_wrong_passwords_are_rate_limited(
    client: Client, factory: Factory, app: Litestar
) -> None:
    user = await factory.user()
    limit = app.state.settings.login_rate_limit
    statuses = [
        (
            await client.post(f"{API}/auth/login", json={"email": user.email, "password": f"wrong-{i}"})
        ).status_code
        for i in range(limit + 2)
    ]
    assert statuses[:limit] == [401] * limit
    assert statuses[limit:] == [429, 429]
    blocked = await client.post(f"{API}/auth/login", json={"email": user.email, "password": DEFAULT_PASSWORD})
    assert blocked.status_code == 429
    assert int(blocked.headers["retry-after"]) >= 1
    assert blocked.json()["status"] == 429


async def test_a_burst_of_simultaneous_guesses_gets_no_more_tries_than_the_limit(
    concurrent_client: httpx.AsyncClient, factory: Factory, concurrent_app: Litestar
) -> None:
    user = await factory.user()
    limit = concurrent_app.state.settings.login_rate_limit
    answers = await asyncio.gather(
        *(
            concurrent_client.post(f"{API}/auth/login", json={"email": user.email, "password": f"wrong-{i}"})
            for i in range(limit * 3)
        )
    )

    codes = sorted(a.status_code for a in answers)
    assert codes == [401] * limit + [429] * (limit * 2)


async def test_short_password_is_refused_naming_the_field(client: Client) -> None:
    response = await client.post(f"{API}/auth/register", json=registration(password="short"))
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "password"


async def test_me_requires_a_valid_token(client: Client) -> None:
    missing = await client.get(f"{API}/me")
    forged = await client.get(f"{API}/me", headers={"Authorization": "Bearer not.a.token"})
    assert missing.status_code == forged.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer")


async def test_logout_ends_the_session(client: Client, factory: Factory) -> None:
    user = await factory.user()
    headers = await factory.headers(user)
    assert (await client.post(f"{API}/auth/logout", headers=headers)).status_code == 204
    assert (await client.get(f"{API}/me", headers=headers)).status_code == 401


async def test_refresh_rotates_and_a_replayed_refresh_token_ends_the_session(
    client: Client, factory: Factory
) -> None:
    user = await factory.user()
    pair = (
        await client.post(f"{API}/auth/login", json={"email": user.email, "password": DEFAULT_PASSWORD})
    ).json()

    rotated = await client.post(f"{API}/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert rotated.status_code == 200
    new_pair = rotated.json()
    me = await client.get(f"{API}/me", headers={"Authorization": f"Bearer {new_pair['access_token']}"})
    assert me.status_code == 200

    replay = await client.post(f"{API}/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert replay.status_code == 401
    after = await client.post(f"{API}/auth/refresh", json={"refresh_token": new_pair["refresh_token"]})
    assert after.status_code == 401, "a replayed token revokes the whole session"


async def test_update_me_changes_certificate_name_and_language(client: Client, factory: Factory) -> None:
    _, headers = await factory.login_as()
    response = await client.patch(
        f"{API}/me", headers=headers, json={"full_name": "Àlex Núñez d'Olivé", "preferred_language": "es"}
    )
    assert response.status_code == 200
    assert response.json()["full_name"] == "Àlex Núñez d'Olivé"
    assert (await client.get(f"{API}/me", headers=headers)).json()["preferred_language"] == "es"


async def test_profile_is_stored_only_with_consent_and_erased_when_withdrawn(
    client: Client, factory: Factory, db: AsyncSession
) -> None:
    user, headers = await factory.login_as()
    profile = {
        "consent": True,
        "gender": "woman",
        "birth_year": 1987,
        "municipality": "Barcelona",
        "district": "Sant Martí",
        "employment_status": "unemployed",
    }
    given = await client.patch(f"{API}/me", headers=headers, json={"profile": profile})
    assert given.status_code == 200
    assert given.json()["profile"]["district"] == "Sant Martí"

    withdrawn = await client.patch(
        f"{API}/me", headers=headers, json={"profile": {**profile, "consent": False}}
    )

    assert withdrawn.json()["profile"]["consent"] is False
    row = (await db.execute(select(LearnerProfile).where(LearnerProfile.user_id == user.id))).scalar_one()
    assert (row.gender, row.birth_year, row.municipality, row.district, row.employment_status) == (
        None,
        None,
        None,
        None,
        None,
    )


async def test_password_change_ends_other_sessions(
    client: Client, factory: Factory, db: AsyncSession
) -> None:
    user = await factory.user()
    here = await factory.headers(user)
    elsewhere = await factory.headers(user)

    response = await client.post(
        f"{API}/me/password",
        headers=here,
        json={"current_password": DEFAULT_PASSWORD, "new_password": "a brand new passphrase"},
    )

    assert response.status_code == 204
    assert (await client.get(f"{API}/me", headers=here)).status_code == 200
    assert (await client.get(f"{API}/me", headers=elsewhere)).status_code == 401
    await login(client, user.email, "a brand new passphrase")
    live = await db.scalar(
        select(func.count())
        .select_from(AuthSession)
        .where(AuthSession.user_id == user.id, AuthSession.revoked_at.is_(None))
    )
    assert live == 2


async def test_wrong_current_password_is_refused(client: Client, factory: Factory) -> None:
    _, headers = await factory.login_as()
    response = await client.post(
        f"{API}/me/password",
        headers=headers,
        json={"current_password": "wrong", "new_password": "another long one"},
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "current_password"


async def test_user_search_is_for_staff_and_role_changes_for_admins(client: Client, factory: Factory) -> None:
    learner, learner_headers = await factory.login_as(Role.LEARNER)
    _, staff_headers = await factory.login_as(Role.STAFF)
    _, admin_headers = await factory.login_as(Role.ADMIN)

    assert (await client.get(f"{API}/users")).status_code == 401
    assert (await client.get(f"{API}/users", headers=learner_headers)).status_code == 403
    found = await client.get(f"{API}/users", params={"q": learner.email}, headers=staff_headers)
    assert found.status_code == 200
    assert [u["id"] for u in found.json()["items"]] == [str(learner.id)]

    promote = {"role": "staff"}
    assert (
        await client.patch(f"{API}/users/{learner.id}", json=promote, headers=staff_headers)
    ).status_code == 403
    promoted = await client.patch(f"{API}/users/{learner.id}", json=promote, headers=admin_headers)
    assert promoted.status_code == 200
    assert promoted.json()["role"] == "staff"
    assert (await client.get(f"{API}/users", headers=learner_headers)).status_code == 200


async def test_deactivated_account_loses_access_at_once(client: Client, factory: Factory) -> None:
    learner, learner_headers = await factory.login_as()
    _, admin_headers = await factory.login_as(Role.ADMIN)
    response = await client.patch(
        f"{API}/users/{learner.id}", json={"is_active": False}, headers=admin_headers
    )
    assert response.status_code == 200
    assert (await client.get(f"{API}/me", headers=learner_headers)).status_code == 401


NOTHING_VISIBLE = [
    "",
    "   ",
    "\u00a0\u3000",  # no-break and ideographic spaces
    "\u200b",  # zero-width space
    "\u200b\u200c\u200d",
    " \u2060\ufeff ",  # word joiner, byte order mark
    "\u00ad\u200e",  # soft hyphen, left-to-right mark
    "\u3164",  # Hangul filler: a "letter" that prints as nothing
]
CONTROL_CHARACTERS = [
    "Marta\nPuig",
    "Marta Puig\r\nBcc: someone@example.org",
    "Marta\tPuig",
    "Marta Puig\n",
    "Marta\u2028Puig",  # line separator
    "Marta\x85Puig",  # next line (C1)
    "Marta\x1bPuig",
]


def refused_field(response: httpx.Response) -> tuple[int, str, list[dict[str, str]]]:
    return response.status_code, response.headers["content-type"], response.json().get("errors", [])


@pytest.mark.parametrize(
    ("full_name", "message"),
    [(name, "must not be blank") for name in NOTHING_VISIBLE]
    + [(name, "must not contain control characters such as line breaks") for name in CONTROL_CHARACTERS],
)
async def test_registration_refuses_a_name_with_nothing_visible_or_with_control_characters(
    client: Client, db: AsyncSession, full_name: str, message: str
) -> None:
    response = await client.post(f"{API}/auth/register", json=registration(full_name=full_name))

    assert refused_field(response) == (
        422,
        "application/problem+json",
        [{"field": "full_name", "message": message}],
    )
    assert await db.scalar(select(func.count()).select_from(User)) == 0


async def test_a_refused_name_answers_alike_whether_the_address_is_registered(
    client: Client, factory: Factory
) -> None:
    user = await factory.user()
    known = await client.post(f"{API}/auth/register", json=registration(email=user.email, full_name="\u200b"))
    unknown = await client.post(f"{API}/auth/register", json=registration(full_name="\u200b"))

    bodies = [known.json(), unknown.json()]
    for body in bodies:
        body.pop("request_id", None)  # differs per request, when present
    assert known.status_code == unknown.status_code == 422
    assert bodies[0] == bodies[1]


@pytest.mark.parametrize("full_name", NOTHING_VISIBLE + CONTROL_CHARACTERS)
async def test_update_me_refuses_the_names_registration_refuses(
    client: Client, factory: Factory, full_name: str
) -> None:
    _, headers = await factory.login_as(full_name="Marta Puig")
    response = await client.patch(f"{API}/me", headers=headers, json={"full_name": full_name})

    status, content_type, errors = refused_field(response)
    assert (status, content_type, [e["field"] for e in errors]) == (
        422,
        "application/problem+json",
        ["full_name"],
    )
    assert (await client.get(f"{API}/me", headers=headers)).json()["full_name"] == "Marta Puig"


async def test_names_are_stored_as_written_apart_from_invisible_characters_around_them(
    client: Client, db: AsyncSession
) -> None:
    written = {
        "a@example.org": (" \u200bMarta Puig i Ribera\ufeff\u00a0", "Marta Puig i Ribera"),
        "b@example.org": ("王小明", "王小明"),
        "c@example.org": ("Mehrdad Ali\u200czadeh", "Mehrdad Ali\u200czadeh"),  # a joiner inside is kept
        "d@example.org": ("Zoë\u00a0d'Olivé", "Zoë\u00a0d'Olivé"),
    }
    for email, (full_name, _) in written.items():
        response = await client.post(
            f"{API}/auth/register", json=registration(email=email, full_name=full_name)
        )
        assert response.status_code == 202, response.text

    stored = dict((await db.execute(select(User.email, User.full_name))).all())
    assert stored == {email: kept for email, (_, kept) in written.items()}


async def test_registration_trims_spaces_around_the_address(client: Client, db: AsyncSession) -> None:
    response = await client.post(f"{API}/auth/register", json=registration(email=" Anna.QA@Example.org \t"))

    assert response.status_code == 202, response.text
    assert response.json()["email"] == "anna.qa@example.org"
    assert await db.scalar(select(User.email)) == "anna.qa@example.org"
    await login(client, "anna.qa@example.org ", "una contrasenya llarga")


@pytest.mark.parametrize(
    "email", ["", "   ", "anna.qa", "anna.qa@", "anna.qa@example", "anna qa@example.org", "@example.org"]
)
async def test_registration_refuses_an_invalid_address_in_words(
    client: Client, db: AsyncSession, email: str
) -> None:
    response = await client.post(f"{API}/auth/register", json=registration(email=email))

    assert refused_field(response) == (
        422,
        "application/problem+json",
        [{"field": "email", "message": "is not a valid e-mail address"}],
    )
    assert response.json()["detail"] == "email: is not a valid e-mail address"
    assert await db.scalar(select(func.count()).select_from(User)) == 0
