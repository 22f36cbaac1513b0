"""Certificates over HTTP: public verification (HTML and JSON), learners' downloads, staff actions."""

from __future__ import annotations

import hashlib
import uuid
from urllib.parse import urlsplit

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from certificates.links import download_link
from certificates.models import CertificateStatus
from lms.accounts.models import Role, User
from lms.audit import AuditEntry
from lms.db.outbox import OutboxMessage, OutboxStatus
from lms.db.session import unit_of_work
from lms.settings import Settings
from tests.certificates.helpers import API, complete, get_certificate, make_course, run_owed
from tests.support import Factory

Client = AsyncTestClient[Litestar]
Sessions = async_sessionmaker[AsyncSession]


async def issued(
    factory: Factory,
    sessionmaker: Sessions,
    settings: Settings,
    db: AsyncSession,
    *,
    full_name: str = "Łukasz Żółć",
    language: str = "ca",
) -> tuple[User, dict[str, str], str, uuid.UUID]:
    """An issued certificate: (learner, learner's headers, code, id)."""
    learner, headers = await factory.login_as(Role.LEARNER, full_name=full_name, language=language)
    course_id, run_id = await make_course(sessionmaker)
    certificate_id = await complete(sessionmaker, learner, course_id, run_id)
    await run_owed(settings)
    certificate = await get_certificate(db, certificate_id)
    return learner, headers, certificate.code, certificate_id


async def fetch_pdf(client: Client, url: str) -> bytes:
    """Follow a presigned link the way a browser would (the local backend serves it from the API)."""
    parts = urlsplit(url)
    response = await client.get(f"{parts.path}?{parts.query}")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/pdf")
    return response.content


async def test_anyone_can_verify_a_certificate_as_json_with_only_what_it_prints(
    client: Client, factory: Factory, sessionmaker: Sessions, settings: Settings, db: AsyncSession
) -> None:
    _, _, code, certificate_id = await issued(factory, sessionmaker, settings, db)
    certificate = await get_certificate(db, certificate_id)

    response = await client.get(f"{API}/certificates/{code}")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["valid"] is True
    assert body["status"] == "issued"
    assert body["learner_name"] == "Łukasz Żółć"
    assert body["course_title"] == "Fotografia digital"
    assert (body["course_format"], body["hours"], body["version"]) == ("mooc", "20.00", 1)
    assert body["sha256"] == certificate.sha256
    assert body["verify_url"] == f"http://testserver/verify/{code}"
    assert body["revoked_on"] is None
    # Nothing the certificate does not show: no e-mail, no account or enrolment ids.
    assert not {"email", "user_id", "enrolment_id", "id", "revoked_reason"} & body.keys()
    assert response.headers["x-robots-tag"] == "noindex"


async def test_the_verification_page_is_html_in_the_asked_language(
    client: Client, factory: Factory, sessionmaker: Sessions, settings: Settings, db: AsyncSession
) -> None:
    _, _, code, _ = await issued(factory, sessionmaker, settings, db, full_name="王小明")

    catalan = await client.get(f"/verify/{code}")
    spanish = await client.get(f"/verify/{code}", headers={"Accept-Language": "es-ES,es;q=0.9,en;q=0.5"})
    english = await client.get(f"/verify/{code}?lang=en", headers={"Accept-Language": "es"})

    assert catalan.status_code == spanish.status_code == english.status_code == 200
    assert catalan.headers["content-type"].startswith("text/html")
    assert '<html lang="ca">' in catalan.text
    assert "Certificat vàlid" in catalan.text
    assert '<html lang="es">' in spanish.text
    assert "Certificado válido" in spanish.text
    assert '<html lang="en">' in english.text
    assert "Valid certificate" in english.text
    assert '<dd class="name" dir="auto">王小明</dd>' in english.text  # any script, its own direction
    assert 'name="viewport"' in english.text
    assert "20 hours" in english.text

    # A mangled link (a fingerprint or language far too long) still opens the page a person can read.
    mangled = await client.get(f"/verify/{code}?lang={'en' * 40}&sha256={'a' * 500}")
    assert mangled.status_code == 200
    assert mangled.headers["content-type"].startswith("text/html")
    assert "no correspon a cap versió" in mangled.text  # the fingerprint is checked, and does not match


async def test_unknown_malformed_and_not_yet_issued_codes_are_404_never_500(
    client: Client, factory: Factory, sessionmaker: Sessions
) -> None:
    learner = await factory.user()
    course_id, run_id = await make_course(sessionmaker)
    await complete(sessionmaker, learner, course_id, run_id)
    async with sessionmaker() as session:
        from certificates.models import Certificate

        pending_code = (await session.execute(select(Certificate.code))).scalar_one()

    for code in ("A" * 27, "short", "x" * 300, "%27%3B--", pending_code, "..%2F..%2Fetc"):
        page = await client.get(f"/verify/{code}")
        api = await client.get(f"{API}/certificates/{code}")
        assert page.status_code == 404, code
        assert page.headers["content-type"].startswith("text/html")
        assert "Certificat no trobat" in page.text
        assert api.status_code == 404, code
        assert api.headers["content-type"].startswith("application/problem+json")


