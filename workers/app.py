"""The Celery app, built from settings: reliable delivery, queues, registered tasks and the beat schedule."""

from __future__ import annotations

import importlib
import logging
import random
import uuid
from collections.abc import Sequence
from typing import Any

import anyio.to_thread
from celery import Celery, Task
from celery.signals import worker_init, worker_process_init
from kombu import Queue as KombuQueue

from lms.db import load_models, outbox
from lms.db.outbox import Envelope
from lms.db.session import unit_of_work
from lms.settings import Settings
from workers.bridge import bridge
from workers.publishing import DetachedPublisher
from workers.queues import Queue
from workers.registry import REGISTRY, WARM_UPS, TaskContext, TaskSpec
from workers.runtime import Runtime

logger = logging.getLogger("workers")

# Modules that declare tasks; each domain adds its own.
TASK_MODULES = (
    "workers.tasks",
    "lms.accounts.tasks",
    "courses.tasks",
    "media.tasks",
    "certificates.tasks",
    "enrolments.tasks",
)
RETRY_BACKOFF_CAP = 600  # seconds: a failing task is retried at most every ten minutes


MESSAGE_BATCH = 50  # owed rows of one task one broker message carries at most


def messages(envelopes: Sequence[Envelope]) -> list[tuple[str, str, list[str]]]:
    """Envelopes grouped into broker messages: (task, queue, outbox ids), each id once, in order."""
    grouped: dict[tuple[str, str], dict[str, None]] = {}
    for envelope in envelopes:
        grouped.setdefault((envelope.task, envelope.queue), {})[str(envelope.outbox_id)] = None
    return [
        (task, queue, chunk)
        for (task, queue), ids in grouped.items()
        for chunk in batched(list(ids), MESSAGE_BATCH)
    ]


