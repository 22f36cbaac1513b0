"""Certificate decisions: owing one on completion, verifying, downloading, revoking, reissuing."""

from __future__ import annotations

import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from certificates.issuing import Printer
from certificates.models import Certificate, CertificateStatus, CertificateVersion
from certificates.repository import CertificateRepository, Issuance
from certificates.tasks import certificate_ready_email, issue_certificate
from lms import audit
from lms.accounts.models import User
from lms.errors import Conflict, NotFound
from lms.settings import Settings
from media.storage import Storage

CODE_BYTES = 20  # 160 random bits; the issue asks for at least 128
CODE_PATTERN = re.compile(r"^[A-Za-z0-9_-]{22,40}$")
SHA256_PATTERN = re.compile(r"^[0-9a-fA-F]{64}$")


def new_code() -> str:
    """A URL-safe verification code carrying 160 random bits."""
    return secrets.token_urlsafe(CODE_BYTES)


def looks_like_code(code: str) -> bool:
    return CODE_PATTERN.fullmatch(code) is not None


async def owe_certificate(
    session: AsyncSession,
    *,
    enrolment_id: uuid.UUID,
    user_id: uuid.UUID,
    course_id: uuid.UUID,
    run_id: uuid.UUID,
    completed_at: datetime,
) -> None:
    """Record, in the caller's transaction, that this enrolment's certificate is owed (once, ever).

    The pending certificate and its issuance task commit together with the completion; the task is
    published after the commit and the outbox sweep publishes it again if that publish is lost.
    """
    repo = CertificateRepository(session=session)
    certificate_id = uuid.uuid4()
    inserted = await repo.insert_owed(
        {
            "id": certificate_id,
            "code": new_code(),
            "enrolment_id": enrolment_id,
            "user_id": user_id,
            "course_id": course_id,
            "run_id": run_id,
            "completed_at": completed_at,
            "status": CertificateStatus.PENDING,
        }
    )
    if inserted is None:
        return  # already owed or issued for this enrolment
    message = issue_certificate.enqueue(session, certificate_id=str(certificate_id))
    await session.flush()
    await repo.set_outbox(certificate_id, message.id)


@dataclass(frozen=True, slots=True)
class Verification:
    certificate: Certificate
    hash_check: str | None
    hash_version: int | None


