"""Owing and issuing certificates: once per enrolment, idempotent, snapshot kept, PDF stored with its hash."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from certificates.issuing import Printer, issue_owed, object_key
from certificates.models import Certificate, CertificateStatus, CertificateVersion
from certificates.service import owe_certificate
from courses.models import Course, CourseFormat
from enrolments.models import Enrolment, EnrolmentStatus
from lms.accounts.models import User
from lms.db.outbox import OutboxMessage, OutboxStatus
from lms.db.session import unit_of_work
from lms.settings import Settings
from media.storage import build_storage
from tests.certificates.helpers import complete, get_certificate, make_course, run_owed
from tests.support import Factory

Sessions = async_sessionmaker[AsyncSession]


async def test_completion_owes_a_pending_certificate_and_its_issuance_in_one_transaction(
    factory: Factory, sessionmaker: Sessions, db: AsyncSession
) -> None:
    learner = await factory.user(full_name="Marta Puig i Ribera")
    course_id, run_id = await make_course(sessionmaker)

    certificate_id = await complete(sessionmaker, learner, course_id, run_id)

    certificate = await get_certificate(db, certificate_id)
    assert certificate.status is CertificateStatus.PENDING
    assert len(certificate.code) >= 22  # 160 random bits, URL-safe
    message = await db.get(OutboxMessage, certificate.outbox_id)
    assert message is not None
    assert (message.task, message.queue, message.status) == (
        "certificates.issue",
        "certificates",
        OutboxStatus.PENDING,
    )
    assert message.payload == {"certificate_id": str(certificate_id)}


async def test_a_completion_that_rolls_back_owes_nothing(
    factory: Factory, sessionmaker: Sessions, db: AsyncSession
) -> None:
    learner = await factory.user()
    course_id, run_id = await make_course(sessionmaker)

    async def failing_completion() -> None:
        async with unit_of_work(sessionmaker) as session:
            enrolment_id = uuid.uuid4()
            session.add(
                Enrolment(
                    id=enrolment_id,
                    user_id=learner.id,
                    run_id=run_id,
                    course_id=course_id,
                    status=EnrolmentStatus.COMPLETED,
                    enrolled_at=datetime.now(UTC),
                    completed_at=datetime.now(UTC),
                )
            )
            await session.flush()
            await owe_certificate(
                session,
                enrolment_id=enrolment_id,
                user_id=learner.id,
                course_id=course_id,
                run_id=run_id,
                completed_at=datetime.now(UTC),
            )
            raise RuntimeError("the completion failed after owing the certificate")

    with pytest.raises(RuntimeError):
        await failing_completion()

    assert await db.scalar(select(func.count()).select_from(Certificate)) == 0
    assert await db.scalar(select(func.count()).select_from(OutboxMessage)) == 0


async def test_owing_twice_for_one_enrolment_keeps_one_certificate_and_one_task(
    factory: Factory, sessionmaker: Sessions, db: AsyncSession
) -> None:
    learner = await factory.user()
    course_id, run_id = await make_course(sessionmaker)
    certificate_id = await complete(sessionmaker, learner, course_id, run_id)
    certificate = await get_certificate(db, certificate_id)

    async with unit_of_work(sessionmaker) as session:
        await owe_certificate(
            session,
            enrolment_id=certificate.enrolment_id,
            user_id=learner.id,
            course_id=course_id,
            run_id=run_id,
            completed_at=datetime.now(UTC),
        )

    assert await db.scalar(select(func.count()).select_from(Certificate)) == 1
    assert await db.scalar(select(func.count()).select_from(OutboxMessage)) == 1


async def test_issuing_prints_the_snapshot_and_stores_the_pdf_under_a_deterministic_key_with_its_hash(
    factory: Factory, sessionmaker: Sessions, db: AsyncSession, settings: Settings
) -> None:
    learner = await factory.user(
        full_name="Maria Àngels Puig-Ferrer d'Olivella i Castellví de Sant Martí", language="es"
    )
    course_id, run_id = await make_course(sessionmaker, hours=1.5, course_format=CourseFormat.MASTERCLASS)
    completed = datetime(2026, 3, 31, 22, 30, tzinfo=UTC)  # already 1 April in Barcelona
    certificate_id = await complete(sessionmaker, learner, course_id, run_id, completed)

    assert await run_owed(settings) == 1

    certificate = await get_certificate(db, certificate_id)
    assert certificate.status is CertificateStatus.ISSUED
    assert certificate.learner_name == "Maria Àngels Puig-Ferrer d'Olivella i Castellví de Sant Martí"
    assert certificate.course_title == "Fotografía digital"  # the learner's language
    assert certificate.language == "es"
    assert certificate.course_format == "masterclass"
    assert certificate.hours == Decimal("1.5")
    assert certificate.completed_on == date(2026, 4, 1)
    assert certificate.issuer_name == settings.org_name
    assert certificate.version == 1
    assert certificate.object_key == f"certificates/{certificate.code}.v1.pdf"
    pdf = await build_storage(settings).get_bytes(settings.bucket_certificates, certificate.object_key)
    assert pdf.startswith(b"%PDF-")
    assert hashlib.sha256(pdf).hexdigest() == certificate.sha256
    versions = (await db.execute(select(CertificateVersion))).scalars().all()
    assert [(v.version, v.sha256) for v in versions] == [(1, certificate.sha256)]
    assert versions[0].snapshot["learner_name"] == certificate.learner_name
    mails = await db.execute(
        select(OutboxMessage.payload).where(OutboxMessage.task == "certificates.ready_email")
    )
    assert mails.scalars().all() == [{"certificate_id": str(certificate_id), "version": 1}]


async def test_course_title_falls_back_when_the_learners_language_is_missing(
    factory: Factory, sessionmaker: Sessions, db: AsyncSession, settings: Settings
) -> None:
    learner = await factory.user(language="en")
    course_id, run_id = await make_course(sessionmaker, title={"es": "Curso", "ca": "Curs"}, hours=None)
    certificate_id = await complete(sessionmaker, learner, course_id, run_id)

    await run_owed(settings)

    certificate = await get_certificate(db, certificate_id)
    assert (certificate.course_title, certificate.language, certificate.hours) == ("Curs", "en", None)


async def test_later_name_and_title_edits_do_not_change_an_issued_certificate(
    factory: Factory, sessionmaker: Sessions, db: AsyncSession, settings: Settings
) -> None:
    learner = await factory.user(full_name="Ñúñez")
    course_id, run_id = await make_course(sessionmaker)
    certificate_id = await complete(sessionmaker, learner, course_id, run_id)
    await run_owed(settings)
    before = await get_certificate(db, certificate_id)
    printed = (before.learner_name, before.course_title, before.sha256)

    async with unit_of_work(sessionmaker) as session:
        await session.execute(update(User).where(User.id == learner.id).values(full_name="Someone Else"))
        await session.execute(update(Course).where(Course.id == course_id).values(title={"ca": "Un altre"}))
    await run_owed(settings)

    after = await get_certificate(db, certificate_id)
    assert (after.learner_name, after.course_title, after.sha256) == printed


async def test_a_second_delivery_or_a_rerun_of_the_issuance_is_a_no_op(
    factory: Factory, sessionmaker: Sessions, db: AsyncSession, settings: Settings
) -> None:
    learner = await factory.user()
    course_id, run_id = await make_course(sessionmaker)
    certificate_id = await complete(sessionmaker, learner, course_id, run_id)
    await run_owed(settings)
    first = await get_certificate(db, certificate_id)

    # The task body itself, run again against the issued certificate (as if its outbox claim were lost).
    async with unit_of_work(sessionmaker) as session:
        again = await issue_owed(session, Printer(settings, build_storage(settings)), certificate_id, 10)

    assert again.certificates == []
    second = await get_certificate(db, certificate_id)
    assert (second.version, second.sha256) == (first.version, first.sha256)
    assert await db.scalar(select(func.count()).select_from(CertificateVersion)) == 1


async def test_two_workers_issuing_the_same_certificate_at_once_print_it_once(
    factory: Factory, sessionmaker: Sessions, db: AsyncSession, settings: Settings
) -> None:
    learner = await factory.user()
    course_id, run_id = await make_course(sessionmaker)
    certificate_id = await complete(sessionmaker, learner, course_id, run_id)
    printer = Printer(settings, build_storage(settings))
    await build_storage(settings).ensure_buckets()

    async def worker() -> int:
        async with unit_of_work(sessionmaker) as session:
            return len((await issue_owed(session, printer, certificate_id, 1)).certificates)

    results = await asyncio.gather(worker(), worker())

    assert sorted(results) == [0, 1]
    certificate = await get_certificate(db, certificate_id)
    assert (certificate.status, certificate.version) == (CertificateStatus.ISSUED, 1)
    assert await db.scalar(select(func.count()).select_from(CertificateVersion)) == 1


async def test_one_task_issues_a_batch_of_owed_certificates_and_closes_their_tasks(
    factory: Factory, sessionmaker: Sessions, db: AsyncSession, settings: Settings
) -> None:
    course_id, run_id = await make_course(sessionmaker)
    ids = [await complete(sessionmaker, await factory.user(), course_id, run_id) for _ in range(5)]
    first = await get_certificate(db, ids[0])
    assert first.outbox_id is not None

    runtime_settings = settings.model_copy(update={"certificate_batch_size": 4})
    from workers.app import execute
    from workers.registry import REGISTRY
    from workers.runtime import Runtime

    runtime = Runtime(runtime_settings, None)
    try:
        await execute(runtime, REGISTRY["certificates.issue"], str(first.outbox_id), {})
    finally:
        await runtime.aclose()

    statuses = [(await get_certificate(db, i)).status for i in ids]
    assert statuses.count(CertificateStatus.ISSUED) == 4
    outbox = await db.execute(select(OutboxMessage.status).where(OutboxMessage.task == "certificates.issue"))
    assert sorted(outbox.scalars().all()) == sorted([OutboxStatus.DONE] * 4 + [OutboxStatus.PENDING])
    # The remaining one is issued by its own message; the others' messages are no-ops.
    assert await run_owed(settings) == 1
    assert {(await get_certificate(db, i)).status for i in ids} == {CertificateStatus.ISSUED}
    assert await db.scalar(select(func.count()).select_from(CertificateVersion)) == 5


async def test_a_pdf_that_cannot_be_stored_rolls_its_whole_batch_back_for_a_retry(
    factory: Factory, sessionmaker: Sessions, db: AsyncSession, settings: Settings
) -> None:
    course_id, run_id = await make_course(sessionmaker)
    ids = [await complete(sessionmaker, await factory.user(), course_id, run_id) for _ in range(3)]
    storage = build_storage(settings)
    await storage.ensure_buckets()
    # A folder where the last certificate's PDF has to go: storing that one file fails.
    blocked = await get_certificate(db, ids[-1])
    obstacle = settings.resolved_storage_dir / settings.bucket_certificates / object_key(blocked.code, 1)
    obstacle.mkdir(parents=True)
    printer = Printer(settings, storage)

    with pytest.raises(IsADirectoryError):
        async with unit_of_work(sessionmaker) as session:
            await issue_owed(session, printer, ids[0], 10)

    states = []
    for certificate_id in ids:
        certificate = await get_certificate(db, certificate_id)
        states.append((certificate.status, certificate.version, certificate.outbox_id))
    assert {(status, version) for status, version, _ in states} == {(CertificateStatus.PENDING, 0)}
    assert await db.scalar(select(func.count()).select_from(CertificateVersion)) == 0
    outbox_ids = [outbox_id for _, _, outbox_id in states]
    statuses = await db.scalars(select(OutboxMessage.status).where(OutboxMessage.id.in_(outbox_ids)))
    assert set(statuses) == {OutboxStatus.PENDING}

    obstacle.rmdir()
    async with unit_of_work(sessionmaker) as session:
        issued = await issue_owed(session, printer, ids[0], 10)
    assert sorted(certificate_id for certificate_id, _ in issued.certificates) == sorted(ids)
    for certificate_id in ids:
        certificate = await get_certificate(db, certificate_id)
        assert certificate.status is CertificateStatus.ISSUED
        assert certificate.object_key is not None
        stored = await storage.get_bytes(settings.bucket_certificates, certificate.object_key)
        assert hashlib.sha256(stored).hexdigest() == certificate.sha256
