"""Account rules: registration without enumeration, login sessions, profile consent, roles."""

from __future__ import annotations

import re
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from lms.accounts import security
from lms.accounts.models import AuthSession, EmailChangeToken, LearnerProfile, PasswordResetToken, Role, User
from lms.accounts.repository import (
    ProfileRepository,
    ResetLinkRepository,
    SessionRepository,
    UserRepository,
)
from lms.accounts.schemas import MeUpdate, ProfileIn, Registration, TokenPair, UserAdminUpdate
from lms.accounts.tasks import (
    email_change_email,
    email_changed_notice,
    password_reset_email,
    registration_attempt_notice,
    welcome_email,
)
from lms.errors import BadRequest, Conflict, NotFound, Unauthorized, ValidationFailed
from lms.ratelimit import RateLimiter, enforce, give_back
from lms.settings import Settings

Link = TypeVar("Link", PasswordResetToken, EmailChangeToken)  # the e-mailed single-use links

REGISTRATION_ACCEPTED = (
    "If this address was not registered yet, the account is ready and you can log in now. "
    "If it was, we have sent a message to that address."
)
INVALID_LOGIN = "Invalid email or password."
RESET_REQUESTED = "If an account uses this address, we have sent it a link to choose a new password."
RESET_INVALID = "This password reset link is invalid, was already used, or has expired."
EMAIL_CHANGE_INVALID = "This confirmation link is invalid, was already used, or has expired."
EMAIL_TAKEN = "Another account already uses this e-mail address."
EMAIL_CHANGE_REQUESTED = "We have sent a link to the new address; open it to start using that address."


@dataclass(frozen=True, slots=True)
class AccountDeps:
    """Process-wide collaborators of the account service, built once in the app factory."""

    settings: Settings
    passwords: security.Passwords
    tokens: security.Tokens
    limiter: RateLimiter

    @classmethod
    def from_settings(cls, settings: Settings, limiter: RateLimiter) -> AccountDeps:
        return cls(
            settings=settings,
            passwords=security.Passwords(settings.password_hash_memory_kib, settings.password_hash_time_cost),
            tokens=security.Tokens(settings.signing_key(), settings.access_token_ttl),
            limiter=limiter,
        )


def normalize_email(email: str) -> str:
    return email.strip().lower()


EMAIL_SHAPE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
MAX_EMAIL_LENGTH = 254  # the longest address SMTP can deliver to (RFC 5321 path limit)
NOT_AN_EMAIL = "is not a valid e-mail address"


def valid_email(value: str, field: str) -> str:
    """The address as stored: trimmed (phones' autocomplete adds a space) and in lower case; a 422 naming
    ``field`` when it is not an address."""
    email = normalize_email(value)
    if len(email) > MAX_EMAIL_LENGTH or not EMAIL_SHAPE.fullmatch(email):
        raise ValidationFailed.on(field, NOT_AN_EMAIL)
    return email


# Letters and symbols by their Unicode category that print as nothing (Hangul fillers, the blank Braille
# pattern): a name made of them is as blank as one made of spaces.
BLANK_LOOKALIKES = frozenset("\u115f\u1160\u3164\uffa0\u2800")
NAME_BLANK = "must not be blank"
NAME_CONTROL = "must not contain control characters such as line breaks"


def _invisible(char: str) -> bool:
    """Whitespace and format characters (zero-width spaces and joiners, U+2060, U+FEFF, direction marks)."""
    return char.isspace() or unicodedata.category(char) == "Cf" or char in BLANK_LOOKALIKES


def _visible(char: str) -> bool:
    return unicodedata.category(char)[0] in "LNPS" and char not in BLANK_LOOKALIKES


def clean_full_name(value: str, field: str = "full_name") -> str:
    """The name as certificates and e-mails print it: invisible characters around it trimmed; a 422 naming
    ``field`` when nothing visible is left, or when it holds a control character (a line break would end up
    verbatim in e-mail bodies). Invisible characters inside it stay: some scripts need joiners."""
    if any(unicodedata.category(char) == "Cc" or char in "\u2028\u2029" for char in value):
        raise ValidationFailed.on(field, NAME_CONTROL)
    start, end = 0, len(value)
    while start < end and _invisible(value[start]):
        start += 1
    while end > start and _invisible(value[end - 1]):
        end -= 1
    name = value[start:end]
    if not any(_visible(char) for char in name):
        raise ValidationFailed.on(field, NAME_BLANK)
    return name


