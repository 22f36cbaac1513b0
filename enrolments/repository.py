"""Queries on enrolments and progress, and the reads they need of the catalogue's tables.

The hot paths (taking a seat, ingesting a progress batch) are single set-based statements; the database
enforces capacity and uniqueness, so nothing here counts in Python.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from advanced_alchemy.repository import SQLAlchemyAsyncRepository
from sqlalchemy import (
    and_,
    bindparam,
    case,
    func,
    literal_column,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession, async_scoped_session
from sqlalchemy.sql.elements import TextClause

from certificates.models import Certificate
from courses.models import Course, CourseModule, CourseRun, Lesson, LessonKind
from enrolments.models import (
    ACTIVE_STATUSES,
    SEATED_STATUSES,
    WAITLIST_TICKETS,
    Enrolment,
    EnrolmentStatus,
    LessonProgress,
    QuizAttempt,
)
from enrolments.rules import ProgressFacts
from lms.accounts.models import User
from lms.db.outbox import Envelope


@dataclass(frozen=True, slots=True)
class RunForEnrolment:
    """What deciding an enrolment needs of a run, its course and the learner's live enrolment."""

    run_id: uuid.UUID
    course_id: uuid.UUID
    course_status: str
    starts_at: datetime
    ends_at: datetime | None
    opens_at: datetime | None
    closes_at: datetime | None
    existing_id: uuid.UUID | None
    withdrawn_id: uuid.UUID | None  # the learner's latest withdrawn enrolment in this run


_DIALECT = asyncpg_dialect()  # type: ignore[no-untyped-call]


@functools.cache
def _compiled(statement: TextClause) -> tuple[str, tuple[str, ...]]:
    done = statement.compile(dialect=_DIALECT)
    return str(done), tuple(done.positiontup or ())


async def run_driver_sql(
    session: AsyncSession | async_scoped_session[AsyncSession], statement: TextClause, values: dict[str, Any]
) -> CursorResult[Any]:
    """Run a hot-path statement in the session's transaction, compiled once, bypassing the ORM layer."""
    sql, names = _compiled(statement)
    connection = await session.connection()
    return await connection.exec_driver_sql(sql, tuple(values[name] for name in names))


@dataclass(frozen=True, slots=True)
class FastEnrolment:
    """What the one-statement enrolment saw and did: the run's facts, and the new row if it took a seat."""

    run: RunForEnrolment
    seated: bool  # a seat was taken (and must be given back when no row was inserted)
    created_at: datetime | None  # set when the enrolment row was inserted


def _joined(*fragments: str) -> str:
    """A statement from constant SQL fragments (only literals of this module, never input)."""
    return "".join(fragments)


# After a ``decision`` CTE (id, course_id, capacity, takes): the counted seat of a run with a capacity
# (a conditional UPDATE, so capacity is never exceeded), or the seat a run without one always has.
_SEAT_AND_GRANT = """
seat AS (
    UPDATE course_runs r SET seats_taken = r.seats_taken + 1
    FROM decision d
    WHERE r.id = d.id AND d.takes AND d.capacity IS NOT NULL
      AND r.capacity IS NOT NULL AND r.seats_taken < r.capacity
    RETURNING r.id, r.course_id
),
granted AS (
    SELECT id, course_id FROM seat
    UNION ALL
    SELECT id, course_id FROM decision WHERE takes AND capacity IS NULL
),
"""