def batched(items: list[str], size: int) -> list[list[str]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


class CeleryPublisher:
    """Publishes outbox envelopes to the broker, off the event loop.

    Envelopes of the same task published together travel as one message listing their outbox ids (up to
    ``MESSAGE_BATCH``): a message costs the API a few hundred microseconds of CPU, a row a few. A message
    with one row has that row's outbox id as its task id.
    """

    def __init__(self, app: Celery) -> None:
        self.app = app

    def publish_now(self, envelopes: Sequence[Envelope]) -> None:
        with self.app.producer_or_acquire() as producer, producer.batch():
            for task, queue, ids in messages(envelopes):
                self.app.send_task(
                    task,
                    kwargs={"outbox_ids": ids},
                    queue=queue,
                    task_id=ids[0] if len(ids) == 1 else str(uuid.uuid4()),
                    producer=producer,
                    # Shown in worker logs; Celery would otherwise repr the ids, half the cost of a send.
                    argsrepr="()",
                    kwargsrepr=f"{{'outbox_ids': {ids[0]!r}{' …' if len(ids) > 1 else ''} ({len(ids)})}}",
                )

    async def publish(self, envelopes: Sequence[Envelope]) -> None:
        await anyio.to_thread.run_sync(self.publish_now, envelopes)


def broker_options(settings: Settings) -> dict[str, Any]:
    url = settings.resolved_broker_url
    if url.startswith("filesystem://"):
        folder = settings.broker_folder.resolve()
        for sub in ("queue", "processed", "control"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        return {
            # Kombu keeps its exchange table in ./control unless told otherwise.
            "control_folder": str(folder / "control"),
            "data_folder_in": str(folder / "queue"),
            "data_folder_out": str(folder / "queue"),
            "processed_folder": str(folder / "processed"),
            "store_processed": False,
            "polling_interval": 0.1,
        }
    options: dict[str, Any] = {
        # Longer than the longest task, so a slow task is never handed to a second worker mid-run.
        "visibility_timeout": settings.broker_visibility_timeout,
        # Scan for unacked messages of dead workers every few seconds (every call, not every tenth).
        "unacked_restore_interval": settings.broker_unacked_restore_interval,
        "unacked_restore_throttle": 1,
    }
    if settings.broker_key_prefix:
        options["global_keyprefix"] = settings.broker_key_prefix
    return options


def backoff(retries: int) -> float:
    """Exponential backoff with jitter, capped."""
    return float(min(RETRY_BACKOFF_CAP, 2**retries) + random.uniform(0, 1))  # noqa: S311


def runtime_for(app: Celery) -> Runtime:
    runtime: Runtime = app.conf["aula_runtime"]
    return runtime


async def execute(
    runtime: Runtime,
    spec: TaskSpec,
    outbox_id: str | None,
    kwargs: dict[str, Any],
    later: tuple[uuid.UUID, ...] = (),
) -> set[uuid.UUID]:
    """Run one task body in its own transaction; an owed task first claims its outbox row.

    Returns the rows of ``later`` the body completed too (see ``TaskContext.completed``), once committed.
    """
    async with unit_of_work(runtime.sessionmaker) as session:
        if outbox_id is None:
            await spec.body(TaskContext(session, runtime), **kwargs)
            return set()
        message = await outbox.claim(session, uuid.UUID(outbox_id))
        if message is None:
            logger.info("task %s for %s already done or running elsewhere", spec.name, outbox_id)
            return set()
        context = TaskContext(session, runtime, later)
        await spec.body(context, **message.payload)
        outbox.mark_done(message)
        if spec.scrub:
            message.payload = {}
    return context.completed & set(later)


async def note_failure(runtime: Runtime, outbox_id: str, error: str, final: bool) -> None:
    async with unit_of_work(runtime.sessionmaker) as session:
        await outbox.record_failure(session, uuid.UUID(outbox_id), error, final=final)


def _run_owed(runtime: Runtime, spec: TaskSpec, outbox_id: str, later: list[str]) -> set[str]:
    carried = tuple(uuid.UUID(owed) for owed in later)
    return {str(done) for done in bridge.run(lambda: execute(runtime, spec, outbox_id, {}, carried))}


def _note_failure(runtime: Runtime, outbox_id: str, error: str, final: bool) -> None:
    try:
        bridge.run(lambda: note_failure(runtime, outbox_id, error, final))
    except Exception:
        logger.exception("could not record the failure of %s", outbox_id)


def _register(app: Celery, spec: TaskSpec, max_retries: int) -> None:
    def run(
        self: Task[Any, Any],
        /,
        outbox_id: str | None = None,
        outbox_ids: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        runtime = runtime_for(self.app)
        if outbox_ids is None and outbox_id is None:  # a periodic task
            try:
                bridge.run(lambda: execute(runtime, spec, None, kwargs))
            except Exception as exc:
                logger.warning("task %s failed (attempt %d): %r", spec.name, self.request.retries + 1, exc)
                if self.request.retries >= max_retries:
                    raise
                raise self.retry(exc=exc, countdown=backoff(self.request.retries)) from exc
            return
        # Owed rows, each in its own transaction: one failing row does not hold back the others, and only
        # the failed ones are retried. A row already done (a second delivery) is a no-op.
        final = self.request.retries >= max_retries
        failed: list[str] = []
        error: Exception | None = None
        rows = outbox_ids if outbox_ids is not None else [str(outbox_id)]
        completed: set[str] = set()  # by an earlier row's transaction, which took them into its batch
        for index, owed in enumerate(rows):
            if owed in completed:
                continue
            try:
                completed |= _run_owed(runtime, spec, owed, rows[index + 1 :])
            except Exception as exc:
                logger.warning(
                    "task %s for %s failed (attempt %d): %r", spec.name, owed, self.request.retries + 1, exc
                )
                failed.append(owed)
                error = exc
                _note_failure(runtime, owed, repr(exc), final)
        if error is None:
            return
        if final:
            raise error
        raise self.retry(
            exc=error, countdown=backoff(self.request.retries), kwargs={"outbox_ids": failed}
        ) from error

    app.task(name=spec.name, bind=True, queue=spec.queue.value, max_retries=max_retries)(run)


def create_celery(settings: Settings, *, database_url: str | None = None) -> Celery:
    """Build the Celery app for a worker, beat or a producer (the API)."""
    load_models()
    for module in TASK_MODULES:
        importlib.import_module(module)
    app = Celery("aula", broker=settings.resolved_broker_url, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        result_backend=None,
        task_serializer="json",
        accept_content=["json"],
        timezone="UTC",
        enable_utc=True,
        task_default_queue=Queue.DEFAULT.value,
        task_queues=[KombuQueue(q.value, routing_key=q.value) for q in Queue],
        task_create_missing_queues=False,
        broker_transport_options=broker_options(settings),
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=3,
        worker_hijack_root_logger=False,
        worker_cancel_long_running_tasks_on_connection_loss=False,
        beat_schedule_filename=str(settings.data_dir / "celerybeat-schedule"),
        beat_schedule={
            "outbox-sweep": {"task": "outbox.sweep", "schedule": settings.outbox_sweep_interval},
            "purge-expired-sessions": {"task": "accounts.purge_expired_sessions", "schedule": 3600.0},
            "media-sweep-pending": {"task": "media.sweep_pending", "schedule": 3600.0},
            "courses-listing": {
                "task": "courses.refresh_listing",
                "schedule": settings.listing_refresh_interval,
            },
        },
    )
    publisher = CeleryPublisher(app)
    runtime = Runtime(settings, DetachedPublisher(publisher), database_url)
    app.conf["aula_runtime"] = runtime
    app.conf["aula_publisher"] = publisher
    bridge.on_new_loop(runtime.forget)
    for spec in REGISTRY.values():
        _register(app, spec, settings.task_max_retries)
    return app


@worker_process_init.connect
def _fresh_loop_in_child(**kwargs: Any) -> None:
    # Touching the loop in the forked child creates its own, and forgets the parent's connections.
    _ = bridge.loop


@worker_init.connect
def _warm_up(**kwargs: Any) -> None:
    # In the main process, before a prefork pool forks: its children inherit what was loaded.
    for prepare in WARM_UPS:
        prepare()
