"""Liveness and readiness: ready means the database, the broker and the object storage all answer."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from litestar import Controller, Response, get
from litestar.datastructures import State
from sqlalchemy import text

logger = logging.getLogger("lms.health")
Check = Callable[[], Awaitable[None]]
CHECK_TIMEOUT = 3.0  # seconds: a readiness probe must answer well before an orchestrator's own timeout


async def _run(name: str, check: Check) -> tuple[str, str]:
    try:
        await asyncio.wait_for(check(), CHECK_TIMEOUT)
    except Exception as exc:
        logger.warning("readiness check %s failed: %s", name, exc)
        return name, f"unavailable: {type(exc).__name__}"
    return name, "ok"


def database_check(state: State) -> Check:
    async def check() -> None:
        async with state.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    return check


class HealthController(Controller):
    path = "/health"
    tags = ["health"]
    include_in_schema = False

    @get("/live")
    async def live(self) -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @get("/ready")
    async def ready(self, state: State) -> Response[dict[str, Any]]:
        """Database, broker and storage all answer; 503 otherwise."""
        checks: dict[str, Check] = state.health_checks
        results = dict(await asyncio.gather(*(_run(name, c) for name, c in checks.items())))
        healthy = all(v == "ok" for v in results.values())
        return Response(
            {"status": "ok" if healthy else "unavailable", "checks": results},
            status_code=200 if healthy else 503,
        )