# Enrolling into an open run with a free seat, in one statement: the run's facts, the conditional seat
# UPDATE, the enrolment INSERT and its confirmation e-mail's outbox row. A seat is granted only while the
# run is published, not over, inside its window (``:by`` set: staff enrol outside the window) and not
# full, and the learner has no live enrolment; anything else (full, refused, already enrolled) returns the
# facts with no seat taken, and the service takes the slower paths. ``refusal()`` in the service words the
# same conditions as error messages.
# Only runs with a capacity count seats (the conditional UPDATE of ``seats_taken``); a run without one
# always has room, and enrolling in it does not write the run's row at all: a row rewritten by every
# enrolment grows a chain of dead versions under load, and every later enrolment in the run walks it.
# When staff give such a run a capacity, its seats are counted from the enrolments (``courses.service``).
ENROL = text(
    _joined(
        """
WITH params AS (
    SELECT CAST(:id AS uuid) AS id, CAST(:run AS uuid) AS run_id, CAST(:user AS uuid) AS user_id,
           CAST(:by AS uuid) AS by, CAST(:now AS timestamptz) AS now
),
run AS (
    SELECT r.id, r.course_id, (SELECT c.status FROM courses c WHERE c.id = r.course_id) AS status,
        r.starts_at, r.ends_at, r.enrolment_opens_at, r.enrolment_closes_at, r.capacity,
        (SELECT e.id FROM enrolments e
          WHERE e.run_id = r.id AND e.user_id = p.user_id AND e.status <> 'withdrawn') AS existing_id,
        (SELECT e.id FROM enrolments e
          WHERE e.run_id = r.id AND e.user_id = p.user_id AND e.status = 'withdrawn'
          ORDER BY e.withdrawn_at DESC LIMIT 1) AS withdrawn_id
    FROM params p JOIN course_runs r ON r.id = p.run_id
),
decision AS (
    SELECT run.id, run.course_id, run.capacity,
        run.existing_id IS NULL AND run.status = 'published'
        AND (run.ends_at IS NULL OR run.ends_at > p.now)
        AND (p.by IS NOT NULL
             OR ((run.enrolment_opens_at IS NULL OR run.enrolment_opens_at <= p.now)
                 AND (run.enrolment_closes_at IS NULL OR run.enrolment_closes_at > p.now))) AS takes
    FROM run, params p
),
""",
        _SEAT_AND_GRANT,
        """inserted AS (
    INSERT INTO enrolments (id, user_id, run_id, course_id, status, enrolled_by, enrolled_at)
    SELECT p.id, p.user_id, granted.id, granted.course_id, 'enrolled', p.by, p.now FROM granted, params p
    ON CONFLICT (run_id, user_id) WHERE status <> 'withdrawn' DO NOTHING
    RETURNING id, created_at
),
owed AS (
    INSERT INTO outbox (id, task, queue, payload, status, attempts, publish_count)
    SELECT CAST(:outbox_id AS uuid), CAST(:task AS text), CAST(:queue AS text),
           jsonb_build_object('enrolment_id', CAST(inserted.id AS text), 'status', 'enrolled'),
           'pending', 0, 0
    FROM inserted
)
SELECT run.id, run.course_id, run.status, run.starts_at, run.ends_at, run.enrolment_opens_at,
    run.enrolment_closes_at, run.existing_id, run.withdrawn_id, EXISTS (SELECT FROM seat),
    (SELECT created_at FROM inserted)
FROM run
""",
    )
)


# A learner enrolling themselves, with the authentication in the same statement, run outside any
# transaction (the statement is its own): the live session and active account, then the same seat UPDATE,
# INSERT and outbox row as ``ENROL``. It takes only the plain case: a learner with no enrolment of any kind
# in the run (a re-enrolment carries progress over, which the transactional path does). A concurrent
# duplicate fails the unique index, and the whole statement, seat included, is undone.
SELF_ENROL = _joined(
    """
WITH who AS (
    SELECT u.id FROM auth_sessions s JOIN users u ON u.id = s.user_id
    WHERE s.id = $2 AND s.user_id = $3 AND s.revoked_at IS NULL AND s.expires_at > $5 AND u.is_active
),
run AS (
    SELECT r.id, r.course_id, r.ends_at, r.enrolment_opens_at, r.enrolment_closes_at, r.capacity,
        -- A subquery, so the course is always read by its key (a join invited a partial-index scan).
        (SELECT c.status FROM courses c WHERE c.id = r.course_id) AS status,
        EXISTS (SELECT FROM enrolments e
                WHERE e.course_id = r.course_id AND e.user_id = who.id AND e.run_id = r.id) AS known
    FROM who, course_runs r
    WHERE r.id = $4
),
decision AS (
    SELECT id, course_id, capacity,
        NOT known AND status = 'published'
        AND (ends_at IS NULL OR ends_at > $5)
        AND (enrolment_opens_at IS NULL OR enrolment_opens_at <= $5)
        AND (enrolment_closes_at IS NULL OR enrolment_closes_at > $5) AS takes
    FROM run
),
""",
    _SEAT_AND_GRANT,
    """inserted AS (
    INSERT INTO enrolments (id, user_id, run_id, course_id, status, enrolled_at)
    SELECT $1, $3, granted.id, granted.course_id, 'enrolled', $5 FROM granted
    RETURNING id, course_id, created_at
),
owed AS (
    INSERT INTO outbox (id, task, queue, payload, status, attempts, publish_count)
    SELECT $6, $7, $8, jsonb_build_object('enrolment_id', inserted.id::text, 'status', 'enrolled'),
           'pending', 0, 0
    FROM inserted
)
SELECT EXISTS (SELECT FROM who), inserted.course_id, inserted.created_at FROM (SELECT) AS one
LEFT JOIN inserted ON true
""",
)


@dataclass(frozen=True, slots=True)
class SelfEnrolment:
    """What the one-statement self-enrolment did: whether the caller's session is live, and the new row."""

    authenticated: bool
    course_id: uuid.UUID | None  # set when the enrolment was inserted (and its seat taken)
    created_at: datetime | None


async def self_enrol(
    connection: Any,
    *,
    enrolment_id: uuid.UUID,
    session_id: uuid.UUID,
    user_id: uuid.UUID,
    run_id: uuid.UUID,
    now: datetime,
    owed: Envelope,
) -> SelfEnrolment | None:
    """Enrol the session's learner in an open run with a free seat, in one statement on a bare asyncpg
    connection; None when a concurrent duplicate of the same learner won (nothing was changed)."""
    try:
        row = await connection.fetchrow(
            SELF_ENROL, enrolment_id, session_id, user_id, run_id, now, owed.outbox_id, owed.task, owed.queue
        )
    except asyncpg.UniqueViolationError:
        return None
    return SelfEnrolment(row[0], row[1], row[2])


