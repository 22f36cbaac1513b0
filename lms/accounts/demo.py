"""Demo accounts for `lms dev` (development only: the passwords are printed at start)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from lms.accounts.models import Role
from lms.accounts.repository import UserRepository
from lms.accounts.service import AccountDeps, AccountService
from lms.ratelimit import MemoryRateLimiter
from lms.settings import Settings

DEMO_PASSWORD = "aula-demo-2026"  # noqa: S105 (printed by `lms dev`; demo data never loads in production)
DEMO_ACCOUNTS = (
    ("admin@aula.localhost", "Administració Aula", Role.ADMIN, "ca"),
    ("staff@aula.localhost", "Núria Puig i Ferrer", Role.STAFF, "ca"),
    ("learner@aula.localhost", "Jordi Martínez López", Role.LEARNER, "ca"),
    ("aprendiz@aula.localhost", "María José Fernández-Villanueva", Role.LEARNER, "es"),
    ("learner.en@aula.localhost", "Aoife O'Sullivan", Role.LEARNER, "en"),
)


async def load(session: AsyncSession, settings: Settings) -> None:
    users = UserRepository(session=session)
    if await users.by_email(DEMO_ACCOUNTS[0][0]) is not None:
        return
    service = AccountService(session, AccountDeps.from_settings(settings, MemoryRateLimiter()))
    for email, name, role, language in DEMO_ACCOUNTS:
        await service.create_user(email, DEMO_PASSWORD, name, role, language)
