"""Queries on certificates, their versions, and the facts a certificate prints."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVarTuple

from advanced_alchemy.repository import SQLAlchemyAsyncRepository
from sqlalchemy import Select, Uuid, select, text, update
from sqlalchemy.dialects.postgresql import insert

from certificates.models import Certificate, CertificateStatus, CertificateVersion
from courses.models import Course, CourseRun
from lms.accounts.models import User
from lms.db.outbox import OutboxMessage, OutboxStatus


@dataclass(frozen=True, slots=True)
class Learner:
    id: uuid.UUID
    email: str
    full_name: str
    preferred_language: str
    is_active: bool


@dataclass(frozen=True, slots=True)
class CourseFacts:
    id: uuid.UUID
    slug: str
    title: dict[str, str]
    format: str
    estimated_hours: float | None


@dataclass(frozen=True, slots=True)
class Owed:
    """A pending certificate locked for issuing, with what it prints today."""

    id: uuid.UUID
    code: str
    version: int
    completed_at: datetime
    issued_at: datetime | None
    outbox_id: uuid.UUID | None  # the outbox message that owes it
    learner: Learner
    course: CourseFacts
    timezone: str


@dataclass(frozen=True, slots=True)
class IssuedVersion:
    """What issuing one certificate writes: the certificate's new state and its version row."""

    certificate_id: uuid.UUID
    values: dict[str, Any]  # the certificate's printed fields, version, hash and key
    snapshot: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Issuance:
    """A pending certificate and how its owed issuance is doing."""

    certificate: Certificate
    attempts: int
    last_error: str | None
    gave_up: bool


_Columns = TypeVarTuple("_Columns")

_OWED_COLUMNS = (
    Certificate.id,
    Certificate.code,
    Certificate.version,
    Certificate.completed_at,
    Certificate.issued_at,
    Certificate.outbox_id,
    User.id,
    User.email,
    User.full_name,
    User.preferred_language,
    User.is_active,
    Course.id,
    Course.slug,
    Course.title,
    Course.format,
    Course.estimated_hours,
    CourseRun.timezone,
)


def _with_facts(stmt: Select[*_Columns]) -> Select[*_Columns]:
    """The statement's certificates joined with what they print today: learner, course, run's time zone."""
    return (
        stmt.join(User, User.id == Certificate.user_id)
        .join(Course, Course.id == Certificate.course_id)
        .join(CourseRun, CourseRun.id == Certificate.run_id)
    )


def _owed(row: Any) -> Owed:
    return Owed(
        id=row[0],
        code=row[1],
        version=row[2],
        completed_at=row[3],
        issued_at=row[4],
        outbox_id=row[5],
        learner=Learner(*row[6:11]),
        course=CourseFacts(row[11], row[12], row[13], str(row[14]), row[15]),
        timezone=row[16],
    )


