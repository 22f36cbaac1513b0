"""Courses API: the public catalogue and calendars, and staff publishing."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post, put
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT
from sqlalchemy.ext.asyncio import AsyncSession

from courses import presenters as present
from courses import schemas as s
from courses import service
from courses.deps import provide_course_service, provide_reader
from courses.digcomp import framework, is_competence
from courses.i18n import negotiate
from courses.models import Course, CourseFormat, CourseStatus
from courses.repository import CatalogueQuery, Sort
from courses.service import CourseService
from lms.db.driver import driver_pool
from lms.errors import ValidationFailed
from lms.pagination import Limit, Offset, Page
from media.deps import provide_public_urls
from media.public import PublicUrls

BEARER: list[dict[str, list[str]]] = [{"BearerToken": []}]
CATALOGUE_MAX_AGE = 60  # seconds: a new course may take a minute to show; pages stay cheap under load
SERVICE_ZONE = ZoneInfo("Europe/Madrid")  # dates in filters are local days of the service
Lang = Annotated[Literal["ca", "es", "en"] | None, QueryParameter(description="Response language")]
JSON = "application/json"
ICS = "text/calendar"  # Litestar adds "; charset=utf-8" to text types


def _now() -> datetime:
    return datetime.now(UTC)


def _lang(request: Request[Any, Any, State], lang: str | None) -> str:
    return negotiate(lang, request.headers.get("accept-language"))


def cached(request: Request[Any, Any, State], body: bytes, media_type: str) -> Response[bytes]:
    """A public answer with a strong ETag; ``304`` when the client already has these bytes."""
    etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
    headers = {
        "ETag": etag,
        "Cache-Control": f"public, max-age={CATALOGUE_MAX_AGE}",
        "Vary": "Accept-Language",
    }
    sent = request.headers.get("if-none-match")
    if sent and (sent.strip() == "*" or etag in {t.strip().removeprefix("W/") for t in sent.split(",")}):
        return Response(b"", status_code=304, headers=headers, media_type=media_type)
    return Response(body, status_code=HTTP_200_OK, headers=headers, media_type=media_type)


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=SERVICE_ZONE)


class CatalogueController(Controller):
    path = "/courses"
    tags = ["catalogue"]
    dependencies = {
        "reader": Provide(provide_reader),
        "public_urls": Provide(provide_public_urls, sync_to_thread=False),
    }

    @get(
        "/",
        responses={200: ResponseSpec(data_container=s.CataloguePage, description="A page of courses")},
    )
    async def list_courses(
        self,
        request: Request[Any, Any, State],
        state: State,
        q: Annotated[
            str | None, QueryParameter(max_length=200, description="Free text, accents ignored")
        ] = None,
        format: Annotated[CourseFormat | None, QueryParameter()] = None,
        category: Annotated[str | None, QueryParameter(max_length=60)] = None,
        competence: Annotated[str | None, QueryParameter(max_length=5, description="DigComp code")] = None,
        level: Annotated[int | None, QueryParameter(ge=1, le=8)] = None,
        language: Annotated[
            Literal["ca", "es", "en"] | None, QueryParameter(description="Language of instruction")
        ] = None,
        open_now: Annotated[bool, QueryParameter(description="Only runs open for enrolment now")] = False,
        starts_from: Annotated[date | None, QueryParameter(description="A run starts on or after")] = None,
        starts_to: Annotated[date | None, QueryParameter(description="A run starts on or before")] = None,
        sort: Annotated[Sort, QueryParameter()] = Sort.RELEVANCE,
        limit: Limit = 20,
        offset: Annotated[int, QueryParameter(ge=0, le=100_000)] = 0,
        lang: Lang = None,
    ) -> Response[bytes]:
        """Published courses with filters, accent-insensitive search, sorting and a total (capped at 1000)."""
        if competence is not None and not is_competence(competence):
            raise ValidationFailed.on("competence", f"{competence!r} is not a DigComp 2.2 competence")
        if starts_from and starts_to and starts_to < starts_from:
            raise ValidationFailed.on("starts_to", "is before starts_from")
        language_code = _lang(request, lang)
        query = CatalogueQuery(
            now=_now(),
            q=q,
            format=format,
            category=category,
            competence=competence,
            level=level,
            language=language,
            open_now=open_now,
            starts_from=_day_start(starts_from) if starts_from else None,
            starts_before=_day_start(starts_to + timedelta(days=1)) if starts_to else None,
            sort=sort,
            limit=limit,
            offset=offset,
        )
        # The hottest read: one statement on a bare connection, no dependencies to resolve.
        async with driver_pool(state).connection() as connection:
            page = await service.catalogue(connection, query, language_code, state.media_public_urls)
        return cached(request, msgspec.json.encode(page), JSON)

    @get(
        "/{slug:str}",
        responses={200: ResponseSpec(data_container=s.CourseDetail, description="The course")},
    )
    async def course_detail(
        self,
        request: Request[Any, Any, State],
        reader: NamedDependency[AsyncSession],
        public_urls: NamedDependency[PublicUrls],
        slug: FromPath[str],
        lang: Lang = None,
    ) -> Response[bytes]:
        """A published course: description, outline (lesson titles), runs with seats left, cover URLs."""
        found = await service.course_detail(reader, slug, _lang(request, lang), _now(), public_urls)
        return cached(request, msgspec.json.encode(found), JSON)


class CalendarController(Controller):
    path = "/"
    tags = ["catalogue"]
    dependencies = {"reader": Provide(provide_reader)}

    @get("/calendar/masterclasses.ics", media_type=ICS)
    async def masterclass_feed(
        self, request: Request[Any, Any, State], reader: NamedDependency[AsyncSession], lang: Lang = None
    ) -> Response[bytes]:
        """iCalendar feed of upcoming masterclasses."""
        settings = request.app.state.settings
        text = await service.masterclass_feed(reader, _lang(request, lang), settings.public_url, _now())
        return cached(request, text.encode("utf-8"), ICS)

    @get("/runs/{run_id:uuid}/calendar.ics", media_type=ICS)
    async def run_calendar(
        self,
        request: Request[Any, Any, State],
        reader: NamedDependency[AsyncSession],
        run_id: FromPath[uuid.UUID],
        lang: Lang = None,
    ) -> Response[bytes]:
        """iCalendar file for one masterclass session."""
        settings = request.app.state.settings
        text = await service.run_calendar(reader, run_id, _lang(request, lang), settings.public_url)
        response = cached(request, text.encode("utf-8"), ICS)
        response.headers["Content-Disposition"] = f'attachment; filename="masterclass-{run_id}.ics"'
        return response


class DigCompController(Controller):
    path = "/digcomp"
    tags = ["catalogue"]

    @get("/")
    async def competences(self) -> list[s.Competence]:
        """The 21 DigComp 2.2 competences courses are tagged with (levels 1-8)."""
        return [
            s.Competence(code=c["code"], name=c["name"], area=area["name"])
            for area in framework()["areas"]
            for c in area["competences"]
        ]


async def _staff_view(courses: CourseService, course: Course) -> s.Course:
    return present.staff_course(course, await courses.seated(course.runs))


class StaffCourseController(Controller):
    path = "/staff"
    tags = ["publishing"]
    security = BEARER
    dependencies = {"courses": Provide(provide_course_service)}

    @get("/courses")
    async def list_courses(
        self,
        courses: NamedDependency[CourseService],
        status: Annotated[CourseStatus | None, QueryParameter()] = None,
        q: Annotated[str | None, QueryParameter(max_length=200)] = None,
        limit: Limit = 20,
        offset: Offset = 0,
    ) -> Page[s.CourseSummary]:
        """Every course, drafts and archived ones included, most recently changed first."""
        items, total = await courses.list(status=status, text=q, limit=limit, offset=offset)
        return Page(items=[present.staff_summary(c) for c in items], total=total, limit=limit, offset=offset)

    @post("/courses", status_code=HTTP_201_CREATED)
    async def create_course(
        self, courses: NamedDependency[CourseService], data: JSONBody[s.CourseCreate]
    ) -> s.Course:
        """Create a draft course (an instant course gets its evergreen run)."""
        return await _staff_view(courses, await courses.create(data))

    @get("/courses/{course_id:uuid}")
    async def get_course(
        self, courses: NamedDependency[CourseService], course_id: FromPath[uuid.UUID]
    ) -> s.Course:
        """A course with everything: all languages, runs, modules, lessons and quiz answers."""
        return await _staff_view(courses, await courses.get(course_id))

    @patch("/courses/{course_id:uuid}")
    async def update_course(
        self,
        courses: NamedDependency[CourseService],
        course_id: FromPath[uuid.UUID],
        data: JSONBody[s.CourseUpdate],
    ) -> s.Course:
        """Change some fields of a course."""
        return await _staff_view(courses, await courses.update(course_id, data))

    @post("/courses/{course_id:uuid}/publish", status_code=HTTP_200_OK)
    async def publish(
        self, courses: NamedDependency[CourseService], course_id: FromPath[uuid.UUID]
    ) -> s.Course:
        """Publish; refused with 409 and the list of problems when the course is not ready."""
        return await _staff_view(courses, await courses.publish(course_id))

    @post("/courses/{course_id:uuid}/unpublish", status_code=HTTP_200_OK)
    async def unpublish(
        self, courses: NamedDependency[CourseService], course_id: FromPath[uuid.UUID]
    ) -> s.Course:
        """Back to draft: gone from the catalogue, enrolments kept."""
        return await _staff_view(courses, await courses.unpublish(course_id))

    @post("/courses/{course_id:uuid}/archive", status_code=HTTP_200_OK)
    async def archive(
        self, courses: NamedDependency[CourseService], course_id: FromPath[uuid.UUID]
    ) -> s.Course:
        """Archive: out of the catalogue for good (publishing again is possible)."""
        return await _staff_view(courses, await courses.archive(course_id))

    @post("/courses/{course_id:uuid}/duplicate", status_code=HTTP_201_CREATED)
    async def duplicate(
        self,
        courses: NamedDependency[CourseService],
        course_id: FromPath[uuid.UUID],
        data: JSONBody[s.Duplicate],
    ) -> s.Course:
        """Copy a course into a new draft edition, optionally with its runs moved by some days."""
        return await _staff_view(courses, await courses.duplicate(course_id, data))

    @post("/courses/{course_id:uuid}/runs", status_code=HTTP_201_CREATED)
    async def add_run(
        self,
        courses: NamedDependency[CourseService],
        course_id: FromPath[uuid.UUID],
        data: JSONBody[s.RunCreate],
    ) -> s.Run:
        """Add a run (edition or session) to a course."""
        run = await courses.add_run(course_id, data)
        return present.staff_run(run, await courses.seated([run]))

    @patch("/runs/{run_id:uuid}")
    async def update_run(
        self,
        courses: NamedDependency[CourseService],
        run_id: FromPath[uuid.UUID],
        data: JSONBody[s.RunUpdate],
    ) -> s.Run:
        """Change a run: dates, capacity, session, link or venue, recording."""
        run = await courses.update_run(run_id, data)
        return present.staff_run(run, await courses.seated([run]))

    @delete("/runs/{run_id:uuid}", status_code=HTTP_204_NO_CONTENT)
    async def delete_run(self, courses: NamedDependency[CourseService], run_id: FromPath[uuid.UUID]) -> None:
        """Remove a run nobody is enrolled in."""
        await courses.delete_run(run_id)

    @post("/courses/{course_id:uuid}/modules", status_code=HTTP_201_CREATED)
    async def add_module(
        self,
        courses: NamedDependency[CourseService],
        course_id: FromPath[uuid.UUID],
        data: JSONBody[s.ModuleCreate],
    ) -> s.Module:
        """Append a module to a course."""
        return present.staff_module(await courses.add_module(course_id, data))

    @put("/courses/{course_id:uuid}/modules/order")
    async def reorder_modules(
        self,
        courses: NamedDependency[CourseService],
        course_id: FromPath[uuid.UUID],
        data: JSONBody[s.Reorder],
    ) -> s.Course:
        """Put the course's modules in the given order."""
        return await _staff_view(courses, await courses.reorder_modules(course_id, data))

    @patch("/modules/{module_id:uuid}")
    async def update_module(
        self,
        courses: NamedDependency[CourseService],
        module_id: FromPath[uuid.UUID],
        data: JSONBody[s.ModuleUpdate],
    ) -> s.Module:
        """Change a module's title, summary or release date."""
        module = await courses.update_module(module_id, data)
        return present.staff_module(module)

    @delete("/modules/{module_id:uuid}", status_code=HTTP_204_NO_CONTENT)
    async def delete_module(
        self, courses: NamedDependency[CourseService], module_id: FromPath[uuid.UUID]
    ) -> None:
        """Remove a module and its lessons."""
        await courses.delete_module(module_id)

    @post("/modules/{module_id:uuid}/lessons", status_code=HTTP_201_CREATED)
    async def add_lesson(
        self,
        courses: NamedDependency[CourseService],
        module_id: FromPath[uuid.UUID],
        data: JSONBody[s.LessonCreate],
    ) -> s.Lesson:
        """Append a lesson to a module (article HTML is sanitized before it is stored)."""
        return present.staff_lesson(await courses.add_lesson(module_id, data))

    @put("/modules/{module_id:uuid}/lessons/order")
    async def reorder_lessons(
        self,
        courses: NamedDependency[CourseService],
        module_id: FromPath[uuid.UUID],
        data: JSONBody[s.Reorder],
    ) -> s.Module:
        """Put the module's lessons in the given order."""
        return present.staff_module(await courses.reorder_lessons(module_id, data))

    @get("/lessons/{lesson_id:uuid}")
    async def get_lesson(
        self, courses: NamedDependency[CourseService], lesson_id: FromPath[uuid.UUID]
    ) -> s.Lesson:
        """A lesson with everything, quiz answers included."""
        return present.staff_lesson(await courses.get_lesson(lesson_id))

    @get("/lessons/{lesson_id:uuid}/preview")
    async def preview_lesson(
        self,
        request: Request[Any, Any, State],
        courses: NamedDependency[CourseService],
        lesson_id: FromPath[uuid.UUID],
        lang: Lang = None,
    ) -> s.LessonContent:
        """The lesson exactly as a learner will read it (one language, no answers)."""
        return await courses.preview_lesson(lesson_id, _lang(request, lang))

    @patch("/lessons/{lesson_id:uuid}")
    async def update_lesson(
        self,
        courses: NamedDependency[CourseService],
        lesson_id: FromPath[uuid.UUID],
        data: JSONBody[s.LessonUpdate],
    ) -> s.Lesson:
        """Change a lesson; a quiz given here replaces the questions."""
        return present.staff_lesson(await courses.update_lesson(lesson_id, data))

    @delete("/lessons/{lesson_id:uuid}", status_code=HTTP_204_NO_CONTENT)
    async def delete_lesson(
        self, courses: NamedDependency[CourseService], lesson_id: FromPath[uuid.UUID]
    ) -> None:
        """Remove a lesson."""
        await courses.delete_lesson(lesson_id)
