"""Printing certificates: take the snapshot, render the PDF, store it, record the version.

Used by the issuance task (owed certificates, in batches), by staff reissues and by the CLI. Object keys
are deterministic (``certificates/<code>.v<version>.pdf``) and rendering is byte-for-byte reproducible,
so a retried or doubled attempt overwrites an object with the very same bytes and the row lock plus the
unique (certificate, version) pair keep one version in the database.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import anyio.to_thread
from sqlalchemy.ext.asyncio import AsyncSession

from certificates.i18n import LANGUAGES, language_or_default
from certificates.links import verify_url
from certificates.models import Certificate, CertificateStatus, CertificateVersion
from certificates.render import Branding, Printed, render_pdf
from certificates.repository import CertificateRepository, CourseFacts, IssuedVersion, Learner
from lms.db import outbox
from lms.settings import Settings
from lms.threads import process_threads
from media.storage import Storage

logger = logging.getLogger("certificates")

PDF_TYPE = "application/pdf"


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


class Printable(Protocol):
    """What of a certificate its PDF needs besides today's names and titles."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def code(self) -> str: ...
    @property
    def version(self) -> int: ...
    @property
    def completed_at(self) -> datetime: ...
    @property
    def issued_at(self) -> datetime | None: ...


@dataclass(frozen=True, slots=True)
class Rendered:
    """A PDF printed and stored: what it shows, where it is and its hash."""

    certificate_id: uuid.UUID
    printed: Printed
    key: str
    sha256: str

    def values(self) -> dict[str, Any]:
        """The certificate's columns that say what its current PDF shows."""
        printed = self.printed
        return {
            "language": printed.language,
            "learner_name": printed.learner_name,
            "course_title": printed.course_title,
            "course_format": printed.course_format,
            "hours": printed.hours,
            "completed_on": printed.completed_on,
            "issuer_name": printed.issuer_name,
            "signatory_name": printed.signatory_name,
            "signatory_title": printed.signatory_title,
            "version": printed.version,
            "sha256": self.sha256,
            "object_key": self.key,
        }


@dataclass(frozen=True, slots=True)
class Printing:
    """A rendered batch whose PDFs the store threads are storing."""

    rendered: list[Rendered]
    stores: list[Future[None]]

    async def stored(self) -> None:
        """Wait until every PDF is stored; raise the first failure (the caller's transaction must then
        roll back: its rows would name PDFs that are missing)."""
        for store in self.stores:
            await asyncio.wrap_future(store)