async def test_verification_is_rate_limited_per_client_address(client: Client, settings: Settings) -> None:
    statuses = [
        (await client.get(f"/verify/{'B' * 27}")).status_code for _ in range(settings.verify_rate_limit)
    ]
    page = await client.get(f"/verify/{'B' * 27}")
    api = await client.get(f"{API}/certificates/{'B' * 27}")

    assert set(statuses) == {404}
    assert page.status_code == 429
    assert page.headers["content-type"].startswith("text/html")
    assert int(page.headers["retry-after"]) >= 1
    assert api.status_code == 429
    assert api.headers["content-type"].startswith("application/problem+json")


async def test_learners_list_their_certificates_and_download_through_a_short_lived_link(
    client: Client, factory: Factory, sessionmaker: Sessions, settings: Settings, db: AsyncSession
) -> None:
    _, headers, code, certificate_id = await issued(factory, sessionmaker, settings, db)
    certificate = await get_certificate(db, certificate_id)

    listing = await client.get(f"{API}/me/certificates", headers=headers)
    download = await client.get(
        f"{API}/me/certificates/{certificate_id}/download", headers=headers, follow_redirects=False
    )

    assert listing.status_code == 200
    [mine] = listing.json()["items"]
    assert (mine["code"], mine["status"], mine["sha256"]) == (code, "issued", certificate.sha256)
    assert mine["download_url"] == f"{API}/me/certificates/{certificate_id}/download"
    assert download.status_code == 302
    pdf = await fetch_pdf(client, download.headers["location"])
    assert hashlib.sha256(pdf).hexdigest() == certificate.sha256


async def test_a_learner_asking_for_someone_elses_certificate_gets_404(
    client: Client, factory: Factory, sessionmaker: Sessions, settings: Settings, db: AsyncSession
) -> None:
    _, _, _, certificate_id = await issued(factory, sessionmaker, settings, db)
    _, other = await factory.login_as(Role.LEARNER)

    response = await client.get(f"{API}/me/certificates/{certificate_id}/download", headers=other)
    listing = await client.get(f"{API}/me/certificates", headers=other)

    assert response.status_code == 404
    assert listing.json()["items"] == []


async def test_downloading_a_certificate_still_being_issued_is_409(
    client: Client, factory: Factory, sessionmaker: Sessions
) -> None:
    learner, headers = await factory.login_as(Role.LEARNER)
    course_id, run_id = await make_course(sessionmaker)
    certificate_id = await complete(sessionmaker, learner, course_id, run_id)

    response = await client.get(f"{API}/me/certificates/{certificate_id}/download", headers=headers)

    assert response.status_code == 409


async def test_the_emailed_download_link_works_until_it_expires_and_cannot_be_forged(
    client: Client, factory: Factory, sessionmaker: Sessions, settings: Settings, db: AsyncSession
) -> None:
    _, _, code, certificate_id = await issued(factory, sessionmaker, settings, db)
    link = urlsplit(download_link(settings, code, 1))
    expired = urlsplit(download_link(settings, code, 1, now=1_000_000))

    good = await client.get(f"{link.path}?{link.query}", follow_redirects=False)
    old = await client.get(f"{expired.path}?{expired.query}", follow_redirects=False)
    forged = await client.get(f"{link.path}?{link.query.replace('sig=', 'sig=0')}", follow_redirects=False)
    other_code = await client.get(f"{link.path.replace(code, 'C' * 27)}?{link.query}", follow_redirects=False)
    non_ascii = await client.get(
        f"{link.path}?{link.query.replace('sig=', 'sig=%C3%A9')}", follow_redirects=False
    )

    assert good.status_code == 302
    pdf = await fetch_pdf(client, good.headers["location"])
    assert hashlib.sha256(pdf).hexdigest() == (await get_certificate(db, certificate_id)).sha256
    assert old.status_code == forged.status_code == other_code.status_code == 403
    assert non_ascii.status_code == 403


async def test_staff_revoke_with_a_reason_and_the_page_says_so_with_the_date(
    client: Client, factory: Factory, sessionmaker: Sessions, settings: Settings, db: AsyncSession
) -> None:
    _, learner_headers, code, certificate_id = await issued(factory, sessionmaker, settings, db)
    _, staff = await factory.login_as(Role.STAFF)

    refused = await client.post(
        f"{API}/certificates/{code}/revoke", json={"reason": "mine"}, headers=learner_headers
    )
    first = await client.post(
        f"{API}/certificates/{code}/revoke", json={"reason": "Attendance was misreported"}, headers=staff
    )
    second = await client.post(f"{API}/certificates/{code}/revoke", json={"reason": "again"}, headers=staff)
    page = await client.get(f"/verify/{code}?lang=en")
    api = await client.get(f"{API}/certificates/{code}")
    download = await client.get(f"{API}/me/certificates/{certificate_id}/download", headers=learner_headers)

    assert refused.status_code == 403
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "revoked"
    assert first.json()["revoked_reason"] == "Attendance was misreported"
    assert second.status_code == 409
    assert "Revoked certificate" in page.text
    assert "revoked this certificate on" in page.text
    assert "misreported" not in page.text  # the reason is for staff
    assert (api.json()["valid"], api.json()["status"]) == (False, "revoked")
    assert api.json()["revoked_on"] is not None
    assert download.status_code == 409
    audit = await db.scalar(
        select(func.count()).select_from(AuditEntry).where(AuditEntry.entity_id == certificate_id)
    )
    assert audit == 1


