"""Queries on certificates, their versions, and the facts a certificate prints."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVarTuple

import msgspec
from advanced_alchemy.repository import SQLAlchemyAsyncRepository
from sqlalchemy import Integer, Select, Uuid, all_, bindparam, func, literal_column, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY, insert

from certificates.models import Certificate, CertificateStatus, CertificateVersion
from courses.models import Course, CourseRun
from lms.accounts.models import User
from lms.db.outbox import OutboxMessage, OutboxStatus
from lms.db.raw import compiled, driver_connection


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


# Owed and not being worked on: literals rather than parameters, so that the statements' generic plans
# still match the partial index on pending certificates.
_PENDING = Certificate.status == literal_column("'pending'")
_OWED = (
    _PENDING,
    Certificate.outbox_id == OutboxMessage.id,
    OutboxMessage.status == literal_column("'pending'"),
    OutboxMessage.attempts == literal_column("0"),
)
_LOCK_OWED = compiled(
    _with_facts(select(*_OWED_COLUMNS).select_from(Certificate))
    .where(Certificate.id == bindparam("certificate_id", type_=Uuid), _PENDING)
    .with_for_update(of=Certificate)
)
# The rest of the broker message, in its order: from each outbox row to its certificate by primary key,
# through the id the task's payload names (certificates.outbox_id is not indexed). Driven by the array,
# so that no statistics can make the plan scan every pending outbox row once per certificate.
_CARRIED = (
    func.unnest(bindparam("prefer", type_=ARRAY(Uuid)))
    .table_valued("id", with_ordinality="position")
    .render_derived(name="carried")
)
_LOCK_CARRIED = compiled(
    _with_facts(
        select(*_OWED_COLUMNS)
        .select_from(_CARRIED)
        .join(OutboxMessage, OutboxMessage.id == _CARRIED.c.id)
        .join(Certificate, Certificate.id == OutboxMessage.payload["certificate_id"].astext.cast(Uuid))
    )
    .where(Certificate.id != bindparam("exclude", type_=Uuid), *_OWED)
    .order_by(_CARRIED.c.position)
    .limit(bindparam("limit", type_=Integer))
    .with_for_update(skip_locked=True, of=(Certificate, OutboxMessage))
)
_LOCK_OLDEST = compiled(
    _with_facts(
        select(*_OWED_COLUMNS)
        .select_from(Certificate)
        .join(OutboxMessage, OutboxMessage.id == Certificate.outbox_id)
    )
    .where(Certificate.id != all_(bindparam("taken", type_=ARRAY(Uuid))), *_OWED)
    .order_by(Certificate.created_at)
    .limit(bindparam("limit", type_=Integer))
    .with_for_update(skip_locked=True, of=(Certificate, OutboxMessage))
)
# What a certificate keeps of its current PDF (``Rendered.values``), with the array type each travels as.
_PRINTED_COLUMNS = {
    "language": "text",
    "learner_name": "text",
    "course_title": "text",
    "course_format": "text",
    "hours": "numeric",
    "completed_on": "date",
    "issuer_name": "text",
    "signatory_name": "text",
    "signatory_title": "text",
    "version": "int",
    "sha256": "text",
    "object_key": "text",
}
_SET_PRINTED = ", ".join(f"{column} = v.{column}" for column in _PRINTED_COLUMNS)
_PRINTED_ARRAYS = ", ".join(f"${n}::{kind}[]" for n, kind in enumerate(_PRINTED_COLUMNS.values(), start=3))
# Built from the constant column names above only.
_RECORD_ISSUED = (
    f"UPDATE certificates AS c SET status = 'issued', issued_at = $1, updated_at = $1, {_SET_PRINTED}"  # noqa: S608
    f" FROM unnest($2::uuid[], {_PRINTED_ARRAYS}) AS v(id, {', '.join(_PRINTED_COLUMNS)})"
    " WHERE c.id = v.id AND c.status = 'pending'"
)
_JSON = msgspec.json.Encoder()
_INSERT_VERSIONS = (
    "INSERT INTO certificate_versions (id, certificate_id, version, sha256, object_key, snapshot)"
    " SELECT id, certificate_id, version, sha256, object_key, snapshot::jsonb"
    " FROM unnest($1::uuid[], $2::uuid[], $3::int[], $4::text[], $5::text[], $6::text[])"
    " AS v(id, certificate_id, version, sha256, object_key, snapshot)"
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
        connection = await driver_connection(self.session)
        row = await connection.fetchrow(_LOCK_OWED.sql, *_LOCK_OWED.args(certificate_id=certificate_id))
        return None if row is None else _owed(row)

    async def lock_more_owed(
        self, exclude: uuid.UUID, limit: int, prefer: Sequence[uuid.UUID] = ()
    ) -> list[Owed]:
        """Other owed certificates nobody is working on, locked with their outbox rows for this batch.

        Those whose outbox rows are in ``prefer`` (the rest of the broker message) come first, in its
        order, then the oldest. Only those whose issuance never failed: a certificate that keeps failing
        is left to its own task, with its own retries and recorded error, instead of sinking every batch
        that meets it.
        Plain rows on the session's asyncpg connection (``lms.db.raw``), with what each prints today.
        """
        if limit <= 0:
            return []
        connection = await driver_connection(self.session)
        found: list[Owed] = []
        if prefer:
            rows = await connection.fetch(
                _LOCK_CARRIED.sql, *_LOCK_CARRIED.args(prefer=list(prefer), exclude=exclude, limit=limit)
            )
            found = [_owed(row) for row in rows]
        if len(found) < limit:
            taken = [exclude, *(owed.id for owed in found)]
            rows = await connection.fetch(
                _LOCK_OLDEST.sql, *_LOCK_OLDEST.args(taken=taken, limit=limit - len(found))
            )
            found += [_owed(row) for row in rows]
        return found

    async def record_issued(self, issued: Sequence[IssuedVersion], now: datetime) -> None:
        """Write the issued certificates and their first versions: one statement per table, for the whole
        batch, with the values as arrays (``unnest``)."""
        if not issued:
            return
        values = [item.values for item in issued]
        ids = [item.certificate_id for item in issued]
        connection = await driver_connection(self.session)
        await connection.execute(
            _RECORD_ISSUED,
            now,
            ids,
            *([v[column] for v in values] for column in _PRINTED_COLUMNS),
        )
        await connection.execute(
            _INSERT_VERSIONS,
            [uuid.uuid4() for _ in issued],
            ids,
            [v["version"] for v in values],
            [v["sha256"] for v in values],
            [v["object_key"] for v in values],
            [_JSON.encode(item.snapshot).decode() for item in issued],
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
