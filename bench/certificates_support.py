"""Shared set-up of the certificate benchmarks: a fresh database, learners with enrolments, real workers."""

from __future__ import annotations

import asyncio
import os
import socket
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
from sqlalchemy import insert, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from certificates.service import owe_certificate
from courses.models import Course, CourseFormat, CourseRun, CourseStatus
from enrolments.models import Enrolment, EnrolmentStatus
from lms.accounts.models import User
from lms.db import load_models
from lms.db.migrate import upgrade
from lms.db.outbox import PUBLISHER_KEY
from lms.db.session import create_engine, create_sessionmaker, unit_of_work
from lms.settings import Settings
from media.storage import build_storage
from tests.support import WorkerProcess, settings_env

SERVER = os.environ.get("LMS_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
NAMES = (
    "Maria Àngels Puig-Ferrer d'Olivella",
    "Ñúñez García",
    "Łukasz Żółć",
    "王小明",
    "Jordi Pujol i Soley",
)


def _redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


@contextmanager
def bench_settings(**overrides: object) -> Iterator[Settings]:
    """Settings for a throw-away database, data folder and Redis key prefix."""
    name = f"aula_bench_cert_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    url = SERVER.rsplit("/", 1)[0] + f"/{name}"
    prefix = f"aula-bench-{uuid.uuid4().hex[:8]}:"
    with tempfile.TemporaryDirectory(prefix="aula-bench-cert-") as folder:
        values: dict[str, object] = {
            "env": "test",
            "secret_key": "bench-secret-key-bench-secret-key-0123",
            "data_dir": Path(folder),
            "database_url": url,
            "database_pool_size": 10,
            "broker_url": "redis://127.0.0.1:6379/0" if _redis_up() else None,
            "broker_key_prefix": prefix,
            "log_level": "WARNING",
            "log_json": False,
            "access_log": False,
            "public_url": "https://aula.example.org",
            "outbox_grace_seconds": 30.0,
        }
        values.update(overrides)
        settings = Settings(**values)  # type: ignore[arg-type]
        try:
            upgrade(url)
            asyncio.run(build_storage(settings).ensure_buckets())
            yield settings
        finally:
            asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            _clean_redis(settings)


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(SERVER)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _clean_redis(settings: Settings) -> None:
    if not settings.broker_url:
        return
    from redis import Redis

    client = Redis.from_url(settings.broker_url)
    keys = list(client.scan_iter(f"{settings.broker_key_prefix}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@asynccontextmanager
async def database(settings: Settings, *, publish: bool) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A sessionmaker; with ``publish`` owed tasks go to the broker after each commit, as the API does it."""
    load_models()
    engine = create_engine(settings)
    sessionmaker = create_sessionmaker(engine)
    publisher = None
    if publish:
        from workers.app import create_celery
        from workers.publishing import BufferedPublisher

        publisher = BufferedPublisher(create_celery(settings).conf["aula_publisher"])
        sessionmaker.configure(info={PUBLISHER_KEY: publisher})
    try:
        yield sessionmaker
    finally:
        if publisher is not None:
            await publisher.aclose()
        await engine.dispose()


async def seed(sessionmaker: async_sessionmaker[AsyncSession], learners: int) -> list[tuple[uuid.UUID, ...]]:
    """A course with one run and ``learners`` enrolled learners; (enrolment, user, course, run) ids."""
    now = datetime.now(UTC)
    course_id, run_id = uuid.uuid4(), uuid.uuid4()
    rows: list[tuple[uuid.UUID, ...]] = []
    async with unit_of_work(sessionmaker) as session:
        await session.execute(
            insert(Course).values(
                id=course_id,
                slug=f"competencies-digitals-{course_id.hex[:6]}",
                format=CourseFormat.MOOC,
                status=CourseStatus.PUBLISHED,
                published_at=now,
                title={"ca": "Competències digitals bàsiques", "es": "Competencias digitales básicas"},
                estimated_hours=12.0,
                certificates_enabled=True,
            )
        )
        await session.execute(
            insert(CourseRun).values(id=run_id, course_id=course_id, starts_at=now - timedelta(days=30))
        )
        for start in range(0, learners, 2000):
            users, enrolments = [], []
            for n in range(start, min(start + 2000, learners)):
                user_id, enrolment_id = uuid.uuid4(), uuid.uuid4()
                users.append(
                    {
                        "id": user_id,
                        "email": f"learner{n}-{user_id.hex[:6]}@example.org",
                        "password_hash": "$argon2id$bench",
                        "full_name": f"{NAMES[n % len(NAMES)]} {n}",
                        "preferred_language": ("ca", "es", "en")[n % 3],
                    }
                )
                enrolments.append(
                    {
                        "id": enrolment_id,
                        "user_id": user_id,
                        "run_id": run_id,
                        "course_id": course_id,
                        "status": EnrolmentStatus.ENROLLED,
                        "enrolled_at": now - timedelta(days=20),
                    }
                )
                rows.append((enrolment_id, user_id, course_id, run_id))
            await session.execute(insert(User), users)
            await session.execute(insert(Enrolment), enrolments)
    return rows


async def complete(session: AsyncSession, rows: Sequence[tuple[uuid.UUID, ...]]) -> None:
    """What the completion transaction does: the enrolments complete and their certificates are owed."""
    now = datetime.now(UTC)
    await session.execute(
        update(Enrolment)
        .where(Enrolment.id.in_([row[0] for row in rows]))
        .values(status=EnrolmentStatus.COMPLETED, completed_at=now)
    )
    for enrolment_id, user_id, course_id, run_id in rows:
        await owe_certificate(
            session,
            enrolment_id=enrolment_id,
            user_id=user_id,
            course_id=course_id,
            run_id=run_id,
            completed_at=now,
        )


@contextmanager
def workers(settings: Settings, *args: str, log: str = "worker") -> Iterator[WorkerProcess]:
    """A real `lms worker` for the certificates queue."""
    env = settings_env(settings)
    worker = WorkerProcess(env, "--queues=certificates", *args, log=settings.data_dir / f"{log}.log")
    try:
        worker.wait_ready()
        yield worker
    finally:
        worker.stop()


async def wait_issued(
    sessionmaker: async_sessionmaker[AsyncSession], expected: int, within: float, interval: float = 0.05
) -> float:
    """Seconds (monotonic clock) at which ``expected`` certificates are issued.

    One connection polls with a plain statement, so that watching costs the machine little.
    """
    engine = sessionmaker.kw["bind"]
    count = text("SELECT count(*) FROM certificates WHERE status = 'issued'")
    deadline = time.monotonic() + within
    async with engine.connect() as connection:
        while time.monotonic() < deadline:
            if ((await connection.execute(count)).scalar() or 0) >= expected:
                return time.monotonic()
            await connection.rollback()
            await asyncio.sleep(interval)
    raise TimeoutError(f"fewer than {expected} certificates issued after {within} s")