@dataclass(frozen=True, slots=True)
class Printer:
    settings: Settings
    storage: Storage

    @property
    def branding(self) -> Branding:
        return Branding(logo_path=self.settings.certificate_logo_path)

    def compose(
        self,
        certificate: Printable,
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

    async def render(
        self,
        batch: Sequence[tuple[Printable, Learner, CourseFacts, str]],
        *,
        now: datetime,
        must_succeed: frozenset[uuid.UUID],
        off_loop: bool = False,
    ) -> Printing:
        """Print the next version of each certificate (with its learner, course and time zone), then hand
        the PDFs to the store threads.

        A rendering failure on a certificate in ``must_succeed`` raises (the caller's transaction rolls
        back and the task is retried); any other leaves that certificate out, for its own task to retry.
        ``off_loop`` renders in a thread, for callers that share their event loop (the API).

        The caller writes the printed rows while the PDFs are being stored, then awaits
        ``Printing.stored()`` before it commits. Storing starts once the whole batch is rendered: store
        threads working beside the renderer slowed it by a sixth (each handing the GIL back and forth),
        more than they saved, whereas while the rows are written the event loop only waits.
        """
        branding = self.branding
        failures: dict[uuid.UUID, BaseException] = {}
        rendered: list[Rendered] = []
        pdfs: list[bytes] = []
        for certificate, learner, course, timezone in batch:
            try:
                printed = self.compose(certificate, learner, course, timezone, certificate.version + 1, now)
                if off_loop:
                    pdf = await anyio.to_thread.run_sync(render_pdf, printed, branding)
                else:
                    pdf = render_pdf(printed, branding)
            except Exception as exc:
                failures[certificate.id] = exc
                continue
            key = object_key(certificate.code, printed.version)
            rendered.append(Rendered(certificate.id, printed, key, hashlib.sha256(pdf).hexdigest()))
            pdfs.append(pdf)
        for certificate_id, failure in failures.items():
            if certificate_id in must_succeed:
                raise failure
            logger.warning("certificate %s not printed in this batch: %r", certificate_id, failure)
        threads = process_threads("certificate-store", self.storage.store_lanes)
        bucket = self.settings.bucket_certificates
        stores = [
            threads.submit(self.storage.put_bytes_now, bucket, item.key, pdf, PDF_TYPE)
            for item, pdf in zip(rendered, pdfs, strict=True)
        ]
        return Printing(rendered, stores)

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
        """Print and store the next version of each (locked) certificate, as ``render`` does; returns those
        printed."""
        facts = await CertificateRepository(session=session).printing_facts([c.id for c in certificates])
        missing = {c.id for c in certificates if c.id not in facts}
        if missing & must_succeed:
            raise LookupError("the certificate's learner, course or run is missing")
        by_id = {certificate.id: certificate for certificate in certificates}
        printing = await self.render(
            [(c, *facts[c.id]) for c in certificates if c.id not in missing],
            now=now,
            must_succeed=must_succeed,
            off_loop=off_loop,
        )
        printed_ok: list[Certificate] = []
        for item in printing.rendered:
            certificate = by_id[item.certificate_id]
            record(certificate, item, now)
            session.add(
                CertificateVersion(
                    id=uuid.uuid4(),
                    certificate_id=certificate.id,
                    version=item.printed.version,
                    sha256=item.sha256,
                    object_key=item.key,
                    snapshot=snapshot_json(item.printed),
                    created_by=actor_id,
                )
            )
            printed_ok.append(certificate)
        await printing.stored()
        return printed_ok


def record(certificate: Certificate, rendered: Rendered, now: datetime) -> None:
    """Keep on the certificate what its current PDF shows."""
    for column, value in rendered.values().items():
        setattr(certificate, column, value)
    if certificate.status is CertificateStatus.PENDING:
        certificate.status = CertificateStatus.ISSUED
        certificate.issued_at = now


@dataclass(frozen=True, slots=True)
class Issued:
    certificates: list[tuple[uuid.UUID, int]]  # (certificate, version) of those printed
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
    messages of the others, now done. The batch is read as plain rows and written with one statement per
    table: the entities and their unit of work cost more than a certificate's rendering does. The PDFs
    are stored while the rows are written; if one cannot be stored, this raises and the whole batch
    rolls back (the task is retried, the others stay owed for their own tasks).
    """
    repo = CertificateRepository(session=session)
    first = await repo.lock_owed(certificate_id)
    if first is None:
        return Issued([], [])
    await repo.relax_durability()
    batch = [first, *await repo.lock_more_owed(first.id, batch_size - 1, prefer)]
    now = datetime.now(UTC)
    printing = await printer.render(
        [(owed, owed.learner, owed.course, owed.timezone) for owed in batch],
        now=now,
        must_succeed=frozenset({first.id}),
    )
    rendered = printing.rendered
    await repo.record_issued(
        [IssuedVersion(item.certificate_id, item.values(), snapshot_json(item.printed)) for item in rendered],
        now,
    )
    done = {item.certificate_id for item in rendered}
    closed = [owed.outbox_id for owed in batch[1:] if owed.id in done and owed.outbox_id is not None]
    await outbox.mark_done_all(session, closed, now)
    await printing.stored()  # a PDF that could not be stored fails the batch: its rows roll back
    return Issued([(item.certificate_id, item.printed.version) for item in rendered], closed)
