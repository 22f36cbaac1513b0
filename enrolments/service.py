"""Enrolment rules: seats taken by the database, a stable waitlist, promotion on withdrawal, staff tools."""

from __future__ import annotations

import csv
import re
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from litestar.datastructures import State
from sqlalchemy.ext.asyncio import AsyncSession

from courses.i18n import pick
from courses.models import CourseStatus
from courses.schemas import LessonContent
from courses.service import lesson_content
from enrolments import schemas as s
from enrolments.models import WAITLIST_TICKETS, Enrolment, EnrolmentStatus
from enrolments.repository import EnrolmentRepository, ProgressRepository, RunForEnrolment, self_enrol
from enrolments.tasks import confirmation_email
from enrolments.waitlist import promote_waitlisted
from lms.accounts.deps import authenticated, rejected
from lms.accounts.models import User
from lms.accounts.service import AccountDeps, AccountService
from lms.audit import record
from lms.db.driver import driver_pool
from lms.db.outbox import PUBLISHER_KEY, Envelope, Publisher
from lms.db.session import after_commit, unit_of_work
from lms.errors import Conflict, NotFound, ValidationFailed
from lms.settings import Settings

EMAIL = re.compile(r"^[^@\s,;]+@[^@\s,;]+\.[^@\s,;]+$")
MAX_BULK_ROWS = 5000  # one transaction; a bigger cohort is several files
ACTIVE_DAYS = 7  # "active" in the run report: seated learners with activity in the last week


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Enrolled:
    enrolment: s.Enrolment  # as answered, waitlist position included
    created: bool


def publish_after_commit(session: AsyncSession, envelope: Envelope) -> None:
    """Publish an outbox row written by SQL (not ``TaskSpec.enqueue``) once the transaction commits."""
    publisher: Publisher | None = session.info.get(PUBLISHER_KEY)
    if publisher is None:
        return  # no broker in this process: the outbox sweep publishes it

    async def publish() -> None:
        await publisher.publish([envelope])

    after_commit(session, publish)


def refusal(info: RunForEnrolment, now: datetime, *, staff: bool) -> str | None:
    """Why the run does not accept this enrolment now, or None; staff may enrol outside the window."""
    if info.course_status == CourseStatus.DRAFT:
        return "The course is not published."
    if info.course_status == CourseStatus.ARCHIVED:
        return "The course is archived and no longer takes enrolments."
    if info.ends_at is not None and info.ends_at <= now:
        return "This run is over."
    if staff:
        return None
    if info.opens_at is not None and info.opens_at > now:
        return f"Enrolment opens at {info.opens_at.isoformat()}."
    if info.closes_at is not None and info.closes_at <= now:
        return "Enrolment for this run is closed."
    return None


def seated_now(
    enrolment_id: uuid.UUID, run_id: uuid.UUID, course_id: uuid.UUID, now: datetime, created_at: datetime
) -> s.Enrolment:
    """The answer for an enrolment that was just inserted with a seat."""
    return s.Enrolment(
        id=enrolment_id,
        run_id=run_id,
        course_id=course_id,
        status=EnrolmentStatus.ENROLLED,
        waitlist_position=None,
        enrolled_at=now,
        waitlisted_at=None,
        completed_at=None,
        created_at=created_at,
    )


async def enrol_self(state: State, token: str | None, run_id: uuid.UUID) -> Enrolled:
    """A learner enrolling themselves: 201 with the new enrolment, or 200 with the one they already have.

    The common case (a live session, an open run with a free seat, no earlier enrolment in it) is one
    statement, authentication included, outside any transaction: see ``repository.SELF_ENROL``. Every other
    case (full, refused, already enrolled, re-enrolling, a concurrent duplicate) takes the transactional
    path of ``EnrolmentService.enrol``, which says why.
    """
    deps: AccountDeps = state.account_deps
    claims = deps.tokens.read_access_token(token) if token is not None else None
    if claims is None:
        raise rejected(token)
    now = utcnow()
    enrolment_id = uuid.uuid4()
    owed = Envelope(uuid.uuid4(), confirmation_email.name, confirmation_email.queue.value)
    async with driver_pool(state).connection() as connection:
        done = await self_enrol(
            connection,
            enrolment_id=enrolment_id,
            session_id=claims.session_id,
            user_id=claims.user_id,
            run_id=run_id,
            now=now,
            owed=owed,
        )
    if done is not None and not done.authenticated:
        raise rejected(token)
    if done is not None and done.course_id is not None and done.created_at is not None:
        publisher: Publisher = state.publisher
        await publisher.publish([owed])
        return Enrolled(seated_now(enrolment_id, run_id, done.course_id, now, done.created_at), True)
    async with state.db_slots, unit_of_work(state.sessionmaker) as session:
        principal = await authenticated(token, AccountService(session, deps))
        return await EnrolmentService(session, state.settings).enrol(principal.user.id, run_id)


