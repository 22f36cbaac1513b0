"""Publishing rules for staff, catalogue reads for everyone, and what the enrolment domain asks of courses."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
from msgspec import UNSET
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from courses import presenters as present
from courses import schemas as s
from courses.digcomp import is_competence
from courses.i18n import LANGUAGES, pick
from courses.ical import CalendarEvent, calendar
from courses.models import (
    Course,
    CourseFormat,
    CourseModule,
    CourseRun,
    CourseStatus,
    Lesson,
    LessonKind,
    QuestionKind,
    QuizOption,
    QuizQuestion,
)
from courses.repository import (
    TOTAL_CAP,
    CatalogueQuery,
    CourseRepository,
    LessonRepository,
    ModuleRepository,
    RunRepository,
    assets_by_id,
    catalogue_page,
)
from courses.sanitize import ArticleSanitizer
from enrolments.waitlist import promote_waitlisted
from lms.audit import record
from lms.errors import Conflict, FieldError, NotFound, ValidationFailed
from media.models import Asset, AssetKind, AssetPurpose, AssetStatus
from media.public import PublicUrls

MAX_TITLE = 200
MAX_SUMMARY = 1_000
MAX_DESCRIPTION = 20_000
MAX_FEED_EVENTS = 200  # a year of weekly masterclasses, several times over
LESSON_ASSET_KIND = {
    LessonKind.VIDEO: AssetKind.VIDEO,
    LessonKind.IMAGE: AssetKind.IMAGE,
    LessonKind.DOCUMENT: AssetKind.DOCUMENT,
    LessonKind.LIVE_SESSION: AssetKind.VIDEO,  # the recording, once there is one
}


def utcnow() -> datetime:
    return datetime.now(UTC)


# ---------------------------------------------------------------- validation helpers


def localized(
    name: str, value: Mapping[str, str], *, required: bool = False, max_length: int = MAX_TITLE
) -> dict[str, str]:
    """Known languages only, trimmed, empty entries dropped; at least one when required."""
    cleaned: dict[str, str] = {}
    for lang, text in value.items():
        if lang not in LANGUAGES:
            raise ValidationFailed.on(
                f"{name}.{lang}", f"unknown language; use one of {', '.join(LANGUAGES)}"
            )
        text = text.strip()
        if len(text) > max_length:
            raise ValidationFailed.on(f"{name}.{lang}", f"longer than {max_length} characters")
        if text:
            cleaned[lang] = text
    if required and not cleaned:
        raise ValidationFailed.on(name, f"give it in at least one of {', '.join(LANGUAGES)}")
    return cleaned


# Dates a course can sensibly carry; beyond them a typo (year 0001 or 9999) would reach the database as a
# value it cannot store, or one Python cannot move to UTC.
EARLIEST_YEAR, LATEST_YEAR = 1900, 2200
DEFAULT_TIME_ZONE = "Europe/Madrid"  # a run's, unless staff give another


def aware(name: str, value: datetime | None) -> datetime | None:
    """A date and time with its offset, within the years a course can have."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValidationFailed.on(name, "needs a time zone offset, e.g. 2026-03-02T18:00:00+01:00")
    try:
        year = value.astimezone(UTC).year
    except OverflowError:
        year = value.year
    if not EARLIEST_YEAR <= year <= LATEST_YEAR:
        raise ValidationFailed.on(name, f"must fall between the years {EARLIEST_YEAR} and {LATEST_YEAR}")
    return value


