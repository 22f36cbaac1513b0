"""Dependencies of the enrolment API: the enrolment and progress services, in the request's transaction."""

from __future__ import annotations

from litestar.datastructures import State
from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from enrolments.progress import ProgressService
from enrolments.service import EnrolmentService


async def provide_enrolment_service(
    state: State, db_session: NamedDependency[AsyncSession]
) -> EnrolmentService:
    return EnrolmentService(db_session, state.settings)


async def provide_progress_service(
    state: State, db_session: NamedDependency[AsyncSession]
) -> ProgressService:
    return ProgressService(db_session, state.settings)
