"""From rows to response shapes: staff see everything; the public sees one language and no answers."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

import msgspec
from sqlalchemy import Row
from sqlalchemy import inspect as sa_inspect

from courses import schemas as s
from courses.i18n import pick
from courses.models import Course, CourseModule, CourseRun, EmbedProvider, Lesson, QuizQuestion
from media.public import PublicImage, PublicUrls

EMBED_URLS = {
    EmbedProvider.YOUTUBE: "https://www.youtube-nocookie.com/embed/{id}",
    EmbedProvider.VIMEO: "https://player.vimeo.com/video/{id}",
}


def embed_of(lesson: Lesson) -> s.Embed | None:
    if lesson.embed_provider is None or lesson.embed_id is None:
        return None
    url = EMBED_URLS[lesson.embed_provider].format(id=lesson.embed_id)
    return s.Embed(provider=lesson.embed_provider, id=lesson.embed_id, url=url)


def seats_left(run: CourseRun) -> int | None:
    return None if run.capacity is None else max(0, run.capacity - run.seats_taken)


def enrolment_open(run: CourseRun, now: datetime) -> bool:
    """The same rule as ``repository.enrolment_open``, for runs already loaded."""
    return (
        (run.enrolment_opens_at is None or run.enrolment_opens_at <= now)
        and (run.enrolment_closes_at is None or run.enrolment_closes_at > now)
        and (run.ends_at is None or run.ends_at > now)
    )


# Kept by the database from other data (search, seats, runs' windows): neither authored nor audited.
DERIVED = frozenset(
    {"search_vector", "created_at", "updated_at", "popularity", "enrolling_from", "enrolling_until"}
)


def columns(obj: Any) -> dict[str, Any]:
    """The row's column values as JSON-ready builtins, for the audit log."""
    values = {
        attr.key: getattr(obj, attr.key)
        for attr in sa_inspect(obj).mapper.column_attrs
        if attr.key not in DERIVED
    }
    return dict(msgspec.to_builtins(values))


# ---------------------------------------------------------------- staff


def staff_run(run: CourseRun, seated: Mapping[uuid.UUID, int]) -> s.Run:
    """``seated``: the seats held in runs without a capacity, which do not count them on the run."""
    return s.Run(
        id=run.id,
        course_id=run.course_id,
        starts_at=run.starts_at,
        ends_at=run.ends_at,
        enrolment_opens_at=run.enrolment_opens_at,
        enrolment_closes_at=run.enrolment_closes_at,
        capacity=run.capacity,
        seats_taken=run.seats_taken if run.capacity is not None else seated.get(run.id, 0),
        seats_left=seats_left(run),
        timezone=run.timezone,
        live_starts_at=run.live_starts_at,
        live_duration_minutes=run.live_duration_minutes,
        meeting_url=run.meeting_url,
        venue=run.venue,
        recording_asset_id=run.recording_asset_id,
    )


def staff_quiz(lesson: Lesson) -> s.Quiz | None:
    if lesson.kind != "quiz":
        return None
    return s.Quiz(
        pass_mark=lesson.pass_mark if lesson.pass_mark is not None else 0,
        max_attempts=lesson.max_attempts,
        questions=[
            s.Question(
                id=q.id,
                kind=q.kind,
                prompt=q.prompt,
                explanation=q.explanation,
                options=[s.Option(id=o.id, text=o.text, correct=o.is_correct) for o in q.options],
            )
            for q in lesson.questions
        ],
    )


def staff_lesson(lesson: Lesson) -> s.Lesson:
    return s.Lesson(
        id=lesson.id,
        module_id=lesson.module_id,
        course_id=lesson.course_id,
        position=lesson.position,
        kind=lesson.kind,
        title=lesson.title,
        required=lesson.required,
        estimated_minutes=lesson.estimated_minutes,
        available_from=lesson.available_from,
        asset_id=lesson.asset_id,
        captions_asset_id=lesson.captions_asset_id,
        video_duration_seconds=lesson.video_duration_seconds,
        embed=embed_of(lesson),
        article_html=lesson.article_html,
        quiz=staff_quiz(lesson),
    )


def staff_module(module: CourseModule) -> s.Module:
    return s.Module(
        id=module.id,
        course_id=module.course_id,
        position=module.position,
        title=module.title,
        summary=module.summary,
        available_from=module.available_from,
        lessons=[staff_lesson(lesson) for lesson in module.lessons],
    )


def certificate_settings(course: Course) -> s.CertificateSettings:
    return s.CertificateSettings(
        enabled=course.certificates_enabled,
        min_required_percent=course.completion_min_required_percent,
        requires_quizzes_passed=course.completion_requires_quizzes_passed,
        requires_attendance=course.completion_requires_attendance,
    )


def staff_course(course: Course, seated: Mapping[uuid.UUID, int]) -> s.Course:
    return s.Course(
        id=course.id,
        slug=course.slug,
        format=course.format,
        status=course.status,
        title=course.title,
        summary=course.summary,
        description=course.description,
        category=course.category,
        tags=list(course.tags),
        digcomp=msgspec.convert(course.digcomp, list[s.CompetenceTag]),
        estimated_hours=course.estimated_hours,
        languages=list(course.languages),
        cover_asset_id=course.cover_asset_id,
        speakers=msgspec.convert(course.speakers, list[s.Speaker]),
        certificate=certificate_settings(course),
        published_at=course.published_at,
        archived_at=course.archived_at,
        created_at=course.created_at,
        updated_at=course.updated_at,
        runs=[staff_run(run, seated) for run in course.runs],
        modules=[staff_module(module) for module in course.modules],
    )


