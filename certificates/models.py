"""Certificates of attendance and every PDF version printed for them."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Enum,
    ForeignKey,
    Index,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from lms.db.base import Base, Timestamps, UUIDPrimaryKey


class CertificateStatus(enum.StrEnum):
    PENDING = "pending"  # owed: committed with the completion, a worker has not issued it yet
    ISSUED = "issued"
    REVOKED = "revoked"


class Certificate(UUIDPrimaryKey, Timestamps, Base):
    """One per enrolment, ever; the printed snapshot is kept so later edits never change it."""

    __tablename__ = "certificates"
    __table_args__ = (
        CheckConstraint("length(code) >= 22", name="code_carries_128_bits"),
        CheckConstraint("version >= 0", name="version_non_negative"),
        CheckConstraint(
            "status = 'pending' OR (version >= 1 AND sha256 IS NOT NULL AND object_key IS NOT NULL"
            " AND learner_name IS NOT NULL AND course_title IS NOT NULL AND issued_at IS NOT NULL)",
            name="issued_has_pdf",
        ),
        CheckConstraint("(status = 'revoked') = (revoked_at IS NOT NULL)", name="revoked_has_date"),
        Index("ix_certificates_user_id_created_at", "user_id", "created_at"),
        Index("ix_certificates_course_id", "course_id"),
        Index("ix_certificates_pending", "created_at", postgresql_where="status = 'pending'"),
    )

    code: Mapped[str] = mapped_column(String(40), unique=True)
    # The foreign key to enrolments.id comes with the enrolments table (migration 0005).
    enrolment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("enrolments.id", ondelete="RESTRICT"), unique=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    course_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("courses.id", ondelete="RESTRICT"))
    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("course_runs.id", ondelete="RESTRICT"))
    status: Mapped[CertificateStatus] = mapped_column(
        Enum(CertificateStatus, name="certificate_status", values_callable=lambda e: [m.value for m in e]),
        default=CertificateStatus.PENDING,
    )
    completed_at: Mapped[datetime]
    # The owed issuance (attempts and last error live there); SET NULL if the outbox is ever pruned.
    outbox_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("outbox.id", ondelete="SET NULL"))

    # What the current PDF shows (NULL while pending).
    language: Mapped[str | None] = mapped_column(String(2))
    learner_name: Mapped[str | None] = mapped_column(String(200))
    course_title: Mapped[str | None] = mapped_column(Text)
    course_format: Mapped[str | None] = mapped_column(String(20))
    hours: Mapped[Decimal | None] = mapped_column(Numeric(7, 2))
    completed_on: Mapped[date | None]
    issuer_name: Mapped[str | None] = mapped_column(String(200))
    signatory_name: Mapped[str | None] = mapped_column(String(200))
    signatory_title: Mapped[str | None] = mapped_column(String(200))

    version: Mapped[int] = mapped_column(default=0, server_default="0")
    sha256: Mapped[str | None] = mapped_column(String(64))
    object_key: Mapped[str | None] = mapped_column(String(300))
    issued_at: Mapped[datetime | None]  # of the first version: the certificate's issue date
    revoked_at: Mapped[datetime | None]
    revoked_reason: Mapped[str | None] = mapped_column(Text)
    revoked_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class CertificateVersion(UUIDPrimaryKey, Base):
    """A PDF printed for a certificate; versions older than the certificate's are superseded."""

    __tablename__ = "certificate_versions"
    __table_args__ = (
        UniqueConstraint("certificate_id", "version"),
        CheckConstraint("version >= 1", name="version_positive"),
    )

    certificate_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("certificates.id", ondelete="CASCADE"))
    version: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    object_key: Mapped[str] = mapped_column(String(300))
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSONB)  # what this version printed
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
