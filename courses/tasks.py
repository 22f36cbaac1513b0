"""Background work of the catalogue."""

from __future__ import annotations

from courses.repository import refresh_popularity
from workers.queues import Queue
from workers.registry import TaskContext, task


@task("courses.refresh_popularity", queue=Queue.MAINTENANCE, owed=False)
async def refresh_course_popularity(ctx: TaskContext) -> None:
    """Sort by popularity on current seat counts (see ``repository.REFRESH_POPULARITY``)."""
    await refresh_popularity(ctx.session)
