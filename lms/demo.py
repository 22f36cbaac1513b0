"""Demo data for `lms dev`: loaded once, each domain adding its own part."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from lms.settings import Settings

logger = logging.getLogger("lms.demo")

# Each module has ``async def load(session, settings) -> None`` that does nothing when its data is there.
DEMO_MODULES = ("lms.accounts.demo", "courses.demo", "enrolments.demo")

DemoLoader = Callable[[AsyncSession, Settings], Awaitable[None]]


async def load_demo(session: AsyncSession, settings: Settings) -> None:
    if settings.is_production:
        raise RuntimeError("demo data is never loaded in production")
    for name in DEMO_MODULES:
        loader: DemoLoader = importlib.import_module(name).load
        await loader(session, settings)
