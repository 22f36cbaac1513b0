"""Users, their optional impact-report profile, and login sessions."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, Enum, ForeignKey, Index, SmallInteger, String, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.db.base import Base, Timestamps, UUIDPrimaryKey

LANGUAGES = ("ca", "es", "en")


class Role(enum.StrEnum):
    LEARNER = "learner"
    STAFF = "staff"
    ADMIN = "admin"


class EmploymentStatus(enum.StrEnum):
    EMPLOYED = "employed"
    SELF_EMPLOYED = "self_employed"
    UNEMPLOYED = "unemployed"
    STUDENT = "student"
    RETIRED = "retired"
    OTHER = "other"


def _enum(cls: type[enum.StrEnum], name: str) -> Enum:
    return Enum(cls, name=name, values_callable=lambda e: [m.value for m in e])


class User(UUIDPrimaryKey, Timestamps, Base):
    """An account; ``full_name`` is printed on certificates exactly as written."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("email = lower(email)", name="email_lowercase"),
        CheckConstraint("preferred_language IN ('ca', 'es', 'en')", name="preferred_language_known"),
        CheckConstraint("length(full_name) > 0", name="full_name_not_empty"),
    )

    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    full_name: Mapped[str] = mapped_column(String(200))
    preferred_language: Mapped[str] = mapped_column(String(2), default="ca")
    role: Mapped[Role] = mapped_column(_enum(Role, "user_role"), default=Role.LEARNER)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    password_changed_at: Mapped[datetime] = mapped_column(server_default=func.now())

    profile: Mapped[LearnerProfile | None] = relationship(lazy="raise", uselist=False, back_populates="user")


class LearnerProfile(Base):
    """Optional data for the service's impact reports, kept only while the learner consents."""

    __tablename__ = "learner_profiles"
    __table_args__ = (
        CheckConstraint(
            "consent_given_at IS NOT NULL OR (gender IS NULL AND birth_year IS NULL AND municipality IS NULL"
            " AND district IS NULL AND employment_status IS NULL)",
            name="data_only_with_consent",
        ),
        CheckConstraint("birth_year IS NULL OR birth_year BETWEEN 1900 AND 2100", name="birth_year_range"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    consent_given_at: Mapped[datetime | None]
    gender: Mapped[str | None] = mapped_column(String(40))
    birth_year: Mapped[int | None] = mapped_column(SmallInteger)
    municipality: Mapped[str | None] = mapped_column(String(120))
    district: Mapped[str | None] = mapped_column(String(120))
    employment_status: Mapped[EmploymentStatus | None] = mapped_column(
        _enum(EmploymentStatus, "employment_status")
    )
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())

    user: Mapped[User] = relationship(lazy="raise", back_populates="profile")


class AuthSession(UUIDPrimaryKey, Base):
    """One login: access tokens name it, the refresh token rotates within it, logout revokes it."""

    __tablename__ = "auth_sessions"
    __table_args__ = (
        Index("ix_auth_sessions_user_active", "user_id", postgresql_where="revoked_at IS NULL"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    refresh_token_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    last_used_at: Mapped[datetime] = mapped_column(server_default=func.now())
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    user_agent: Mapped[str | None] = mapped_column(String(200))


class PasswordResetToken(UUIDPrimaryKey, Base):
    """A single-use password reset link; only its digest is stored."""

    __tablename__ = "password_reset_tokens"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class EmailChangeToken(UUIDPrimaryKey, Base):
    """A single-use link that confirms a new e-mail address for an account; only its digest is stored."""

    __tablename__ = "email_change_tokens"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    new_email: Mapped[str] = mapped_column(String(254))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
