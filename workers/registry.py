"""Task declarations: domain packages declare tasks here without needing a Celery app at import time."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from lms.db import outbox
from lms.db.outbox import PUBLISHER_KEY, Envelope, OutboxMessage, Publisher, enqueue
from lms.db.session import after_commit
from workers.queues import Queue
from workers.runtime import Runtime


@dataclass(frozen=True, slots=True)
class TaskContext:
    """What a task body gets: its transaction and the worker's runtime (settings, storage, mail)."""

    session: AsyncSession
    runtime: Runtime
    # Owed rows of the same task that travel later in this broker message. A body that does such work in
    # batches may do theirs too, and note them in ``completed``: once this transaction has committed, the
    # worker skips them instead of claiming each in a transaction of its own.
    later: tuple[uuid.UUID, ...] = ()
    completed: set[uuid.UUID] = field(default_factory=set)


TaskBody = Callable[..., Awaitable[None]]


@dataclass(frozen=True, slots=True)
class TaskSpec:
    """A named task with its queue; ``owed`` tasks are enqueued through the outbox."""

    name: str
    queue: Queue
    body: TaskBody
    owed: bool
    scrub: bool = False  # the payload holds a secret: erase it from the outbox once the task is done

    def enqueue(self, session: AsyncSession, **payload: Any) -> OutboxMessage:
        """Owe this task in the session's transaction; it is published after commit."""
        if not self.owed:
            raise TypeError(f"{self.name} is a periodic task, not owed work")
        return enqueue(session, self.name, self.queue.value, **payload)

    async def enqueue_all(self, session: AsyncSession, payloads: Sequence[dict[str, Any]]) -> list[uuid.UUID]:
        """Owe this task once per payload; after commit they are published together, as one broker message.

        For the work of a batch: publishing each row after commit costs the committing process a thread
        hop and a broker round trip per row. The rows are inserted with one statement, now
        (``outbox.insert_all``).
        """
        if not self.owed:
            raise TypeError(f"{self.name} is a periodic task, not owed work")
        ids = await outbox.insert_all(session, self.name, self.queue.value, payloads)
        if not ids:
            return ids
        publisher: Publisher | None = session.info.get(PUBLISHER_KEY)
        if publisher is not None:
            envelopes = [Envelope(outbox_id, self.name, self.queue.value) for outbox_id in ids]

            async def publish() -> None:
                await publisher.publish(envelopes)

            after_commit(session, publish)
        return ids


REGISTRY: dict[str, TaskSpec] = {}
WARM_UPS: list[Callable[[], None]] = []


def warm_up(prepare: Callable[[], None]) -> Callable[[], None]:
    """Declare work a worker does once when it starts (loading fonts, say), before it takes tasks."""
    if prepare not in WARM_UPS:
        WARM_UPS.append(prepare)
    return prepare


def task(
    name: str, *, queue: Queue, owed: bool = True, scrub: bool = False
) -> Callable[[TaskBody], TaskSpec]:
    """Declare a task body ``async def body(ctx: TaskContext, **payload)`` under a stable dotted name."""

    def register(body: TaskBody) -> TaskSpec:
        if name in REGISTRY and REGISTRY[name].body is not body:
            raise ValueError(f"task {name!r} is declared twice")
        spec = TaskSpec(name=name, queue=queue, body=body, owed=owed, scrub=scrub)
        REGISTRY[name] = spec
        return spec

    return register
