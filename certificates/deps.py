"""Dependencies of the certificate endpoints: the service, and the per-client rate limit on verification."""

from __future__ import annotations

from litestar import Request
from litestar.datastructures import State
from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from certificates.service import CertificateService
from lms.ratelimit import RateLimiter, client_address, enforce
from lms.settings import Settings
from media.storage import Storage, build_storage

# One storage client per settings object (the app has one): clients hold connection pools.
_storages: dict[int, tuple[Settings, Storage]] = {}


def storage_for(settings: Settings) -> Storage:
    cached = _storages.get(id(settings))
    if cached is None or cached[0] is not settings:
        cached = (settings, build_storage(settings))
        _storages[id(settings)] = cached
    return cached[1]


async def provide_certificates(state: State, db_session: NamedDependency[AsyncSession]) -> CertificateService:
    settings: Settings = state.settings
    return CertificateService(db_session, settings, storage_for(settings))


async def limit_verification(request: Request[object, object, State]) -> None:
    """Count one verification against the caller's address; 429 past ``verify_rate_limit`` per window."""
    settings: Settings = request.app.state.settings
    limiter: RateLimiter = request.app.state.limiter
    await enforce(
        limiter,
        [f"verify:{client_address(request)}"],
        settings.verify_rate_limit,
        settings.verify_rate_window,
        "verification requests",
    )