class EnrolmentService:
    def __init__(self, session: AsyncSession, settings: Settings) -> None:
        self.session = session
        self.settings = settings
        self.enrolments = EnrolmentRepository(session=session, auto_commit=False, auto_refresh=False)

    # ------------------------------------------------------------ enrolling and withdrawing

    async def enrol(self, user_id: uuid.UUID, run_id: uuid.UUID, *, by: User | None = None) -> Enrolled:
        """Take a seat, or a place in line when the run is full; enrolling twice returns the first."""
        now = utcnow()
        enrolment_id = uuid.uuid4()
        owed = Envelope(uuid.uuid4(), confirmation_email.name, confirmation_email.queue.value)
        # The common case (an open run with a free seat) is one statement; see ``repository.ENROL``.
        fast = await self.enrolments.enrol_fast(
            enrolment_id=enrolment_id,
            run_id=run_id,
            user_id=user_id,
            by=by.id if by is not None else None,
            now=now,
            owed=owed,
        )
        if fast is None:
            raise NotFound("No such run.")
        info = fast.run
        if fast.created_at is not None:
            publish_after_commit(self.session, owed)
            await self._created(enrolment_id, user_id, info, EnrolmentStatus.ENROLLED, by, owed=True)
            return Enrolled(seated_now(enrolment_id, run_id, info.course_id, now, fast.created_at), True)
        if fast.seated:  # the same learner's concurrent request inserted first: give the seat back
            return await self._lost_race(run_id, user_id, seated=True)
        if info.existing_id is not None:
            return await self._existing(info.existing_id)
        reason = refusal(info, now, staff=by is not None)
        if reason is not None:
            raise Conflict(reason, extra={"reason": reason})

        # Full: decide under the run's lock, so a seat released meanwhile is taken rather than missed,
        # and a withdrawal looking for the head of the line sees this row once it commits.
        await self.enrolments.lock_run(run_id)
        seated = await self.enrolments.take_seat(run_id)
        status = EnrolmentStatus.ENROLLED if seated else EnrolmentStatus.WAITLISTED
        values: dict[str, Any] = {
            "id": enrolment_id,
            "user_id": user_id,
            "run_id": run_id,
            "course_id": info.course_id,
            "status": status,
            "enrolled_by": by.id if by is not None else None,
        }
        if seated:
            values["enrolled_at"] = now
        else:
            values["waitlisted_at"] = now
            values["waitlist_ticket"] = WAITLIST_TICKETS.next_value()
        created = await self.enrolments.insert_live(values)
        if created is None:
            return await self._lost_race(run_id, user_id, seated=seated)
        await self._created(created.id, user_id, info, status, by)
        return Enrolled(to_schema(created, await self.enrolments.position(created)), True)

    async def _created(
        self,
        enrolment_id: uuid.UUID,
        user_id: uuid.UUID,
        info: RunForEnrolment,
        status: EnrolmentStatus,
        by: User | None,
        *,
        owed: bool = False,
    ) -> None:
        """After a new enrolment: progress carried over, the confirmation owed (unless ``owed`` already),
        a staff action audited."""
        if info.withdrawn_id is not None:
            await self.enrolments.carry_progress(info.withdrawn_id, enrolment_id)
        if not owed:
            confirmation_email.enqueue(self.session, enrolment_id=str(enrolment_id), status=status.value)
        if by is not None:
            record(
                self.session,
                actor_id=by.id,
                action="enrolment.create",
                entity_type="enrolment",
                entity_id=enrolment_id,
                before=None,
                after={"user_id": str(user_id), "run_id": str(info.run_id), "status": status.value},
            )

    async def _lost_race(self, run_id: uuid.UUID, user_id: uuid.UUID, *, seated: bool) -> Enrolled:
        """A concurrent request of the same learner inserted first: answer with its enrolment."""
        if seated:
            await self.enrolments.release_seat(run_id)
        existing = await self.enrolments.live_in_run(run_id, user_id)
        if existing is None:
            raise Conflict("The enrolment changed meanwhile; try again.")
        return await self._existing(existing.id)

    async def _existing(self, enrolment_id: uuid.UUID) -> Enrolled:
        enrolment = await self.enrolments.get(enrolment_id)
        return Enrolled(to_schema(enrolment, await self.enrolments.position(enrolment)), False)

    async def withdraw(
        self, enrolment_id: uuid.UUID, *, user_id: uuid.UUID | None, by: User | None = None
    ) -> Enrolled:
        """Give the seat back; the first in line takes it in the same transaction."""
        found = await self.enrolments.get_one_or_none(
            Enrolment.id == enrolment_id, *([Enrolment.user_id == user_id] if user_id else [])
        )
        if found is None:
            raise NotFound("No such enrolment.")
        # Lock order everywhere: the run, then enrolment rows. Enrolling takes the run's lock first too.
        await self.enrolments.lock_run(found.run_id)
        enrolment = await self.enrolments.locked(found.id)
        if enrolment is None:
            raise NotFound("No such enrolment.")
        if enrolment.status is EnrolmentStatus.WITHDRAWN:
            return Enrolled(to_schema(enrolment, None), False)
        if enrolment.status is EnrolmentStatus.COMPLETED:
            raise Conflict("A completed enrolment cannot be withdrawn.")
        was_seated = enrolment.status is EnrolmentStatus.ENROLLED
        before = enrolment.status.value
        now = utcnow()
        enrolment.status = EnrolmentStatus.WITHDRAWN
        enrolment.withdrawn_at = now
        await self.session.flush()
        if was_seated:
            await self._promote_or_release(enrolment.run_id, now)
        if by is not None:
            record(
                self.session,
                actor_id=by.id,
                action="enrolment.withdraw",
                entity_type="enrolment",
                entity_id=enrolment.id,
                before={"status": before},
                after={"status": EnrolmentStatus.WITHDRAWN.value},
            )
        return Enrolled(to_schema(enrolment, None), False)

    async def _promote_or_release(self, run_id: uuid.UUID, now: datetime) -> None:
        """Hand the freed seat to the first in line (seats_taken unchanged), or give it back to the run."""
        if not await promote_waitlisted(self.session, run_id, 1, now):
            await self.enrolments.release_seat(run_id)

    # ------------------------------------------------------------ learner views

    async def mine(self, user: User, include_withdrawn: bool) -> list[s.MyEnrolment]:
        lang = user.preferred_language
        rows = await self.enrolments.mine(user.id, include_withdrawn)
        return [
            s.MyEnrolment(
                id=r.id,
                status=r.status,
                waitlist_position=r.waitlist_position,
                run_id=r.run_id,
                run_starts_at=r.starts_at,
                run_ends_at=r.ends_at,
                course_id=r.course_id,
                course_slug=r.slug,
                course_title=pick(r.title, lang),
                course_format=r.format,
                progress_percent=r.progress_percent,
                last_activity_at=r.last_activity_at,
                completed_at=r.completed_at,
                resume=s.ResumeLesson(id=r.resume_id, title=pick(r.resume_title, lang), kind=r.resume_kind)
                if r.resume_id is not None
                else None,
                certificate=certificate_state(r),
            )
            for r in rows
        ]

    async def mine_one(self, user: User, enrolment_id: uuid.UUID) -> s.Enrolment:
        enrolment = await self.enrolments.get_one_or_none(
            Enrolment.id == enrolment_id, Enrolment.user_id == user.id
        )
        if enrolment is None:
            raise NotFound("No such enrolment.")
        return to_schema(enrolment, await self.enrolments.position(enrolment))

    async def lesson_for_learner(self, user: User, lesson_id: uuid.UUID, lang: str) -> LessonContent:
        """A released lesson of a course the learner holds a seat in; 404 for anything else."""
        found = await self.enrolments.lesson_course(lesson_id)
        if (
            found is None
            or found.status == CourseStatus.DRAFT
            or (found.released_from is not None and found.released_from > utcnow())
            or not await self.enrolments.seated_in_course(user.id, found.course_id)
        ):
            raise NotFound("No such lesson.")
        content = await lesson_content(self.session, lesson_id, lang)
        if content is None:
            raise NotFound("No such lesson.")
        return content

    # ------------------------------------------------------------ staff

    async def _run(self, run_id: uuid.UUID) -> Any:
        run = await self.enrolments.run_course(run_id)
        if run is None:
            raise NotFound("No such run.")
        return run

    async def roster(self, run_id: uuid.UUID, status: EnrolmentStatus | None) -> list[s.RosterLine]:
        await self._run(run_id)
        return [s.RosterLine(**r._asdict()) for r in await self.enrolments.roster(run_id, status)]

    async def staff_enrol(self, staff: User, run_id: uuid.UUID, data: s.StaffEnrolmentCreate) -> Enrolled:
        if (data.email is None) == (data.user_id is None):
            raise ValidationFailed.on("email", "give either an e-mail or a user_id")
        if data.email is not None:
            email = data.email.strip().lower()
            found = await self.enrolments.users_by_email([email])
            if email not in found:
                raise ValidationFailed.on("email", "no active account has this e-mail")
            user_id = found[email]
        else:
            assert data.user_id is not None
            user_id = data.user_id
            if await self.session.get(User, user_id) is None:
                raise ValidationFailed.on("user_id", "no such account")
        return await self.enrol(user_id, run_id, by=staff)

    async def staff_withdraw(self, staff: User, run_id: uuid.UUID, enrolment_id: uuid.UUID) -> Enrolled:
        enrolment = await self.enrolments.get_one_or_none(
            Enrolment.id == enrolment_id, Enrolment.run_id == run_id
        )
        if enrolment is None:
            raise NotFound("No such enrolment in this run.")
        return await self.withdraw(enrolment_id, user_id=None, by=staff)

    async def bulk_enrol(self, staff: User, run_id: uuid.UUID, body: bytes) -> s.BulkReport:
        """Enrol every e-mail of a CSV in one transaction; each row gets an outcome, a bad row is reported.

        Rows are checked before anything is written, so only database failures can abort the batch, and
        those roll all of it back (see docs/decisions: bulk enrolment is all or nothing).
        """
        await self._run(run_id)
        try:
            content = body.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ValidationFailed.on("body", "the CSV must be UTF-8 text") from exc
        rows = parse_emails(content)
        if len(rows) > MAX_BULK_ROWS:
            raise ValidationFailed.on("body", f"at most {MAX_BULK_ROWS} rows per file")
        known = await self.enrolments.users_by_email([email for _, email, ok in rows if ok])
        report: list[s.BulkRow] = []
        for line, email, ok in rows:
            if not ok:
                report.append(s.BulkRow(line=line, email=email, outcome="invalid_email"))
                continue
            user_id = known.get(email)
            if user_id is None:
                report.append(s.BulkRow(line=line, email=email, outcome="unknown_account"))
                continue
            result = await self.enrol(user_id, run_id, by=staff)
            outcome: s.BulkOutcome
            if not result.created:
                outcome = "already_enrolled"
            elif result.enrolment.status is EnrolmentStatus.WAITLISTED:
                outcome = "waitlisted"
            else:
                outcome = "enrolled"
            report.append(
                s.BulkRow(
                    line=line,
                    email=email,
                    outcome=outcome,
                    enrolment_id=result.enrolment.id,
                    waitlist_position=result.enrolment.waitlist_position,
                )
            )
        counts: Counter[str] = Counter(row.outcome for row in report)
        return s.BulkReport(run_id=run_id, rows=report, counts=dict(counts))

    async def report(self, run_id: uuid.UUID, lang: str) -> s.ProgressReport:
        run = await self._run(run_id)
        counts = await self.enrolments.report_counts(run_id, utcnow() - timedelta(days=ACTIVE_DAYS))
        quizzes = [
            s.QuizPassRate(
                lesson_id=q.id,
                title=pick(q.title, lang),
                learners_attempted=q.attempted,
                learners_passed=q.passed,
                pass_rate=round(q.passed / q.attempted, 4) if q.attempted else None,
            )
            for q in await self.enrolments.quiz_pass_rates(run_id, run.course_id)
        ]
        return s.ProgressReport(
            run_id=run_id,
            course_id=run.course_id,
            enrolled=counts.enrolled,
            waitlisted=counts.waitlisted,
            withdrawn=counts.withdrawn,
            active=counts.active,
            active_days=ACTIVE_DAYS,
            completed=counts.completed,
            completion_rate=round(counts.completed / counts.enrolled, 4) if counts.enrolled else None,
            average_progress=round(float(counts.average_progress), 2)
            if counts.average_progress is not None
            else None,
            quizzes=quizzes,
        )


