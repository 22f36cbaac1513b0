"""The outbox: work that must happen is a row written in the same transaction, published after commit.

A message carries only the outbox row's id; the worker claims the row, does the work and marks the row
done in one transaction, so a second delivery of the same message is a no-op. A periodic sweep publishes
again what is still owed, because a crash between commit and publish is possible.
"""

from __future__ import annotations

import enum
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import msgspec
from sqlalchemy import CheckConstraint, Enum, Index, String, Text, func, select, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from lms.db.base import Base, UUIDPrimaryKey
from lms.db.raw import driver_connection
from lms.db.session import after_commit

logger = logging.getLogger("lms.outbox")

PUBLISHER_KEY = "lms.publisher"
MAX_BACKOFF_DOUBLINGS = 6  # re-publishing waits grace * 2**n, capped: about 10 minutes with a 10 s grace
_MARK_DONE_ALL = (
    "UPDATE outbox SET status = 'done', completed_at = $1, last_error = NULL WHERE id = ANY($2::uuid[])"
)
_JSON = msgspec.json.Encoder()
_INSERT_ALL = (
    "INSERT INTO outbox (id, task, queue, payload, status, attempts, publish_count)"
    " SELECT id, $2, $3, payload::jsonb, 'pending', 0, 0"
    " FROM unnest($1::uuid[], $4::text[]) AS v(id, payload)"
)
SWEEP_BATCH = 500  # rows one sweep re-publishes at most; the next sweep takes the rest


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"


class OutboxMessage(UUIDPrimaryKey, Base):
    """A unit of owed work: which task, with what payload, and whether it has been done."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_pending", "created_at", postgresql_where="status = 'pending'"),
        CheckConstraint("attempts >= 0", name="attempts_non_negative"),
    )

    task: Mapped[str] = mapped_column(String(120))
    queue: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    status: Mapped[OutboxStatus] = mapped_column(
        Enum(OutboxStatus, name="outbox_status", values_callable=lambda e: [m.value for m in e]),
        default=OutboxStatus.PENDING,
    )
    attempts: Mapped[int] = mapped_column(default=0)
    publish_count: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    published_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]


@dataclass(frozen=True, slots=True)
class Envelope:
    """What goes to the broker: the task's name, its queue and the outbox row to claim."""

    outbox_id: uuid.UUID
    task: str
    queue: str


class Publisher(Protocol):
    async def publish(self, envelopes: Sequence[Envelope]) -> None: ...


def enqueue(session: AsyncSession, task: str, queue: str, **payload: Any) -> OutboxMessage:
    """Record owed work in the session's transaction; it is published only once that transaction commits."""
    message = OutboxMessage(id=uuid.uuid4(), task=task, queue=queue, payload=payload)
    session.add(message)
    publisher: Publisher | None = session.info.get(PUBLISHER_KEY)
    if publisher is not None:
        envelope = Envelope(message.id, task, queue)

        async def _publish() -> None:
            await publisher.publish([envelope])

        after_commit(session, _publish)
    return message


async def insert_all(
    session: AsyncSession, task: str, queue: str, payloads: Sequence[dict[str, Any]]
) -> list[uuid.UUID]:
    """Record owed work, a row per payload, with one statement; publishing is the caller's
    (``TaskSpec.enqueue_all`` publishes them together after commit)."""
    ids = [uuid.uuid4() for _ in payloads]
    if ids:
        connection = await driver_connection(session)
        await connection.execute(_INSERT_ALL, ids, task, queue, [_JSON.encode(p).decode() for p in payloads])
    return ids


async def claim(session: AsyncSession, outbox_id: uuid.UUID) -> OutboxMessage | None:
    """Lock a pending message for this worker; None when it is done, gone, or being worked on elsewhere."""
    stmt = (
        select(OutboxMessage)
        .where(OutboxMessage.id == outbox_id, OutboxMessage.status == OutboxStatus.PENDING)
        .with_for_update(skip_locked=True)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


def mark_done(message: OutboxMessage) -> None:
    message.status = OutboxStatus.DONE
    message.completed_at = datetime.now(UTC)
    message.last_error = None


async def mark_done_all(session: AsyncSession, outbox_ids: Sequence[uuid.UUID], now: datetime) -> None:
    """Mark these (locked) messages done with one statement, on the session's asyncpg connection."""
    if outbox_ids:
        connection = await driver_connection(session)
        await connection.execute(_MARK_DONE_ALL, now, list(outbox_ids))


async def record_failure(session: AsyncSession, outbox_id: uuid.UUID, error: str, *, final: bool) -> None:
    """Note a failed attempt (in its own transaction); after the last retry the message is failed for good."""
    values: dict[str, Any] = {"attempts": OutboxMessage.attempts + 1, "last_error": error[:2000]}
    if final:
        values["status"] = OutboxStatus.FAILED
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == outbox_id, OutboxMessage.status == OutboxStatus.PENDING)
        .values(**values)
    )


async def due_for_republish(session: AsyncSession, grace: timedelta, now: datetime) -> list[OutboxMessage]:
    """Pending messages older than their grace period, which doubles with every re-publish."""
    since = func.coalesce(OutboxMessage.published_at, OutboxMessage.created_at)
    wait = func.make_interval(
        0,
        0,
        0,
        0,
        0,
        0,
        grace.total_seconds() * func.power(2, func.least(OutboxMessage.publish_count, MAX_BACKOFF_DOUBLINGS)),
    )
    stmt = (
        select(OutboxMessage)
        .where(OutboxMessage.status == OutboxStatus.PENDING, since < now - wait)
        .order_by(OutboxMessage.created_at)
        .limit(SWEEP_BATCH)
        .with_for_update(skip_locked=True)
    )
    return list((await session.execute(stmt)).scalars())


async def sweep(session: AsyncSession, publisher: Publisher, grace: timedelta) -> int:
    """Publish again what is still owed after its grace period; returns how many were published."""
    now = datetime.now(UTC)
    due = await due_for_republish(session, grace, now)
    if not due:
        return 0
    for message in due:
        message.published_at = now
        message.publish_count += 1
    envelopes = [Envelope(m.id, m.task, m.queue) for m in due]

    async def _publish() -> None:
        await publisher.publish(envelopes)

    after_commit(session, _publish)
    logger.info("outbox sweep re-publishes %d owed messages", len(envelopes))
    return len(envelopes)
