"""Media work done by workers: processing uploads, removing objects, sweeping unfinished uploads."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from media import service
from media.storage import Storage, build_storage
from workers.queues import Queue
from workers.registry import TaskContext, task


def _storage(ctx: TaskContext) -> Storage:
    return ctx.runtime.resource("storage", build_storage)


@task("media.process", queue=Queue.MEDIA)
async def process_asset(ctx: TaskContext, asset_id: str) -> None:
    """Thumbnails and dimensions, duration, pages or cues of a freshly uploaded asset."""
    await service.process(ctx.session, _storage(ctx), ctx.runtime.settings, uuid.UUID(asset_id))


@task("media.remove_objects", queue=Queue.MEDIA)
async def remove_objects(ctx: TaskContext, objects: list[list[str]], upload_id: str | None = None) -> None:
    """Delete the stored objects of a deleted asset."""
    await service.remove_objects(_storage(ctx), objects, upload_id)


@task("media.sweep_pending", queue=Queue.MAINTENANCE, owed=False)
async def sweep_pending_uploads(ctx: TaskContext) -> None:
    """Remove uploads still pending after a day, with their objects."""
    await service.sweep_pending(ctx.session, _storage(ctx), ctx.runtime.settings, datetime.now(UTC))