HEADER_NAMES = frozenset({"email", "e-mail", "correu", "correo", "mail"})


def parse_emails(content: str) -> list[tuple[int, str, bool]]:
    """(line, e-mail, looks valid) per data row: the ``email`` column if there is a header, else the first.

    Lines are read one by one, so a malformed line (a stray quote, a NUL byte) is one invalid row.
    """
    rows: list[tuple[int, str, bool]] = []
    column: int | None = None
    for number, line in enumerate(content.splitlines(), start=1):
        try:
            values = [c.strip() for c in next(csv.reader([line], strict=True), [])]
        except csv.Error:
            rows.append((number, line.strip()[:254], False))
            continue
        if not any(values):
            continue
        if column is None:
            header = [i for i, v in enumerate(values) if v.lower() in HEADER_NAMES]
            column = header[0] if header else 0
            if header:
                continue
        email = values[column].lower() if column < len(values) else ""
        rows.append((number, email[:254], len(email) <= 254 and bool(EMAIL.match(email))))
    return rows


def certificate_state(row: Any) -> s.CertificateState | None:
    if row.certificate_code is None:
        return None
    return s.CertificateState(
        status=row.certificate_status, code=row.certificate_code, issued_at=row.certificate_issued_at
    )


def to_schema(enrolment: Enrolment, position: int | None) -> s.Enrolment:
    return s.Enrolment(
        id=enrolment.id,
        run_id=enrolment.run_id,
        course_id=enrolment.course_id,
        status=enrolment.status,
        waitlist_position=position,
        enrolled_at=enrolment.enrolled_at,
        waitlisted_at=enrolment.waitlisted_at,
        completed_at=enrolment.completed_at,
        created_at=enrolment.created_at,
    )


