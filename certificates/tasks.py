"""Certificate work done by workers: issuing owed certificates and telling learners they are ready."""

from __future__ import annotations

import logging
import uuid

import anyio.to_thread

from certificates.i18n import text
from certificates.issuing import Printer, issue_owed
from certificates.links import EMAIL_LINK_TTL, download_link, verify_link
from certificates.models import Certificate, CertificateStatus
from certificates.render import prepare as prepare_rendering
from certificates.repository import CertificateRepository
from lms.db.session import after_commit
from lms.mail import Mail, build_mailer
from media.storage import Storage, build_storage
from workers.queues import Queue
from workers.registry import TaskContext, task, warm_up

logger = logging.getLogger("certificates")

warm_up(prepare_rendering)  # fonts take a few hundred milliseconds to load: at start, not in a first task


def _printer(ctx: TaskContext) -> Printer:
    storage: Storage = ctx.runtime.resource("storage", build_storage)
    return Printer(ctx.runtime.settings, storage)


@task("certificates.issue", queue=Queue.CERTIFICATES)
async def issue_certificate(ctx: TaskContext, certificate_id: str) -> None:
    """Issue an owed certificate (and, in the same batch, other owed ones nobody is working on)."""
    settings = ctx.runtime.settings
    issued = await issue_owed(
        ctx.session,
        _printer(ctx),
        uuid.UUID(certificate_id),
        settings.certificate_batch_size,
        prefer=ctx.later,  # the rest of this broker message first: the worker then skips them
    )
    await certificate_ready_email.enqueue_all(
        ctx.session,
        [
            {"certificate_id": str(certificate_id), "version": version}
            for certificate_id, version in issued.certificates
        ],
    )
    ctx.completed.update(issued.closed_messages)  # the worker skips those later in this message
    carried = set(ctx.later)
    elsewhere = [outbox_id for outbox_id in issued.closed_messages if outbox_id not in carried]
    if elsewhere:
        _skip_deliveries(ctx, elsewhere)


def _skip_deliveries(ctx: TaskContext, outbox_ids: list[uuid.UUID]) -> None:
    """Once the batch commits, ask workers to drop the now pointless deliveries of the tasks it closed.

    Purely a saving (each would otherwise cost a delivery and a claim that finds the row done): a worker
    that misses the broadcast still runs the delivery, which is a no-op. Only messages that carry one row
    have its outbox id as their task id.
    """
    app = getattr(ctx.runtime.publisher, "app", None)
    if app is None:
        return
    task_ids = [str(outbox_id) for outbox_id in outbox_ids]  # tasks are published with the outbox id

    def revoke() -> None:
        try:
            app.control.revoke(task_ids)
        except Exception:  # a transport without broadcast (the filesystem one): deliveries stay no-ops
            logger.debug("could not broadcast the revocation of %d deliveries", len(task_ids), exc_info=True)

    async def after() -> None:
        await anyio.to_thread.run_sync(revoke)

    after_commit(ctx.session, after)


@task("certificates.ready_email", queue=Queue.EMAIL)
async def certificate_ready_email(ctx: TaskContext, certificate_id: str, version: int) -> None:
    """Tell the learner, in the certificate's language, where to download and verify it."""
    certificate = await ctx.session.get(Certificate, uuid.UUID(certificate_id))
    # A later version or a revocation makes this message stale; the newer state has its own.
    if certificate is None or certificate.status is not CertificateStatus.ISSUED:
        return
    if certificate.version != version:
        return
    learner = (await CertificateRepository(session=ctx.session).learners([certificate.user_id])).get(
        certificate.user_id
    )
    if learner is None or not learner.is_active:
        return
    settings = ctx.runtime.settings
    language = certificate.language or learner.preferred_language
    course = certificate.course_title or ""
    body = text(
        language,
        "mail_body",
        name=learner.full_name,
        course=course,
        download=download_link(settings, certificate.code, certificate.version),
        days=EMAIL_LINK_TTL // 86_400,
        verify=verify_link(settings, certificate.code, language),
        org=settings.org_name,
    )
    mailer = ctx.runtime.resource("mailer", build_mailer)
    await mailer.send(
        Mail(to=learner.email, subject=text(language, "mail_subject", course=course), text=body)
    )