class CertificateRepository(SQLAlchemyAsyncRepository[Certificate]):
    model_type = Certificate

    async def insert_owed(self, values: dict[str, Any]) -> uuid.UUID | None:
        """Insert a pending certificate unless its enrolment already has one; the new id, else None."""
        stmt = (
            insert(Certificate)
            .values(**values)
            .on_conflict_do_nothing(index_elements=[Certificate.enrolment_id])
            .returning(Certificate.id)
        )
        inserted: uuid.UUID | None = (await self.session.execute(stmt)).scalar_one_or_none()
        return inserted

    async def set_outbox(self, certificate_id: uuid.UUID, outbox_id: uuid.UUID) -> None:
        await self.session.execute(
            update(Certificate).where(Certificate.id == certificate_id).values(outbox_id=outbox_id)
        )

    async def lock(self, certificate_id: uuid.UUID) -> Certificate | None:
        """The certificate, locked until the transaction ends (waits for whoever holds it)."""
        stmt = (
            select(Certificate)
            .where(Certificate.id == certificate_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def relax_durability(self) -> None:
        """Let this transaction's commit return before its WAL reaches disk (see docs/decisions/0009).

        Issuance is idempotent and re-driven by the outbox: if the database lost this commit in a crash,
        the certificate would be pending again, the sweep would publish its task again, and the same bytes
        would be printed under the same key. The fsync is a wait that buys nothing here.
        """
        await self.session.execute(text("SET LOCAL synchronous_commit = off"))

    async def lock_owed(self, certificate_id: uuid.UUID) -> Owed | None:
        """The certificate if it is still pending, locked (waiting for whoever holds it) with its facts."""
        stmt = _with_facts(select(*_OWED_COLUMNS).select_from(Certificate)).where(
            Certificate.id == certificate_id, Certificate.status == CertificateStatus.PENDING
        )
        row = (await self.session.execute(stmt.with_for_update(of=Certificate))).first()
        return None if row is None else _owed(row)

    async def lock_more_owed(
        self, exclude: uuid.UUID, limit: int, prefer: Sequence[uuid.UUID] = ()
    ) -> list[Owed]:
        """Other owed certificates nobody is working on, locked with their outbox rows for this batch.

        Those whose outbox rows are in ``prefer`` (the rest of the broker message) come first, then the
        oldest. Only those whose issuance never failed: a certificate that keeps failing is left to its own
        task, with its own retries and recorded error, instead of sinking every batch that meets it.
        Plain rows, with what each prints today: loading them as entities cost more than the queries.
        """
        found: list[Owed] = []
        taken = [exclude]
        owed = (
            Certificate.status == CertificateStatus.PENDING,
            Certificate.outbox_id == OutboxMessage.id,
            OutboxMessage.status == OutboxStatus.PENDING,
            OutboxMessage.attempts == 0,
        )
        if prefer and limit > 0:
            # From the outbox rows to their certificates by primary key, through the id the task's payload
            # names: joined on certificates.outbox_id (not indexed), each row scanned every certificate.
            named = OutboxMessage.payload["certificate_id"].astext.cast(Uuid)
            carried = (
                select(*_OWED_COLUMNS).select_from(OutboxMessage).join(Certificate, Certificate.id == named)
            )
            found = await self._lock_oldest(
                _with_facts(carried).where(OutboxMessage.id.in_(prefer), Certificate.id != exclude, *owed),
                limit,
            )
            taken += [certificate.id for certificate in found]
        if len(found) < limit:
            oldest = (
                select(*_OWED_COLUMNS)
                .select_from(Certificate)
                .join(OutboxMessage, OutboxMessage.id == Certificate.outbox_id)
            )
            found += await self._lock_oldest(
                _with_facts(oldest).where(Certificate.id.not_in(taken), *owed), limit - len(found)
            )
        return found

    async def _lock_oldest(self, stmt: Select[*_Columns], limit: int) -> list[Owed]:
        locked = (
            stmt.order_by(Certificate.created_at)
            .limit(limit)
            .with_for_update(skip_locked=True, of=(Certificate, OutboxMessage))
        )
        return [_owed(row) for row in await self.session.execute(locked)]

    async def record_issued(self, issued: Sequence[IssuedVersion], now: datetime) -> None:
        """Write the issued certificates and their first versions, two statements for the whole batch."""
        if not issued:
            return
        await self.session.execute(
            update(Certificate),
            [
                {
                    "id": item.certificate_id,
                    **item.values,
                    "status": CertificateStatus.ISSUED,
                    "issued_at": now,
                    "updated_at": now,
                }
                for item in issued
            ],
        )
        await self.session.execute(
            insert(CertificateVersion),
            [
                {
                    "id": uuid.uuid4(),
                    "certificate_id": item.certificate_id,
                    "version": item.values["version"],
                    "sha256": item.values["sha256"],
                    "object_key": item.values["object_key"],
                    "snapshot": item.snapshot,
                }
                for item in issued
            ],
        )

    async def learners(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Learner]:
        stmt = select(User.id, User.email, User.full_name, User.preferred_language, User.is_active).where(
            User.id.in_(set(ids))
        )
        return {row.id: Learner(*row) for row in await self.session.execute(stmt)}

    async def printing_facts(
        self, certificate_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, tuple[Learner, CourseFacts, str]]:
        """What each certificate prints today: its learner, its course and its run's time zone."""
        stmt = _with_facts(select(*_OWED_COLUMNS).select_from(Certificate)).where(
            Certificate.id.in_(set(certificate_ids))
        )
        found = [_owed(row) for row in await self.session.execute(stmt)]
        return {owed.id: (owed.learner, owed.course, owed.timezone) for owed in found}

    async def by_code(self, code: str) -> Certificate | None:
        return (
            await self.session.execute(select(Certificate).where(Certificate.code == code))
        ).scalar_one_or_none()

    async def version_with_hash(self, certificate_id: uuid.UUID, sha256: str) -> int | None:
        stmt = select(CertificateVersion.version).where(
            CertificateVersion.certificate_id == certificate_id, CertificateVersion.sha256 == sha256
        )
        return (await self.session.execute(stmt)).scalars().first()

    async def versions(self, certificate_id: uuid.UUID) -> list[CertificateVersion]:
        stmt = (
            select(CertificateVersion)
            .where(CertificateVersion.certificate_id == certificate_id)
            .order_by(CertificateVersion.version)
        )
        return list((await self.session.execute(stmt)).scalars())

    async def of_user(self, user_id: uuid.UUID, limit: int, offset: int) -> tuple[list[Certificate], int]:
        mine = Certificate.user_id == user_id
        stmt = (
            select(Certificate)
            .where(mine)
            .order_by(Certificate.created_at.desc(), Certificate.id)
            .limit(limit)
            .offset(offset)
        )
        return list((await self.session.execute(stmt)).scalars()), await self.count(mine)

    async def search(
        self,
        status: CertificateStatus | None,
        course_id: uuid.UUID | None,
        limit: int,
        offset: int,
        only: uuid.UUID | None = None,
    ) -> tuple[list[Issuance], int]:
        """Certificates for staff, oldest owed first, with the owed issuance's attempts and error."""
        filters: list[Any] = []
        if only is not None:
            filters.append(Certificate.id == only)
        if status is not None:
            filters.append(Certificate.status == status)
        if course_id is not None:
            filters.append(Certificate.course_id == course_id)
        stmt = (
            select(Certificate, OutboxMessage.attempts, OutboxMessage.last_error, OutboxMessage.status)
            .outerjoin(OutboxMessage, OutboxMessage.id == Certificate.outbox_id)
            .where(*filters)
            .order_by(Certificate.created_at, Certificate.id)
            .limit(limit)
            .offset(offset)
        )
        rows = (await self.session.execute(stmt)).all()
        total = await self.count(*filters)
        return [
            Issuance(
                certificate=row[0],
                attempts=row[1] or 0,
                last_error=row[2] if row[0].status is CertificateStatus.PENDING else None,
                gave_up=row[0].status is CertificateStatus.PENDING and row[3] is OutboxStatus.FAILED,
            )
            for row in rows
        ], total

    async def issued_ids_of_course(self, slug: str) -> list[uuid.UUID] | None:
        """Ids of a course's issued (not revoked) certificates; None when no course has that slug."""
        course_id = (await self.session.execute(select(Course.id).where(Course.slug == slug))).scalar()
        if course_id is None:
            return None
        stmt = (
            select(Certificate.id)
            .where(Certificate.course_id == course_id, Certificate.status == CertificateStatus.ISSUED)
            .order_by(Certificate.created_at)
        )
        return list((await self.session.execute(stmt)).scalars())