async def enrolment_detail(
    session: AsyncSession, settings: Settings, user: User, enrolment_id: uuid.UUID, lang: str
) -> s.EnrolmentDetail:
    """One enrolment with every lesson's state; another learner's enrolment is 404."""
    repo = EnrolmentRepository(session=session, auto_commit=False, auto_refresh=False)
    header = await repo.detail_header(enrolment_id, user.id)
    if header is None:
        raise NotFound("No such enrolment.")
    enrolment: Enrolment = header.Enrolment
    seated = enrolment.status in (EnrolmentStatus.ENROLLED, EnrolmentStatus.COMPLETED)
    now = utcnow()
    outline = await repo.outline(enrolment.course_id)
    progress = await repo.lesson_progress(enrolment.id)
    lessons: list[s.LessonState] = []
    for lesson in outline:
        p = progress.get(lesson.id)
        released = lesson.released_from is None or lesson.released_from <= now
        state: Any = "not_started"
        if p is not None and p.completed_at is not None:
            state = "completed"
        elif p is not None:
            state = "in_progress"
        is_quiz = lesson.kind.value == "quiz"
        used = p.attempts_used if p is not None else 0
        watched = None
        if lesson.kind.value == "video" and lesson.video_duration_seconds:
            seconds = float(p.watched_seconds) if p is not None else 0.0
            watched = min(100, int(100 * seconds / lesson.video_duration_seconds))
        lessons.append(
            s.LessonState(
                id=lesson.id,
                module_id=lesson.module_id,
                title=pick(lesson.title, lang),
                kind=lesson.kind,
                required=lesson.required,
                released=released,
                available_from=lesson.released_from,
                state=state,
                opened_at=p.opened_at if p is not None else None,
                completed_at=p.completed_at if p is not None else None,
                watched_percent=watched,
                best_score=p.best_score if p is not None and is_quiz else None,
                passed=(p is not None and p.passed_at is not None) if is_quiz else None,
                attempts_used=used if is_quiz else None,
                attempts_left=max(0, lesson.max_attempts - used)
                if is_quiz and lesson.max_attempts is not None
                else None,
            )
        )
    attended: int | None = None
    if header.format.value == "masterclass":
        if enrolment.attendance_minutes_marked is not None:
            attended = enrolment.attendance_minutes_marked
        elif header.live_starts_at is not None and header.live_duration_minutes:
            ends = header.live_starts_at + timedelta(minutes=header.live_duration_minutes)
            minutes = await ProgressRepository(session).attended_minutes(
                enrolment.id, header.live_starts_at, ends
            )
            attended = int(minutes)
    return s.EnrolmentDetail(
        id=enrolment.id,
        status=enrolment.status,
        waitlist_position=header.waitlist_position,
        run_id=enrolment.run_id,
        course_id=enrolment.course_id,
        course_slug=header.slug,
        course_title=pick(header.title, lang),
        course_format=header.format,
        progress_percent=enrolment.progress_percent,
        last_activity_at=enrolment.last_activity_at,
        completed_at=enrolment.completed_at,
        attended_minutes=attended,
        live_duration_minutes=header.live_duration_minutes,
        meeting_url=header.meeting_url if seated else None,
        venue=header.venue if seated else None,
        certificate=certificate_state(header),
        lessons=lessons,
    )