def time_zone(name: str, value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationFailed.on(
            name, f"unknown time zone {value!r}; use an IANA name such as Europe/Madrid"
        ) from exc
    return value


def competences(tags: Sequence[s.CompetenceTag]) -> list[dict[str, Any]]:
    seen: set[str] = set()
    for i, tag in enumerate(tags):
        if not is_competence(tag.code):
            raise ValidationFailed.on(f"digcomp[{i}].code", f"{tag.code!r} is not a DigComp 2.2 competence")
        if tag.code in seen:
            raise ValidationFailed.on(f"digcomp[{i}].code", f"{tag.code} is listed twice")
        seen.add(tag.code)
    return [{"code": t.code, "level": t.level} for t in tags]


def instruction_languages(values: Sequence[str]) -> list[str]:
    for i, lang in enumerate(values):
        if lang not in LANGUAGES:
            raise ValidationFailed.on(
                f"languages[{i}]", f"unknown language; use one of {', '.join(LANGUAGES)}"
            )
    return list(dict.fromkeys(values))


def speakers(values: Sequence[s.Speaker]) -> list[dict[str, Any]]:
    for i, sp in enumerate(values):
        if not sp.name.strip():
            raise ValidationFailed.on(f"speakers[{i}].name", "must not be blank")
    return [
        {
            "name": sp.name.strip(),
            "affiliation": (sp.affiliation or "").strip() or None,
            "bio": localized(f"speakers[{i}].bio", sp.bio, max_length=MAX_SUMMARY),
        }
        for i, sp in enumerate(values)
    ]


def quiz_questions(quiz: s.QuizIn) -> list[s.QuestionIn]:
    """Every question must be answerable: enough options and the right number of correct ones."""
    if not quiz.questions:
        raise ValidationFailed.on("quiz.questions", "a quiz needs at least one question")
    for i, question in enumerate(quiz.questions):
        where = f"quiz.questions[{i}]"
        localized(f"{where}.prompt", question.prompt, required=True, max_length=MAX_SUMMARY)
        correct = sum(1 for o in question.options if o.correct)
        for j, option in enumerate(question.options):
            localized(f"{where}.options[{j}].text", option.text, required=True, max_length=MAX_SUMMARY)
        if question.kind is QuestionKind.TRUE_FALSE and len(question.options) != 2:
            raise ValidationFailed.on(f"{where}.options", "a true/false question has exactly two options")
        if len(question.options) < 2:
            raise ValidationFailed.on(f"{where}.options", "a question needs at least two options")
        if correct == 0:
            raise ValidationFailed.on(f"{where}.options", "no option is marked correct")
        if question.kind is not QuestionKind.MULTIPLE and correct != 1:
            raise ValidationFailed.on(f"{where}.options", "exactly one option must be correct")
    return list(quiz.questions)


def publish_problems(course: Course) -> list[s.PublishProblem]:
    """Everything that keeps a course from being published; empty when it is ready."""
    problems: list[s.PublishProblem] = []

    def add(field_: str, code: str, message: str) -> None:
        problems.append(s.PublishProblem(field=field_, code=code, message=message))

    lessons = [lesson for module in course.modules for lesson in module.lessons]
    if not lessons:
        add("modules", "no_lessons", "The course has no lessons.")
    for i, module in enumerate(course.modules):
        if not module.lessons:
            add(f"modules[{i}]", "empty_module", f"Module {i + 1} has no lessons.")
        for j, lesson in enumerate(module.lessons):
            where = f"modules[{i}].lessons[{j}]"
            if (
                lesson.kind in (LessonKind.VIDEO, LessonKind.IMAGE, LessonKind.DOCUMENT)
                and not lesson.asset_id
            ):
                add(f"{where}.asset_id", "missing_asset", f"The {lesson.kind} lesson has no file yet.")
            if lesson.kind is LessonKind.ARTICLE and not lesson.article_html:
                add(f"{where}.article_html", "empty_article", "The article has no text.")
            if lesson.kind is LessonKind.QUIZ and not lesson.questions:
                add(f"{where}.quiz", "empty_quiz", "The quiz has no questions.")
            if (
                lesson.kind is LessonKind.LIVE_SESSION
                and lesson.required
                and course.format is not CourseFormat.MASTERCLASS
            ):
                # Attendance is recorded for masterclass sessions only: required elsewhere, no learner
                # could ever complete the course.
                add(
                    f"{where}.required",
                    "live_session_required",
                    "Only a masterclass records attendance: make this live session optional.",
                )
    if course.certificates_enabled and lessons and not any(lesson.required for lesson in lessons):
        add("certificate", "no_required_lessons", "Certificates need at least one required lesson.")
    if course.format is not CourseFormat.INSTANT and not course.runs:
        add("runs", "no_runs", "The course has no run learners could enrol in.")
    if course.format is CourseFormat.MASTERCLASS and not course.speakers:
        add("speakers", "no_speakers", "A masterclass needs its speaker.")
    for i, run in enumerate(course.runs):
        where = f"runs[{i}]"
        if run.ends_at is not None and run.ends_at <= run.starts_at:
            add(f"{where}.ends_at", "run_ends_before_start", "The run ends before it starts.")
        if (
            run.enrolment_opens_at is not None
            and run.enrolment_closes_at is not None
            and run.enrolment_closes_at <= run.enrolment_opens_at
        ):
            add(
                f"{where}.enrolment_closes_at",
                "enrolment_closes_before_opening",
                "Enrolment closes before it opens.",
            )
        if course.format is CourseFormat.MASTERCLASS:
            if run.live_starts_at is None:
                add(f"{where}.live_starts_at", "no_session_time", "The masterclass run has no session time.")
            if run.live_duration_minutes is None:
                add(f"{where}.live_duration_minutes", "no_session_duration", "The session has no duration.")
            if not run.meeting_url and not run.venue:
                add(f"{where}.meeting_url", "no_location", "Give a video-conference link or a venue.")
    return problems


def run_date_problems(run: CourseRun) -> list[FieldError]:
    errors: list[FieldError] = []
    if run.ends_at is not None and run.ends_at <= run.starts_at:
        errors.append(FieldError("ends_at", "must be after starts_at"))
    if (
        run.enrolment_opens_at is not None
        and run.enrolment_closes_at is not None
        and run.enrolment_closes_at <= run.enrolment_opens_at
    ):
        errors.append(FieldError("enrolment_closes_at", "must be after enrolment_opens_at"))
    return errors


# ---------------------------------------------------------------- staff publishing


@dataclass
class CourseService:
    """Staff changes to courses; every one is audited in the same transaction."""

    session: AsyncSession
    sanitizer: ArticleSanitizer
    actor_id: uuid.UUID | None
    clock: Callable[[], datetime] = field(default=utcnow)

    def __post_init__(self) -> None:
        self.courses = CourseRepository(session=self.session, auto_commit=False)
        self.runs = RunRepository(session=self.session, auto_commit=False)
        self.modules = ModuleRepository(session=self.session, auto_commit=False)
        self.lessons = LessonRepository(session=self.session, auto_commit=False)

    # -- helpers

    def _audit(self, action: str, entity_type: str, entity_id: uuid.UUID, before: Any, after: Any) -> None:
        record(
            self.session,
            actor_id=self.actor_id,
            action=action,
            entity_type=entity_type,
            entity_id=entity_id,
            before=before,
            after=after,
        )

    async def _flush(self) -> None:
        """Constraint violations that slip past the checks (races) are conflicts, not server errors."""
        try:
            await self.session.flush()
        except IntegrityError as exc:
            text = str(exc.orig)
            if "uq_courses_slug" in text:
                raise Conflict("Another course already uses this slug.") from exc
            raise Conflict("The change conflicts with the current state; reload and try again.") from exc

    async def _course(self, course_id: uuid.UUID, *, lock: bool = True) -> Course:
        course = await self.courses.full(course_id, lock=lock)
        if course is None:
            raise NotFound("No such course.")
        return course

    async def _check_assets(
        self, wanted: Mapping[str, tuple[uuid.UUID | None, AssetKind]]
    ) -> dict[uuid.UUID, Asset]:
        ids = [asset_id for asset_id, _ in wanted.values() if asset_id is not None]
        found = await assets_by_id(self.session, ids)
        for name, (asset_id, kind) in wanted.items():
            if asset_id is None:
                continue
            asset = found.get(asset_id)
            if asset is None:
                raise ValidationFailed.on(name, "no such media asset")
            if asset.kind != kind:
                raise ValidationFailed.on(name, f"the asset is a {asset.kind}, a {kind} is needed")
        return found

    async def _check_cover(self, asset_id: uuid.UUID | None) -> None:
        """A cover is a public image, uploaded or still uploading; never lesson media, never a failed file.

        A pending upload is accepted so staff can pick the file and save the course in one go; the public
        catalogue shows the cover only once it is ready (``repository.usable_cover``).
        """
        found = await self._check_assets({"cover_asset_id": (asset_id, AssetKind.IMAGE)})
        if asset_id is None:
            return
        asset = found[asset_id]
        if asset.purpose is not AssetPurpose.PUBLIC:
            raise ValidationFailed.on(
                "cover_asset_id", "a cover must be uploaded with purpose public; lesson media stays private"
            )
        if asset.status is AssetStatus.FAILED:
            raise ValidationFailed.on(
                "cover_asset_id", f"the image could not be processed: {asset.failure_reason}"
            )

    async def _unique_slug(self, slug: str, other_than: uuid.UUID | None = None) -> None:
        if await self.courses.slug_taken(slug, other_than=other_than):
            raise Conflict(
                f"Another course already uses the slug {slug!r}.", errors=[FieldError("slug", "taken")]
            )

    # -- courses

    async def get(self, course_id: uuid.UUID) -> Course:
        return await self._course(course_id, lock=False)

    async def list(
        self, *, status: CourseStatus | None, text: str | None, limit: int, offset: int
    ) -> tuple[list[Course], int]:
        return await self.courses.staff_list(status=status, text=text, limit=limit, offset=offset)

    async def create(self, data: s.CourseCreate) -> Course:
        course = Course(id=uuid.uuid4(), slug=data.slug, format=data.format, status=CourseStatus.DRAFT)
        self._apply(course, msgspec.structs.asdict(data))
        await self._check_cover(course.cover_asset_id)
        await self._unique_slug(data.slug)
        self.session.add(course)
        if course.format is CourseFormat.INSTANT:
            # An instant course is always open: one evergreen run, created with it.
            self.session.add(CourseRun(id=uuid.uuid4(), course_id=course.id, starts_at=self.clock()))
        await self._flush()
        self._audit("course.create", "course", course.id, None, present.columns(course))
        return await self._course(course.id, lock=False)

    def _apply(self, course: Course, values: Mapping[str, Any]) -> None:
        """Copy validated request values onto the course (only the keys present)."""
        for key, value in values.items():
            if value is UNSET:
                continue
            if key == "title":
                course.title = localized("title", value, required=True)
            elif key == "summary":
                course.summary = localized("summary", value, max_length=MAX_SUMMARY)
            elif key == "description":
                course.description = localized("description", value, max_length=MAX_DESCRIPTION)
            elif key == "digcomp":
                course.digcomp = competences(value)
            elif key == "languages":
                course.languages = instruction_languages(value)
            elif key == "speakers":
                course.speakers = speakers(value)
                course.speaker_names = [sp["name"] for sp in course.speakers]
            elif key == "tags":
                course.tags = list(dict.fromkeys(t.strip() for t in value if t.strip()))
            elif key == "category":
                course.category = value.strip() if value else None
            elif key == "certificate":
                course.certificates_enabled = value.enabled
                course.completion_min_required_percent = value.min_required_percent
                course.completion_requires_quizzes_passed = value.requires_quizzes_passed
                course.completion_requires_attendance = value.requires_attendance
            elif key in ("slug", "estimated_hours", "cover_asset_id"):
                setattr(course, key, value)

    async def update(self, course_id: uuid.UUID, data: s.CourseUpdate) -> Course:
        course = await self._course(course_id)
        before = present.columns(course)
        if data.slug is not UNSET and data.slug != course.slug:
            await self._unique_slug(data.slug, other_than=course.id)
        self._apply(course, msgspec.structs.asdict(data))
        if data.cover_asset_id is not UNSET:
            await self._check_cover(course.cover_asset_id)
        if course.status is CourseStatus.PUBLISHED:
            self._refuse_unready(course)
        await self._flush()
        self._audit("course.update", "course", course.id, before, present.columns(course))
        return await self._course(course.id, lock=False)

    def _refuse_unready(self, course: Course) -> None:
        problems = publish_problems(course)
        if problems:
            raise Conflict(
                "The course is not ready to be published: " + " ".join(p.message for p in problems),
                extra={"problems": msgspec.to_builtins(problems)},
            )

    @staticmethod
    def _readiness(course: Course) -> Counter[str] | None:
        """A published course's publish problems by code, before an edit (see ``_keep_ready``); None for a
        draft or an archived course, whose edits are not checked."""
        if course.status is not CourseStatus.PUBLISHED:
            return None
        return Counter(p.code for p in publish_problems(course))

    async def _keep_ready(self, course_id: uuid.UUID, before: Counter[str] | None) -> None:
        """An edit of a published course's runs or lessons may not make it less ready than it was: one that
        adds a problem the publish check reports (a video without its file, the last run removed, a
        session without its time) is refused with those problems, and nothing is saved. ``before`` is
        ``_readiness`` before the edit."""
        await self._flush()
        if before is None:
            return
        course = await self._course(course_id, lock=False)
        problems = publish_problems(course)
        added = Counter(p.code for p in problems) - before
        # An emptied module shows learners nothing: moving lessons between modules stays possible.
        del added["empty_module"]
        if added:
            new = [p for p in problems if p.code in added]
            raise Conflict(
                "This change would leave the published course not ready: "
                + " ".join(dict.fromkeys(p.message for p in new))
                + " Unpublish it first to make such changes.",
                extra={"problems": msgspec.to_builtins(new)},
            )

    async def _set_status(self, course_id: uuid.UUID, status: CourseStatus, action: str) -> Course:
        course = await self._course(course_id)
        before = present.columns(course)
        if status is CourseStatus.PUBLISHED:
            self._refuse_unready(course)
            course.published_at = course.published_at or self.clock()
            course.archived_at = None
        elif status is CourseStatus.ARCHIVED:
            course.archived_at = self.clock()
        else:
            course.archived_at = None
        course.status = status
        await self._flush()
        self._audit(action, "course", course.id, before, present.columns(course))
        return await self._course(course.id, lock=False)

    async def publish(self, course_id: uuid.UUID) -> Course:
        return await self._set_status(course_id, CourseStatus.PUBLISHED, "course.publish")

    async def unpublish(self, course_id: uuid.UUID) -> Course:
        return await self._set_status(course_id, CourseStatus.DRAFT, "course.unpublish")

    async def archive(self, course_id: uuid.UUID) -> Course:
        return await self._set_status(course_id, CourseStatus.ARCHIVED, "course.archive")

    async def duplicate(self, course_id: uuid.UUID, data: s.Duplicate) -> Course:
        """A new draft edition: same content, new slug, runs moved by ``shift_days`` when given."""
        source = await self._course(course_id, lock=False)
        await self._unique_slug(data.slug)
        shift = timedelta(days=data.shift_days) if data.shift_days is not None else None
        # Module and lesson releases follow the first run's clock (runs carry the time zone; modules don't).
        home = source.runs[0].timezone if source.runs else DEFAULT_TIME_ZONE

        def moved(moment: datetime | None, zone: str = home) -> datetime | None:
            """The same local time ``shift_days`` later: an 18:00 session stays at 18:00 across a change
            between summer and winter time."""
            if moment is None or shift is None:
                return moment
            return aware("shift_days", (moment.astimezone(ZoneInfo(zone)) + shift).astimezone(UTC))

        copy = Course(id=uuid.uuid4(), status=CourseStatus.DRAFT)
        for key, _value in present.columns(source).items():
            if key not in ("id", "status", "slug", "published_at", "archived_at"):
                setattr(copy, key, getattr(source, key))
        copy.slug = data.slug
        self.session.add(copy)
        if copy.format is CourseFormat.INSTANT:
            self.session.add(CourseRun(id=uuid.uuid4(), course_id=copy.id, starts_at=self.clock()))
        elif shift is not None:
            for run in source.runs:
                self.session.add(
                    CourseRun(
                        id=uuid.uuid4(),
                        course_id=copy.id,
                        starts_at=moved(run.starts_at, run.timezone),
                        ends_at=moved(run.ends_at, run.timezone),
                        enrolment_opens_at=moved(run.enrolment_opens_at, run.timezone),
                        enrolment_closes_at=moved(run.enrolment_closes_at, run.timezone),
                        capacity=run.capacity,
                        timezone=run.timezone,
                        live_starts_at=moved(run.live_starts_at, run.timezone),
                        live_duration_minutes=run.live_duration_minutes,
                        meeting_url=run.meeting_url,
                        venue=run.venue,
                    )
                )
        await self._flush()
        for module in source.modules:
            new_module = CourseModule(
                id=uuid.uuid4(),
                course_id=copy.id,
                position=module.position,
                title=module.title,
                summary=module.summary,
                available_from=moved(module.available_from),
            )
            self.session.add(new_module)
            await self._flush()
            for lesson in module.lessons:
                new_lesson = Lesson(id=uuid.uuid4(), module_id=new_module.id, course_id=copy.id)
                for key in present.columns(lesson):
                    if key not in ("id", "module_id", "course_id"):
                        setattr(new_lesson, key, getattr(lesson, key))
                new_lesson.available_from = moved(lesson.available_from)
                self.session.add(new_lesson)
                await self._flush()
                self._copy_questions(new_lesson.id, lesson.questions)
        await self._flush()
        self._audit(
            "course.duplicate",
            "course",
            copy.id,
            {"source_id": str(source.id)},
            present.columns(copy),
        )
        return await self._course(copy.id, lock=False)

    def _copy_questions(self, lesson_id: uuid.UUID, questions: Sequence[QuizQuestion]) -> None:
        for question in questions:
            new_question = QuizQuestion(
                id=uuid.uuid4(),
                lesson_id=lesson_id,
                position=question.position,
                kind=question.kind,
                prompt=question.prompt,
                explanation=question.explanation,
            )
            self.session.add(new_question)
            for option in question.options:
                self.session.add(
                    QuizOption(
                        id=uuid.uuid4(),
                        question_id=new_question.id,
                        position=option.position,
                        text=option.text,
                        is_correct=option.is_correct,
                    )
                )

    # -- runs

    async def add_run(self, course_id: uuid.UUID, data: s.RunCreate) -> CourseRun:
        course = await self._course(course_id)
        if course.format is CourseFormat.INSTANT:
            raise Conflict("An instant course has one evergreen run; edit it instead of adding another.")
        run = CourseRun(id=uuid.uuid4(), course_id=course.id)
        self._apply_run(run, msgspec.structs.asdict(data))
        errors = run_date_problems(run)
        if errors:
            raise ValidationFailed("; ".join(f"{e.field}: {e.message}" for e in errors), errors=errors)
        await self._check_assets({"recording_asset_id": (run.recording_asset_id, AssetKind.VIDEO)})
        self.session.add(run)
        await self._flush()
        self._audit("run.create", "course_run", run.id, None, present.columns(run))
        return run

    def _apply_run(self, run: CourseRun, values: Mapping[str, Any]) -> None:
        for key, value in values.items():
            if value is UNSET:
                continue
            if isinstance(value, datetime) or key.endswith("_at"):
                value = aware(key, value)
            if key == "timezone":
                value = time_zone(key, value)
            setattr(run, key, value)

    async def _run(self, run_id: uuid.UUID) -> tuple[CourseRun, Course]:
        run = await self.runs.get_one_or_none(CourseRun.id == run_id)
        if run is None:
            raise NotFound("No such run.")
        course = await self._course(run.course_id)
        return run, course

    async def seated(self, runs: Sequence[CourseRun]) -> dict[uuid.UUID, int]:
        """Seats held in runs without a capacity (which count none on the run): for staff views."""
        return await self.runs.seated_in([run.id for run in runs if run.capacity is None])

    async def update_run(self, run_id: uuid.UUID, data: s.RunUpdate) -> CourseRun:
        run, course = await self._run(run_id)
        ready_before = self._readiness(course)
        capacity_changes = data.capacity is not UNSET and data.capacity != run.capacity
        if capacity_changes:
            # Seats are decided under the run's lock: read them again once it is held.
            await self.runs.lock_for_seats(run.id)
        before = present.columns(run)
        had_capacity = run.capacity is not None
        self._apply_run(run, msgspec.structs.asdict(data))
        if run.capacity is not None and not had_capacity:
            # A run without a capacity counts no seats: count them now that they start to matter.
            run.seats_taken = await self.runs.count_seats(run.id)
        if run.capacity is not None and run.capacity < run.seats_taken:
            raise ValidationFailed.on("capacity", f"{run.seats_taken} seats are already taken")
        if capacity_changes and had_capacity:
            # More room (or no limit any more): the learners waiting take it, first in line first.
            room = None if run.capacity is None else run.capacity - run.seats_taken
            promoted = await promote_waitlisted(self.session, run.id, room, datetime.now(UTC))
            if run.capacity is not None:
                run.seats_taken += len(promoted)
        # A draft may be mid-edit (dates changed one at a time); publishing checks them all.
        errors = run_date_problems(run) if course.status is CourseStatus.PUBLISHED else []
        if errors:
            raise ValidationFailed("; ".join(f"{e.field}: {e.message}" for e in errors), errors=errors)
        if data.recording_asset_id is not UNSET:
            await self._check_assets({"recording_asset_id": (run.recording_asset_id, AssetKind.VIDEO)})
        await self._keep_ready(course.id, ready_before)
        self._audit("run.update", "course_run", run.id, before, present.columns(run))
        return run

    async def delete_run(self, run_id: uuid.UUID) -> None:
        run, course = await self._run(run_id)
        if course.format is CourseFormat.INSTANT:
            raise Conflict("The evergreen run of an instant course cannot be removed; archive the course.")
        if run.seats_taken or await self.runs.has_learners(run.id):
            raise Conflict("Learners are enrolled in this run; it cannot be removed.")
        before = present.columns(run)
        ready_before = self._readiness(course)
        await self.session.delete(run)
        await self._keep_ready(course.id, ready_before)
        self._audit("run.delete", "course_run", run.id, before, None)

    # -- modules

    async def add_module(self, course_id: uuid.UUID, data: s.ModuleCreate) -> CourseModule:
        course = await self._course(course_id)
        module = CourseModule(
            id=uuid.uuid4(),
            course_id=course.id,
            position=await self.modules.next_position(course.id),
            title=localized("title", data.title, required=True),
            summary=localized("summary", data.summary, max_length=MAX_SUMMARY),
            available_from=aware("available_from", data.available_from),
        )
        self.session.add(module)
        await self._flush()
        self._audit("module.create", "course_module", module.id, None, present.columns(module))
        return await self._loaded_module(course.id, module.id)

    async def _loaded_module(self, course_id: uuid.UUID, module_id: uuid.UUID) -> CourseModule:
        course = await self._course(course_id, lock=False)
        return next(m for m in course.modules if m.id == module_id)

    async def _module(self, module_id: uuid.UUID) -> tuple[CourseModule, Course]:
        module = await self.modules.get_one_or_none(CourseModule.id == module_id)
        if module is None:
            raise NotFound("No such module.")
        return module, await self._course(module.course_id)

    async def update_module(self, module_id: uuid.UUID, data: s.ModuleUpdate) -> CourseModule:
        module, _ = await self._module(module_id)
        before = present.columns(module)
        if data.title is not UNSET:
            module.title = localized("title", data.title, required=True)
        if data.summary is not UNSET:
            module.summary = localized("summary", data.summary, max_length=MAX_SUMMARY)
        if data.available_from is not UNSET:
            module.available_from = aware("available_from", data.available_from)
        await self._flush()
        self._audit("module.update", "course_module", module.id, before, present.columns(module))
        return await self._loaded_module(module.course_id, module.id)

    async def delete_module(self, module_id: uuid.UUID) -> None:
        module, course = await self._module(module_id)
        remaining = [m for m in course.modules if m.id != module.id]
        if course.status is CourseStatus.PUBLISHED and not any(m.lessons for m in remaining):
            raise Conflict("A published course keeps at least one lesson; unpublish it first.")
        before = present.columns(module)
        await self.session.delete(module)
        await self._flush()
        await self.modules.set_positions([m.id for m in remaining])
        await self._flush()
        self._audit("module.delete", "course_module", module.id, before, None)

    async def reorder_modules(self, course_id: uuid.UUID, data: s.Reorder) -> Course:
        course = await self._course(course_id)
        current = [m.id for m in course.modules]
        if sorted(current) != sorted(data.ids) or len(set(data.ids)) != len(data.ids):
            raise ValidationFailed.on("ids", "list every module of the course exactly once")
        await self.modules.set_positions(data.ids)
        await self._flush()
        self._audit(
            "module.reorder",
            "course",
            course.id,
            {"modules": [str(i) for i in current]},
            {"modules": [str(i) for i in data.ids]},
        )
        return await self._course(course.id, lock=False)

    # -- lessons

    async def _check_lesson(self, lesson: Lesson) -> None:
        kind = LESSON_ASSET_KIND.get(lesson.kind)
        if lesson.asset_id is not None and kind is None:
            raise ValidationFailed.on("asset_id", f"a {lesson.kind} lesson has no file")
        if lesson.captions_asset_id is not None and lesson.kind is not LessonKind.VIDEO:
            raise ValidationFailed.on("captions_asset_id", "only video lessons have captions")
        await self._check_assets(
            {
                "asset_id": (lesson.asset_id, kind or AssetKind.VIDEO),
                "captions_asset_id": (lesson.captions_asset_id, AssetKind.CAPTIONS),
            }
        )
        if lesson.kind is LessonKind.EMBED and (lesson.embed_provider is None or not lesson.embed_id):
            raise ValidationFailed.on("embed", "an embed lesson needs a provider and a video id")
        if lesson.kind is not LessonKind.EMBED and lesson.embed_provider is not None:
            raise ValidationFailed.on("embed", "only embed lessons carry an embedded video")
        if lesson.kind is not LessonKind.ARTICLE and lesson.article_html:
            raise ValidationFailed.on("article_html", "only article lessons carry HTML")

    def _apply_lesson(self, lesson: Lesson, values: Mapping[str, Any]) -> None:
        for key, value in values.items():
            if value is UNSET or key in ("quiz", "module_id", "kind"):
                continue
            if key == "title":
                lesson.title = localized("title", value, required=True)
            elif key == "article_html":
                # A language whose HTML was all removed (scripts only, say) is dropped, not kept empty:
                # learners then get another language, and publishing reports an article with no text.
                cleaned = {
                    lang: self.sanitizer.clean(html)
                    for lang, html in localized("article_html", value, max_length=10_000_000).items()
                }
                lesson.article_html = {lang: html for lang, html in cleaned.items() if html.strip()}
            elif key == "embed":
                lesson.embed_provider = value.provider if value else None
                lesson.embed_id = value.id if value else None
            elif key == "available_from":
                lesson.available_from = aware("available_from", value)
            else:
                setattr(lesson, key, value)

    async def _replace_quiz(self, lesson: Lesson, quiz: s.QuizIn) -> None:
        if lesson.kind is not LessonKind.QUIZ:
            raise ValidationFailed.on("quiz", "only quiz lessons have questions")
        questions = quiz_questions(quiz)
        lesson.pass_mark = quiz.pass_mark
        lesson.max_attempts = quiz.max_attempts
        for old in list(lesson.questions):
            await self.session.delete(old)
        await self._flush()
        for i, question in enumerate(questions):
            row = QuizQuestion(
                id=uuid.uuid4(),
                lesson_id=lesson.id,
                position=i,
                kind=question.kind,
                prompt=localized("prompt", question.prompt, required=True, max_length=MAX_SUMMARY),
                explanation=localized("explanation", question.explanation, max_length=MAX_SUMMARY),
            )
            self.session.add(row)
            for j, option in enumerate(question.options):
                self.session.add(
                    QuizOption(
                        id=uuid.uuid4(),
                        question_id=row.id,
                        position=j,
                        text=localized("text", option.text, required=True, max_length=MAX_SUMMARY),
                        is_correct=option.correct,
                    )
                )

    async def add_lesson(self, module_id: uuid.UUID, data: s.LessonCreate) -> Lesson:
        module, course = await self._module(module_id)
        ready_before = self._readiness(course)
        lesson = Lesson(
            id=uuid.uuid4(),
            module_id=module.id,
            course_id=module.course_id,
            kind=data.kind,
            position=await self.lessons.next_position(module.id),
        )
        self._apply_lesson(lesson, msgspec.structs.asdict(data))
        if data.kind is LessonKind.QUIZ and data.quiz is None:
            raise ValidationFailed.on("quiz", "a quiz lesson needs its questions")
        if data.kind is LessonKind.EMBED and data.embed is None:
            raise ValidationFailed.on("embed", "an embed lesson needs a provider and a video id")
        await self._check_lesson(lesson)
        self.session.add(lesson)
        await self._flush()
        if data.quiz is not None:
            lesson = await self._lesson(lesson.id)
            await self._replace_quiz(lesson, data.quiz)
        await self._keep_ready(course.id, ready_before)
        lesson = await self._lesson(lesson.id)
        self._audit("lesson.create", "lesson", lesson.id, None, self._lesson_record(lesson))
        return lesson

    def _lesson_record(self, lesson: Lesson) -> dict[str, Any]:
        return dict(msgspec.to_builtins(present.staff_lesson(lesson)))

    async def _lesson(self, lesson_id: uuid.UUID) -> Lesson:
        lesson = await self.lessons.full(lesson_id)
        if lesson is None:
            raise NotFound("No such lesson.")
        return lesson

    async def get_lesson(self, lesson_id: uuid.UUID) -> Lesson:
        return await self._lesson(lesson_id)

    async def preview_lesson(self, lesson_id: uuid.UUID, lang: str) -> s.LessonContent:
        found = await lesson_content(self.session, lesson_id, lang)
        if found is None:
            raise NotFound("No such lesson.")
        return found

    async def update_lesson(self, lesson_id: uuid.UUID, data: s.LessonUpdate) -> Lesson:
        lesson = await self._lesson(lesson_id)
        course = await self._course(lesson.course_id)
        ready_before = self._readiness(course)
        before = self._lesson_record(lesson)
        self._apply_lesson(lesson, msgspec.structs.asdict(data))
        await self._check_lesson(lesson)
        if data.quiz is not UNSET:
            await self._replace_quiz(lesson, data.quiz)
        if data.module_id is not UNSET and data.module_id != lesson.module_id:
            target = next((m for m in course.modules if m.id == data.module_id), None)
            if target is None:
                raise ValidationFailed.on("module_id", "no such module in this course")
            old_module = lesson.module_id
            lesson.module_id = target.id
            lesson.position = await self.lessons.next_position(target.id)
            await self._flush()
            await self.lessons.set_positions([x.id for x in await self.lessons.in_module(old_module)])
        await self._keep_ready(course.id, ready_before)
        lesson = await self._lesson(lesson.id)
        self._audit("lesson.update", "lesson", lesson.id, before, self._lesson_record(lesson))
        return lesson

    async def delete_lesson(self, lesson_id: uuid.UUID) -> None:
        lesson = await self._lesson(lesson_id)
        course = await self._course(lesson.course_id)
        others = [x for m in course.modules for x in m.lessons if x.id != lesson.id]
        if course.status is CourseStatus.PUBLISHED and not others:
            raise Conflict("A published course keeps at least one lesson; unpublish it first.")
        before = self._lesson_record(lesson)
        ready_before = self._readiness(course)
        module_id = lesson.module_id
        await self.session.delete(lesson)
        await self._flush()
        await self.lessons.set_positions([x.id for x in await self.lessons.in_module(module_id)])
        await self._keep_ready(course.id, ready_before)
        self._audit("lesson.delete", "lesson", lesson_id, before, None)

    async def reorder_lessons(self, module_id: uuid.UUID, data: s.Reorder) -> CourseModule:
        module, course = await self._module(module_id)
        current = [lesson.id for lesson in await self.lessons.in_module(module.id)]
        if sorted(current) != sorted(data.ids) or len(set(data.ids)) != len(data.ids):
            raise ValidationFailed.on("ids", "list every lesson of the module exactly once")
        await self.lessons.set_positions(data.ids)
        await self._flush()
        self._audit(
            "lesson.reorder",
            "course_module",
            module.id,
            {"lessons": [str(i) for i in current]},
            {"lessons": [str(i) for i in data.ids]},
        )
        return await self._loaded_module(course.id, module.id)


# ---------------------------------------------------------------- public catalogue


async def catalogue(connection: Any, query: CatalogueQuery, lang: str, urls: PublicUrls) -> s.CataloguePage:
    """One page of published courses with their covers (one SQL statement), total capped at ``TOTAL_CAP``."""
    rows, counted = await catalogue_page(connection, query, lang)
    return s.CataloguePage(
        items=[present.card(row, lang, urls) for row in rows],
        total=min(counted, TOTAL_CAP),
        total_is_lower_bound=counted > TOTAL_CAP,
        limit=query.limit,
        offset=query.offset,
    )


async def course_detail(
    session: AsyncSession, slug: str, lang: str, now: datetime, urls: PublicUrls
) -> s.CourseDetail:
    """A published course with its outline (titles only), runs and cover; drafts do not exist publicly."""
    found = await CourseRepository(session=session, auto_commit=False).published_with_outline(slug)
    if found is None:
        raise NotFound("No such course.")
    course: Course = found[0]
    return present.detail(course, present.cover(found, course.cover_asset_id, urls), lang, now)


def _event(run: CourseRun, course: Course, lang: str, public_url: str) -> CalendarEvent:
    assert run.live_starts_at is not None
    assert run.live_duration_minutes is not None
    url = f"{public_url.rstrip('/')}/courses/{course.slug}"
    names = ", ".join(sp["name"] for sp in course.speakers)
    summary = pick(course.title, lang) + (f" ({names})" if names else "")
    description = pick(course.summary, lang)
    return CalendarEvent(
        run_id=run.id,
        starts_at=run.live_starts_at,
        duration=timedelta(minutes=run.live_duration_minutes),
        summary=summary,
        description=f"{description}\n{url}".strip(),
        url=url,
        # The link and the venue are for enrolled learners; the public calendar says only which kind.
        location="Online" if run.meeting_url else ("In person" if run.venue else None),
        timezone=run.timezone,
        # The event shows the course's title, summary and speakers as well as the run's session.
        updated_at=max(run.updated_at, course.updated_at),
    )


async def run_calendar(session: AsyncSession, run_id: uuid.UUID, lang: str, public_url: str) -> str:
    """The iCalendar file of one published masterclass session."""
    run = await RunRepository(session=session, auto_commit=False).with_course(run_id)
    if (
        run is None
        or run.course.status is not CourseStatus.PUBLISHED
        or run.live_starts_at is None
        or run.live_duration_minutes is None
    ):
        raise NotFound("No such masterclass session.")
    host = _host(public_url)
    name = pick(run.course.title, lang)
    return calendar([_event(run, run.course, lang, public_url)], host=host, name=name)


async def masterclass_feed(session: AsyncSession, lang: str, public_url: str, now: datetime) -> str:
    """The iCalendar feed of upcoming masterclasses."""
    runs = await RunRepository(session=session, auto_commit=False).upcoming_masterclasses(
        now, MAX_FEED_EVENTS
    )
    events = [_event(run, run.course, lang, public_url) for run in runs]
    return calendar(events, host=_host(public_url), name="Masterclasses")


def _host(public_url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(public_url).hostname or "aula.localhost"


# ---------------------------------------------------------------- for the enrolment and progress domain


@dataclass(frozen=True, slots=True)
class LessonOutlineItem:
    """What progress tracking needs of a lesson."""

    id: uuid.UUID
    module_id: uuid.UUID
    module_position: int
    position: int
    kind: LessonKind
    required: bool
    estimated_minutes: int | None
    video_duration_seconds: int | None
    available_from: datetime | None  # the later of the lesson's and its module's release


@dataclass(frozen=True, slots=True)
class QuizKeyQuestion:
    id: uuid.UUID
    kind: QuestionKind
    option_ids: tuple[uuid.UUID, ...]
    correct_option_ids: frozenset[uuid.UUID]


@dataclass(frozen=True, slots=True)
class QuizKey:
    """A quiz with its answers, for grading on the server; never serialise it to a learner."""

    lesson_id: uuid.UUID
    course_id: uuid.UUID
    pass_mark: int
    max_attempts: int | None
    questions: tuple[QuizKeyQuestion, ...]


async def get_run_for_enrolment(session: AsyncSession, run_id: uuid.UUID) -> CourseRun | None:
    """A run with its course loaded (``run.course``), or None."""
    return await RunRepository(session=session, auto_commit=False).with_course(run_id)


async def course_lessons(session: AsyncSession, course_id: uuid.UUID) -> list[LessonOutlineItem]:
    """Every lesson of a course in outline order, with what completion rules need."""
    pairs = await LessonRepository(session=session, auto_commit=False).for_course(course_id)
    return [
        LessonOutlineItem(
            id=lesson.id,
            module_id=module.id,
            module_position=module.position,
            position=lesson.position,
            kind=lesson.kind,
            required=lesson.required,
            estimated_minutes=lesson.estimated_minutes,
            video_duration_seconds=lesson.video_duration_seconds,
            available_from=present.effective_release(lesson, module),
        )
        for lesson, module in pairs
    ]


async def lesson_with_module(
    session: AsyncSession, lesson_id: uuid.UUID
) -> tuple[Lesson, CourseModule] | None:
    """A lesson (questions and options loaded) with its module, or None."""
    lessons = LessonRepository(session=session, auto_commit=False)
    lesson = await lessons.full(lesson_id)
    if lesson is None:
        return None
    module = await ModuleRepository(session=session, auto_commit=False).get(lesson.module_id)
    return lesson, module


async def lesson_content(session: AsyncSession, lesson_id: uuid.UUID, lang: str) -> s.LessonContent | None:
    """The learner's view of a lesson (no answers); the caller checks the learner may see it."""
    found = await lesson_with_module(session, lesson_id)
    return present.lesson_content(*found, lang) if found else None


async def quiz_answer_key(session: AsyncSession, lesson_id: uuid.UUID) -> QuizKey | None:
    """A quiz lesson's questions with their correct options, or None if it is not a quiz."""
    lesson = await LessonRepository(session=session, auto_commit=False).full(lesson_id)
    if lesson is None or lesson.kind is not LessonKind.QUIZ:
        return None
    return QuizKey(
        lesson_id=lesson.id,
        course_id=lesson.course_id,
        pass_mark=lesson.pass_mark or 0,
        max_attempts=lesson.max_attempts,
        questions=tuple(
            QuizKeyQuestion(
                id=q.id,
                kind=q.kind,
                option_ids=tuple(o.id for o in q.options),
                correct_option_ids=frozenset(o.id for o in q.options if o.is_correct),
            )
            for q in lesson.questions
        ),
    )
