"""Who is calling: bearer-token authentication and role checks, as dependencies every handler can ask for."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from litestar import Request
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from sqlalchemy.ext.asyncio import AsyncSession

from lms.accounts.models import Role, User
from lms.accounts.service import AccountDeps, AccountService
from lms.errors import Forbidden, Unauthorized

STAFF_ROLES = frozenset({Role.STAFF, Role.ADMIN})


@dataclass(frozen=True, slots=True)
class Principal:
    user: User
    session_id: uuid.UUID


def bearer_token(request: Request[object, object, State]) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def provide_account_deps(state: State) -> AccountDeps:
    deps: AccountDeps = state.account_deps
    return deps


async def provide_accounts(
    db_session: NamedDependency[AsyncSession], account_deps: NamedDependency[AccountDeps]
) -> AccountService:
    return AccountService(db_session, account_deps)


def rejected(token: str | None) -> Unauthorized:
    """The 401 for a request with no token, or with one that is not (or no longer) valid."""
    if token is None:
        return Unauthorized()
    return Unauthorized("The access token is invalid or expired; log in again or refresh it.")


async def _authenticate(
    request: Request[object, object, State], accounts: NamedDependency[AccountService]
) -> Principal | None:
    token = bearer_token(request)
    if token is None:
        return None
    found = await accounts.authenticate(token)
    if found is None:
        raise rejected(token)
    return Principal(*found)


async def authenticated(token: str | None, accounts: AccountService) -> Principal:
    """The caller behind ``token``, or the 401 to answer."""
    found = await accounts.authenticate(token) if token is not None else None
    if found is None:
        raise rejected(token)
    return Principal(*found)


async def provide_principal(
    request: Request[object, object, State], accounts: NamedDependency[AccountService]
) -> Principal:
    return await authenticated(bearer_token(request), accounts)


async def provide_viewer(
    request: Request[object, object, State], accounts: NamedDependency[AccountService]
) -> User | None:
    """The caller when a valid token is sent, else None (public endpoints)."""
    principal = await _authenticate(request, accounts)
    return principal.user if principal else None


async def provide_user(principal: NamedDependency[Principal]) -> User:
    return principal.user


async def provide_staff(principal: NamedDependency[Principal]) -> User:
    if principal.user.role not in STAFF_ROLES:
        raise Forbidden("This action is reserved to staff.")
    return principal.user


async def provide_admin(principal: NamedDependency[Principal]) -> User:
    if principal.user.role is not Role.ADMIN:
        raise Forbidden("This action is reserved to administrators.")
    return principal.user


dependencies = {
    "account_deps": Provide(provide_account_deps),
    "accounts": Provide(provide_accounts),
    "principal": Provide(provide_principal),
    "viewer": Provide(provide_viewer),
    "user": Provide(provide_user),
    "staff": Provide(provide_staff),
    "admin": Provide(provide_admin),
}
