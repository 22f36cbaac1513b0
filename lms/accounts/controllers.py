"""Accounts API: register, login, refresh, logout, the caller's own account, and user administration."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, Request, get, patch, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_202_ACCEPTED, HTTP_204_NO_CONTENT

from lms.accounts.deps import Principal
from lms.accounts.models import LearnerProfile, User
from lms.accounts.schemas import (
    Accepted,
    Credentials,
    EmailChange,
    EmailChangeConfirm,
    Me,
    MeUpdate,
    PasswordChange,
    PasswordResetConfirm,
    PasswordResetRequest,
    Profile,
    RefreshRequest,
    Registration,
    RegistrationAccepted,
    TokenPair,
    UserAdminUpdate,
    UserSummary,
)
from lms.accounts.service import (
    EMAIL_CHANGE_REQUESTED,
    REGISTRATION_ACCEPTED,
    RESET_REQUESTED,
    AccountService,
)
from lms.pagination import Limit, Offset, Page
from lms.ratelimit import client_address

BEARER: list[dict[str, list[str]]] = [{"BearerToken": []}]


def _profile(profile: LearnerProfile | None) -> Profile | None:
    if profile is None:
        return None
    return Profile(
        consent=profile.consent_given_at is not None,
        consent_given_at=profile.consent_given_at,
        gender=profile.gender,
        birth_year=profile.birth_year,
        municipality=profile.municipality,
        district=profile.district,
        employment_status=profile.employment_status,
    )


def to_me(user: User, profile: LearnerProfile | None) -> Me:
    return Me(
        id=user.id,
        email=user.email,
        full_name=user.full_name,
        preferred_language=user.preferred_language,
        role=user.role,
        created_at=user.created_at,
        profile=_profile(profile),
    )


def to_summary(user: User) -> UserSummary:
    return UserSummary(
        id=user.id,
        email=user.email,
        full_name=user.full_name,
        role=user.role,
        is_active=user.is_active,
        created_at=user.created_at,
    )


class AuthController(Controller):
    path = "/auth"
    tags = ["accounts"]

    @post("/register", status_code=HTTP_202_ACCEPTED)
    async def register(
        self, data: JSONBody[Registration], accounts: NamedDependency[AccountService]
    ) -> RegistrationAccepted:
        """Create a learner account; the answer is the same whether or not the address was registered."""
        email = await accounts.register(data)
        return RegistrationAccepted(email=email, detail=REGISTRATION_ACCEPTED)

    @post("/login", status_code=HTTP_200_OK)
    async def login(
        self,
        data: JSONBody[Credentials],
        accounts: NamedDependency[AccountService],
        request: Request[object, object, State],
    ) -> TokenPair:
        """Exchange e-mail and password for a bearer access token and a refresh token."""
        return await accounts.login(
            data.email, data.password, client_address(request), request.headers.get("user-agent")
        )

    @post("/refresh", status_code=HTTP_200_OK)
    async def refresh(
        self, data: JSONBody[RefreshRequest], accounts: NamedDependency[AccountService]
    ) -> TokenPair:
        """Exchange a refresh token for a new pair; each refresh token works once."""
        return await accounts.refresh(data.refresh_token)

    @post("/password-reset", status_code=HTTP_202_ACCEPTED)
    async def request_password_reset(
        self,
        data: JSONBody[PasswordResetRequest],
        accounts: NamedDependency[AccountService],
        request: Request[object, object, State],
    ) -> Accepted:
        """E-mail a single-use link (valid 30 minutes) to choose a new password; same answer for all."""
        await accounts.request_password_reset(data.email, client_address(request))
        return Accepted(detail=RESET_REQUESTED)

    @post("/password-reset/confirm", status_code=HTTP_204_NO_CONTENT)
    async def reset_password(
        self, data: JSONBody[PasswordResetConfirm], accounts: NamedDependency[AccountService]
    ) -> None:
        """Choose a new password with the link's token; it works once, and every login session ends."""
        await accounts.reset_password(data.token, data.new_password)

    @post("/email/confirm", status_code=HTTP_204_NO_CONTENT)
    async def confirm_email_change(
        self, data: JSONBody[EmailChangeConfirm], accounts: NamedDependency[AccountService]
    ) -> None:
        """Open the link sent to a new address: the account signs in with it from now on (works once)."""
        await accounts.confirm_email_change(data.token)

    @post("/logout", status_code=HTTP_204_NO_CONTENT, security=BEARER)
    async def logout(
        self, principal: NamedDependency[Principal], accounts: NamedDependency[AccountService]
    ) -> None:
        """End this login session: its access and refresh tokens stop working."""
        await accounts.logout(principal.session_id)


class MeController(Controller):
    path = "/me"
    tags = ["accounts"]
    security = BEARER

    @get("/")
    async def get_me(
        self, principal: NamedDependency[Principal], accounts: NamedDependency[AccountService]
    ) -> Me:
        """The caller's own account."""
        return to_me(principal.user, await accounts.profile_of(principal.user))

    @patch("/")
    async def update_me(
        self,
        principal: NamedDependency[Principal],
        data: JSONBody[MeUpdate],
        accounts: NamedDependency[AccountService],
    ) -> Me:
        """Change the name printed on certificates, the preferred language, or the optional profile."""
        return to_me(principal.user, await accounts.update_me(principal.user, data))

    @post("/email", status_code=HTTP_202_ACCEPTED)
    async def change_email(
        self,
        principal: NamedDependency[Principal],
        data: JSONBody[EmailChange],
        accounts: NamedDependency[AccountService],
    ) -> Accepted:
        """Ask to sign in with another address (the current password confirms it is you). A link goes to
        the new address; the account keeps the old one until the link is opened."""
        await accounts.request_email_change(principal.user, data.new_email, data.password)
        return Accepted(detail=EMAIL_CHANGE_REQUESTED)

    @post("/password", status_code=HTTP_204_NO_CONTENT)
    async def change_password(
        self,
        principal: NamedDependency[Principal],
        data: JSONBody[PasswordChange],
        accounts: NamedDependency[AccountService],
    ) -> None:
        """Change the password; every other login session ends."""
        await accounts.change_password(
            principal.user, principal.session_id, data.current_password, data.new_password
        )


class UsersController(Controller):
    path = "/users"
    tags = ["administration"]
    security = BEARER

    @get("/")
    async def list_users(
        self,
        staff: NamedDependency[User],
        accounts: NamedDependency[AccountService],
        q: Annotated[str | None, QueryParameter(max_length=120)] = None,
        limit: Limit = 20,
        offset: Offset = 0,
    ) -> Page[UserSummary]:
        """Staff: find accounts by e-mail or name."""
        users, total = await accounts.search_users(q, limit, offset)
        return Page(items=[to_summary(u) for u in users], total=total, limit=limit, offset=offset)

    @patch("/{user_id:uuid}")
    async def update_user(
        self,
        admin: NamedDependency[User],
        user_id: FromPath[uuid.UUID],
        data: JSONBody[UserAdminUpdate],
        accounts: NamedDependency[AccountService],
    ) -> UserSummary:
        """Administrators: change an account's role or deactivate it."""
        return to_summary(await accounts.admin_update(admin, user_id, data))
