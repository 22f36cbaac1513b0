"""Apps and data for the media benchmarks: Aula's app plus the baseline measured beside it.

The redirect baseline is registered on the same app (same middleware, same process), so the ratio measures
only what differs: the database work of the redirect endpoint. The catalogue benchmark runs Aula's own
catalogue on two databases seeded alike, with and without covers (``bench.media_catalogue``).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
from litestar import Litestar, Response, get
from litestar.datastructures import State

from courses.models import Course, CourseFormat, CourseRun, CourseStatus
from lms.accounts.models import Role
from lms.accounts.service import AccountDeps, AccountService
from lms.app import create_app
from lms.db import load_models
from lms.db.migrate import upgrade
from lms.db.session import create_engine, create_sessionmaker, unit_of_work
from lms.ratelimit import MemoryRateLimiter
from lms.settings import Settings
from media import rules
from media.models import Asset, AssetKind, AssetPurpose, AssetStatus
from media.storage import Storage

SERVER = os.environ.get("LMS_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
DATABASE = "aula_bench_media"
PASSWORD = "bench-password-0123"  # noqa: S105
COVERS = 20
BARE_KEY = "lesson/00000000-0000-0000-0000-000000000000/clase.mp4"


def bench_settings(database: str = DATABASE) -> Settings:
    """Deployed-like settings: the S3 backend (presigning is pure computation; nothing is uploaded)."""
    return Settings(
        env="test",
        secret_key="bench-secret-key-bench-secret-key-0123",  # noqa: S106 (a throwaway benchmark database)
        database_url=SERVER.rsplit("/", 1)[0] + f"/{database}",
        data_dir=Path(os.environ.get("LMS_DATA_DIR") or Path(tempfile.gettempdir()) / "aula-bench-media"),
        storage_backend="s3",
        s3_endpoint=os.environ.get("LMS_S3_ENDPOINT", "http://127.0.0.1:9000"),
        s3_public_endpoint="https://media.aula.example.org",
        s3_access_key="bench-access",
        s3_secret_key="bench-secret-key-0123456789",  # noqa: S106 (nothing is ever sent to the store)
        access_log=False,
        log_json=True,
        log_level="WARNING",
    )


async def _recreate_database(database: str) -> None:
    conn = await asyncpg.connect(SERVER)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{database}"')
    finally:
        await conn.close()


async def _seed(settings: Settings, *, covers: bool) -> dict[str, str]:
    load_models()
    engine = create_engine(settings)
    sessionmaker = create_sessionmaker(engine)
    deps = AccountDeps.from_settings(settings, MemoryRateLimiter())
    try:
        async with unit_of_work(sessionmaker) as session:
            accounts = AccountService(session, deps)
            staff = await accounts.create_user(
                "staff@bench.example.org", PASSWORD, "Staff Bench", Role.STAFF, "ca"
            )
            lesson_id = uuid.uuid4()
            session.add(_asset(settings, lesson_id, AssetPurpose.LESSON, staff.id))
            now = datetime.now(UTC)
            for n in range(COVERS + 5):
                cover_id = uuid.uuid4()
                session.add(_asset(settings, cover_id, AssetPurpose.PUBLIC, staff.id))
                await session.flush()
                course = Course(
                    id=uuid.uuid4(),
                    slug=f"curs-{n}",
                    format=CourseFormat.MOOC,
                    status=CourseStatus.PUBLISHED,
                    title={"ca": f"Curs {n}", "es": f"Curso {n}", "en": f"Course {n}"},
                    summary={"ca": "Competències digitals per a tothom."},
                    languages=["ca"],
                    published_at=now - timedelta(days=n),
                    cover_asset_id=cover_id if covers else None,  # the asset rows exist either way
                )
                session.add(course)
                await session.flush()
                session.add(
                    CourseRun(id=uuid.uuid4(), course_id=course.id, starts_at=now + timedelta(days=7))
                )
        async with unit_of_work(sessionmaker) as session:
            pair = await AccountService(session, deps).login(
                "staff@bench.example.org", PASSWORD, "bench", "wrk"
            )
        return {"token": pair.access_token, "lesson": str(lesson_id)}
    finally:
        await engine.dispose()


def _asset(settings: Settings, asset_id: uuid.UUID, purpose: AssetPurpose, owner: uuid.UUID) -> Asset:
    public = purpose is AssetPurpose.PUBLIC
    bucket = rules.bucket_for(settings, purpose)
    thumbs = [
        {"width": w, "height": w // 2, "bucket": bucket, "key": rules.thumbnail_key(asset_id, w)}
        for w in settings.media_thumbnail_widths
    ]
    return Asset(
        id=asset_id,
        kind=AssetKind.IMAGE if public else AssetKind.VIDEO,
        purpose=purpose,
        status=AssetStatus.READY,
        bucket=bucket,
        object_key=rules.object_key(purpose, asset_id, "portada.png" if public else "classe.mp4"),
        filename="portada.png" if public else "classe.mp4",
        content_type="image/png" if public else "video/mp4",
        size_bytes=123_456,
        uploaded_by=owner,
        details={"width": 1200, "height": 600, "thumbnails": thumbs, "processed": True} if public else {},
        processed_at=datetime.now(UTC),
    )


def prepare(database: str = DATABASE, *, covers: bool = True) -> dict[str, str]:
    """A fresh, migrated database: a staff account, a lesson video, published courses (with covers or not)."""
    settings = bench_settings(database)
    asyncio.run(_recreate_database(database))
    assert settings.database_url
    upgrade(settings.database_url)
    return asyncio.run(_seed(settings, covers=covers))


# -- the baselines, registered beside Aula's own routes ----------------------------------------------


@get("/bench/presign")
async def bare_presign(state: State) -> Response[bytes]:
    """The same presign and redirect as the media endpoint, with no authentication and no database."""
    storage: Storage = state.media_storage
    url = await storage.presigned_get_url(
        state.settings.bucket_media, BARE_KEY, expires=300, filename="classe.mp4", content_type="video/mp4"
    )
    return Response(b"", status_code=307, headers={"Location": url, "Cache-Control": "private, no-store"})


def media_app() -> Litestar:
    app = create_app(bench_settings())
    app.register(bare_presign)
    return app
