"""Enrolment API: learners enrol, withdraw, read lessons and post progress; staff manage runs and reports."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

from litestar import Controller, Request, Response, delete, get, post, put
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED
from sqlalchemy.ext.asyncio import AsyncSession

from courses.i18n import negotiate
from courses.schemas import LessonContent
from enrolments import schemas as s
from enrolments.deps import provide_enrolment_service, provide_progress_service
from enrolments.models import EnrolmentStatus
from enrolments.progress import ProgressService
from enrolments.service import Enrolled, EnrolmentService, enrol_self, enrolment_detail
from lms.accounts.deps import bearer_token
from lms.accounts.models import User

BEARER: list[dict[str, list[str]]] = [{"BearerToken": []}]
Lang = Annotated[Literal["ca", "es", "en"] | None, QueryParameter(description="Response language")]
CSV = "text/csv"  # Litestar adds "; charset=utf-8" to text types
DEPENDENCIES = {
    "enrolments": Provide(provide_enrolment_service),
    "progress": Provide(provide_progress_service),
}


def _lang(user: User, lang: str | None) -> str:
    return negotiate(lang, user.preferred_language)


def _answer(result: Enrolled) -> Response[s.Enrolment]:
    status = HTTP_201_CREATED if result.created else HTTP_200_OK
    return Response(result.enrolment, status_code=status)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    text = str(value.value if hasattr(value, "value") else value)
    # A spreadsheet runs cells starting with these as formulas: neutralise them (CSV injection).
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def csv_response(header: Sequence[str], rows: Iterable[Sequence[Any]], filename: str) -> Response[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(v) for v in row])
    return Response(
        buffer.getvalue(),
        media_type=CSV,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


class MyEnrolmentsController(Controller):
    path = "/me/enrolments"
    tags = ["enrolment"]
    security = BEARER
    dependencies = DEPENDENCIES

    @get("/")
    async def list_mine(
        self,
        user: NamedDependency[User],
        enrolments: NamedDependency[EnrolmentService],
        include_withdrawn: FromQuery[bool] = False,
    ) -> list[s.MyEnrolment]:
        """My enrolments: status, place in line, progress, last activity, where to resume, certificate."""
        return await enrolments.mine(user, include_withdrawn)

    @post("/", status_code=HTTP_201_CREATED)
    async def enrol(
        self, request: Request[Any, Any, State], state: State, data: JSONBody[s.EnrolmentCreate]
    ) -> Response[s.Enrolment]:
        """Enrol in a run (201), or get the enrolment I already have (200); a full run puts me in line."""
        # Authenticates itself: the common case is one statement, authentication included.
        return _answer(await enrol_self(state, bearer_token(request), data.run_id))

    @get("/{enrolment_id:uuid}")
    async def detail(
        self,
        user: NamedDependency[User],
        enrolment_id: FromPath[uuid.UUID],
        db_session: NamedDependency[AsyncSession],
        request: Request[Any, Any, State],
        lang: Lang = None,
    ) -> s.EnrolmentDetail:
        """One of my enrolments with each lesson's state."""
        settings = request.app.state.settings
        return await enrolment_detail(db_session, settings, user, enrolment_id, _lang(user, lang))

    @delete("/{enrolment_id:uuid}", status_code=HTTP_200_OK)
    async def withdraw(
        self,
        user: NamedDependency[User],
        enrolment_id: FromPath[uuid.UUID],
        enrolments: NamedDependency[EnrolmentService],
    ) -> s.Enrolment:
        """Withdraw (give the seat or the place in line back); the first in line takes a freed seat."""
        return (await enrolments.withdraw(enrolment_id, user_id=user.id)).enrolment

    @post("/{enrolment_id:uuid}/progress", status_code=HTTP_200_OK)
    async def post_progress(
        self,
        user: NamedDependency[User],
        enrolment_id: FromPath[uuid.UUID],
        data: JSONBody[s.ProgressBatch],
        progress: NamedDependency[ProgressService],
    ) -> s.ProgressAccepted:
        """Record 1-500 progress events; an event id already received is ignored, so retries are safe."""
        return await progress.ingest(user.id, enrolment_id, data)


class MyLessonsController(Controller):
    path = "/me/lessons"
    tags = ["enrolment"]
    security = BEARER
    dependencies = DEPENDENCIES

    @get("/{lesson_id:uuid}")
    async def lesson(
        self,
        user: NamedDependency[User],
        lesson_id: FromPath[uuid.UUID],
        enrolments: NamedDependency[EnrolmentService],
        lang: Lang = None,
    ) -> LessonContent:
        """A released lesson of a course I hold a seat in (quiz questions come without their answers)."""
        return await enrolments.lesson_for_learner(user, lesson_id, _lang(user, lang))


ROSTER_HEADER = (
    "enrolment_id",
    "email",
    "full_name",
    "status",
    "waitlist_position",
    "enrolled_at",
    "waitlisted_at",
    "completed_at",
    "withdrawn_at",
    "progress_percent",
    "last_activity_at",
)