class AccountService:
    def __init__(self, session: AsyncSession, deps: AccountDeps) -> None:
        self.session = session
        self.deps = deps

    # Built on first use: most requests only authenticate, and a repository is not free to construct.
    @cached_property
    def users(self) -> UserRepository:
        return UserRepository(session=self.session, auto_refresh=False)

    @cached_property
    def profiles(self) -> ProfileRepository:
        return ProfileRepository(session=self.session, auto_refresh=False)

    @cached_property
    def sessions(self) -> SessionRepository:
        return SessionRepository(session=self.session, auto_refresh=False)

    @cached_property
    def reset_links(self) -> ResetLinkRepository:
        return ResetLinkRepository(session=self.session, auto_refresh=False)

    def check_password_strength(self, password: str, field: str) -> None:
        minimum = self.deps.settings.password_min_length
        if len(password) < minimum:
            raise ValidationFailed.on(field, f"must be at least {minimum} characters long")

    async def register(self, data: Registration) -> str:
        """Create the account, or tell the owner of an existing one; the caller cannot tell which.
        Returns the address as stored."""
        # The request is checked before the address is looked up, so a refusal says nothing about it.
        email = valid_email(data.email, "email")
        self.check_password_strength(data.password, "password")
        full_name = clean_full_name(data.full_name)
        password_hash = self.deps.passwords.hash(data.password)  # also on the duplicate path: same timing
        stmt = (
            insert(User)
            .values(
                id=uuid.uuid4(),
                email=email,
                password_hash=password_hash,
                full_name=full_name,
                preferred_language=data.preferred_language,
                role=Role.LEARNER,
            )
            .on_conflict_do_nothing(index_elements=[User.email])
            .returning(User.id)
        )
        user_id = (await self.session.execute(stmt)).scalar_one_or_none()
        if user_id is None:
            existing = await self.users.by_email(email)
            if existing is not None:
                registration_attempt_notice.enqueue(self.session, user_id=str(existing.id))
            return email
        if data.profile is not None:
            self._apply_profile(user_id, data.profile)
        welcome_email.enqueue(self.session, user_id=str(user_id))
        return email

    async def login(self, email: str, password: str, client: str, user_agent: str | None) -> TokenPair:
        email = normalize_email(email)
        s = self.deps.settings
        limits = [f"login:ip:{client}", f"login:email:{email}"]
        # Counted before the password is checked, so that simultaneous guesses cannot all slip under the
        # limit; a correct password gives its attempt back: the limits count failures (decision 16).
        await enforce(self.deps.limiter, limits, s.login_rate_limit, s.login_rate_window, "login attempts")
        user = await self.users.by_email(email)
        valid = self.deps.passwords.verify(user.password_hash if user else None, password)
        if user is None or not valid or not user.is_active:
            raise Unauthorized(INVALID_LOGIN)
        await give_back(self.deps.limiter, limits)
        if self.deps.passwords.needs_rehash(user.password_hash):
            user.password_hash = self.deps.passwords.hash(password)
        return await self._open_session(user.id, user_agent)

    async def _open_session(self, user_id: uuid.UUID, user_agent: str | None) -> TokenPair:
        now = datetime.now(UTC)
        secret = security.new_refresh_secret()
        auth = AuthSession(
            id=uuid.uuid4(),
            user_id=user_id,
            refresh_token_hash=security.digest(secret),
            expires_at=now + timedelta(seconds=self.deps.settings.refresh_token_ttl),
            user_agent=(user_agent or "")[:200] or None,
        )
        self.session.add(auth)
        return self._pair(user_id, auth.id, secret, now)

    def _pair(self, user_id: uuid.UUID, session_id: uuid.UUID, secret: str, now: datetime) -> TokenPair:
        return TokenPair(
            access_token=self.deps.tokens.access_token(user_id, session_id, now),
            refresh_token=security.refresh_token(session_id, secret),
            expires_in=self.deps.tokens.access_ttl,
        )

    async def refresh(self, refresh_token: str) -> TokenPair:
        """Rotate the refresh token; presenting an already-rotated one revokes the whole session."""
        parts = security.split_refresh_token(refresh_token)
        if parts is None:
            raise Unauthorized("The refresh token is invalid or expired.")
        session_id, secret = parts
        now = datetime.now(UTC)
        auth = await self.sessions.live(session_id, now)
        if auth is None:
            raise Unauthorized("The refresh token is invalid or expired.")
        if not security.same_digest(secret, auth.refresh_token_hash):
            auth.revoked_at = now  # a stolen, replayed token: end the session for both holders
            raise Unauthorized("The refresh token is invalid or expired.", keep_changes=True)
        user = await self.users.get_one_or_none(User.id == auth.user_id, User.is_active.is_(True))
        if user is None:
            raise Unauthorized("The refresh token is invalid or expired.")
        new_secret = security.new_refresh_secret()
        auth.refresh_token_hash = security.digest(new_secret)
        auth.last_used_at = now
        return self._pair(auth.user_id, auth.id, new_secret, now)

    async def authenticate(self, bearer: str) -> tuple[User, uuid.UUID] | None:
        claims = self.deps.tokens.read_access_token(bearer)
        if claims is None:
            return None
        user = await self.sessions.active_user(claims.session_id, claims.user_id, datetime.now(UTC))
        return (user, claims.session_id) if user is not None else None

    async def logout(self, session_id: uuid.UUID) -> None:
        auth = await self.sessions.live(session_id, datetime.now(UTC))
        if auth is not None:
            auth.revoked_at = datetime.now(UTC)

    async def profile_of(self, user: User) -> LearnerProfile | None:
        """The caller's optional profile; the user row is already loaded by authentication."""
        return await self.session.get(LearnerProfile, user.id)

    async def update_me(self, user: User, data: MeUpdate) -> LearnerProfile | None:
        """Apply the caller's changes; returns the profile as it now stands."""
        if isinstance(data.full_name, str):
            user.full_name = clean_full_name(data.full_name)
        if isinstance(data.preferred_language, str):
            user.preferred_language = data.preferred_language
        profile = await self.profile_of(user)
        if isinstance(data.profile, ProfileIn):
            profile = self._apply_profile(user.id, data.profile, current=profile)
        return profile

    def _apply_profile(
        self, user_id: uuid.UUID, data: ProfileIn, current: LearnerProfile | None = None
    ) -> LearnerProfile:
        """Store the impact-report fields only with consent; withdrawing consent erases them."""
        profile = current or LearnerProfile(user_id=user_id)
        if data.consent:
            profile.consent_given_at = profile.consent_given_at or datetime.now(UTC)
            profile.gender = data.gender
            profile.birth_year = data.birth_year
            profile.municipality = data.municipality
            profile.district = data.district
            profile.employment_status = data.employment_status
        else:
            profile.consent_given_at = None
            profile.gender = profile.municipality = profile.district = None
            profile.birth_year = None
            profile.employment_status = None
        if current is None:
            self.session.add(profile)
        return profile

    async def change_password(self, user: User, session_id: uuid.UUID, current: str, new: str) -> None:
        """Change the password and end every other session of the account."""
        if not self.deps.passwords.verify(user.password_hash, current):
            raise ValidationFailed.on("current_password", "does not match the account's password")
        self.check_password_strength(new, "new_password")
        if current == new:
            raise ValidationFailed.on("new_password", "must differ from the current password")
        now = datetime.now(UTC)
        user.password_hash = self.deps.passwords.hash(new)
        user.password_changed_at = now
        await self.sessions.revoke_all(user.id, now, keep=session_id)
        await self._withdraw_links(user.id, now)

    async def _link(self, model: type[Link], token: str, now: datetime, invalid: str) -> Link:
        """The row of an e-mailed single-use link, locked; ``invalid`` (400) if unknown, used or expired."""
        found = await self.session.scalar(
            select(model).where(model.token_hash == security.digest(token)).with_for_update()
        )
        if found is None or found.used_at is not None or found.expires_at <= now:
            raise BadRequest(invalid)
        return found

    async def request_email_change(self, user: User, new_email: str, password: str) -> None:
        """E-mail a single-use link to ``new_email``; the account keeps its address until it is opened."""
        new_email = valid_email(new_email, "new_email")
        s = self.deps.settings
        await enforce(
            self.deps.limiter,
            [f"email-change:{user.id}"],
            s.login_rate_limit,
            s.login_rate_window,
            "e-mail change requests",
        )
        if not self.deps.passwords.verify(user.password_hash, password):
            raise ValidationFailed.on("password", "does not match the account's password")
        if new_email == user.email:
            raise ValidationFailed.on("new_email", "is already the account's address")
        if await self.users.by_email(new_email) is not None:
            raise Conflict(EMAIL_TAKEN)
        secret = security.new_refresh_secret()
        self.session.add(
            EmailChangeToken(
                id=uuid.uuid4(),
                user_id=user.id,
                new_email=new_email,
                token_hash=security.digest(secret),
                expires_at=datetime.now(UTC) + timedelta(seconds=s.email_change_ttl),
            )
        )
        # The secret travels only in the e-mail; the outbox keeps it until the message is sent.
        email_change_email.enqueue(self.session, user_id=str(user.id), new_email=new_email, token=secret)

    async def confirm_email_change(self, token: str) -> None:
        """Move the account to the address the link was sent to: once, before it expires, while no other
        account has taken it. The previous address is told."""
        now = datetime.now(UTC)
        found = await self._link(EmailChangeToken, token, now, EMAIL_CHANGE_INVALID)
        user = await self.session.get(User, found.user_id, with_for_update=True)
        if user is None or not user.is_active:
            raise BadRequest(EMAIL_CHANGE_INVALID)
        taken = await self.users.by_email(found.new_email)
        if taken is not None and taken.id != user.id:
            raise Conflict(EMAIL_TAKEN)
        found.used_at = now
        old_email, user.email = user.email, found.new_email
        await self.reset_links.withdraw_all(user.id, now, links=PasswordResetToken)  # sent to the old address
        email_changed_notice.enqueue(
            self.session, user_id=str(user.id), old_email=old_email, new_email=user.email
        )

    async def request_password_reset(self, email: str, client: str) -> None:
        """E-mail a single-use reset link when the account exists; the caller cannot tell whether it does."""
        email = normalize_email(email)
        s = self.deps.settings
        await enforce(
            self.deps.limiter,
            [f"reset:ip:{client}", f"reset:email:{email}"],
            s.login_rate_limit,
            s.login_rate_window,
            "password reset requests",
        )
        user = await self.users.by_email(email)
        if user is None or not user.is_active:
            return
        secret = security.new_refresh_secret()
        token = PasswordResetToken(
            id=uuid.uuid4(),
            user_id=user.id,
            token_hash=security.digest(secret),
            expires_at=datetime.now(UTC) + timedelta(seconds=s.password_reset_ttl),
        )
        self.session.add(token)
        # The secret travels only in the e-mail; the outbox keeps it until the message is sent.
        password_reset_email.enqueue(self.session, user_id=str(user.id), token=secret)

    async def reset_password(self, token: str, new_password: str) -> None:
        """Set a new password with a reset link: once, before it expires; every session and every other
        reset link of the account ends."""
        now = datetime.now(UTC)
        owner = await self.reset_links.owner(security.digest(token))
        if owner is None:
            raise BadRequest(RESET_INVALID)
        # The account is locked before the link: two links of one account confirmed at once wait for each
        # other here, and the second then finds itself withdrawn by the first. Locking the link first would
        # let each hold its own link while waiting for the other's, a deadlock.
        user = await self.session.get(User, owner, with_for_update=True)
        found = await self._link(PasswordResetToken, token, now, RESET_INVALID)
        self.check_password_strength(new_password, "new_password")
        if user is None or not user.is_active:
            raise BadRequest(RESET_INVALID)
        found.used_at = now
        user.password_hash = self.deps.passwords.hash(new_password)
        user.password_changed_at = now
        await self.sessions.revoke_all(user.id, now)
        await self._withdraw_links(user.id, now)

    async def _withdraw_links(self, user_id: uuid.UUID, now: datetime) -> None:
        """A new password ends every e-mailed link of the account: other reset links, and address changes
        asked for with the old password (by whoever knew it)."""
        await self.reset_links.withdraw_all(user_id, now, links=PasswordResetToken)
        await self.reset_links.withdraw_all(user_id, now, links=EmailChangeToken)

    async def create_user(self, email: str, password: str, full_name: str, role: Role, language: str) -> User:
        """For operators (the CLI): create an account with a role."""
        email = valid_email(email, "email")
        self.check_password_strength(password, "password")
        full_name = clean_full_name(full_name)
        if await self.users.by_email(email) is not None:
            raise Conflict(f"An account with the e-mail {email} already exists.")
        user = User(
            id=uuid.uuid4(),
            email=email,
            password_hash=self.deps.passwords.hash(password),
            full_name=full_name,
            role=role,
            preferred_language=language,
        )
        self.session.add(user)
        await self.session.flush()
        return user

    async def search_users(self, text: str | None, limit: int, offset: int) -> tuple[list[User], int]:
        return await self.users.search(text, limit, offset)

    async def admin_update(self, actor: User, user_id: uuid.UUID, data: UserAdminUpdate) -> User:
        target = await self.session.scalar(select(User).where(User.id == user_id).with_for_update())
        if target is None:
            raise NotFound("No such account.")
        if target.id == actor.id and (
            (isinstance(data.role, Role) and data.role is not Role.ADMIN) or data.is_active is False
        ):
            raise Conflict("Administrators cannot demote or deactivate their own account.")
        if isinstance(data.role, Role):
            target.role = data.role
        if isinstance(data.is_active, bool):
            target.is_active = data.is_active
            if not data.is_active:
                await self.sessions.revoke_all(target.id, datetime.now(UTC))
        return target
