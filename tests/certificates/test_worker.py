"""Real workers against the real broker: owed certificates are issued, failures retried and shown, and a
worker killed with SIGKILL mid-batch loses nothing and doubles nothing."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import signal
import time
import uuid
from collections.abc import Awaitable, Callable
from email.header import decode_header, make_header
from email.message import Message
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from certificates.models import Certificate, CertificateStatus, CertificateVersion
from lms.accounts.models import Role
from lms.db.outbox import Envelope, OutboxMessage, OutboxStatus
from lms.settings import Settings
from media.storage import build_storage
from tests.certificates.helpers import API, complete, make_course
from tests.support import (
    Factory,
    SmtpServer,
    WorkerProcess,
    mail_text,
    running_worker,
    settings_env,
    smtp_server,
)
from workers.app import create_celery

Client = AsyncTestClient[Litestar]
Sessions = async_sessionmaker[AsyncSession]
WORKER_ARGS = ("--pool=solo", "--queues=certificates,email,maintenance", "--beat")


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 60, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(interval)
    return await check()


async def count(sessionmaker: Sessions, *where: object, model: type = Certificate) -> int:
    async with sessionmaker() as session:
        stmt = select(func.count()).select_from(model).where(*where)  # type: ignore[arg-type]
        return int(await session.scalar(stmt) or 0)


async def test_a_worker_issues_owed_certificates_and_emails_the_learner(
    factory: Factory, sessionmaker: Sessions, settings: Settings, tmp_path: Path
) -> None:
    learner = await factory.user(full_name="Łukasz Żółć", language="en", email="lukasz@example.org")
    course_id, run_id = await make_course(sessionmaker)
    await build_storage(settings).ensure_buckets()
    with smtp_server() as smtp:
        env = settings_env(
            settings, LMS_MAIL_BACKEND="smtp", LMS_SMTP_HOST=smtp.host, LMS_SMTP_PORT=str(smtp.port)
        )
        with running_worker(env, tmp_path / "worker.log", *WORKER_ARGS):
            # Owed without a publisher: only the beat sweep can publish it, which is what it is for.
            certificate_id = await complete(sessionmaker, learner, course_id, run_id)
            assert await eventually(lambda: _has_mail(smtp.to, "lukasz@example.org"), within=60)

    async with sessionmaker() as session:
        certificate = await session.get(Certificate, certificate_id)
    assert certificate is not None
    assert certificate.status is CertificateStatus.ISSUED
    [mail] = smtp.to("lukasz@example.org")
    assert (
        str(make_header(decode_header(mail["Subject"])))
        == "Your certificate for “Digital photography” is ready"
    )
    assert f"/verify/{certificate.code}?lang=en" in mail_text(mail)


async def _has_mail(to: Callable[[str], list[Message]], address: str) -> bool:
    return bool(to(address))


async def test_a_failing_issuance_is_retried_with_its_error_shown_to_staff_until_it_succeeds(
    client: Client, factory: Factory, sessionmaker: Sessions, settings: Settings, tmp_path: Path
) -> None:
    learner = await factory.user()
    course_id, run_id = await make_course(sessionmaker)
    certificate_id = await complete(sessionmaker, learner, course_id, run_id)
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("storage cannot create buckets under a file")
    _, staff = await factory.login_as(Role.STAFF)

    broken = settings_env(settings, LMS_STORAGE_DIR=str(blocked))
    with running_worker(broken, tmp_path / "broken.log", *WORKER_ARGS):

        async def failed_twice() -> bool:
            async with sessionmaker() as session:
                cert = await session.get(Certificate, certificate_id)
                message = await session.get(OutboxMessage, cert.outbox_id) if cert else None
                return message is not None and message.attempts >= 2

        assert await eventually(failed_twice, within=60)

    listing = await client.get(f"{API}/certificates?status=pending", headers=staff)
    [item] = listing.json()["items"]
    assert item["attempts"] >= 2
    assert item["last_error"]
    assert item["gave_up"] is False

    await build_storage(settings).ensure_buckets()
    with running_worker(settings_env(settings), tmp_path / "fixed.log", *WORKER_ARGS):
        assert await eventually(
            lambda: _status_is(sessionmaker, certificate_id, CertificateStatus.ISSUED), within=90
        )


async def _status_is(sessionmaker: Sessions, certificate_id: uuid.UUID, status: CertificateStatus) -> bool:
    async with sessionmaker() as session:
        cert = await session.get(Certificate, certificate_id)
        return cert is not None and cert.status is status


async def test_the_certificates_one_message_carries_are_issued_together_before_older_owed_ones(
    factory: Factory, sessionmaker: Sessions, settings: Settings, tmp_path: Path
) -> None:
    course_id, run_id = await make_course(sessionmaker)
    # Owed without a publisher, and no beat in the worker: only the message below is ever delivered.
    older = [await complete(sessionmaker, await factory.user(), course_id, run_id) for _ in range(5)]
    learners = [await factory.user() for _ in range(10)]
    carried = [await complete(sessionmaker, learner, course_id, run_id) for learner in learners]
    async with sessionmaker() as session:
        rows = (await session.execute(select(Certificate).where(Certificate.id.in_(carried)))).scalars()
        envelopes = [Envelope(c.outbox_id, "certificates.issue", "certificates") for c in rows if c.outbox_id]
    await build_storage(settings).ensure_buckets()
    # Messages earlier tests published and no worker took would be counted below: start from empty queues.
    create_celery(settings).control.purge()
    with smtp_server() as smtp:
        env = settings_env(
            settings,
            LMS_CERTIFICATE_BATCH_SIZE="5",
            LMS_MAIL_BACKEND="smtp",
            LMS_SMTP_HOST=smtp.host,
            LMS_SMTP_PORT=str(smtp.port),
        )
        with running_worker(
            env, tmp_path / "worker.log", "--pool=solo", "--queues=certificates,email"
        ) as worker:
            await create_celery(settings).conf["aula_publisher"].publish(envelopes)  # one message, ten rows
            assert await eventually(lambda: _has_mails(smtp, 10), within=60, interval=0.1)
            log = worker.output()

    async with sessionmaker() as session:
        certificates = {c.id: c for c in (await session.execute(select(Certificate))).scalars()}
        messages = (await session.execute(select(OutboxMessage))).scalars().all()
    assert {certificates[i].status for i in carried} == {CertificateStatus.ISSUED}
    assert {certificates[i].status for i in older} == {CertificateStatus.PENDING}
    # Two batches of five, each printed at one moment, each closing the outbox rows it printed for.
    moments = [certificates[i].issued_at for i in carried]
    assert sorted(moments.count(moment) for moment in set(moments)) == [5, 5]
    issued = {m.id for m in messages if m.task == "certificates.issue" and m.status is OutboxStatus.DONE}
    assert issued == {certificates[i].outbox_id for i in carried}
    # Each batch's "ready" e-mails travel as one message (two batches published close together may share
    # one; a message may be logged as received again when redelivered); each learner gets one e-mail.
    ready_messages = set(re.findall(r"Task certificates\.ready_email\[([0-9a-f-]+)\] received", log))
    assert 1 <= len(ready_messages) <= 2, log
    assert [len(smtp.to(learner.email)) for learner in learners] == [1] * 10


async def _has_mails(smtp: SmtpServer, n: int) -> bool:
    return len(smtp.messages) >= n


@pytest.mark.slow
async def test_sigkill_in_the_middle_of_a_batch_loses_nothing_and_doubles_nothing(
    factory: Factory, sessionmaker: Sessions, settings: Settings, tmp_path: Path
) -> None:
    total = 200
    course_id, run_id = await make_course(sessionmaker)
    users = [await factory.user() for _ in range(total)]
    await build_storage(settings).ensure_buckets()
    # Small batches and one process, so the kill lands while batches are in flight.
    env = settings_env(settings, LMS_CERTIFICATE_BATCH_SIZE="5")
    first = WorkerProcess(env, *WORKER_ARGS, log=tmp_path / "first.log")
    try:
        first.wait_ready()
        for user in users:
            await complete(sessionmaker, user, course_id, run_id)
        assert await eventually(lambda: _issued_at_least(sessionmaker, 30), within=60, interval=0.02), (
            first.output()
        )
        os.killpg(first.proc.pid, signal.SIGKILL)
        first.proc.wait(10)
    finally:
        first.stop()
    issued_when_killed = await count(sessionmaker, Certificate.status == CertificateStatus.ISSUED)
    assert issued_when_killed < total, "the kill came too late to interrupt anything"

    with running_worker(env, tmp_path / "second.log", *WORKER_ARGS):
        assert await eventually(lambda: _issued_at_least(sessionmaker, total), within=90)

    async with sessionmaker() as session:
        certificates = list((await session.execute(select(Certificate))).scalars())
        versions = list((await session.execute(select(CertificateVersion))).scalars())
        mails = await session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.task == "certificates.ready_email")
        )
    assert len(certificates) == total
    assert {c.status for c in certificates} == {CertificateStatus.ISSUED}
    assert {c.version for c in certificates} == {1}
    assert len(versions) == total  # one printed version each
    assert mails == total  # one "ready" e-mail owed each
    folder = settings.resolved_storage_dir / settings.bucket_certificates / "certificates"
    stored: dict[str, list[str]] = {}
    for path in folder.iterdir():
        stored.setdefault(path.name.split(".", 1)[0], []).append(path.name)
    for certificate in certificates:
        # One PDF object each, at its deterministic key, holding the bytes whose hash was recorded.
        assert stored[certificate.code] == [f"{certificate.code}.v1.pdf"]
        assert (
            hashlib.sha256((folder / f"{certificate.code}.v1.pdf").read_bytes()).hexdigest()
            == certificate.sha256
        )
    print(f"issued before the kill: {issued_when_killed}/{total}")


async def _issued_at_least(sessionmaker: Sessions, n: int) -> bool:
    return await count(sessionmaker, Certificate.status == CertificateStatus.ISSUED) >= n
