"""Printing certificates: take the snapshot, render the PDF, store it, record the version.

Used by the issuance task (owed certificates, in batches), by staff reissues and by the CLI. Object keys
are deterministic (``certificates/<code>.v<version>.pdf``) and rendering is byte-for-byte reproducible,
so a retried or doubled attempt overwrites an object with the very same bytes and the row lock plus the
unique (certificate, version) pair keep one version in the database.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import anyio
import anyio.lowlevel
import anyio.to_thread
from sqlalchemy.ext.asyncio import AsyncSession

from certificates.i18n import LANGUAGES, language_or_default
from certificates.links import verify_url
from certificates.models import Certificate, CertificateStatus, CertificateVersion
from certificates.render import Branding, Printed, render_pdf
from certificates.repository import CertificateRepository, CourseFacts, Learner
from lms.db import outbox
from lms.settings import Settings
from media.storage import Storage

logger = logging.getLogger("certificates")

PDF_TYPE = "application/pdf"
UPLOAD_LANES = 8  # PDFs of a batch being stored at once, each in a thread while the next ones render


def object_key(code: str, version: int) -> str:
    # One folder for all (codes are URL-safe base64, without dots): a folder per certificate cost the
    # local store two directory creations per PDF, most of the time it took to store one.
    return f"certificates/{code}.v{version}.pdf"


def localized(values: dict[str, str], language: str) -> str:
    """The text in ``language``, else in the first of ca, es, en that has it, else any."""
    for candidate in (language, *LANGUAGES):
        if values.get(candidate):
            return values[candidate]
    return next((v for v in values.values() if v), "")


def local_date(moment: datetime, timezone: str) -> date:
    """The calendar day of ``moment`` where the course run takes place."""
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    return moment.astimezone(zone).date()


_PRINTED_FIELDS = tuple(field.name for field in fields(Printed))


def _json_value(value: object) -> object:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def snapshot_json(printed: Printed) -> dict[str, Any]:
    # Field by field: dataclasses.asdict deep-copies, which cost more than the rest of the snapshot.
    return {key: _json_value(getattr(printed, key)) for key in _PRINTED_FIELDS}


@dataclass(frozen=True, slots=True)
class Printer:
    settings: Settings
    storage: Storage

    @property
    def branding(self) -> Branding:
        return Branding(logo_path=self.settings.certificate_logo_path)

    def compose(
        self,
        certificate: Certificate,
        learner: Learner,
        course: CourseFacts,
        timezone: str,
        version: int,
        now: datetime,
    ) -> Printed:
        """What version ``version`` of the certificate prints, from today's names and titles."""
        language = language_or_default(learner.preferred_language)
        hours = course.estimated_hours
        return Printed(
            code=certificate.code,
            version=version,
            language=language,
            learner_name=learner.full_name,
            course_title=localized(course.title, language),
            course_format=course.format,
            hours=None if hours is None else Decimal(str(round(hours, 2))),
            completed_on=local_date(certificate.completed_at, timezone),
            issued_on=local_date(certificate.issued_at or now, timezone),
            issuer_name=self.settings.org_name,
            signatory_name=self.settings.certificate_signatory_name,
            signatory_title=self.settings.certificate_signatory_title,
            verify_url=verify_url(self.settings, certificate.code),
        )

    async def print(
        self,
        session: AsyncSession,
        certificates: Sequence[Certificate],
        *,
        now: datetime,
        must_succeed: frozenset[uuid.UUID],
        actor_id: uuid.UUID | None = None,
        off_loop: bool = False,
    ) -> list[Certificate]:
        """Print the next version of each (locked) certificate; returns those printed.

        A failure on a certificate in ``must_succeed`` raises (the caller's transaction rolls back and the
        task is retried); any other failure leaves that certificate as it was, for its own task to retry.
        ``off_loop`` renders in a thread, for callers that share their event loop (the API).
        """
        repo = CertificateRepository(session=session)
        facts = await repo.printing_facts([c.id for c in certificates])
        branding = self.branding
        bucket = self.settings.bucket_certificates
        rendered: list[tuple[Certificate, Printed, str, str]] = []
        failures: dict[uuid.UUID, BaseException] = {}
        lanes = anyio.Semaphore(UPLOAD_LANES)

        async def upload(certificate_id: uuid.UUID, key: str, pdf: bytes) -> None:
            async with lanes:
                try:
                    await self.storage.put_bytes(bucket, key, pdf, PDF_TYPE)
                except Exception as exc:
                    failures[certificate_id] = exc

        async with anyio.create_task_group() as uploads:
            for certificate in certificates:
                version = certificate.version + 1
                try:
                    learner, course, timezone = facts[certificate.id]
                    printed = self.compose(certificate, learner, course, timezone, version, now)
                    if off_loop:
                        pdf = await anyio.to_thread.run_sync(render_pdf, printed, branding)
                    else:
                        pdf = render_pdf(printed, branding)
                except Exception as exc:
                    failures[certificate.id] = exc
                    continue
                key = object_key(certificate.code, version)
                rendered.append((certificate, printed, key, hashlib.sha256(pdf).hexdigest()))
                uploads.start_soon(upload, certificate.id, key, pdf)
                # Let the upload start in its thread while the next PDF renders.
                await anyio.lowlevel.checkpoint()

        for certificate_id, failure in failures.items():
            if certificate_id in must_succeed:
                raise failure
            logger.warning("certificate %s not printed in this batch: %r", certificate_id, failure)

        printed_ok: list[Certificate] = []
        for certificate, printed, key, digest in rendered:
            if certificate.id in failures:
                continue
            record(certificate, printed, key, digest, now)
            session.add(
                CertificateVersion(
                    id=uuid.uuid4(),
                    certificate_id=certificate.id,
                    version=printed.version,
                    sha256=digest,
                    object_key=key,
                    snapshot=snapshot_json(printed),
                    created_by=actor_id,
                )
            )
            printed_ok.append(certificate)
        return printed_ok


