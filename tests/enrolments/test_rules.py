"""Completion rules as pure functions: percentages, quizzes, masterclass attendance, where to resume."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from courses.models import CourseFormat, LessonKind
from enrolments.rules import CompletionRule, LessonFacts, ProgressFacts, evaluate
from enrolments.service import parse_emails

NOW = datetime.now(UTC)


def lesson(kind: LessonKind, required: bool = True, released: bool = True) -> LessonFacts:
    return LessonFacts(uuid.uuid4(), kind, required, released)


def done(at: int = 0, passed: bool = False, attempted: bool = False) -> ProgressFacts:
    return ProgressFacts(
        completed=True, passed=passed, attempted=attempted, touched_at=NOW + timedelta(minutes=at)
    )


def test_optional_lessons_do_not_count_towards_completion() -> None:
    required, optional = lesson(LessonKind.ARTICLE), lesson(LessonKind.ARTICLE, required=False)

    outcome = evaluate(CompletionRule(CourseFormat.INSTANT), [required, optional], {required.id: done()})

    assert (outcome.percent, outcome.complete) == (100, True)


def test_a_course_can_complete_at_a_share_of_required_lessons() -> None:
    lessons = [lesson(LessonKind.ARTICLE) for _ in range(4)]
    rule = CompletionRule(CourseFormat.MOOC, min_required_percent=75)

    three = evaluate(rule, lessons, {x.id: done() for x in lessons[:3]})
    two = evaluate(rule, lessons, {x.id: done() for x in lessons[:2]})

    assert three.complete
    assert not two.complete
    assert two.percent == 50


def test_an_attempted_quiz_counts_when_the_course_does_not_ask_for_a_pass() -> None:
    quiz = lesson(LessonKind.QUIZ)
    attempted = {quiz.id: ProgressFacts(completed=False, passed=False, attempted=True, touched_at=NOW)}

    strict = evaluate(CompletionRule(CourseFormat.MOOC), [quiz], attempted)
    lenient = evaluate(CompletionRule(CourseFormat.MOOC, requires_quizzes_passed=False), [quiz], attempted)

    assert (strict.complete, lenient.complete) == (False, True)


def test_masterclass_needs_three_quarters_of_the_session_or_the_recording() -> None:
    live, video = lesson(LessonKind.LIVE_SESSION), lesson(LessonKind.VIDEO)
    rule = CompletionRule(CourseFormat.MASTERCLASS)

    short = evaluate(rule, [live, video], {}, attended_minutes=44, live_minutes=60)
    enough = evaluate(rule, [live, video], {}, attended_minutes=45, live_minutes=60)
    recording = evaluate(rule, [live, video], {video.id: done()}, attended_minutes=0, live_minutes=60)
    must_attend = evaluate(
        CompletionRule(CourseFormat.MASTERCLASS, requires_attendance=True),
        [live, video],
        {video.id: done()},
        attended_minutes=0,
        live_minutes=60,
    )

    assert (short.complete, enough.complete, recording.complete, must_attend.complete) == (
        False,
        True,
        True,
        False,
    )


def test_resume_is_the_unfinished_lesson_last_touched_else_the_next_released_one() -> None:
    first, second, third = (lesson(LessonKind.ARTICLE) for _ in range(3))
    unreleased = lesson(LessonKind.ARTICLE, released=False)
    rule = CompletionRule(CourseFormat.MOOC)
    touched = {second.id: ProgressFacts(completed=False, passed=False, attempted=False, touched_at=NOW)}

    assert evaluate(rule, [first, second, third], touched).resume_lesson_id == second.id
    assert (
        evaluate(rule, [first, second, unreleased], {first.id: done(), second.id: done(1)}).resume_lesson_id
        is None
    )
    assert evaluate(rule, [first, second, third], {first.id: done()}).resume_lesson_id == second.id


def test_csv_rows_are_read_one_by_one_with_or_without_a_header() -> None:
    with_header = parse_emails('Nom,Correu\nAda,ADA@example.org\n"broken,x@example.org\n\nBo,bo@\n')
    without = parse_emails("ada@example.org\n")

    assert with_header == [
        (2, "ada@example.org", True),
        (3, '"broken,x@example.org', False),
        (5, "bo@", False),
    ]
    assert without == [(1, "ada@example.org", True)]
