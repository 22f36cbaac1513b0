"""Enrolments in course runs, the waitlist, per-lesson progress, progress events and quiz attempts."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Enum,
    ForeignKey,
    Index,
    Numeric,
    Sequence,
    SmallInteger,
    String,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB, NUMMULTIRANGE, TSTZMULTIRANGE
from sqlalchemy.orm import Mapped, mapped_column

from lms.db.base import Base, Timestamps, UUIDPrimaryKey


class EnrolmentStatus(enum.StrEnum):
    ENROLLED = "enrolled"  # holds a seat
    WAITLISTED = "waitlisted"  # in line for a seat
    COMPLETED = "completed"  # met the course's completion rule (keeps its seat)
    WITHDRAWN = "withdrawn"  # gave the seat (or the place in line) back; kept as history


# Statuses that count as "in the run": one of them at most per learner and run (a partial unique index).
ACTIVE_STATUSES = (EnrolmentStatus.ENROLLED, EnrolmentStatus.WAITLISTED, EnrolmentStatus.COMPLETED)
SEATED_STATUSES = (EnrolmentStatus.ENROLLED, EnrolmentStatus.COMPLETED)


class EventType(enum.StrEnum):
    LESSON_OPENED = "lesson_opened"
    LESSON_COMPLETED = "lesson_completed"
    VIDEO_WATCHED = "video_watched"
    QUIZ_ATTEMPT = "quiz_attempt"
    ATTENDANCE = "attendance"


def _enum(cls: type[enum.StrEnum], name: str) -> Enum:
    return Enum(cls, name=name, values_callable=lambda e: [m.value for m in e])


# Waitlist tickets come from one sequence: the order of arrival never changes, whatever is withdrawn.
WAITLIST_TICKETS = Sequence("enrolments_waitlist_ticket_seq", metadata=Base.metadata)


class Enrolment(UUIDPrimaryKey, Timestamps, Base):
    """A learner in a run: seated, in line, completed or withdrawn."""

    __tablename__ = "enrolments"
    __table_args__ = (
        # Enrolling twice can never create two live rows; withdrawn ones stay as history.
        Index(
            "uq_enrolments_run_id_user_id_active",
            "run_id",
            "user_id",
            unique=True,
            postgresql_where="status <> 'withdrawn'",
        ),
        Index(
            "ix_enrolments_waitlist", "run_id", "waitlist_ticket", postgresql_where="status = 'waitlisted'"
        ),
        Index("ix_enrolments_user_id_created_at", "user_id", "created_at"),
        Index("ix_enrolments_course_id_user_id", "course_id", "user_id"),
        CheckConstraint("status <> 'waitlisted' OR waitlist_ticket IS NOT NULL", name="waitlist_has_ticket"),
        CheckConstraint("status <> 'enrolled' OR enrolled_at IS NOT NULL", name="enrolled_has_date"),
        CheckConstraint(
            "(status = 'completed') = (completed_at IS NOT NULL) OR status = 'withdrawn'",
            name="completed_has_date",
        ),
        CheckConstraint("progress_percent BETWEEN 0 AND 100", name="progress_percent_range"),
        CheckConstraint(
            "attendance_minutes_marked IS NULL OR attendance_minutes_marked >= 0",
            name="marked_minutes_positive",
        ),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    # A run staff may delete (nobody seated) takes its withdrawn history with it; certificates still
    # refuse the deletion of an enrolment they were issued for.
    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("course_runs.id", ondelete="CASCADE"))
    course_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"))
    status: Mapped[EnrolmentStatus] = mapped_column(_enum(EnrolmentStatus, "enrolment_status"))
    waitlist_ticket: Mapped[int | None] = mapped_column(BigInteger)
    enrolled_at: Mapped[datetime | None]
    waitlisted_at: Mapped[datetime | None]
    promoted_at: Mapped[datetime | None]
    withdrawn_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    enrolled_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # Kept up to date by every progress batch, so lists and reports need no aggregation over events.
    progress_percent: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    last_activity_at: Mapped[datetime | None]
    resume_lesson_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("lessons.id", ondelete="SET NULL"))
    # Masterclass attendance: the merged join/leave intervals, or minutes marked by staff.
    attended: Mapped[Any] = mapped_column(TSTZMULTIRANGE, server_default="{}")
    attendance_minutes_marked: Mapped[int | None] = mapped_column(SmallInteger)


class LessonProgress(Base):
    """One learner's state in one lesson of their enrolment."""

    __tablename__ = "lesson_progress"
    __table_args__ = (
        CheckConstraint("attempts_used >= 0", name="attempts_non_negative"),
        CheckConstraint("best_score IS NULL OR best_score BETWEEN 0 AND 100", name="best_score_range"),
    )

    enrolment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("enrolments.id", ondelete="CASCADE"), primary_key=True
    )
    lesson_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("lessons.id", ondelete="CASCADE"), primary_key=True
    )
    opened_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    last_event_at: Mapped[datetime | None]
    # Played seconds, merged by the database; deferred, as only SQL reads it (coverage is watched_seconds).
    watched: Mapped[Any] = mapped_column(NUMMULTIRANGE, server_default="{}", deferred=True)
    watched_seconds: Mapped[Decimal] = mapped_column(Numeric(10, 2), default=0, server_default="0")
    attempts_used: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    best_score: Mapped[int | None] = mapped_column(SmallInteger)
    passed_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())


class ProgressEvent(Base):
    """An event as the client sent it; its client-made id makes a retried batch a no-op."""

    __tablename__ = "progress_events"
    __table_args__ = (
        CheckConstraint("from_second IS NULL OR from_second >= 0", name="from_non_negative"),
        CheckConstraint("to_second IS NULL OR to_second > from_second", name="interval_forward"),
        CheckConstraint("ended_at IS NULL OR ended_at > occurred_at", name="attendance_forward"),
    )

    enrolment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("enrolments.id", ondelete="CASCADE"), primary_key=True
    )
    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    type: Mapped[EventType] = mapped_column(_enum(EventType, "progress_event_type"))
    lesson_id: Mapped[uuid.UUID | None]  # no foreign key: events are history, lessons may be deleted
    occurred_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]  # attendance: when the learner left
    from_second: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    to_second: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    received_at: Mapped[datetime] = mapped_column(server_default=func.now())


class QuizAttempt(UUIDPrimaryKey, Base):
    """A graded quiz attempt: the learner's answers, score and result."""

    __tablename__ = "quiz_attempts"
    __table_args__ = (
        UniqueConstraint("enrolment_id", "lesson_id", "attempt"),
        UniqueConstraint("enrolment_id", "client_id"),
        CheckConstraint("score BETWEEN 0 AND 100", name="score_range"),
        CheckConstraint("attempt >= 1", name="attempt_positive"),
    )

    enrolment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("enrolments.id", ondelete="CASCADE"))
    lesson_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("lessons.id", ondelete="CASCADE"))
    client_id: Mapped[str] = mapped_column(String(64))
    attempt: Mapped[int] = mapped_column(SmallInteger)
    answers: Mapped[dict[str, Any]] = mapped_column(JSONB)
    score: Mapped[int] = mapped_column(SmallInteger)
    passed: Mapped[bool]
    submitted_at: Mapped[datetime]
