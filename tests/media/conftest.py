"""Media fixtures: a real S3-compatible server (moto) on loopback, and every test run on both backends."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from moto.server import ThreadedMotoServer
from pydantic import SecretStr

from lms.app import create_app
from lms.settings import Settings, StorageBackend
from media.storage import Storage, build_storage
from tests.support import free_port

BACKENDS = ("local", "s3")


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server, started on a free loopback port for this test run."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture(scope="session")
def s3_settings(settings: Settings, s3_endpoint: str) -> Settings:
    return settings.model_copy(
        update={
            "storage_backend": StorageBackend.S3,
            "s3_endpoint": s3_endpoint,
            "s3_public_endpoint": s3_endpoint,
            "s3_access_key": SecretStr("aula-test-access"),
            "s3_secret_key": SecretStr("aula-test-secret-key-0123456789"),
        }
    )


@pytest.fixture(scope="session")
async def s3_app(s3_settings: Settings) -> Litestar:
    return create_app(s3_settings)


@pytest.fixture(scope="session")
async def s3_session_client(s3_app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=s3_app, base_url="http://testserver.local") as client:
        yield client


@dataclass
class Backend:
    """One storage backend with an app client that uses it; ``fetch`` follows URLs the API hands out."""

    name: str
    settings: Settings
    storage: Storage
    client: AsyncTestClient[Litestar]
    outside: httpx.AsyncClient

    async def fetch(self, method: str, url: str, **kwargs: object) -> httpx.Response:
        """Send a request to a URL given to a browser: the store itself (S3) or the API's /files routes."""
        target = self.client if url.startswith(self.settings.public_url) else self.outside
        return await target.request(method, url, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(params=BACKENDS)
async def backend(
    request: pytest.FixtureRequest,
    settings: Settings,
    client: AsyncTestClient[Litestar],
    s3_settings: Settings,
    s3_session_client: AsyncTestClient[Litestar],
) -> AsyncIterator[Backend]:
    """The test runs once with the local-folder backend and once against the S3 server."""
    if request.param == "s3":
        chosen, app_client = s3_settings, s3_session_client
        app_client.headers.clear()
    else:
        chosen, app_client = settings, client
    storage = build_storage(chosen)
    await storage.ensure_buckets()
    async with httpx.AsyncClient(timeout=30) as outside:
        yield Backend(request.param, chosen, storage, app_client, outside)
