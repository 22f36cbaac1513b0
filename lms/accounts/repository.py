"""Queries on users and sessions."""

from __future__ import annotations

import uuid
from datetime import datetime

from advanced_alchemy.filters import LimitOffset, OrderBy
from advanced_alchemy.repository import SQLAlchemyAsyncRepository
from sqlalchemy import bindparam, delete, or_, select, update

from lms.accounts.models import AuthSession, EmailChangeToken, LearnerProfile, PasswordResetToken, User

ACTIVE_USER = (
    select(User)
    .join(AuthSession, AuthSession.user_id == User.id)
    .where(
        AuthSession.id == bindparam("session_id"),
        AuthSession.user_id == bindparam("user_id"),
        AuthSession.revoked_at.is_(None),
        AuthSession.expires_at > bindparam("now"),
        User.is_active.is_(True),
    )
)


class UserRepository(SQLAlchemyAsyncRepository[User]):
    model_type = User

    async def by_email(self, email: str) -> User | None:
        return await self.get_one_or_none(User.email == email.strip().lower())

    async def search(self, text: str | None, limit: int, offset: int) -> tuple[list[User], int]:
        filters = []
        if text:
            pattern = f"%{text.lower()}%"
            filters.append(or_(User.email.like(pattern), User.full_name.ilike(pattern)))
        items, total = await self.get_many_and_count(
            *filters,
            LimitOffset(limit=limit, offset=offset),
            OrderBy(field_name="created_at", sort_order="desc"),
        )
        return list(items), total


class ProfileRepository(SQLAlchemyAsyncRepository[LearnerProfile]):
    model_type = LearnerProfile
    id_attribute = "user_id"


class ResetLinkRepository(SQLAlchemyAsyncRepository[PasswordResetToken]):
    """Reset links, and what ends every e-mailed link of an account."""

    model_type = PasswordResetToken

    async def owner(self, token_hash: str) -> uuid.UUID | None:
        """The account a reset link was made for, whatever its state; nothing is locked."""
        stmt = select(PasswordResetToken.user_id).where(PasswordResetToken.token_hash == token_hash)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def withdraw_all(
        self, user_id: uuid.UUID, now: datetime, *, links: type[PasswordResetToken | EmailChangeToken]
    ) -> None:
        """Mark every unused link of the account of this kind (reset, or address change) as used, so none
        works any more.

        Marked used rather than expired: a request that started a moment earlier (or on a server whose clock
        is behind) would still find an expiry of ``now`` in its future."""
        stmt = update(links).where(links.user_id == user_id, links.used_at.is_(None)).values(used_at=now)
        await self.session.execute(stmt)


class SessionRepository(SQLAlchemyAsyncRepository[AuthSession]):
    model_type = AuthSession

    async def active_user(self, session_id: uuid.UUID, user_id: uuid.UUID, now: datetime) -> User | None:
        """The user behind a live session, in one prebuilt query (it runs on every authenticated request)."""
        params = {"session_id": session_id, "user_id": user_id, "now": now}
        return (await self.session.execute(ACTIVE_USER, params)).scalar_one_or_none()

    async def live(self, session_id: uuid.UUID, now: datetime) -> AuthSession | None:
        stmt = (
            select(AuthSession)
            .where(
                AuthSession.id == session_id, AuthSession.revoked_at.is_(None), AuthSession.expires_at > now
            )
            .with_for_update()
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def revoke_all(self, user_id: uuid.UUID, now: datetime, keep: uuid.UUID | None = None) -> None:
        stmt = update(AuthSession).where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
        if keep is not None:
            stmt = stmt.where(AuthSession.id != keep)
        await self.session.execute(stmt.values(revoked_at=now))

    async def purge_expired(self, before: datetime) -> int:
        stmt = delete(AuthSession).where(
            or_(AuthSession.expires_at < before, AuthSession.revoked_at < before)
        )
        result = await self.session.execute(stmt)
        return int(getattr(result, "rowcount", 0) or 0)
