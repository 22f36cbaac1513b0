"""ASGI app factories the HTTP benchmarks start under uvicorn."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from litestar import Litestar, get

from lms.app import create_app
from lms.settings import Settings


def aula() -> Litestar:
    """Aula's app as deployed: request ids, metrics, JSON logs, CORS (access lines: ``LMS_ACCESS_LOG``)."""
    settings = Settings(
        env="test",
        secret_key="bench-secret-key-bench-secret-key-0123",  # noqa: S106 (a throwaway benchmark server)
        database_url=os.environ.get("LMS_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
        data_dir=Path(os.environ.get("LMS_DATA_DIR", tempfile.gettempdir() + "/aula-bench")),
        cors_origins=["https://aula.example.org"],
        access_log=os.environ.get("LMS_ACCESS_LOG", "false").lower() == "true",
        log_json=True,
    )
    return create_app(settings)


@get("/health/live")
async def _live() -> dict[str, str]:
    """The same handler as Aula's liveness endpoint, so only the stacks around it differ."""
    return {"status": "ok"}


def bare() -> Litestar:
    """A bare Litestar app serving the same JSON."""
    return Litestar(route_handlers=[_live], logging_config=None)