class StaffEnrolmentsController(Controller):
    path = "/staff/runs/{run_id:uuid}"
    tags = ["enrolment administration"]
    security = BEARER
    dependencies = DEPENDENCIES

    @get("/enrolments")
    async def roster(
        self,
        staff: NamedDependency[User],
        run_id: FromPath[uuid.UUID],
        enrolments: NamedDependency[EnrolmentService],
        status: FromQuery[EnrolmentStatus | None] = None,
    ) -> list[s.RosterLine]:
        """Staff: a run's enrolments, seated first, then the waiting list in order."""
        return await enrolments.roster(run_id, status)

    @get("/enrolments.csv", media_type=CSV)
    async def roster_csv(
        self,
        staff: NamedDependency[User],
        run_id: FromPath[uuid.UUID],
        enrolments: NamedDependency[EnrolmentService],
        status: FromQuery[EnrolmentStatus | None] = None,
    ) -> Response[str]:
        """Staff: a run's enrolments as CSV."""
        lines = await enrolments.roster(run_id, status)
        rows = (
            (
                x.id,
                x.email,
                x.full_name,
                x.status,
                x.waitlist_position,
                x.enrolled_at,
                x.waitlisted_at,
                x.completed_at,
                x.withdrawn_at,
                x.progress_percent,
                x.last_activity_at,
            )
            for x in lines
        )
        return csv_response(ROSTER_HEADER, rows, f"enrolments-{run_id}.csv")

    @post("/enrolments", status_code=HTTP_201_CREATED)
    async def enrol_someone(
        self,
        staff: NamedDependency[User],
        run_id: FromPath[uuid.UUID],
        data: JSONBody[s.StaffEnrolmentCreate],
        enrolments: NamedDependency[EnrolmentService],
    ) -> Response[s.Enrolment]:
        """Staff: enrol a learner by e-mail or id (also outside the enrolment window)."""
        return _answer(await enrolments.staff_enrol(staff, run_id, data))

    @delete("/enrolments/{enrolment_id:uuid}", status_code=HTTP_200_OK)
    async def withdraw_someone(
        self,
        staff: NamedDependency[User],
        run_id: FromPath[uuid.UUID],
        enrolment_id: FromPath[uuid.UUID],
        enrolments: NamedDependency[EnrolmentService],
    ) -> s.Enrolment:
        """Staff: withdraw a learner; the first in line takes the freed seat."""
        return (await enrolments.staff_withdraw(staff, run_id, enrolment_id)).enrolment

    @post("/enrolments/bulk", status_code=HTTP_200_OK)
    async def bulk(
        self,
        staff: NamedDependency[User],
        run_id: FromPath[uuid.UUID],
        request: Request[Any, Any, State],
        enrolments: NamedDependency[EnrolmentService],
    ) -> s.BulkReport:
        """Staff: enrol a CSV of e-mails (text/csv body) in one transaction, with an outcome per row."""
        return await enrolments.bulk_enrol(staff, run_id, await request.body())

    @get("/progress")
    async def report(
        self,
        staff: NamedDependency[User],
        run_id: FromPath[uuid.UUID],
        enrolments: NamedDependency[EnrolmentService],
        lang: Lang = None,
    ) -> s.ProgressReport:
        """Staff: the run's progress report (enrolled, active, completed, rates, quiz pass rates)."""
        return await enrolments.report(run_id, _lang(staff, lang))

    @get("/progress.csv", media_type=CSV)
    async def report_csv(
        self,
        staff: NamedDependency[User],
        run_id: FromPath[uuid.UUID],
        enrolments: NamedDependency[EnrolmentService],
        lang: Lang = None,
    ) -> Response[str]:
        """Staff: the run's progress report as CSV (one metric per line, then one line per quiz)."""
        r = await enrolments.report(run_id, _lang(staff, lang))
        rows: list[Sequence[Any]] = [
            ("enrolled", r.enrolled, ""),
            ("waitlisted", r.waitlisted, ""),
            ("withdrawn", r.withdrawn, ""),
            (f"active_last_{r.active_days}_days", r.active, ""),
            ("completed", r.completed, ""),
            ("completion_rate", r.completion_rate, ""),
            ("average_progress", r.average_progress, ""),
        ]
        rows += [("quiz_pass_rate", q.pass_rate, q.title) for q in r.quizzes]
        return csv_response(("metric", "value", "quiz"), rows, f"progress-{run_id}.csv")


class StaffAttendanceController(Controller):
    path = "/staff/enrolments"
    tags = ["enrolment administration"]
    security = BEARER
    dependencies = DEPENDENCIES

    @put("/{enrolment_id:uuid}/attendance")
    async def mark_attendance(
        self,
        staff: NamedDependency[User],
        enrolment_id: FromPath[uuid.UUID],
        data: JSONBody[s.AttendanceMark],
        progress: NamedDependency[ProgressService],
    ) -> s.ProgressAccepted:
        """Staff: record the minutes a learner attended a masterclass's live session (null: measured)."""
        return await progress.mark_attendance(enrolment_id, data.attended_minutes)


CONTROLLERS = [
    MyEnrolmentsController,
    MyLessonsController,
    StaffEnrolmentsController,
    StaffAttendanceController,
]
