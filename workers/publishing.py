"""Publishing owed work without making requests, or a worker's next task, wait for the broker."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Protocol

import anyio.to_thread

from lms.db.outbox import Envelope
from lms.threads import process_threads

logger = logging.getLogger("workers.publishing")
MAX_BATCH = 500  # envelopes sent in one broker round of a background flush
LINGER = 0.02  # seconds the first envelope of a batch waits for others
DRAIN_TIMEOUT = 5.0  # seconds a shutting-down API waits for queued envelopes to reach the broker


class BlockingPublisher(Protocol):
    def publish_now(self, envelopes: Sequence[Envelope]) -> None: ...


class BufferedPublisher:
    """Queues envelopes after commit and sends them in batches from one background task.

    The outbox rows are already committed when envelopes arrive here, so a message lost with a dying
    process is published again by the outbox sweep; the request never waits for the broker.
    """

    def __init__(self, inner: BlockingPublisher) -> None:
        self.inner = inner
        self._queue: asyncio.Queue[Envelope] | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def app(self) -> object:  # the broker health check reaches the Celery app through the publisher
        return getattr(self.inner, "app", None)

    def _ensure_running(self) -> asyncio.Queue[Envelope]:
        if self._queue is None or self._task is None or self._task.done():
            self._queue = asyncio.Queue()
            self._task = asyncio.get_running_loop().create_task(
                self._run(self._queue), name="outbox-publisher"
            )
        return self._queue

    async def publish(self, envelopes: Sequence[Envelope]) -> None:
        queue = self._ensure_running()
        for envelope in envelopes:
            queue.put_nowait(envelope)

    async def _run(self, queue: asyncio.Queue[Envelope]) -> None:
        while True:
            batch = [await queue.get()]
            # Linger a moment so that owed work committed by concurrent requests shares broker messages.
            await asyncio.sleep(LINGER)
            while len(batch) < MAX_BATCH and not queue.empty():
                batch.append(queue.get_nowait())
            await self._send(batch)
            for _ in batch:
                queue.task_done()

    async def _send(self, batch: list[Envelope]) -> None:
        try:
            await anyio.to_thread.run_sync(self.inner.publish_now, batch)
        except Exception:
            logger.exception("could not publish %d owed messages; the outbox sweep will", len(batch))

    async def aclose(self) -> None:
        """Send what is queued (for a few seconds at most), then stop."""
        if self._queue is None or self._task is None:
            return
        try:
            await asyncio.wait_for(self._queue.join(), DRAIN_TIMEOUT)
        except TimeoutError:
            logger.warning("%d owed messages left for the outbox sweep", self._queue.qsize())
        self._task.cancel()
        self._task = None


class DetachedPublisher:
    """A worker's publisher: hands the envelopes to one publishing thread and returns at once.

    After a worker's transaction commits, it publishes what it owes (a batch's "certificate ready"
    e-mails); waiting for the broker held the next task back by about 2 ms. A worker's event loop runs
    only while a task does, so the sending happens in a thread rather than in a task on that loop. A
    publish lost with the process is re-published by the outbox sweep, as any other.
    """

    def __init__(self, inner: BlockingPublisher) -> None:
        self.inner = inner

    @property
    def app(self) -> object:
        return getattr(self.inner, "app", None)

    async def publish(self, envelopes: Sequence[Envelope]) -> None:
        process_threads("outbox-publish", 1).submit(self._send, list(envelopes))

    def _send(self, envelopes: list[Envelope]) -> None:
        try:
            self.inner.publish_now(envelopes)
        except Exception:
            logger.exception("could not publish %d owed messages; the outbox sweep will", len(envelopes))