@dataclass(frozen=True, slots=True)
class OutlineLesson:
    """A lesson as progress and views need it (narrow: no article bodies, no quiz data)."""

    id: uuid.UUID
    module_id: uuid.UUID
    kind: LessonKind
    title: dict[str, str]
    required: bool
    video_duration_seconds: int | None
    pass_mark: int | None
    max_attempts: int | None
    released_from: datetime | None  # the later of the lesson's and its module's release


def _released_from() -> Any:
    # greatest() ignores NULLs in PostgreSQL: the later of two release dates, or the one that is set.
    return func.greatest(Lesson.available_from, CourseModule.available_from)


def waitlist_position() -> Any:
    """1-based place in line of the enrolment row in scope (a correlated count on the partial index)."""
    ahead = Enrolment.__table__.alias("ahead")
    return case(
        (
            Enrolment.status == EnrolmentStatus.WAITLISTED,
            select(func.count())
            .where(
                ahead.c.run_id == Enrolment.run_id,
                ahead.c.status == EnrolmentStatus.WAITLISTED,
                ahead.c.waitlist_ticket <= Enrolment.waitlist_ticket,
            )
            .scalar_subquery(),
        ),
        else_=None,
    )


class EnrolmentRepository(SQLAlchemyAsyncRepository[Enrolment]):
    model_type = Enrolment

    # ------------------------------------------------------------ enrolment and the waitlist

    async def run_for_enrolment(self, run_id: uuid.UUID, user_id: uuid.UUID) -> RunForEnrolment | None:
        """The run, its course's status and the learner's live and last withdrawn enrolment (one query)."""
        live = (
            select(Enrolment.id)
            .where(
                Enrolment.run_id == CourseRun.id,
                Enrolment.user_id == user_id,
                Enrolment.status != EnrolmentStatus.WITHDRAWN,
            )
            .scalar_subquery()
        )
        withdrawn = (
            select(Enrolment.id)
            .where(
                Enrolment.run_id == CourseRun.id,
                Enrolment.user_id == user_id,
                Enrolment.status == EnrolmentStatus.WITHDRAWN,
            )
            .order_by(Enrolment.withdrawn_at.desc())
            .limit(1)
            .scalar_subquery()
        )
        stmt = (
            select(
                CourseRun.id,
                CourseRun.course_id,
                Course.status,
                CourseRun.starts_at,
                CourseRun.ends_at,
                CourseRun.enrolment_opens_at,
                CourseRun.enrolment_closes_at,
                live,
                withdrawn,
            )
            .join(Course, Course.id == CourseRun.course_id)
            .where(CourseRun.id == run_id)
        )
        row = (await self.session.execute(stmt)).one_or_none()
        return RunForEnrolment(*row) if row is not None else None

    async def enrol_fast(
        self,
        *,
        enrolment_id: uuid.UUID,
        run_id: uuid.UUID,
        user_id: uuid.UUID,
        by: uuid.UUID | None,
        now: datetime,
        owed: Envelope,
    ) -> FastEnrolment | None:
        """One round trip: the run's facts; when the run takes the learner now, the seat, the enrolment row
        and the owed confirmation (``owed``: its outbox row, payload ``{enrolment_id, status}``)."""
        values = {
            "id": enrolment_id,
            "run": run_id,
            "user": user_id,
            "by": by,
            "now": now,
            "outbox_id": owed.outbox_id,
            "task": owed.task,
            "queue": owed.queue,
        }
        row = (await run_driver_sql(self.session, ENROL, values)).one_or_none()
        if row is None:
            return None
        columns: tuple[Any, ...] = tuple(row)
        return FastEnrolment(RunForEnrolment(*columns[:9]), columns[9], columns[10])

    async def take_seat(self, run_id: uuid.UUID) -> bool:
        """Take one seat if the run has one free: one conditional UPDATE, so capacity is never exceeded.
        A run without a capacity always has room and counts no seats."""
        stmt = (
            update(CourseRun)
            .where(
                CourseRun.id == run_id,
                CourseRun.capacity.is_not(None),
                CourseRun.seats_taken < CourseRun.capacity,
            )
            .values(seats_taken=CourseRun.seats_taken + 1)
            .returning(CourseRun.id)
        )
        if (await self.session.execute(stmt)).scalar_one_or_none() is not None:
            return True
        unlimited = select(CourseRun.capacity.is_(None)).where(CourseRun.id == run_id)
        return bool((await self.session.execute(unlimited)).scalar_one_or_none())

    async def lock_run(self, run_id: uuid.UUID) -> None:
        """Lock the run row: seat releases and joining the waitlist are decided under this lock."""
        await self.session.execute(select(CourseRun.id).where(CourseRun.id == run_id).with_for_update())

    async def release_seat(self, run_id: uuid.UUID) -> None:
        stmt = (
            update(CourseRun)
            .where(CourseRun.id == run_id, CourseRun.capacity.is_not(None), CourseRun.seats_taken > 0)
            .values(seats_taken=CourseRun.seats_taken - 1)
        )
        await self.session.execute(stmt)

    async def insert_live(self, values: dict[str, Any]) -> Enrolment | None:
        """Insert a live enrolment unless the learner already has one in the run (then None)."""
        stmt = (
            insert(Enrolment)
            .values(**values)
            .on_conflict_do_nothing(
                index_elements=[Enrolment.run_id, Enrolment.user_id],
                # Literal, not a bound parameter: PostgreSQL matches it to the partial index's predicate.
                index_where=text("status <> 'withdrawn'"),
            )
            .returning(Enrolment)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def next_ticket(self) -> int:
        return int((await self.session.execute(select(WAITLIST_TICKETS.next_value()))).scalar_one())

    async def live_in_run(self, run_id: uuid.UUID, user_id: uuid.UUID) -> Enrolment | None:
        stmt = select(Enrolment).where(
            Enrolment.run_id == run_id,
            Enrolment.user_id == user_id,
            Enrolment.status != EnrolmentStatus.WITHDRAWN,
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def locked(self, enrolment_id: uuid.UUID, user_id: uuid.UUID | None = None) -> Enrolment | None:
        stmt = select(Enrolment).where(Enrolment.id == enrolment_id).with_for_update()
        if user_id is not None:
            stmt = stmt.where(Enrolment.user_id == user_id)
        return (
            await self.session.execute(stmt.execution_options(populate_existing=True))
        ).scalar_one_or_none()

    async def position(self, enrolment: Enrolment) -> int | None:
        if enrolment.status is not EnrolmentStatus.WAITLISTED:
            return None
        stmt = select(func.count()).where(
            Enrolment.run_id == enrolment.run_id,
            Enrolment.status == EnrolmentStatus.WAITLISTED,
            Enrolment.waitlist_ticket <= enrolment.waitlist_ticket,
        )
        return int((await self.session.execute(stmt)).scalar_one())

    async def carry_progress(self, source_id: uuid.UUID, target_id: uuid.UUID) -> None:
        """Copy lesson progress (and quiz attempts used) from a withdrawn enrolment to its successor."""
        columns = [c.name for c in LessonProgress.__table__.columns if c.name not in {"enrolment_id"}]
        source = select(
            literal_column(f"'{target_id}'::uuid"), *[LessonProgress.__table__.c[c] for c in columns]
        ).where(LessonProgress.enrolment_id == source_id)
        stmt = insert(LessonProgress).from_select(["enrolment_id", *columns], source)
        await self.session.execute(stmt)

    async def users_by_email(self, emails: Sequence[str]) -> dict[str, uuid.UUID]:
        if not emails:
            return {}
        stmt = select(User.email, User.id).where(User.email.in_(set(emails)), User.is_active.is_(True))
        return dict((await self.session.execute(stmt)).tuples().all())

    async def user_for_mail(self, enrolment_id: uuid.UUID) -> Any:
        """Who to write to about an enrolment, and what about: one query for the e-mail tasks."""
        stmt = (
            select(
                Enrolment.status,
                Enrolment.user_id,
                User.email,
                User.full_name,
                User.preferred_language,
                User.is_active,
                Course.title,
                Course.slug,
                CourseRun.starts_at,
                CourseRun.timezone,
                waitlist_position().label("waitlist_position"),
            )
            .join(User, User.id == Enrolment.user_id)
            .join(CourseRun, CourseRun.id == Enrolment.run_id)
            .join(Course, Course.id == Enrolment.course_id)
            .where(Enrolment.id == enrolment_id)
        )
        return (await self.session.execute(stmt)).one_or_none()

    # ------------------------------------------------------------ learner views

    async def mine(self, user_id: uuid.UUID, include_withdrawn: bool) -> list[Any]:
        """The learner's enrolments with run, course, resume lesson and certificate: one query."""
        conditions = [Enrolment.user_id == user_id]
        if not include_withdrawn:
            conditions.append(Enrolment.status != EnrolmentStatus.WITHDRAWN)
        stmt = (
            select(
                Enrolment.id,
                Enrolment.status,
                waitlist_position().label("waitlist_position"),
                Enrolment.run_id,
                CourseRun.starts_at,
                CourseRun.ends_at,
                Course.id.label("course_id"),
                Course.slug,
                Course.title,
                Course.format,
                Enrolment.progress_percent,
                Enrolment.last_activity_at,
                Enrolment.completed_at,
                Lesson.id.label("resume_id"),
                Lesson.title.label("resume_title"),
                Lesson.kind.label("resume_kind"),
                Certificate.status.label("certificate_status"),
                Certificate.code.label("certificate_code"),
                Certificate.issued_at.label("certificate_issued_at"),
            )
            .join(CourseRun, CourseRun.id == Enrolment.run_id)
            .join(Course, Course.id == Enrolment.course_id)
            .outerjoin(Lesson, Lesson.id == Enrolment.resume_lesson_id)
            .outerjoin(Certificate, Certificate.enrolment_id == Enrolment.id)
            .where(*conditions)
            .order_by(Enrolment.created_at.desc())
        )
        return list((await self.session.execute(stmt)).all())

    async def detail_header(self, enrolment_id: uuid.UUID, user_id: uuid.UUID) -> Any:
        stmt = (
            select(
                Enrolment,
                waitlist_position().label("waitlist_position"),
                Course.slug,
                Course.title,
                Course.format,
                CourseRun.live_starts_at,
                CourseRun.live_duration_minutes,
                CourseRun.meeting_url,
                CourseRun.venue,
                Certificate.status.label("certificate_status"),
                Certificate.code.label("certificate_code"),
                Certificate.issued_at.label("certificate_issued_at"),
            )
            .join(CourseRun, CourseRun.id == Enrolment.run_id)
            .join(Course, Course.id == Enrolment.course_id)
            .outerjoin(Certificate, Certificate.enrolment_id == Enrolment.id)
            .where(Enrolment.id == enrolment_id, Enrolment.user_id == user_id)
        )
        return (await self.session.execute(stmt)).one_or_none()

    async def lesson_progress(self, enrolment_id: uuid.UUID) -> dict[uuid.UUID, LessonProgress]:
        stmt = (
            select(LessonProgress)
            .where(LessonProgress.enrolment_id == enrolment_id)
            .execution_options(populate_existing=True)
        )
        return {p.lesson_id: p for p in (await self.session.execute(stmt)).scalars()}

    async def outline(self, course_id: uuid.UUID) -> list[OutlineLesson]:
        """A course's lessons in outline order, narrow, in one query."""
        stmt = (
            select(
                Lesson.id,
                Lesson.module_id,
                Lesson.kind,
                Lesson.title,
                Lesson.required,
                Lesson.video_duration_seconds,
                Lesson.pass_mark,
                Lesson.max_attempts,
                _released_from(),
            )
            .join(CourseModule, CourseModule.id == Lesson.module_id)
            .where(Lesson.course_id == course_id)
            .order_by(CourseModule.position, Lesson.position)
        )
        return [OutlineLesson(*row) for row in (await self.session.execute(stmt)).all()]

    async def seated_in_course(self, user_id: uuid.UUID, course_id: uuid.UUID) -> bool:
        stmt = select(
            select(Enrolment.id)
            .where(
                Enrolment.user_id == user_id,
                Enrolment.course_id == course_id,
                Enrolment.status.in_(SEATED_STATUSES),
            )
            .exists()
        )
        return bool((await self.session.execute(stmt)).scalar())

    async def lesson_course(self, lesson_id: uuid.UUID) -> Any:
        """A lesson's course, the course's status and the lesson's release, for access checks."""
        stmt = (
            select(Lesson.course_id, Course.status, _released_from().label("released_from"))
            .join(CourseModule, CourseModule.id == Lesson.module_id)
            .join(Course, Course.id == Lesson.course_id)
            .where(Lesson.id == lesson_id)
        )
        return (await self.session.execute(stmt)).one_or_none()

    # ------------------------------------------------------------ staff views

    async def roster(self, run_id: uuid.UUID, status: EnrolmentStatus | None) -> list[Any]:
        conditions = [Enrolment.run_id == run_id]
        if status is not None:
            conditions.append(Enrolment.status == status)
        stmt = (
            select(
                Enrolment.id,
                Enrolment.user_id,
                User.email,
                User.full_name,
                Enrolment.status,
                waitlist_position().label("waitlist_position"),
                Enrolment.enrolled_at,
                Enrolment.waitlisted_at,
                Enrolment.completed_at,
                Enrolment.withdrawn_at,
                Enrolment.progress_percent,
                Enrolment.last_activity_at,
            )
            .join(User, User.id == Enrolment.user_id)
            .where(*conditions)
            .order_by(
                case((Enrolment.status == EnrolmentStatus.WAITLISTED, 1), else_=0),
                Enrolment.waitlist_ticket,
                Enrolment.created_at,
            )
        )
        return list((await self.session.execute(stmt)).all())

    async def report_counts(self, run_id: uuid.UUID, active_since: datetime) -> Any:
        seated = Enrolment.status.in_(SEATED_STATUSES)
        stmt = select(
            func.count().filter(seated).label("enrolled"),
            func.count().filter(Enrolment.status == EnrolmentStatus.WAITLISTED).label("waitlisted"),
            func.count().filter(Enrolment.status == EnrolmentStatus.WITHDRAWN).label("withdrawn"),
            func.count().filter(and_(seated, Enrolment.last_activity_at >= active_since)).label("active"),
            func.count().filter(Enrolment.status == EnrolmentStatus.COMPLETED).label("completed"),
            func.avg(Enrolment.progress_percent).filter(seated).label("average_progress"),
        ).where(Enrolment.run_id == run_id)
        return (await self.session.execute(stmt)).one()

    async def quiz_pass_rates(self, run_id: uuid.UUID, course_id: uuid.UUID) -> list[Any]:
        """Per quiz of the course: seated learners of the run who attempted it, and who passed it."""
        progress = (
            select(LessonProgress.lesson_id, LessonProgress.attempts_used, LessonProgress.passed_at)
            .join(Enrolment, Enrolment.id == LessonProgress.enrolment_id)
            .where(Enrolment.run_id == run_id, Enrolment.status.in_(SEATED_STATUSES))
            .subquery()
        )
        stmt = (
            select(
                Lesson.id,
                Lesson.title,
                func.count(progress.c.lesson_id).filter(progress.c.attempts_used > 0).label("attempted"),
                func.count(progress.c.passed_at).label("passed"),
            )
            .join(CourseModule, CourseModule.id == Lesson.module_id)
            .outerjoin(progress, progress.c.lesson_id == Lesson.id)
            .where(Lesson.course_id == course_id, Lesson.kind == LessonKind.QUIZ)
            .group_by(Lesson.id, Lesson.title, CourseModule.position, Lesson.position)
            .order_by(CourseModule.position, Lesson.position)
        )
        return list((await self.session.execute(stmt)).all())

    async def run_course(self, run_id: uuid.UUID) -> Any:
        stmt = select(CourseRun.id, CourseRun.course_id).where(CourseRun.id == run_id)
        return (await self.session.execute(stmt)).one_or_none()


# ---------------------------------------------------------------- progress ingestion

# One statement per batch: new events are inserted (a retried id is skipped by the primary key), and
# only the new ones are folded into per-lesson progress (with the videos' merged coverage, complete at
# ``:ratio`` of the duration) and the enrolment's attendance and activity. It answers one row per lesson the
# learner has progress in (the new state of the touched ones), each carrying the count of new events and
# the client ids of the new quiz attempts; one row with no lesson when there is no progress at all.
INGEST = text(
    """
WITH incoming AS (
    -- The batch as the API received it (already validated): one JSON document, parsed by the database.
    SELECT id AS client_id, type, lesson_id, "at" AS occurred_at, left_at AS ended_at, from_second,
           to_second
    FROM json_to_recordset(CAST(:events AS json)) AS t(
        id text, type progress_event_type, lesson_id uuid, "at" timestamptz, left_at timestamptz,
        from_second float8, to_second float8
    )
),
inserted AS (
    INSERT INTO progress_events
        (enrolment_id, client_id, type, lesson_id, occurred_at, ended_at, from_second, to_second)
    SELECT CAST(:enrolment_id AS uuid), client_id, type, lesson_id, occurred_at, ended_at, from_second,
           to_second
    FROM incoming
    ON CONFLICT DO NOTHING
    RETURNING client_id, type, lesson_id, occurred_at, ended_at, from_second, to_second
),
per_lesson AS (
    SELECT lesson_id,
           min(occurred_at) AS first_at,
           max(occurred_at) AS last_at,
           min(occurred_at) FILTER (WHERE type = 'lesson_completed') AS completed_at,
           coalesce(range_agg(numrange(from_second, to_second)) FILTER (WHERE type = 'video_watched'),
                    '{}'::nummultirange) AS watched
    FROM inserted
    WHERE lesson_id IS NOT NULL AND type <> 'quiz_attempt'
    GROUP BY lesson_id
),
fresh AS (
    SELECT pl.*, l.kind, l.video_duration_seconds AS duration,
           (SELECT coalesce(sum(upper(r) - lower(r)), 0) FROM unnest(pl.watched) AS r) AS seconds
    FROM per_lesson pl JOIN lessons l ON l.id = pl.lesson_id
),
upserted AS (
    INSERT INTO lesson_progress AS lp
        (enrolment_id, lesson_id, opened_at, completed_at, last_event_at, watched, watched_seconds)
    SELECT CAST(:enrolment_id AS uuid), lesson_id, first_at,
           CASE WHEN kind <> 'video' THEN completed_at
                WHEN duration > 0 AND seconds >= CAST(:ratio AS float8) * duration THEN last_at END,
           last_at, watched, seconds
    FROM fresh
    ON CONFLICT (enrolment_id, lesson_id) DO UPDATE SET
        opened_at = least(lp.opened_at, EXCLUDED.opened_at),
        -- A video completes by coverage only (no lesson_completed event is accepted for it), at the
        -- lesson's last event once its merged intervals reach the share.
        completed_at = coalesce(lp.completed_at, CASE
            WHEN (SELECT l.kind FROM lessons l WHERE l.id = EXCLUDED.lesson_id) <> 'video'
                THEN EXCLUDED.completed_at
            WHEN (SELECT coalesce(sum(upper(r) - lower(r)), 0)
                  FROM unnest(lp.watched + EXCLUDED.watched) AS r)
                 >= CAST(:ratio AS float8) * (SELECT l.video_duration_seconds FROM lessons l
                                              WHERE l.id = EXCLUDED.lesson_id
                                                AND l.video_duration_seconds > 0)
                THEN greatest(lp.last_event_at, EXCLUDED.last_event_at)
            END),
        last_event_at = greatest(lp.last_event_at, EXCLUDED.last_event_at),
        watched = lp.watched + EXCLUDED.watched,
        watched_seconds = (SELECT coalesce(sum(upper(r) - lower(r)), 0)
                           FROM unnest(lp.watched + EXCLUDED.watched) AS r),
        updated_at = now()
    RETURNING lesson_id, completed_at, passed_at, attempts_used, last_event_at
),
attendance AS (
    SELECT range_agg(tstzrange(occurred_at, ended_at)) AS attended
    FROM inserted WHERE type = 'attendance'
),
touched AS (
    UPDATE enrolments e SET
        attended = CASE WHEN a.attended IS NULL THEN e.attended ELSE e.attended + a.attended END,
        last_activity_at = greatest(e.last_activity_at, (SELECT max(occurred_at) FROM inserted)),
        updated_at = now()
    FROM attendance a
    WHERE e.id = CAST(:enrolment_id AS uuid) AND EXISTS (SELECT 1 FROM inserted)
    RETURNING e.id
),
progress AS (
    SELECT * FROM upserted
    UNION ALL
    SELECT lesson_id, completed_at, passed_at, attempts_used, last_event_at FROM lesson_progress
    WHERE enrolment_id = CAST(:enrolment_id AS uuid) AND lesson_id NOT IN (SELECT lesson_id FROM upserted)
)
SELECT (SELECT count(*) FROM inserted) AS accepted,
       (SELECT array_agg(client_id) FROM inserted WHERE type = 'quiz_attempt') AS new_attempts,
       p.lesson_id, p.completed_at, p.passed_at, p.attempts_used, p.last_event_at
FROM (SELECT) AS one LEFT JOIN progress p ON true
"""
)

# attempts_used and quiz_attempts.attempt are smallint: an "unlimited" quiz ends where the columns do,
# with "no attempts left" rather than an out-of-range error.
ATTEMPTS_CEILING = 32_767

ATTENDED_MINUTES = text(
    """
SELECT coalesce(sum(extract(epoch FROM upper(r) - lower(r))), 0) / 60.0
FROM enrolments e, unnest(e.attended * tstzmultirange(tstzrange(:starts, :ends))) AS r
WHERE e.id = :enrolment_id
"""
)


@dataclass(frozen=True, slots=True)
class Ingested:
    """What a batch changed: how many events were new, which quiz attempts, and the progress after it."""

    accepted: int
    new_attempts: frozenset[str]
    progress: dict[uuid.UUID, ProgressFacts]


class ProgressRepository:
    """Statements of the progress pipeline; the session is the request's transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def ingest(self, enrolment_id: uuid.UUID, events: str, ratio: float) -> Ingested:
        """Insert the batch (``events``: a JSON array of API events) and fold the new events in: what was
        new, and every lesson's progress after it."""
        values = {"enrolment_id": enrolment_id, "ratio": ratio, "events": events}
        rows = (await run_driver_sql(self.session, INGEST, values)).all()
        return Ingested(
            accepted=rows[0].accepted,
            new_attempts=frozenset(rows[0].new_attempts or ()),
            progress={
                row.lesson_id: ProgressFacts(
                    completed=row.completed_at is not None,
                    passed=row.passed_at is not None,
                    attempted=row.attempts_used > 0,
                    touched_at=row.last_event_at,
                )
                for row in rows
                if row.lesson_id is not None
            },
        )

    async def attended_minutes(self, enrolment_id: uuid.UUID, starts: datetime, ends: datetime) -> float:
        result = await self.session.execute(
            ATTENDED_MINUTES, {"enrolment_id": enrolment_id, "starts": starts, "ends": ends}
        )
        return float(result.scalar_one())

    async def use_attempt(
        self, enrolment_id: uuid.UUID, lesson_id: uuid.UUID, max_attempts: int | None, at: datetime
    ) -> int | None:
        """Count one attempt unless none is left: the attempt's number, else None (atomic)."""
        await self.session.execute(
            insert(LessonProgress)
            .values(enrolment_id=enrolment_id, lesson_id=lesson_id, opened_at=at, last_event_at=at)
            .on_conflict_do_nothing(index_elements=[LessonProgress.enrolment_id, LessonProgress.lesson_id])
        )
        stmt = (
            update(LessonProgress)
            .where(LessonProgress.enrolment_id == enrolment_id, LessonProgress.lesson_id == lesson_id)
            .values(
                attempts_used=LessonProgress.attempts_used + 1,
                last_event_at=func.greatest(LessonProgress.last_event_at, at),
            )
            .returning(LessonProgress.attempts_used)
        )
        limit = max_attempts if max_attempts is not None else ATTEMPTS_CEILING
        stmt = stmt.where(LessonProgress.attempts_used < limit)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def record_attempt(self, attempt: QuizAttempt) -> None:
        self.session.add(attempt)
        if attempt.passed:
            await self.session.execute(
                update(LessonProgress)
                .where(
                    LessonProgress.enrolment_id == attempt.enrolment_id,
                    LessonProgress.lesson_id == attempt.lesson_id,
                )
                .values(
                    passed_at=func.coalesce(LessonProgress.passed_at, attempt.submitted_at),
                    completed_at=func.coalesce(LessonProgress.completed_at, attempt.submitted_at),
                )
            )
        await self.session.execute(
            update(LessonProgress)
            .where(
                LessonProgress.enrolment_id == attempt.enrolment_id,
                LessonProgress.lesson_id == attempt.lesson_id,
            )
            .values(best_score=func.greatest(LessonProgress.best_score, attempt.score))
        )

    async def attempts_by_client_id(
        self, enrolment_id: uuid.UUID, client_ids: Sequence[str]
    ) -> list[QuizAttempt]:
        stmt = select(QuizAttempt).where(
            QuizAttempt.enrolment_id == enrolment_id, QuizAttempt.client_id.in_(client_ids)
        )
        return list((await self.session.execute(stmt)).scalars())

    async def attempts_used(
        self, enrolment_id: uuid.UUID, lesson_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, int]:
        stmt = select(LessonProgress.lesson_id, LessonProgress.attempts_used).where(
            LessonProgress.enrolment_id == enrolment_id, LessonProgress.lesson_id.in_(lesson_ids)
        )
        return dict((await self.session.execute(stmt)).tuples().all())

    async def set_summary(
        self,
        enrolment_id: uuid.UUID,
        *,
        percent: int,
        resume_lesson_id: uuid.UUID | None,
    ) -> None:
        await self.session.execute(
            update(Enrolment)
            .where(Enrolment.id == enrolment_id)
            .values(progress_percent=percent, resume_lesson_id=resume_lesson_id)
        )

    async def mark_completed(self, enrolment_id: uuid.UUID, at: datetime) -> datetime | None:
        """Record the completion once: the completion time if this call recorded it, else None."""
        stmt = (
            update(Enrolment)
            .where(
                Enrolment.id == enrolment_id,
                Enrolment.status == EnrolmentStatus.ENROLLED,
                Enrolment.completed_at.is_(None),
            )
            .values(status=EnrolmentStatus.COMPLETED, completed_at=at, progress_percent=100)
            .returning(Enrolment.completed_at)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()


__all__ = ["ACTIVE_STATUSES", "EnrolmentRepository", "OutlineLesson", "ProgressRepository", "RunForEnrolment"]


@dataclass(frozen=True, slots=True)
class ProgressTarget:
    """An enrolment locked for a progress batch, with the course and run facts completion needs."""

    enrolment: Enrolment
    course_status: str
    format: str
    certificates_enabled: bool
    min_required_percent: int
    requires_quizzes_passed: bool
    requires_attendance: bool
    live_starts_at: datetime | None
    live_duration_minutes: int | None
    outline_version: str  # changes whenever a lesson or module of the course is added, changed or removed


def _version_of(model: Any) -> Any:
    """Count and summed update times of a course's lessons (or modules): any edit changes it."""
    return (
        select(
            func.concat(
                func.count(), ":", func.coalesce(func.sum(func.extract("epoch", model.updated_at)), 0)
            )
        )
        .where(model.course_id == Course.id)
        .scalar_subquery()
    )


@functools.cache
def _target_statement(with_user: bool) -> Any:
    stmt = (
        select(
            Enrolment,
            Course.status,
            Course.format,
            Course.certificates_enabled,
            Course.completion_min_required_percent,
            Course.completion_requires_quizzes_passed,
            Course.completion_requires_attendance,
            CourseRun.live_starts_at,
            CourseRun.live_duration_minutes,
            func.concat(_version_of(Lesson), "/", _version_of(CourseModule)),
        )
        .join(CourseRun, CourseRun.id == Enrolment.run_id)
        .join(Course, Course.id == Enrolment.course_id)
        .where(Enrolment.id == bindparam("enrolment_id"), Enrolment.status.in_(SEATED_STATUSES))
        .with_for_update(of=Enrolment)
        .execution_options(populate_existing=True)
    )
    return stmt.where(Enrolment.user_id == bindparam("user_id")) if with_user else stmt


async def progress_target(
    session: AsyncSession, enrolment_id: uuid.UUID, user_id: uuid.UUID | None
) -> ProgressTarget | None:
    """The seated enrolment, locked so batches of one learner apply one after the other (one query).

    Only seated rows are locked: a waitlisted row must never be held, or a withdrawal promoting the
    head of the line would skip it.
    """
    params: dict[str, Any] = {"enrolment_id": enrolment_id}
    if user_id is not None:
        params["user_id"] = user_id
    row = (await session.execute(_target_statement(user_id is not None), params)).one_or_none()
    return ProgressTarget(*row) if row is not None else None
