"""Request and response shapes of enrolment, progress and the staff reports."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from certificates.models import CertificateStatus
from courses.models import CourseFormat, LessonKind
from enrolments.models import EnrolmentStatus
from lms.accounts.schemas import Strict

MAX_BATCH = 500  # events per progress request; a client buffering longer sends several batches
ClientId = Annotated[str, Meta(min_length=1, max_length=64)]
Second = Annotated[float, Meta(ge=0, le=86_400)]
# An event's time needs its offset: a time without one names no instant (and cannot be compared with the
# server's clock). msgspec refuses it while decoding, naming the field (``events[3].at``).
Moment = Annotated[datetime, Meta(tz=True)]


# ---------------------------------------------------------------- enrolment


class EnrolmentCreate(Strict):
    run_id: uuid.UUID


class StaffEnrolmentCreate(Strict, kw_only=True):
    email: Annotated[str, Meta(min_length=3, max_length=254)] | None = None
    user_id: uuid.UUID | None = None


class Enrolment(msgspec.Struct):
    """An enrolment as its learner sees it."""

    id: uuid.UUID
    run_id: uuid.UUID
    course_id: uuid.UUID
    status: EnrolmentStatus
    waitlist_position: int | None  # 1 = next to be promoted
    enrolled_at: datetime | None
    waitlisted_at: datetime | None
    completed_at: datetime | None
    created_at: datetime


class CertificateState(msgspec.Struct):
    status: CertificateStatus
    code: str
    issued_at: datetime | None


class ResumeLesson(msgspec.Struct):
    id: uuid.UUID
    title: str
    kind: LessonKind


class MyEnrolment(msgspec.Struct):
    """One line of "my enrolments"."""

    id: uuid.UUID
    status: EnrolmentStatus
    waitlist_position: int | None
    run_id: uuid.UUID
    run_starts_at: datetime
    run_ends_at: datetime | None
    course_id: uuid.UUID
    course_slug: str
    course_title: str
    course_format: CourseFormat
    progress_percent: int
    last_activity_at: datetime | None
    completed_at: datetime | None
    resume: ResumeLesson | None
    certificate: CertificateState | None


class LessonState(msgspec.Struct):
    id: uuid.UUID
    module_id: uuid.UUID
    title: str
    kind: LessonKind
    required: bool
    released: bool
    available_from: datetime | None
    state: Literal["not_started", "in_progress", "completed"]
    opened_at: datetime | None
    completed_at: datetime | None
    watched_percent: int | None  # videos
    best_score: int | None  # quizzes
    passed: bool | None
    attempts_used: int | None
    attempts_left: int | None  # None: unlimited (or not a quiz)


class EnrolmentDetail(msgspec.Struct):
    id: uuid.UUID
    status: EnrolmentStatus
    waitlist_position: int | None
    run_id: uuid.UUID
    course_id: uuid.UUID
    course_slug: str
    course_title: str
    course_format: CourseFormat
    progress_percent: int
    last_activity_at: datetime | None
    completed_at: datetime | None
    attended_minutes: int | None  # masterclasses
    live_duration_minutes: int | None
    meeting_url: str | None  # only shown to enrolled learners
    venue: str | None
    certificate: CertificateState | None
    lessons: list[LessonState]


# ---------------------------------------------------------------- progress events


class _Event(Strict, tag_field="type", kw_only=True):
    id: ClientId
    at: Moment


class LessonOpened(_Event, tag="lesson_opened"):
    lesson_id: uuid.UUID


class LessonCompleted(_Event, tag="lesson_completed"):
    lesson_id: uuid.UUID


class VideoWatched(_Event, tag="video_watched"):
    """A played interval: from second to second of the video (seeking produces no interval)."""

    lesson_id: uuid.UUID
    from_second: Second
    to_second: Second


class Answer(Strict):
    question_id: uuid.UUID
    option_ids: Annotated[list[uuid.UUID], Meta(max_length=20)]


class QuizAttemptEvent(_Event, tag="quiz_attempt"):
    lesson_id: uuid.UUID
    answers: Annotated[list[Answer], Meta(max_length=200)]


class Attendance(_Event, tag="attendance"):
    """The learner was in the live session from ``at`` (joined) to ``left_at``."""

    left_at: Moment
    lesson_id: uuid.UUID | None = None


Event = LessonOpened | LessonCompleted | VideoWatched | QuizAttemptEvent | Attendance


class ProgressBatch(Strict):
    events: Annotated[list[Event], Meta(min_length=1, max_length=MAX_BATCH)]


class QuizResult(msgspec.Struct):
    """What a learner learns about an attempt: never the correct answers."""

    event_id: str
    lesson_id: uuid.UUID
    attempt: int
    score: int
    passed: bool
    attempts_left: int | None


class ProgressAccepted(msgspec.Struct):
    accepted: int  # new events
    duplicates: int  # already received (a retried batch)
    ignored: int  # played intervals empty at the stored precision (hundredths of a second): no coverage
    status: EnrolmentStatus
    progress_percent: int
    completed_at: datetime | None
    quiz_results: list[QuizResult]


class AttendanceMark(Strict):
    attended_minutes: Annotated[int, Meta(ge=0, le=1440)] | None


# ---------------------------------------------------------------- staff


class RosterLine(msgspec.Struct):
    id: uuid.UUID
    user_id: uuid.UUID
    email: str
    full_name: str
    status: EnrolmentStatus
    waitlist_position: int | None
    enrolled_at: datetime | None
    waitlisted_at: datetime | None
    completed_at: datetime | None
    withdrawn_at: datetime | None
    progress_percent: int
    last_activity_at: datetime | None


BulkOutcome = Literal["enrolled", "already_enrolled", "waitlisted", "unknown_account", "invalid_email"]


class BulkRow(msgspec.Struct):
    line: int
    email: str
    outcome: BulkOutcome
    enrolment_id: uuid.UUID | None = None
    waitlist_position: int | None = None


class BulkReport(msgspec.Struct):
    run_id: uuid.UUID
    rows: list[BulkRow]
    counts: dict[str, int]


class QuizPassRate(msgspec.Struct):
    lesson_id: uuid.UUID
    title: str
    learners_attempted: int
    learners_passed: int
    pass_rate: float | None


class ProgressReport(msgspec.Struct):
    run_id: uuid.UUID
    course_id: uuid.UUID
    enrolled: int  # holding a seat (enrolled or completed)
    waitlisted: int
    withdrawn: int
    active: int  # seated learners with activity in the last ``active_days`` days
    active_days: int
    completed: int
    completion_rate: float | None
    average_progress: float | None
    quizzes: list[QuizPassRate]
