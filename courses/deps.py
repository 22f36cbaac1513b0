"""Dependencies of the courses API: the staff service and a transaction-free reader for public pages."""

from __future__ import annotations

from collections.abc import AsyncIterator

from litestar.datastructures import State
from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from courses.sanitize import ArticleSanitizer, image_prefixes
from courses.service import CourseService
from lms.accounts.models import User
from lms.settings import Settings

_SANITIZER = "courses.sanitizer"
_READER = "courses.reader_engine"


def sanitizer_for(settings: Settings) -> ArticleSanitizer:
    return ArticleSanitizer(
        image_prefixes(settings.public_url, settings.s3_public_endpoint, settings.bucket_public)
    )


def _sanitizer(state: State) -> ArticleSanitizer:
    found: ArticleSanitizer | None = state.get(_SANITIZER)
    if found is None:
        found = sanitizer_for(state.settings)
        state[_SANITIZER] = found
    return found


async def provide_course_service(
    state: State, db_session: NamedDependency[AsyncSession], staff: NamedDependency[User]
) -> CourseService:
    """The staff service, for staff and admins only (learners 403, anonymous 401)."""
    return CourseService(db_session, _sanitizer(state), actor_id=staff.id)


def _reader_engine(state: State) -> AsyncEngine:
    """Public reads are single statements: autocommit saves the BEGIN and COMMIT round trips."""
    engine: AsyncEngine | None = state.get(_READER)
    if engine is None or engine.sync_engine.pool is not state.engine.sync_engine.pool:
        engine = state.engine.execution_options(isolation_level="AUTOCOMMIT")
        state[_READER] = engine
    return engine


async def provide_reader(state: State) -> AsyncIterator[AsyncSession]:
    """A session outside any transaction, for public reads."""
    async with AsyncSession(_reader_engine(state), expire_on_commit=False) as session:
        yield session