def record(certificate: Certificate, printed: Printed, key: str, digest: str, now: datetime) -> None:
    """Keep on the certificate what its current PDF shows."""
    certificate.language = printed.language
    certificate.learner_name = printed.learner_name
    certificate.course_title = printed.course_title
    certificate.course_format = printed.course_format
    certificate.hours = printed.hours
    certificate.completed_on = printed.completed_on
    certificate.issuer_name = printed.issuer_name
    certificate.signatory_name = printed.signatory_name
    certificate.signatory_title = printed.signatory_title
    certificate.version = printed.version
    certificate.sha256 = digest
    certificate.object_key = key
    if certificate.status is CertificateStatus.PENDING:
        certificate.status = CertificateStatus.ISSUED
        certificate.issued_at = now


@dataclass(frozen=True, slots=True)
class Issued:
    certificates: list[Certificate]
    closed_messages: list[uuid.UUID]  # owed issuances this batch did on behalf of their own tasks


async def issue_owed(
    session: AsyncSession,
    printer: Printer,
    certificate_id: uuid.UUID,
    batch_size: int,
    prefer: Sequence[uuid.UUID] = (),
) -> Issued:
    """Issue an owed certificate, and up to ``batch_size - 1`` other owed ones nobody is working on.

    The others are first those whose outbox messages are in ``prefer``, then the oldest. Returns the
    certificates issued (none when this one is already issued: a repeated delivery) and the outbox
    messages of the others, now done.
    """
    repo = CertificateRepository(session=session)
    first = await repo.lock(certificate_id)
    if first is None or first.status is not CertificateStatus.PENDING:
        return Issued([], [])
    await repo.relax_durability()
    more = await repo.lock_more_owed(first.id, batch_size - 1, prefer)
    issued = await printer.print(
        session,
        [first, *(certificate for certificate, _ in more)],
        now=datetime.now(UTC),
        must_succeed=frozenset({first.id}),
    )
    done = {certificate.id for certificate in issued}
    closed = []
    for certificate, message in more:
        if certificate.id in done:
            outbox.mark_done(message)
            closed.append(message.id)
    return Issued(issued, closed)
