"""Request and response shapes of the certificates API."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from certificates.models import CertificateStatus
from lms.accounts.schemas import Strict

HashCheck = Literal["current", "superseded", "unknown"]


class VerifiedCertificate(msgspec.Struct, kw_only=True):
    """What anyone holding the code may see: exactly what the certificate prints, and its validity."""

    code: str
    valid: bool
    status: CertificateStatus
    learner_name: str
    course_title: str
    course_format: str
    hours: Decimal | None
    completed_on: date
    issuer_name: str
    issued_on: date
    revoked_on: date | None
    version: int
    sha256: str
    language: str
    verify_url: str
    # Set when the caller asked about a PDF's fingerprint (?sha256=...).
    hash_check: HashCheck | None = None
    hash_version: int | None = None


class MyCertificate(msgspec.Struct, kw_only=True):
    """A learner's own certificate."""

    id: uuid.UUID
    code: str
    status: CertificateStatus
    course_id: uuid.UUID
    run_id: uuid.UUID
    course_title: str | None
    completed_at: datetime
    issued_at: datetime | None
    revoked_at: datetime | None
    version: int
    sha256: str | None
    verify_url: str
    download_url: str | None  # the API path that redirects to a short-lived link, once issued


class CertificateAdmin(msgspec.Struct, kw_only=True):
    """A certificate as staff see it, with how its issuance is doing while it is owed."""

    id: uuid.UUID
    code: str
    status: CertificateStatus
    user_id: uuid.UUID
    course_id: uuid.UUID
    run_id: uuid.UUID
    enrolment_id: uuid.UUID
    learner_name: str | None
    course_title: str | None
    completed_at: datetime
    created_at: datetime
    issued_at: datetime | None
    version: int
    sha256: str | None
    revoked_at: datetime | None
    revoked_reason: str | None
    attempts: int
    last_error: str | None
    gave_up: bool  # retries exhausted: staff retry it once the cause is fixed


class CertificateVersionOut(msgspec.Struct, kw_only=True):
    version: int
    sha256: str
    created_at: datetime
    current: bool


class CertificateDetail(CertificateAdmin, kw_only=True):
    versions: list[CertificateVersionOut]


class Revocation(Strict, kw_only=True):
    reason: Annotated[str, Meta(min_length=3, max_length=1000)]