async def test_reissue_keeps_the_code_prints_a_new_version_and_recognises_the_old_hash(
    client: Client, factory: Factory, sessionmaker: Sessions, settings: Settings, db: AsyncSession
) -> None:
    learner, headers, code, certificate_id = await issued(factory, sessionmaker, settings, db)
    old = await get_certificate(db, certificate_id)
    old_hash = old.sha256
    assert old_hash is not None
    _, staff = await factory.login_as(Role.STAFF)
    async with unit_of_work(sessionmaker) as session:  # the learner corrects their name
        await session.execute(update(User).where(User.id == learner.id).values(full_name="Łukasz Żółć-Nowak"))

    response = await client.post(f"{API}/certificates/{code}/reissue", headers=staff)

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["code"], body["version"], body["learner_name"]) == (code, 2, "Łukasz Żółć-Nowak")
    assert [(v["version"], v["current"]) for v in body["versions"]] == [(1, False), (2, True)]
    assert body["versions"][0]["sha256"] == old_hash
    new_hash = body["sha256"]
    assert new_hash != old_hash
    current = await client.get(f"{API}/certificates/{code}?sha256={new_hash}")
    superseded = await client.get(f"{API}/certificates/{code}?sha256={old_hash}")
    unknown = await client.get(f"{API}/certificates/{code}?sha256={'0' * 64}")
    garbage = await client.get(f"{API}/certificates/{code}?sha256=not-a-hash")
    page = await client.get(f"/verify/{code}?lang=en&sha256={old_hash.upper()}")
    assert (current.json()["hash_check"], current.json()["hash_version"]) == ("current", 2)
    assert (superseded.json()["hash_check"], superseded.json()["hash_version"]) == ("superseded", 1)
    assert unknown.json()["hash_check"] == garbage.json()["hash_check"] == "unknown"
    assert "earlier version (version 1)" in page.text
    download = await client.get(
        f"{API}/me/certificates/{certificate_id}/download", headers=headers, follow_redirects=False
    )
    assert hashlib.sha256(await fetch_pdf(client, download.headers["location"])).hexdigest() == new_hash
    mails = await db.execute(
        select(OutboxMessage.payload).where(OutboxMessage.task == "certificates.ready_email")
    )
    assert {"certificate_id": str(certificate_id), "version": 2} in mails.scalars().all()


async def test_reissuing_a_revoked_certificate_is_409(
    client: Client, factory: Factory, sessionmaker: Sessions, settings: Settings, db: AsyncSession
) -> None:
    _, _, code, _ = await issued(factory, sessionmaker, settings, db)
    _, staff = await factory.login_as(Role.STAFF)
    await client.post(f"{API}/certificates/{code}/revoke", json={"reason": "Duplicate"}, headers=staff)

    response = await client.post(f"{API}/certificates/{code}/reissue", headers=staff)

    assert response.status_code == 409
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_staff_see_owed_certificates_with_attempts_and_last_error_and_can_retry(
    client: Client, factory: Factory, sessionmaker: Sessions, db: AsyncSession
) -> None:
    learner = await factory.user(full_name="Ñúñez")
    course_id, run_id = await make_course(sessionmaker)
    certificate_id = await complete(sessionmaker, learner, course_id, run_id)
    certificate = await get_certificate(db, certificate_id)
    first_outbox_id = certificate.outbox_id
    async with unit_of_work(sessionmaker) as session:  # what the worker wrapper records after each failure
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == certificate.outbox_id)
            .values(attempts=9, last_error="OSError('storage unreachable')", status=OutboxStatus.FAILED)
        )
    _, staff = await factory.login_as(Role.STAFF)

    listing = await client.get(f"{API}/certificates?status=pending", headers=staff)
    retried = await client.post(f"{API}/certificates/{certificate.code}/retry", headers=staff)
    learner_view = await client.get(
        f"{API}/certificates?status=pending", headers=(await factory.login_as())[1]
    )

    assert listing.status_code == 200
    [item] = listing.json()["items"]
    assert (item["code"], item["status"], item["attempts"], item["gave_up"]) == (
        certificate.code,
        "pending",
        9,
        True,
    )
    assert item["last_error"] == "OSError('storage unreachable')"
    assert retried.status_code == 200
    assert (retried.json()["attempts"], retried.json()["gave_up"]) == (0, False)
    assert learner_view.status_code == 403
    refreshed = await get_certificate(db, certificate_id)
    assert refreshed.status is CertificateStatus.PENDING
    assert refreshed.outbox_id not in (None, first_outbox_id)