def staff_summary(course: Course) -> s.CourseSummary:
    return s.CourseSummary(
        id=course.id,
        slug=course.slug,
        format=course.format,
        status=course.status,
        title=course.title,
        updated_at=course.updated_at,
        published_at=course.published_at,
    )


# ---------------------------------------------------------------- public


def cover(row: Row[Any], asset_id: Any, urls: PublicUrls) -> PublicImage | None:
    """The cover's public URLs from the ``repository.COVER_COLUMNS`` joined in (None: no usable cover)."""
    if row.cover_key is None:
        return None
    return urls.image(asset_id, row.cover_bucket, row.cover_key, row.cover_details)


_TAGS = msgspec.json.Decoder(list[s.CompetenceTag])


def card(row: Any, lang: str, urls: PublicUrls) -> s.CourseCard:
    """A catalogue card from a row of ``repository.catalogue_page`` (an asyncpg record: JSONB as text)."""
    run_id = row["run_id"]
    next_run = None
    if run_id is not None:
        seats = row["run_seats_left"]
        next_run = s.NextRun(
            id=run_id,
            starts_at=row["run_starts_at"],
            ends_at=row["run_ends_at"],
            enrolment_open=bool(row["run_open"]),
            seats_left=None if seats is None else max(0, seats),
        )
    asset_id = row["cover_asset_id"]
    key = row["cover_key"]
    return s.CourseCard(
        id=row["id"],
        slug=row["slug"],
        format=row["format"],
        lang=lang,
        title=row["title"],  # already in the requested language (repository.in_language)
        summary=row["summary"],
        category=row["category"],
        tags=row["tags"],
        digcomp=_TAGS.decode(row["digcomp"]),
        estimated_hours=row["estimated_hours"],
        languages=row["languages"],
        cover_asset_id=asset_id,
        cover=None if key is None else urls.image(asset_id, row["cover_bucket"], key, row["cover_details"]),
        certificates_enabled=row["certificates_enabled"],
        published_at=row["published_at"],
        next_run=next_run,
    )


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None or b is None:
        return a or b
    return max(a, b)


def effective_release(lesson: Lesson, module: CourseModule) -> datetime | None:
    """A lesson opens when both it and its module have opened."""
    return _later(lesson.available_from, module.available_from)


def public_run(run: CourseRun, now: datetime) -> s.PublicRun:
    delivery: Literal["online", "in_person"] | None = (
        "online" if run.meeting_url else "in_person" if run.venue else None
    )
    return s.PublicRun(
        id=run.id,
        starts_at=run.starts_at,
        ends_at=run.ends_at,
        enrolment_opens_at=run.enrolment_opens_at,
        enrolment_closes_at=run.enrolment_closes_at,
        enrolment_open=enrolment_open(run, now),
        capacity=run.capacity,
        seats_left=seats_left(run),
        timezone=run.timezone,
        live_starts_at=run.live_starts_at,
        live_duration_minutes=run.live_duration_minutes,
        delivery=delivery,
        has_recording=run.recording_asset_id is not None,
    )


def detail(course: Course, image: PublicImage | None, lang: str, now: datetime) -> s.CourseDetail:
    return s.CourseDetail(
        id=course.id,
        slug=course.slug,
        format=course.format,
        lang=lang,
        title=pick(course.title, lang),
        summary=pick(course.summary, lang),
        description=pick(course.description, lang),
        category=course.category,
        tags=list(course.tags),
        digcomp=msgspec.convert(course.digcomp, list[s.CompetenceTag]),
        estimated_hours=course.estimated_hours,
        languages=list(course.languages),
        cover_asset_id=course.cover_asset_id,
        cover=image,
        speakers=[
            s.PublicSpeaker(name=sp["name"], affiliation=sp.get("affiliation"), bio=pick(sp.get("bio"), lang))
            for sp in course.speakers
        ],
        certificates_enabled=course.certificates_enabled,
        published_at=course.published_at,
        outline=[
            s.OutlineModule(
                id=module.id,
                title=pick(module.title, lang),
                available_from=module.available_from,
                lessons=[
                    s.OutlineLesson(
                        id=lesson.id,
                        title=pick(lesson.title, lang),
                        kind=lesson.kind,
                        required=lesson.required,
                        estimated_minutes=lesson.estimated_minutes,
                        available_from=effective_release(lesson, module),
                    )
                    for lesson in module.lessons
                ],
            )
            for module in course.modules
        ],
        runs=[public_run(run, now) for run in course.runs],
    )


def lesson_content(lesson: Lesson, module: CourseModule, lang: str) -> s.LessonContent:
    """The learner's view of a lesson: one language, quiz questions without their answers."""
    questions: list[QuizQuestion] = list(lesson.questions) if lesson.kind == "quiz" else []
    return s.LessonContent(
        id=lesson.id,
        module_id=lesson.module_id,
        kind=lesson.kind,
        lang=lang,
        title=pick(lesson.title, lang),
        required=lesson.required,
        estimated_minutes=lesson.estimated_minutes,
        available_from=effective_release(lesson, module),
        asset_id=lesson.asset_id,
        captions_asset_id=lesson.captions_asset_id,
        video_duration_seconds=lesson.video_duration_seconds,
        embed=embed_of(lesson),
        article_html=pick(lesson.article_html, lang) if lesson.kind == "article" else None,
        pass_mark=lesson.pass_mark,
        max_attempts=lesson.max_attempts,
        questions=[
            s.QuestionContent(
                id=q.id,
                kind=q.kind,
                prompt=pick(q.prompt, lang),
                options=[s.OptionContent(id=o.id, text=pick(o.text, lang)) for o in q.options],
            )
            for q in questions
        ]
        if lesson.kind == "quiz"
        else None,
    )
