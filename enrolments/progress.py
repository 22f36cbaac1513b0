"""Progress: validating and ingesting event batches, grading quizzes, and recording completion once."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, cast

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from certificates.service import owe_certificate
from courses.models import CourseFormat, CourseStatus, LessonKind
from courses.service import QuizKey, quiz_answer_key
from enrolments import schemas as s
from enrolments.models import EnrolmentStatus, QuizAttempt
from enrolments.repository import (
    EnrolmentRepository,
    OutlineLesson,
    ProgressRepository,
    ProgressTarget,
    progress_target,
)
from enrolments.rules import (
    SELF_COMPLETED_KINDS,
    CompletionRule,
    LessonFacts,
    ProgressFacts,
    evaluate,
)
from lms.errors import Conflict, NotFound, ValidationFailed
from lms.settings import Settings

DURATION_TOLERANCE = 1.0  # seconds: players report the last frame a little past the nominal duration
OUTLINE_CACHE_SIZE = 1024  # courses whose outline a process keeps; a few dozen kB each at most
# progress_events keeps played seconds as numeric(10, 2): intervals are compared at that precision.
STORED_SECONDS = Decimal("0.01")
# The Unix epoch: a phone whose clock was reset reports it or later, so earlier times are no real event.
# It also keeps every time well inside what PostgreSQL and Python both read (year 1 with a positive offset
# is 1 BC in UTC: PostgreSQL stores it, the driver cannot read it back).
EARLIEST_EVENT = datetime(1970, 1, 1, tzinfo=UTC)

# Per process: course id -> (outline version, outline, lessons by id). A batch reads the version with its
# enrolment (``ProgressTarget.outline_version``), so an edited course is read again on its next batch.
_EVENTS = msgspec.json.Encoder()
_OUTLINES: dict[uuid.UUID, tuple[str, list[OutlineLesson], dict[uuid.UUID, OutlineLesson]]] = {}


def utcnow() -> datetime:
    return datetime.now(UTC)


def _released(lesson: OutlineLesson, now: datetime) -> bool:
    return lesson.released_from is None or lesson.released_from <= now


def stored_second(value: float) -> float:
    """A played second as the database keeps it: hundredths, half away from zero (numeric's rounding)."""
    return float(Decimal(repr(value)).quantize(STORED_SECONDS, rounding=ROUND_HALF_UP))


def as_stored(events: Sequence[s.Event]) -> tuple[list[s.Event], set[str]]:
    """Checked events as the database keeps them, and the ids of those it has nothing to keep of.

    Times go in UTC (PostgreSQL refuses offsets beyond 15:59, which ISO 8601 allows) and played seconds
    in hundredths, so the database stores exactly what was checked here. An interval that rounds to
    nothing (12.345 to 12.346 s) adds no coverage: it is left out rather than failing the batch on the
    table's forward-interval CHECK, so a player's other events are never lost to it."""
    stored: list[s.Event] = []
    ignored: set[str] = set()
    for event in events:
        kind = type(event)
        changes: dict[str, Any] = {}
        if event.at.tzinfo is not UTC:
            changes["at"] = event.at.astimezone(UTC)
        if kind is s.Attendance:
            left_at = cast("s.Attendance", event).left_at
            if left_at.tzinfo is not UTC:
                changes["left_at"] = left_at.astimezone(UTC)
        elif kind is s.VideoWatched:
            played = cast("s.VideoWatched", event)
            start, end = stored_second(played.from_second), stored_second(played.to_second)
            if end <= start:
                ignored.add(event.id)
                continue
            changes["from_second"], changes["to_second"] = start, end
        stored.append(msgspec.structs.replace(event, **changes) if changes else event)
    return stored, ignored


def grade(key: QuizKey, answers: Sequence[s.Answer]) -> int:
    """Percentage of questions answered exactly right (all correct options, nothing else)."""
    if not key.questions:
        return 0
    chosen = {a.question_id: frozenset(a.option_ids) for a in answers}
    right = sum(1 for q in key.questions if chosen.get(q.id) == q.correct_option_ids)
    return round(100 * right / len(key.questions))


class ProgressService:
    def __init__(self, session: AsyncSession, settings: Settings) -> None:
        self.session = session
        self.settings = settings
        self.enrolments = EnrolmentRepository(session=session, auto_commit=False, auto_refresh=False)
        self.progress = ProgressRepository(session)

    async def _target(self, enrolment_id: uuid.UUID, user_id: uuid.UUID | None) -> ProgressTarget:
        target = await progress_target(self.session, enrolment_id, user_id)
        if target is not None and target.course_status != CourseStatus.DRAFT:
            return target
        if target is None:
            conditions = [self.enrolments.model_type.id == enrolment_id]
            if user_id is not None:
                conditions.append(self.enrolments.model_type.user_id == user_id)
            other = await self.enrolments.get_one_or_none(*conditions)
            if other is not None and other.status is EnrolmentStatus.WAITLISTED:
                raise Conflict("You are on the waiting list; progress counts once you have a seat.")
            if other is not None and other.status is EnrolmentStatus.WITHDRAWN:
                raise Conflict("This enrolment was withdrawn.")
        raise NotFound("No such enrolment.")

    def _check(
        self,
        target: ProgressTarget,
        events: Sequence[s.Event],
        lessons: dict[uuid.UUID, OutlineLesson],
        keys: dict[uuid.UUID, QuizKey],
        now: datetime,
    ) -> None:
        """Check every event against the outline; the first bad one is a 422 naming its field."""
        latest = now + timedelta(seconds=self.settings.enrolment_clock_skew)
        # One pass, dispatching on the exact class: isinstance() on msgspec structs goes through ABC checks.
        for i, event in enumerate(events):
            kind = type(event)
            if event.at > latest:
                raise ValidationFailed.on(f"events[{i}].at", "is in the future")
            if event.at < EARLIEST_EVENT:
                raise ValidationFailed.on(f"events[{i}].at", "is before 1970")
            if kind is s.Attendance:
                self._check_attendance(f"events[{i}]", cast("s.Attendance", event), target, latest)
            lesson_id = event.lesson_id
            if lesson_id is None and kind is s.Attendance:
                continue
            lesson = lessons.get(lesson_id) if lesson_id is not None else None
            if lesson is None:
                raise ValidationFailed.on(f"events[{i}].lesson_id", "is not a lesson of this course")
            if not _released(lesson, now):
                raise ValidationFailed.on(f"events[{i}].lesson_id", "is not released yet")
            if kind is s.LessonCompleted and lesson.kind not in SELF_COMPLETED_KINDS:
                raise ValidationFailed.on(
                    f"events[{i}].type", f"a {lesson.kind.value} lesson completes by what the server measures"
                )
            if kind is s.VideoWatched:
                self._check_interval(f"events[{i}]", cast("s.VideoWatched", event), lesson)
            elif kind is s.QuizAttemptEvent:
                self._check_answers(
                    f"events[{i}]", cast("s.QuizAttemptEvent", event), lesson, keys.get(lesson.id)
                )

    @staticmethod
    def _check_attendance(where: str, event: s.Attendance, target: ProgressTarget, latest: datetime) -> None:
        if target.format != CourseFormat.MASTERCLASS:
            raise ValidationFailed.on(f"{where}.type", "attendance is recorded for masterclasses only")
        if event.left_at <= event.at:
            raise ValidationFailed.on(f"{where}.left_at", "must be after the join time (at)")
        if event.left_at > latest:
            raise ValidationFailed.on(f"{where}.left_at", "is in the future")

    @staticmethod
    def _check_interval(where: str, event: s.VideoWatched, lesson: OutlineLesson) -> None:
        if lesson.kind is not LessonKind.VIDEO:
            raise ValidationFailed.on(f"{where}.type", "video intervals are for video lessons")
        if event.to_second <= event.from_second:
            raise ValidationFailed.on(f"{where}.to_second", "must be after from_second")
        duration = lesson.video_duration_seconds
        if duration is not None and event.to_second > duration + DURATION_TOLERANCE:
            raise ValidationFailed.on(f"{where}.to_second", f"is beyond the video's duration ({duration} s)")

    @staticmethod
    def _check_answers(
        where: str, event: s.QuizAttemptEvent, lesson: OutlineLesson, key: QuizKey | None
    ) -> None:
        if lesson.kind is not LessonKind.QUIZ or key is None:
            raise ValidationFailed.on(f"{where}.type", "quiz attempts are for quiz lessons")
        if key.questions and not any(answer.option_ids for answer in event.answers):
            # An accidental tap on "submit" must not use up an attempt (scored 0).
            raise ValidationFailed.on(f"{where}.answers", "answers no question")
        questions = {q.id: q for q in key.questions}
        seen: set[uuid.UUID] = set()
        for j, answer in enumerate(event.answers):
            field = f"{where}.answers[{j}]"
            question = questions.get(answer.question_id)
            if question is None:
                raise ValidationFailed.on(f"{field}.question_id", "is not a question of this quiz")
            if answer.question_id in seen:
                raise ValidationFailed.on(f"{field}.question_id", "is answered twice")
            seen.add(answer.question_id)
            for option in answer.option_ids:
                if option not in question.option_ids:
                    raise ValidationFailed.on(f"{field}.option_ids", f"{option} is not one of the options")
            if question.kind.value != "multiple" and len(answer.option_ids) > 1:
                raise ValidationFailed.on(f"{field}.option_ids", "this question takes one answer")

    async def ingest(
        self, user_id: uuid.UUID, enrolment_id: uuid.UUID, batch: s.ProgressBatch
    ) -> s.ProgressAccepted:
        """Apply a batch of events once: retried ids change nothing; completion is recorded when reached."""
        now = utcnow()
        target = await self._target(enrolment_id, user_id)
        outline, lessons = await self._outline(target)
        events = batch.events
        keys: dict[uuid.UUID, QuizKey] = {}
        for event in events:
            if (
                type(event) is s.QuizAttemptEvent
                and event.lesson_id in lessons
                and event.lesson_id not in keys
            ):
                key = await quiz_answer_key(self.session, event.lesson_id)
                if key is not None:
                    keys[event.lesson_id] = key
        self._check(target, events, lessons, keys, now)
        stored, ignored = as_stored(events)

        # The events go to the database as one JSON document (msgspec writes it from the checked structs),
        # not as per-column arrays: encoding 500-element arrays costs the driver more than the database.
        ingested = await self.progress.ingest(
            enrolment_id, _EVENTS.encode(stored).decode(), self.settings.enrolment_video_complete_ratio
        )
        facts: dict[uuid.UUID, ProgressFacts] | None = ingested.progress
        results: list[s.QuizResult] = []
        if keys:
            results = await self._grade(enrolment_id, stored, ingested.new_attempts, lessons, keys, now)
            facts = None  # attempts changed lesson progress after the statement: read it again
        status, percent, completed_at = await self.settle(target, outline, now, facts)
        sent = {e.id for e in stored}
        return s.ProgressAccepted(
            accepted=ingested.accepted,
            duplicates=len(sent) - ingested.accepted,
            ignored=len(ignored - sent),
            status=status,
            progress_percent=percent,
            completed_at=completed_at,
            quiz_results=results,
        )

    async def _outline(
        self, target: ProgressTarget
    ) -> tuple[list[OutlineLesson], dict[uuid.UUID, OutlineLesson]]:
        """The course's outline, from this process's cache while its lessons and modules are unchanged."""
        course_id = target.enrolment.course_id
        cached = _OUTLINES.get(course_id)
        if cached is not None and cached[0] == target.outline_version:
            return cached[1], cached[2]
        # Read after the version (a later snapshot): an edit in between makes the next batch read it again.
        outline = await self.enrolments.outline(course_id)
        lessons = {lesson.id: lesson for lesson in outline}
        if len(_OUTLINES) >= OUTLINE_CACHE_SIZE:
            _OUTLINES.pop(next(iter(_OUTLINES)))
        _OUTLINES[course_id] = (target.outline_version, outline, lessons)
        return outline, lessons

    async def _grade(
        self,
        enrolment_id: uuid.UUID,
        events: Sequence[s.Event],
        new_ids: frozenset[str],
        lessons: dict[uuid.UUID, OutlineLesson],
        keys: dict[uuid.UUID, QuizKey],
        now: datetime,
    ) -> list[s.QuizResult]:
        """Grade the new attempts; answer a retried attempt with the result it got the first time."""
        quiz_events = [e for e in events if isinstance(e, s.QuizAttemptEvent)]
        if not quiz_events:
            return []
        results: dict[str, s.QuizResult] = {}
        for event in quiz_events:
            if event.id not in new_ids or event.id in results:
                continue
            key = keys[event.lesson_id]
            number = await self.progress.use_attempt(
                enrolment_id, event.lesson_id, key.max_attempts, event.at
            )
            if number is None:
                raise Conflict(
                    "No attempts are left for this quiz.", extra={"lesson_id": str(event.lesson_id)}
                )
            score = grade(key, event.answers)
            attempt = QuizAttempt(
                id=uuid.uuid4(),
                enrolment_id=enrolment_id,
                lesson_id=event.lesson_id,
                client_id=event.id,
                attempt=number,
                answers={str(a.question_id): [str(o) for o in a.option_ids] for a in event.answers},
                score=score,
                passed=score >= key.pass_mark,
                submitted_at=min(event.at, now),
            )
            await self.progress.record_attempt(attempt)
            results[event.id] = self._result(attempt, key.max_attempts, number)
        retried = [e.id for e in quiz_events if e.id not in new_ids]
        if retried:
            used = await self.progress.attempts_used(enrolment_id, list({e.lesson_id for e in quiz_events}))
            for attempt in await self.progress.attempts_by_client_id(enrolment_id, retried):
                max_attempts = (
                    lessons[attempt.lesson_id].max_attempts if attempt.lesson_id in lessons else None
                )
                results[attempt.client_id] = self._result(
                    attempt, max_attempts, used.get(attempt.lesson_id, 0)
                )
        return [results[e.id] for e in quiz_events if e.id in results]

    @staticmethod
    def _result(attempt: QuizAttempt, max_attempts: int | None, used: int) -> s.QuizResult:
        return s.QuizResult(
            event_id=attempt.client_id,
            lesson_id=attempt.lesson_id,
            attempt=attempt.attempt,
            score=attempt.score,
            passed=attempt.passed,
            attempts_left=None if max_attempts is None else max(0, max_attempts - used),
        )

    async def settle(
        self,
        target: ProgressTarget,
        outline: Sequence[OutlineLesson],
        now: datetime,
        facts: dict[uuid.UUID, ProgressFacts] | None = None,
    ) -> tuple[EnrolmentStatus, int, datetime | None]:
        """Recompute the enrolment's percentage and resume point; record the completion once, when met.

        ``facts`` is the lesson progress as it now stands when the caller has it; else it is read."""
        enrolment = target.enrolment
        if facts is None:
            facts = {
                lesson_id: ProgressFacts(
                    completed=p.completed_at is not None,
                    passed=p.passed_at is not None,
                    attempted=p.attempts_used > 0,
                    touched_at=p.last_event_at,
                )
                for lesson_id, p in (await self.enrolments.lesson_progress(enrolment.id)).items()
            }
        lessons = [LessonFacts(x.id, x.kind, x.required, _released(x, now)) for x in outline]
        rule = CompletionRule(
            format=CourseFormat(target.format),
            min_required_percent=target.min_required_percent,
            requires_quizzes_passed=target.requires_quizzes_passed,
            requires_attendance=target.requires_attendance,
            attendance_ratio=self.settings.enrolment_attendance_ratio,
        )
        attended: float | None = None
        if rule.format is CourseFormat.MASTERCLASS:
            attended = await self._attended_minutes(target)
        outcome = evaluate(
            rule, lessons, facts, attended_minutes=attended, live_minutes=target.live_duration_minutes
        )
        percent = 100 if enrolment.status is EnrolmentStatus.COMPLETED else outcome.percent
        if (percent, outcome.resume_lesson_id) != (enrolment.progress_percent, enrolment.resume_lesson_id):
            await self.progress.set_summary(
                enrolment.id, percent=percent, resume_lesson_id=outcome.resume_lesson_id
            )
        if enrolment.status is EnrolmentStatus.COMPLETED:
            return enrolment.status, 100, enrolment.completed_at
        if not outcome.complete:
            return enrolment.status, outcome.percent, None
        completed_at = await self.progress.mark_completed(enrolment.id, now)
        if completed_at is None:  # recorded by an earlier batch
            return EnrolmentStatus.COMPLETED, 100, enrolment.completed_at
        if target.certificates_enabled:
            await owe_certificate(
                self.session,
                enrolment_id=enrolment.id,
                user_id=enrolment.user_id,
                course_id=enrolment.course_id,
                run_id=enrolment.run_id,
                completed_at=completed_at,
            )
        return EnrolmentStatus.COMPLETED, 100, completed_at

    async def _attended_minutes(self, target: ProgressTarget) -> float | None:
        if target.enrolment.attendance_minutes_marked is not None:
            return float(target.enrolment.attendance_minutes_marked)  # staff marking wins
        if target.live_starts_at is None or not target.live_duration_minutes:
            return None
        ends = target.live_starts_at + timedelta(minutes=target.live_duration_minutes)
        return await self.progress.attended_minutes(target.enrolment.id, target.live_starts_at, ends)

    async def mark_attendance(self, enrolment_id: uuid.UUID, minutes: int | None) -> s.ProgressAccepted:
        """Staff record the minutes a learner attended (None: go back to the measured join/leave times)."""
        now = utcnow()
        target = await self._target(enrolment_id, None)
        if target.format != CourseFormat.MASTERCLASS:
            raise Conflict("Attendance is recorded for masterclasses only.")
        target.enrolment.attendance_minutes_marked = minutes
        await self.session.flush()
        outline, _ = await self._outline(target)
        status, percent, completed_at = await self.settle(target, outline, now)
        return s.ProgressAccepted(
            accepted=0,
            duplicates=0,
            ignored=0,
            status=status,
            progress_percent=percent,
            completed_at=completed_at,
            quiz_results=[],
        )
