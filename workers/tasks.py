"""Plumbing tasks: the sweep that re-publishes owed work."""

from __future__ import annotations

from datetime import timedelta

from lms.db import outbox
from workers.queues import Queue
from workers.registry import TaskContext, task


@task("outbox.sweep", queue=Queue.MAINTENANCE, owed=False)
async def sweep_outbox(ctx: TaskContext) -> None:
    """Publish again the owed work still pending after its grace period."""
    if ctx.runtime.publisher is None:
        return
    grace = timedelta(seconds=ctx.runtime.settings.outbox_grace_seconds)
    await outbox.sweep(ctx.session, ctx.runtime.publisher, grace)
