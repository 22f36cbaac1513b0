"""Background work of the catalogue."""

from __future__ import annotations

from courses.repository import advance_enrolment_windows, refresh_popularity
from workers.queues import Queue
from workers.registry import TaskContext, task


@task("courses.refresh_listing", queue=Queue.MAINTENANCE, owed=False)
async def refresh_listing(ctx: TaskContext) -> None:
    """Keep what the catalogue sorts and filters by current: popularity from seats taken
    (``repository.REFRESH_POPULARITY``) and each course's enrolment window (``ADVANCE_WINDOWS``)."""
    await refresh_popularity(ctx.session)
    await advance_enrolment_windows(ctx.session)
