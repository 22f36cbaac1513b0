"""Completion rules and progress figures, as pure functions of a course's lessons and a learner's state."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from courses.models import CourseFormat, LessonKind

# Lessons a learner completes by saying so; the others complete by what the server measured.
SELF_COMPLETED_KINDS = frozenset(
    {LessonKind.ARTICLE, LessonKind.IMAGE, LessonKind.DOCUMENT, LessonKind.EMBED}
)


@dataclass(frozen=True, slots=True)
class CompletionRule:
    """A course's completion parameters (the courses domain's certificate/completion settings)."""

    format: CourseFormat
    min_required_percent: int = 100
    requires_quizzes_passed: bool = True
    requires_attendance: bool = False
    attendance_ratio: float = 0.75  # of the live session, for masterclasses


@dataclass(frozen=True, slots=True)
class LessonFacts:
    id: uuid.UUID
    kind: LessonKind
    required: bool
    released: bool


@dataclass(frozen=True, slots=True)
class ProgressFacts:
    completed: bool
    passed: bool
    attempted: bool
    touched_at: datetime | None


@dataclass(frozen=True, slots=True)
class Outcome:
    percent: int
    complete: bool
    resume_lesson_id: uuid.UUID | None


NOTHING = ProgressFacts(completed=False, passed=False, attempted=False, touched_at=None)


def lesson_done(lesson: LessonFacts, facts: ProgressFacts, rule: CompletionRule) -> bool:
    """A quiz is done when passed, or merely attempted when the course does not ask for a pass."""
    if lesson.kind is LessonKind.QUIZ:
        return facts.passed or (not rule.requires_quizzes_passed and facts.attempted)
    return facts.completed


def resume_lesson(
    lessons: Sequence[LessonFacts], progress: Mapping[uuid.UUID, ProgressFacts], rule: CompletionRule
) -> uuid.UUID | None:
    """The lesson last worked on if it is not done, else the first released lesson not done yet."""
    touched = [(p.touched_at, lid) for lid, p in progress.items() if p.touched_at is not None]
    by_id = {lesson.id: lesson for lesson in lessons}
    if touched:
        _, last = max(touched)
        lesson = by_id.get(last)
        if lesson is not None and not lesson_done(lesson, progress[last], rule):
            return last
    for lesson in lessons:
        if lesson.released and not lesson_done(lesson, progress.get(lesson.id, NOTHING), rule):
            return lesson.id
    return None


def evaluate(
    rule: CompletionRule,
    lessons: Sequence[LessonFacts],
    progress: Mapping[uuid.UUID, ProgressFacts],
    *,
    attended_minutes: float | None = None,
    live_minutes: int | None = None,
) -> Outcome:
    """Progress percentage and whether the completion rule is met."""
    counted = [lesson for lesson in lessons if lesson.required] or list(lessons)
    done = sum(1 for lesson in counted if lesson_done(lesson, progress.get(lesson.id, NOTHING), rule))
    share = done / len(counted) if counted else 0.0
    resume = resume_lesson(lessons, progress, rule)

    if rule.format is CourseFormat.MASTERCLASS:
        attendance_share = 0.0
        if attended_minutes is not None and live_minutes:
            attendance_share = min(1.0, attended_minutes / (live_minutes * rule.attendance_ratio))
        # The recording counts when a video lesson of the masterclass was watched to its completion share.
        recording_share = 0.0
        videos = [lesson for lesson in lessons if lesson.kind is LessonKind.VIDEO]
        if videos and not rule.requires_attendance:
            recording_share = max(1.0 if progress.get(v.id, NOTHING).completed else 0.0 for v in videos)
        complete = attendance_share >= 1.0 or recording_share >= 1.0
        best = max(attendance_share, recording_share, share if not complete else 1.0)
        percent = 100 if complete else min(99, int(best * 100))
        return Outcome(percent=percent, complete=complete, resume_lesson_id=resume)

    complete = bool(counted) and share * 100 >= rule.min_required_percent
    if complete and rule.requires_quizzes_passed:
        complete = all(
            progress.get(lesson.id, NOTHING).passed
            for lesson in lessons
            if lesson.kind is LessonKind.QUIZ and lesson.required
        )
    percent = 100 if complete else min(99, int(share * 100))
    return Outcome(percent=percent, complete=complete, resume_lesson_id=resume)
