"""Test fixtures: real PostgreSQL with the migrations applied, a real broker, the real app over HTTP.

PostgreSQL: ``LMS_TEST_DATABASE_URL``, else the local service at 127.0.0.1:5432, else an embedded server.
Broker: ``LMS_TEST_BROKER_URL``, else Redis at 127.0.0.1:6379, else Celery's filesystem transport.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import asyncpg
import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from lms.app import create_app
from lms.db import load_models
from lms.db.base import Base
from lms.db.migrate import upgrade
from lms.db.session import create_engine, create_sessionmaker
from lms.settings import Settings
from tests.support import Factory, settings_env

ROOT = Path(__file__).resolve().parent.parent
LOCAL_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
LOCAL_REDIS = ("127.0.0.1", 6379)
T = TypeVar("T")


def _off_loop(fn: Callable[[], T]) -> T:
    """Run blocking set-up that uses its own event loop, even when a test loop is already running."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(fn).result()


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


async def _can_connect(url: str) -> bool:
    try:
        conn = await asyncio.wait_for(asyncpg.connect(url), 2)
    except (TimeoutError, OSError, asyncpg.PostgresError):
        return False
    await conn.close()
    return True


def _embedded_only() -> bool:
    """LMS_TEST_EMBEDDED=1 ignores the machine's services, as on a laptop with nothing but Python."""
    return os.environ.get("LMS_TEST_EMBEDDED") == "1"


def _server_url() -> str:
    explicit = os.environ.get("LMS_TEST_DATABASE_URL")
    if explicit:
        return explicit
    if (
        not _embedded_only()
        and _port_open("127.0.0.1", 5432)
        and _off_loop(lambda: asyncio.run(_can_connect(LOCAL_POSTGRES)))
    ):
        return LOCAL_POSTGRES
    from lms.embedded import start_postgres

    return start_postgres(ROOT / ".aula-test" / "postgres", database="postgres")


def _with_database(url: str, name: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(database=name).render_as_string(hide_password=False)


async def _admin(url: str, sql: str) -> None:
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A fresh database for this test run, migrated with Alembic (the migrations are under test too)."""
    server = _server_url()
    name = f"aula_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    _off_loop(lambda: asyncio.run(_admin(server, f'CREATE DATABASE "{name}"')))
    url = _with_database(server, name)
    _off_loop(lambda: upgrade(url))
    yield url
    _off_loop(lambda: asyncio.run(_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')))


@pytest.fixture(scope="session")
def broker_url(tmp_path_factory: pytest.TempPathFactory) -> str | None:
    explicit = os.environ.get("LMS_TEST_BROKER_URL")
    if explicit:
        return explicit
    if not _embedded_only() and _port_open(*LOCAL_REDIS):
        return "redis://127.0.0.1:6379/0"
    return None  # the filesystem transport under the data folder


@pytest.fixture(scope="session")
def settings(database_url: str, broker_url: str | None, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    data_dir = tmp_path_factory.mktemp("aula-data")
    return Settings(
        env="test",
        secret_key="test-secret-key-that-is-long-enough-0123456789",
        data_dir=data_dir,
        database_url=database_url,
        database_pool_size=20,
        database_max_overflow=20,
        broker_url=broker_url,
        broker_key_prefix=f"aula-test-{os.getpid()}-{uuid.uuid4().hex[:6]}:",
        broker_visibility_timeout=30,
        outbox_grace_seconds=1.0,
        outbox_sweep_interval=1.0,
        password_hash_memory_kib=256,
        password_hash_time_cost=1,
        access_log=False,
        log_json=False,
        log_level="WARNING",
        public_url="http://testserver",
    )


@pytest.fixture(scope="session")
def test_env(settings: Settings) -> dict[str, str]:
    """Environment for subprocesses (workers, the CLI) that must see the same settings."""
    return settings_env(settings)


@pytest.fixture(scope="session")
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    load_models()
    engine = create_engine(settings)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
def sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_sessionmaker(engine)


@pytest.fixture(scope="session")
async def app(settings: Settings) -> Litestar:
    return create_app(settings)


@pytest.fixture(scope="session")
async def session_client(app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        yield client


@pytest.fixture
async def client(session_client: AsyncTestClient[Litestar], app: Litestar) -> AsyncTestClient[Litestar]:
    """The real app over HTTP; rate-limit counters start empty for every test."""
    await app.state.limiter.aclose()
    session_client.headers.clear()
    return session_client


@pytest.fixture(scope="session")
async def concurrent_app(settings: Settings) -> AsyncIterator[Litestar]:
    """A second instance of the app, started in the tests' own event loop.

    Its lifespan runs in a task of its own: it opens a task group, which must be left by the task that
    entered it (pytest sets session fixtures up and tears them down in different tasks)."""
    app = create_app(settings)
    started, stop = asyncio.Event(), asyncio.Event()

    async def serve() -> None:
        async with app.lifespan():
            started.set()
            await stop.wait()

    serving = asyncio.create_task(serve())
    await asyncio.wait([serving, asyncio.create_task(started.wait())], return_when=asyncio.FIRST_COMPLETED)
    if serving.done():
        serving.result()  # startup failed: raise its error
    yield app
    stop.set()
    await serving


@pytest.fixture
async def concurrent_client(concurrent_app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    """The real app over HTTP, answering requests sent together at the same time.

    ``client`` runs the app in a thread of its own and waits for each answer before the test's event loop
    goes on, so requests gathered through it are served one after the other: races need this one.
    """
    await concurrent_app.state.limiter.aclose()
    transport = httpx.ASGITransport(app=concurrent_app)  # type: ignore[arg-type]  # typed ASGI scopes
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as client:
        yield client


@pytest.fixture(autouse=True)
def _isolate(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test that touches the database starts from empty tables (the schema stays)."""
    if "database_url" not in request.fixturenames:
        yield
        return
    url: str = request.getfixturevalue("database_url")
    yield
    load_models()
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    _off_loop(lambda: asyncio.run(_admin(url, f"TRUNCATE {tables} RESTART IDENTITY CASCADE")))


@pytest.fixture
async def db(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session for arranging data and asserting on the database directly."""
    async with sessionmaker() as session:
        yield session


@pytest.fixture
def factory(sessionmaker: async_sessionmaker[AsyncSession], settings: Settings) -> Factory:
    return Factory(sessionmaker, settings)