class CertificateService:
    """Certificates as learners, staff and the public use them (in the request's transaction)."""

    def __init__(self, session: AsyncSession, settings: Settings, storage: Storage) -> None:
        self.session = session
        self.settings = settings
        self.storage = storage
        self.repo = CertificateRepository(session=session)

    async def verify(self, code: str, sha256: str | None = None) -> Verification:
        """An issued or revoked certificate by its code; owed, unknown and malformed codes are not found."""
        certificate = await self.repo.by_code(code) if looks_like_code(code) else None
        if certificate is None or certificate.status is CertificateStatus.PENDING:
            raise NotFound("There is no certificate with this code.")
        if sha256 is None:
            return Verification(certificate, None, None)
        digest = sha256.strip().lower()
        if not SHA256_PATTERN.fullmatch(digest):
            return Verification(certificate, "unknown", None)
        if digest == certificate.sha256:
            return Verification(certificate, "current", certificate.version)
        version = await self.repo.version_with_hash(certificate.id, digest)
        return Verification(certificate, "unknown" if version is None else "superseded", version)

    async def mine(self, user: User, limit: int, offset: int) -> tuple[list[Certificate], int]:
        return await self.repo.of_user(user.id, limit, offset)

    async def _owned(self, user: User, certificate_id: uuid.UUID) -> Certificate:
        certificate = await self.repo.get_one_or_none(Certificate.id == certificate_id)
        # Someone else's certificate is answered exactly like one that does not exist.
        if certificate is None or certificate.user_id != user.id:
            raise NotFound("There is no such certificate among yours.")
        return certificate

    async def _download_url(self, certificate: Certificate) -> str:
        if certificate.status is CertificateStatus.PENDING or certificate.object_key is None:
            raise Conflict("This certificate is still being issued; try again in a few seconds.")
        if certificate.status is CertificateStatus.REVOKED:
            raise Conflict("This certificate has been revoked and can no longer be downloaded.")
        return await self.storage.presigned_get_url(
            self.settings.bucket_certificates,
            certificate.object_key,
            expires=self.settings.certificate_download_ttl,
            filename=f"certificate-{certificate.code}.pdf",
            content_type="application/pdf",
        )

    async def download_mine(self, user: User, certificate_id: uuid.UUID) -> str:
        """A short-lived link to the learner's own PDF."""
        return await self._download_url(await self._owned(user, certificate_id))

    async def download_by_code(self, code: str) -> str:
        """A short-lived link to the PDF, for a caller whose signed link was checked already."""
        certificate = await self.repo.by_code(code) if looks_like_code(code) else None
        if certificate is None:
            raise NotFound("There is no certificate with this code.")
        return await self._download_url(certificate)

    async def search(
        self,
        status: CertificateStatus | None,
        course_id: uuid.UUID | None,
        limit: int,
        offset: int,
    ) -> tuple[list[Issuance], int]:
        return await self.repo.search(status, course_id, limit, offset)

    async def detail(self, code: str) -> tuple[Issuance, list[CertificateVersion]]:
        """A certificate for staff, with every version printed for it."""
        certificate = await self.repo.by_code(code) if looks_like_code(code) else None
        if certificate is None:
            raise NotFound("There is no certificate with this code.")
        found, _ = await self.repo.search(None, None, 1, 0, only=certificate.id)
        return found[0], await self.repo.versions(certificate.id)

    async def _locked(self, code: str) -> Certificate:
        found = await self.repo.by_code(code) if looks_like_code(code) else None
        certificate = await self.repo.lock(found.id) if found is not None else None
        if certificate is None:
            raise NotFound("There is no certificate with this code.")
        return certificate

    async def reissue_by_id(self, certificate_id: uuid.UUID) -> Certificate:
        """Reissue from the command line, where certificates are found by course."""
        certificate = await self.repo.get_one_or_none(Certificate.id == certificate_id)
        if certificate is None:
            raise NotFound("There is no such certificate.")
        return await self.reissue(None, certificate.code)

    async def revoke(self, staff: User, code: str, reason: str) -> Certificate:
        """Revoke an issued certificate: the verification page says so from now on."""
        certificate = await self._locked(code)
        if certificate.status is CertificateStatus.REVOKED:
            raise Conflict("This certificate is already revoked.")
        if certificate.status is CertificateStatus.PENDING:
            raise Conflict("This certificate has not been issued yet; there is nothing to revoke.")
        certificate.status = CertificateStatus.REVOKED
        certificate.revoked_at = datetime.now(UTC)
        certificate.revoked_reason = reason.strip()
        certificate.revoked_by = staff.id
        audit.record(
            self.session,
            actor_id=staff.id,
            action="certificate.revoke",
            entity_type="certificate",
            entity_id=certificate.id,
            before={"status": "issued"},
            after={"status": "revoked", "reason": certificate.revoked_reason},
        )
        return certificate

    async def reissue(self, staff: User | None, code: str) -> Certificate:
        """Print a new version with today's names and titles: same code, the old hash kept as superseded."""
        certificate = await self._locked(code)
        if certificate.status is CertificateStatus.REVOKED:
            raise Conflict("A revoked certificate cannot be reissued.")
        if certificate.status is CertificateStatus.PENDING:
            raise Conflict("This certificate has not been issued yet; it will be printed shortly.")
        before = {"version": certificate.version, "sha256": certificate.sha256}
        printer = Printer(self.settings, self.storage)
        await printer.print(
            self.session,
            [certificate],
            now=datetime.now(UTC),
            must_succeed=frozenset({certificate.id}),
            actor_id=staff.id if staff else None,
            off_loop=True,
        )
        audit.record(
            self.session,
            actor_id=staff.id if staff else None,
            action="certificate.reissue",
            entity_type="certificate",
            entity_id=certificate.id,
            before=before,
            after={"version": certificate.version, "sha256": certificate.sha256},
        )
        certificate_ready_email.enqueue(
            self.session, certificate_id=str(certificate.id), version=certificate.version
        )
        return certificate

    async def retry(self, staff: User, code: str) -> Certificate:
        """Owe the issuance again (after its retries ran out and the cause was fixed)."""
        certificate = await self._locked(code)
        if certificate.status is not CertificateStatus.PENDING:
            raise Conflict("Only a certificate still being issued can be retried.")
        message = issue_certificate.enqueue(self.session, certificate_id=str(certificate.id))
        await self.session.flush()
        certificate.outbox_id = message.id
        audit.record(
            self.session,
            actor_id=staff.id,
            action="certificate.retry",
            entity_type="certificate",
            entity_id=certificate.id,
        )
        return certificate

    async def course_certificates(self, slug: str) -> list[uuid.UUID]:
        ids = await self.repo.issued_ids_of_course(slug)
        if ids is None:
            raise NotFound(f"There is no course {slug!r}.")
        return ids
