"""Courses, their runs (editions), modules, lessons and quiz questions."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    REAL,
    Boolean,
    CheckConstraint,
    Column,
    Computed,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.db.base import Base, Timestamps, UUIDPrimaryKey

# Multilingual text is stored as {"ca": ..., "es": ..., "en": ...}; see courses.i18n for the fallback order.
Localized = dict[str, str]


class CourseFormat(enum.StrEnum):
    MOOC = "mooc"  # several modules, dated editions, modules released week by week
    INSTANT = "instant"  # short and self-paced, one evergreen run
    MASTERCLASS = "masterclass"  # a live session with a speaker, later a recording


class CourseStatus(enum.StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    ARCHIVED = "archived"


class LessonKind(enum.StrEnum):
    ARTICLE = "article"
    VIDEO = "video"
    IMAGE = "image"
    DOCUMENT = "document"
    QUIZ = "quiz"
    LIVE_SESSION = "live_session"
    EMBED = "embed"


class EmbedProvider(enum.StrEnum):
    YOUTUBE = "youtube"
    VIMEO = "vimeo"


class QuestionKind(enum.StrEnum):
    SINGLE = "single"
    MULTIPLE = "multiple"
    TRUE_FALSE = "true_false"


def _enum(cls: type[enum.StrEnum], name: str) -> Enum:
    return Enum(cls, name=name, values_callable=lambda e: [m.value for m in e])


def _lang_text(column: str) -> str:
    return " || ' ' || ".join(f"coalesce({column}->>'{lang}', '')" for lang in ("ca", "es", "en"))


# The search document is maintained by PostgreSQL itself, unaccented so "informatica" finds "Informàtica";
# aula_unaccent/aula_words are the immutable wrappers created in migration 0003.
SEARCH_VECTOR = (
    f"setweight(to_tsvector('simple', aula_unaccent({_lang_text('title')} || ' ' || slug)), 'A')"
    f" || setweight(to_tsvector('simple', aula_unaccent({_lang_text('summary')} || ' '"
    " || coalesce(category, '') || ' ' || aula_words(tags))), 'B')"
    f" || setweight(to_tsvector('simple', aula_unaccent({_lang_text('description')} || ' '"
    " || aula_words(speaker_names))), 'C')"
)


class Course(UUIDPrimaryKey, Timestamps, Base):
    """A course in one of three formats; learners enrol in its runs."""

    __tablename__ = "courses"
    __table_args__ = (
        CheckConstraint("slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$'", name="slug_format"),
        CheckConstraint("title <> '{}'::jsonb", name="title_present"),
        CheckConstraint("estimated_hours IS NULL OR estimated_hours >= 0", name="hours_positive"),
        CheckConstraint("completion_min_required_percent BETWEEN 1 AND 100", name="completion_percent_range"),
        CheckConstraint("popularity >= 0", name="popularity_positive"),
        CheckConstraint("status <> 'published' OR published_at IS NOT NULL", name="published_has_date"),
        Index(
            "ix_courses_search_vector",
            "search_vector",
            postgresql_using="gin",
            postgresql_where="status = 'published'",
        ),
        Index("ix_courses_languages", "languages", postgresql_using="gin"),
        # The catalogue's orders on published courses, read backwards (all keys descending): a page of 20
        # reads about 20 entries.
        Index("ix_courses_published_newest", "published_at", "id", postgresql_where="status = 'published'"),
        Index(
            "ix_courses_published_popular",
            "popularity",
            "published_at",
            "id",
            postgresql_where="status = 'published'",
        ),
        # A category's page in either order reads about 20 entries; its capped count, with or without a
        # format, reads the first from the index alone.
        Index(
            "ix_courses_published_category",
            "category",
            "published_at",
            "id",
            postgresql_where="status = 'published'",
            postgresql_include=["format"],
        ),
        Index(
            "ix_courses_published_category_popular",
            "category",
            "popularity",
            "published_at",
            "id",
            postgresql_where="status = 'published'",
        ),
        # "Open for enrolment now": courses whose current window has opened (see enrolling_from below).
        Index(
            "ix_courses_published_enrolling",
            "enrolling_from",
            postgresql_where="status = 'published'",
            postgresql_include=["enrolling_until", "format", "published_at", "popularity", "id"],
        ),
        Index("ix_courses_window_ends", "enrolling_until", postgresql_where="enrolling_until IS NOT NULL"),
    )

    slug: Mapped[str] = mapped_column(String(120), unique=True)
    format: Mapped[CourseFormat] = mapped_column(_enum(CourseFormat, "course_format"))
    status: Mapped[CourseStatus] = mapped_column(
        _enum(CourseStatus, "course_status"), default=CourseStatus.DRAFT
    )
    title: Mapped[Localized] = mapped_column(JSONB)
    summary: Mapped[Localized] = mapped_column(JSONB, default=dict)
    description: Mapped[Localized] = mapped_column(JSONB, default=dict)
    category: Mapped[str | None] = mapped_column(String(60))
    tags: Mapped[list[str]] = mapped_column(ARRAY(String(40)), default=list)
    # [{"code": "1.1", "level": 3}, ...]: GIN-indexed so `@>` filters by competence, level or both
    digcomp: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    estimated_hours: Mapped[float | None] = mapped_column(Float)
    languages: Mapped[list[str]] = mapped_column(ARRAY(String(2)), default=list)  # of instruction
    cover_asset_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("media_assets.id", ondelete="RESTRICT")
    )
    # [{"name": ..., "affiliation": ..., "bio": {"ca": ...}}]; names copied out for search
    speakers: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    speaker_names: Mapped[list[str]] = mapped_column(ARRAY(String(200)), default=list)

    certificates_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # Completion rule: this share of the required lessons done, required quizzes passed if asked,
    # and, for masterclasses that ask for it, attendance at the live session.
    completion_min_required_percent: Mapped[int] = mapped_column(SmallInteger, default=100)
    completion_requires_quizzes_passed: Mapped[bool] = mapped_column(Boolean, default=True)
    completion_requires_attendance: Mapped[bool] = mapped_column(Boolean, default=False)

    published_at: Mapped[datetime | None]
    archived_at: Mapped[datetime | None]
    # Seats taken over all runs, refreshed every minute (``repository.refresh_popularity``) so sorting by
    # popularity needs no join.
    popularity: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    search_vector: Mapped[Any] = mapped_column(TSVECTOR, Computed(SEARCH_VECTOR, persisted=True))
    # The first enrolment window of the course's runs that has not ended (overlapping windows merged),
    # kept by a trigger on course_runs and moved on by ``repository.refresh_listing``: "open now" is
    # enrolling_from <= now < enrolling_until, read from an index instead of every course's runs.
    enrolling_from: Mapped[datetime | None] = mapped_column()
    enrolling_until: Mapped[datetime | None] = mapped_column()

    runs: Mapped[list[CourseRun]] = relationship(
        lazy="raise", back_populates="course", order_by="CourseRun.starts_at"
    )
    modules: Mapped[list[CourseModule]] = relationship(
        lazy="raise", back_populates="course", order_by="CourseModule.position"
    )


# The catalogue's own inverted index over published courses, kept by triggers on ``courses`` (migration
# 0009): one row per word of a course's search document (kind 'w', its best weight: title 1.0, summary,
# category and tags 0.4, description and speakers 0.2) and per DigComp key (kind 'c': "1.1", "1.1:2" and
# ":2" for competence 1.1 at level 2). Search and competence filters read their matches, with the sort key
# and weight, from one B-tree alone: no visit to each matching course's row (decision 0013).
course_keys = Table(
    "course_keys",
    Base.metadata,
    Column("kind", String(1), nullable=False),
    Column("key", Text(collation="C"), nullable=False),
    Column("published_at", DateTime(timezone=True), nullable=False),
    Column("course_id", ForeignKey("courses.id", ondelete="CASCADE"), nullable=False),
    Column("weight", REAL, nullable=False),
    PrimaryKeyConstraint("kind", "key", "published_at", "course_id", postgresql_include=["weight"]),
    CheckConstraint("kind IN ('w', 'c')", name="kind_known"),
    Index("ix_course_keys_course_id", "course_id"),
)


class CourseRun(UUIDPrimaryKey, Timestamps, Base):
    """An edition learners enrol in; ``seats_taken`` is kept by the enrolment domain."""

    __tablename__ = "course_runs"
    __table_args__ = (
        CheckConstraint(
            "seats_taken >= 0 AND (capacity IS NULL OR seats_taken <= capacity)", name="seats_within_capacity"
        ),
        CheckConstraint("capacity IS NULL OR capacity > 0", name="capacity_positive"),
        CheckConstraint(
            "live_duration_minutes IS NULL OR live_duration_minutes > 0", name="live_duration_positive"
        ),
        Index("ix_course_runs_course_id_starts_at", "course_id", "starts_at"),
        Index(
            "ix_course_runs_live_starts_at", "live_starts_at", postgresql_where="live_starts_at IS NOT NULL"
        ),
    )

    course_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime | None]  # NULL: evergreen (instant courses)
    enrolment_opens_at: Mapped[datetime | None]  # NULL: open from the start of time
    enrolment_closes_at: Mapped[datetime | None]  # NULL: never closes
    capacity: Mapped[int | None]  # NULL: unlimited
    seats_taken: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Madrid", server_default="Europe/Madrid")
    live_starts_at: Mapped[datetime | None]
    live_duration_minutes: Mapped[int | None]
    meeting_url: Mapped[str | None] = mapped_column(String(500))  # enrolled learners only
    venue: Mapped[str | None] = mapped_column(String(300))  # enrolled learners only
    recording_asset_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("media_assets.id", ondelete="RESTRICT")
    )

    course: Mapped[Course] = relationship(lazy="raise", back_populates="runs")


class CourseModule(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "course_modules"
    __table_args__ = (
        # Deferred so a reorder can swap positions inside one transaction.
        UniqueConstraint("course_id", "position", deferrable=True, initially="DEFERRED"),
        UniqueConstraint("id", "course_id", name="uq_course_modules_id_course_id"),
        CheckConstraint("position >= 0", name="position_positive"),
    )

    course_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"))
    position: Mapped[int]
    title: Mapped[Localized] = mapped_column(JSONB)
    summary: Mapped[Localized] = mapped_column(JSONB, default=dict)
    available_from: Mapped[datetime | None]  # weekly release of MOOC modules

    course: Mapped[Course] = relationship(lazy="raise", back_populates="modules")
    lessons: Mapped[list[Lesson]] = relationship(
        lazy="raise",
        back_populates="module",
        order_by="Lesson.position",
        primaryjoin="CourseModule.id == foreign(Lesson.module_id)",
    )


class Lesson(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "lessons"
    __table_args__ = (
        UniqueConstraint("module_id", "position", deferrable=True, initially="DEFERRED"),
        # The lesson's course is its module's course (the column lets progress look lessons up by course).
        ForeignKeyConstraint(
            ["module_id", "course_id"],
            ["course_modules.id", "course_modules.course_id"],
            name="fk_lessons_module_id_course_modules",
            ondelete="CASCADE",
        ),
        CheckConstraint("position >= 0", name="position_positive"),
        CheckConstraint("estimated_minutes IS NULL OR estimated_minutes >= 0", name="minutes_positive"),
        CheckConstraint("pass_mark IS NULL OR pass_mark BETWEEN 0 AND 100", name="pass_mark_range"),
        CheckConstraint("max_attempts IS NULL OR max_attempts >= 1", name="attempts_positive"),
        CheckConstraint(
            "video_duration_seconds IS NULL OR video_duration_seconds >= 0", name="duration_positive"
        ),
        CheckConstraint(
            "kind <> 'embed' OR (embed_provider IS NOT NULL AND embed_id IS NOT NULL)", name="embed_complete"
        ),
        Index("ix_lessons_course_id", "course_id"),
    )

    module_id: Mapped[uuid.UUID]
    course_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"))
    position: Mapped[int]
    kind: Mapped[LessonKind] = mapped_column(_enum(LessonKind, "lesson_kind"))
    title: Mapped[Localized] = mapped_column(JSONB)
    required: Mapped[bool] = mapped_column(Boolean, default=True)
    estimated_minutes: Mapped[int | None]
    available_from: Mapped[datetime | None]
    asset_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("media_assets.id", ondelete="RESTRICT"))
    captions_asset_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("media_assets.id", ondelete="RESTRICT")
    )
    video_duration_seconds: Mapped[int | None]
    embed_provider: Mapped[EmbedProvider | None] = mapped_column(_enum(EmbedProvider, "embed_provider"))
    embed_id: Mapped[str | None] = mapped_column(String(64))
    article_html: Mapped[Localized] = mapped_column(JSONB, default=dict)  # sanitized before storage
    pass_mark: Mapped[int | None] = mapped_column(SmallInteger)  # percent, quizzes only
    max_attempts: Mapped[int | None] = mapped_column(SmallInteger)  # NULL: unlimited

    module: Mapped[CourseModule] = relationship(
        lazy="raise", back_populates="lessons", primaryjoin="CourseModule.id == foreign(Lesson.module_id)"
    )
    # A quiz's questions and their options go with it (replaced whole when staff edit the quiz): deleting
    # a loaded question must delete its options, not set their question to NULL.
    questions: Mapped[list[QuizQuestion]] = relationship(
        lazy="raise",
        back_populates="lesson",
        order_by="QuizQuestion.position",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )


class QuizQuestion(UUIDPrimaryKey, Base):
    __tablename__ = "quiz_questions"
    __table_args__ = (UniqueConstraint("lesson_id", "position"),)

    lesson_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("lessons.id", ondelete="CASCADE"))
    position: Mapped[int]
    kind: Mapped[QuestionKind] = mapped_column(_enum(QuestionKind, "question_kind"))
    prompt: Mapped[Localized] = mapped_column(JSONB)
    explanation: Mapped[Localized] = mapped_column(JSONB, default=dict)  # shown after grading

    lesson: Mapped[Lesson] = relationship(lazy="raise", back_populates="questions")
    options: Mapped[list[QuizOption]] = relationship(
        lazy="raise",
        back_populates="question",
        order_by="QuizOption.position",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )


class QuizOption(UUIDPrimaryKey, Base):
    __tablename__ = "quiz_options"
    __table_args__ = (UniqueConstraint("question_id", "position"),)

    question_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("quiz_questions.id", ondelete="CASCADE"))
    position: Mapped[int]
    text: Mapped[Localized] = mapped_column(JSONB)
    is_correct: Mapped[bool] = mapped_column(Boolean)  # never serialised to learners

    question: Mapped[QuizQuestion] = relationship(lazy="raise", back_populates="options")
