"""Request and response shapes of the catalogue and the staff publishing API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from courses.models import CourseFormat, CourseStatus, EmbedProvider, LessonKind, QuestionKind
from lms.accounts.schemas import Strict
from media.public import PublicImage

# {"ca": ..., "es": ..., "en": ...}; keys are checked by the service so the error names the language.
Localized = dict[str, str]
Slug = Annotated[str, Meta(min_length=3, max_length=120, pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")]
Tag = Annotated[str, Meta(min_length=1, max_length=40)]
Category = Annotated[str, Meta(min_length=1, max_length=60)]
Minutes = Annotated[int, Meta(ge=0, le=100_000)]
Percent = Annotated[int, Meta(ge=0, le=100)]
Position = Annotated[int, Meta(ge=0, le=10_000)]
Url = Annotated[str, Meta(max_length=500, pattern=r"^https://\S+$")]
TimeZone = Annotated[str, Meta(min_length=1, max_length=64)]
ProblemCode = str


class CompetenceTag(msgspec.Struct, forbid_unknown_fields=True):
    code: Annotated[str, Meta(max_length=5)]
    level: Annotated[int, Meta(ge=1, le=8)]


class Speaker(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: Annotated[str, Meta(min_length=1, max_length=200)]
    affiliation: Annotated[str, Meta(max_length=200)] | None = None
    bio: Localized = msgspec.field(default_factory=dict)


class CertificateSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    enabled: bool = False
    min_required_percent: Annotated[int, Meta(ge=1, le=100)] = 100
    requires_quizzes_passed: bool = True
    requires_attendance: bool = False


# ---------------------------------------------------------------- courses (staff)


class CourseCreate(Strict, kw_only=True):
    slug: Slug
    format: CourseFormat
    title: Localized
    summary: Localized = msgspec.field(default_factory=dict)
    description: Localized = msgspec.field(default_factory=dict)
    category: Category | None = None
    tags: Annotated[list[Tag], Meta(max_length=30)] = msgspec.field(default_factory=list)
    digcomp: Annotated[list[CompetenceTag], Meta(max_length=21)] = msgspec.field(default_factory=list)
    estimated_hours: Annotated[float, Meta(ge=0, le=1000)] | None = None
    languages: Annotated[list[str], Meta(max_length=3)] = msgspec.field(default_factory=list)
    cover_asset_id: uuid.UUID | None = None
    speakers: Annotated[list[Speaker], Meta(max_length=20)] = msgspec.field(default_factory=list)
    certificate: CertificateSettings = msgspec.field(default_factory=CertificateSettings)


class CourseUpdate(Strict, kw_only=True):
    slug: Slug | UnsetType = UNSET
    title: Localized | UnsetType = UNSET
    summary: Localized | UnsetType = UNSET
    description: Localized | UnsetType = UNSET
    category: Category | UnsetType | None = UNSET
    tags: Annotated[list[Tag], Meta(max_length=30)] | UnsetType = UNSET
    digcomp: Annotated[list[CompetenceTag], Meta(max_length=21)] | UnsetType = UNSET
    estimated_hours: Annotated[float, Meta(ge=0, le=1000)] | UnsetType | None = UNSET
    languages: Annotated[list[str], Meta(max_length=3)] | UnsetType = UNSET
    cover_asset_id: uuid.UUID | UnsetType | None = UNSET
    speakers: Annotated[list[Speaker], Meta(max_length=20)] | UnsetType = UNSET
    certificate: CertificateSettings | UnsetType = UNSET


class Duplicate(Strict, kw_only=True):
    slug: Slug
    shift_days: Annotated[int, Meta(ge=-3650, le=3650)] | None = None  # copy the runs, moved by this


# ---------------------------------------------------------------- runs


class RunCreate(Strict, kw_only=True):
    starts_at: datetime
    ends_at: datetime | None = None
    enrolment_opens_at: datetime | None = None
    enrolment_closes_at: datetime | None = None
    capacity: Annotated[int, Meta(ge=1, le=1_000_000)] | None = None
    timezone: TimeZone = "Europe/Madrid"
    live_starts_at: datetime | None = None
    live_duration_minutes: Annotated[int, Meta(ge=1, le=1440)] | None = None
    meeting_url: Url | None = None
    venue: Annotated[str, Meta(max_length=300)] | None = None
    recording_asset_id: uuid.UUID | None = None


class RunUpdate(Strict, kw_only=True):
    starts_at: datetime | UnsetType = UNSET
    ends_at: datetime | UnsetType | None = UNSET
    enrolment_opens_at: datetime | UnsetType | None = UNSET
    enrolment_closes_at: datetime | UnsetType | None = UNSET
    capacity: Annotated[int, Meta(ge=1, le=1000000)] | UnsetType | None = UNSET
    timezone: TimeZone | UnsetType = UNSET
    live_starts_at: datetime | UnsetType | None = UNSET
    live_duration_minutes: Annotated[int, Meta(ge=1, le=1440)] | UnsetType | None = UNSET
    meeting_url: Url | UnsetType | None = UNSET
    venue: Annotated[str, Meta(max_length=300)] | UnsetType | None = UNSET
    recording_asset_id: uuid.UUID | UnsetType | None = UNSET


class Run(msgspec.Struct):
    """A run as staff see it (everything, including the meeting link and venue)."""

    id: uuid.UUID
    course_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime | None
    enrolment_opens_at: datetime | None
    enrolment_closes_at: datetime | None
    capacity: int | None
    seats_taken: int  # learners holding a seat (enrolled or completed), with or without a capacity
    seats_left: int | None
    timezone: str
    live_starts_at: datetime | None
    live_duration_minutes: int | None
    meeting_url: str | None
    venue: str | None
    recording_asset_id: uuid.UUID | None


# ---------------------------------------------------------------- modules and lessons


class ModuleCreate(Strict, kw_only=True):
    title: Localized
    summary: Localized = msgspec.field(default_factory=dict)
    available_from: datetime | None = None


class ModuleUpdate(Strict, kw_only=True):
    title: Localized | UnsetType = UNSET
    summary: Localized | UnsetType = UNSET
    available_from: datetime | UnsetType | None = UNSET


class Reorder(Strict):
    """Every id of the collection, in the new order."""

    ids: Annotated[list[uuid.UUID], Meta(min_length=1, max_length=1000)]


class OptionIn(Strict, kw_only=True):
    text: Localized
    correct: bool = False


class QuestionIn(Strict, kw_only=True):
    kind: QuestionKind
    prompt: Localized
    explanation: Localized = msgspec.field(default_factory=dict)
    options: Annotated[list[OptionIn], Meta(max_length=20)] = msgspec.field(default_factory=list)


class QuizIn(Strict, kw_only=True):
    pass_mark: Percent = 50
    max_attempts: Annotated[int, Meta(ge=1, le=100)] | None = None
    questions: Annotated[list[QuestionIn], Meta(max_length=200)]


class EmbedIn(Strict):
    provider: EmbedProvider
    id: Annotated[str, Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


class LessonCreate(Strict, kw_only=True):
    kind: LessonKind
    title: Localized
    required: bool = True
    estimated_minutes: Minutes | None = None
    available_from: datetime | None = None
    asset_id: uuid.UUID | None = None
    captions_asset_id: uuid.UUID | None = None
    video_duration_seconds: Annotated[int, Meta(ge=0, le=86_400)] | None = None
    embed: EmbedIn | None = None
    article_html: Localized = msgspec.field(default_factory=dict)
    quiz: QuizIn | None = None


class LessonUpdate(Strict, kw_only=True):
    title: Localized | UnsetType = UNSET
    required: bool | UnsetType = UNSET
    estimated_minutes: Minutes | UnsetType | None = UNSET
    available_from: datetime | UnsetType | None = UNSET
    asset_id: uuid.UUID | UnsetType | None = UNSET
    captions_asset_id: uuid.UUID | UnsetType | None = UNSET
    video_duration_seconds: Annotated[int, Meta(ge=0, le=86400)] | UnsetType | None = UNSET
    embed: EmbedIn | UnsetType | None = UNSET
    article_html: Localized | UnsetType = UNSET
    quiz: QuizIn | UnsetType = UNSET
    module_id: uuid.UUID | UnsetType = UNSET  # move to the end of another module of the same course


class Option(msgspec.Struct):
    id: uuid.UUID
    text: Localized
    correct: bool


class Question(msgspec.Struct):
    id: uuid.UUID
    kind: QuestionKind
    prompt: Localized
    explanation: Localized
    options: list[Option]


class Quiz(msgspec.Struct):
    pass_mark: int
    max_attempts: int | None
    questions: list[Question]


class Embed(msgspec.Struct):
    provider: EmbedProvider
    id: str
    url: str  # rendered by us from provider + id, never raw iframe HTML


class Lesson(msgspec.Struct):
    """A lesson as staff see it, answers included."""

    id: uuid.UUID
    module_id: uuid.UUID
    course_id: uuid.UUID
    position: int
    kind: LessonKind
    title: Localized
    required: bool
    estimated_minutes: int | None
    available_from: datetime | None
    asset_id: uuid.UUID | None
    captions_asset_id: uuid.UUID | None
    video_duration_seconds: int | None
    embed: Embed | None
    article_html: Localized
    quiz: Quiz | None


class Module(msgspec.Struct):
    id: uuid.UUID
    course_id: uuid.UUID
    position: int
    title: Localized
    summary: Localized
    available_from: datetime | None
    lessons: list[Lesson]


class Course(msgspec.Struct):
    """A course as staff see it: every language, drafts, runs, modules and lessons."""

    id: uuid.UUID
    slug: str
    format: CourseFormat
    status: CourseStatus
    title: Localized
    summary: Localized
    description: Localized
    category: str | None
    tags: list[str]
    digcomp: list[CompetenceTag]
    estimated_hours: float | None
    languages: list[str]
    cover_asset_id: uuid.UUID | None
    speakers: list[Speaker]
    certificate: CertificateSettings
    published_at: datetime | None
    archived_at: datetime | None
    created_at: datetime
    updated_at: datetime
    runs: list[Run]
    modules: list[Module]


class CourseSummary(msgspec.Struct):
    """One line of the staff list."""

    id: uuid.UUID
    slug: str
    format: CourseFormat
    status: CourseStatus
    title: Localized
    updated_at: datetime
    published_at: datetime | None


class PublishProblem(msgspec.Struct):
    field: str
    code: ProblemCode
    message: str


# ---------------------------------------------------------------- public catalogue


class NextRun(msgspec.Struct):
    id: uuid.UUID
    starts_at: datetime
    ends_at: datetime | None
    enrolment_open: bool
    seats_left: int | None  # None: unlimited


class CourseCard(msgspec.Struct):
    """One course in the public catalogue, in the requested language."""

    id: uuid.UUID
    slug: str
    format: CourseFormat
    lang: str
    title: str
    summary: str
    category: str | None
    tags: list[str]
    digcomp: list[CompetenceTag]
    estimated_hours: float | None
    languages: list[str]
    cover_asset_id: uuid.UUID | None
    cover: PublicImage | None  # unsigned public URLs; null until the cover is a ready public image
    certificates_enabled: bool
    published_at: datetime | None
    next_run: NextRun | None


class CataloguePage(msgspec.Struct):
    """A page of the public catalogue; the total is exact up to a cap, then a lower bound ("1000+")."""

    items: list[CourseCard]
    total: int
    total_is_lower_bound: bool  # true: at least ``total`` courses match (more than the cap)
    limit: int
    offset: int


class PublicSpeaker(msgspec.Struct):
    name: str
    affiliation: str | None
    bio: str


class OutlineLesson(msgspec.Struct):
    id: uuid.UUID
    title: str
    kind: LessonKind
    required: bool
    estimated_minutes: int | None
    available_from: datetime | None


class OutlineModule(msgspec.Struct):
    id: uuid.UUID
    title: str
    available_from: datetime | None
    lessons: list[OutlineLesson]


class PublicRun(msgspec.Struct):
    """A run as anyone sees it: the meeting link and the venue are for enrolled learners only."""

    id: uuid.UUID
    starts_at: datetime
    ends_at: datetime | None
    enrolment_opens_at: datetime | None
    enrolment_closes_at: datetime | None
    enrolment_open: bool
    capacity: int | None
    seats_left: int | None
    timezone: str
    live_starts_at: datetime | None
    live_duration_minutes: int | None
    delivery: Literal["online", "in_person"] | None
    has_recording: bool


class CourseDetail(msgspec.Struct):
    id: uuid.UUID
    slug: str
    format: CourseFormat
    lang: str
    title: str
    summary: str
    description: str
    category: str | None
    tags: list[str]
    digcomp: list[CompetenceTag]
    estimated_hours: float | None
    languages: list[str]
    cover_asset_id: uuid.UUID | None
    cover: PublicImage | None
    speakers: list[PublicSpeaker]
    certificates_enabled: bool
    published_at: datetime | None
    outline: list[OutlineModule]
    runs: list[PublicRun]


class QuestionContent(msgspec.Struct):
    id: uuid.UUID
    kind: QuestionKind
    prompt: str
    options: list[OptionContent]


class OptionContent(msgspec.Struct):
    id: uuid.UUID
    text: str


class LessonContent(msgspec.Struct):
    """What an enrolled learner reads: one language, and never the correct answers."""

    id: uuid.UUID
    module_id: uuid.UUID
    kind: LessonKind
    lang: str
    title: str
    required: bool
    estimated_minutes: int | None
    available_from: datetime | None
    asset_id: uuid.UUID | None
    captions_asset_id: uuid.UUID | None
    video_duration_seconds: int | None
    embed: Embed | None
    article_html: str | None
    pass_mark: int | None
    max_attempts: int | None
    questions: list[QuestionContent] | None


class Competence(msgspec.Struct):
    code: str
    name: str
    area: str
