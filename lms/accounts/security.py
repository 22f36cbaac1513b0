"""Password hashing (Argon2id) and tokens: signed JWT access tokens, opaque rotating refresh tokens."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from litestar.exceptions import NotAuthorizedException
from litestar.security.jwt import Token

JWT_ALGORITHM = "HS256"
TOKEN_ISSUER = "aula"  # noqa: S105


class Passwords:
    """Argon2id with the given cost; verifying against an unknown account costs the same as a real one."""

    def __init__(self, memory_kib: int = 65536, time_cost: int = 3) -> None:
        self._hasher = PasswordHasher(memory_cost=memory_kib, time_cost=time_cost, parallelism=1)
        self._dummy = self._hasher.hash(secrets.token_urlsafe(16))

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash or self._dummy, password) and password_hash is not None
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: uuid.UUID
    session_id: uuid.UUID


VERIFIED_CACHE_SIZE = 8192  # access tokens whose signature was checked, kept until they expire


class Tokens:
    """Issues and reads the bearer tokens.

    A client sends the same access token with every request until it expires, so a token whose signature
    and claims have been checked is remembered (keyed by the whole token) until its expiry; only the expiry
    is checked again. Revocation is not cached: the session lookup of each request decides that.
    """

    def __init__(self, signing_key: str, access_ttl: int) -> None:
        self._key = signing_key
        self.access_ttl = access_ttl
        self._verified: dict[str, tuple[AccessClaims, float]] = {}

    def access_token(self, user_id: uuid.UUID, session_id: uuid.UUID, now: datetime | None = None) -> str:
        issued = now or datetime.now(UTC)
        token = Token(
            sub=str(user_id),
            exp=issued + timedelta(seconds=self.access_ttl),
            iat=issued,
            iss=TOKEN_ISSUER,
            jti=secrets.token_hex(8),
            extras={"sid": str(session_id)},
        )
        return token.encode(self._key, JWT_ALGORITHM)

    def read_access_token(self, encoded: str) -> AccessClaims | None:
        known = self._verified.get(encoded)
        if known is not None:
            if known[1] > time.time():
                return known[0]
            del self._verified[encoded]
            return None
        try:
            token = Token.decode(encoded, self._key, JWT_ALGORITHM, issuer=[TOKEN_ISSUER])
            claims = AccessClaims(uuid.UUID(token.sub), uuid.UUID(str(token.extras["sid"])))
        except (NotAuthorizedException, KeyError, ValueError):
            return None
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            self._verified.clear()
        self._verified[encoded] = (claims, token.exp.timestamp())
        return claims


def new_refresh_secret() -> str:
    return secrets.token_urlsafe(32)


def refresh_token(session_id: uuid.UUID, secret: str) -> str:
    return f"{session_id.hex}.{secret}"


def split_refresh_token(value: str) -> tuple[uuid.UUID, str] | None:
    head, _, secret = value.partition(".")
    try:
        return uuid.UUID(hex=head), secret
    except ValueError:
        return None


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def same_digest(secret: str, expected: str) -> bool:
    return hmac.compare_digest(digest(secret), expected)
