"""Request and response shapes of the accounts API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from lms.accounts.models import EmploymentStatus, Role

# Addresses and names are checked by the service (``valid_email``, ``clean_full_name``): it trims them first
# and explains a refusal in words; the lengths here only bound what is read.
Email = Annotated[str, Meta(max_length=320)]
Password = Annotated[str, Meta(min_length=1, max_length=1024)]
FullName = Annotated[str, Meta(max_length=200)]
Language = Literal["ca", "es", "en"]
ShortText = Annotated[str, Meta(max_length=120)]
BirthYear = Annotated[int, Meta(ge=1900, le=2100)]


class Strict(msgspec.Struct, forbid_unknown_fields=True):
    """Requests refuse fields they do not know, so a typo is an error and not silently ignored."""


class ProfileIn(Strict, kw_only=True):
    consent: bool
    gender: Annotated[str, Meta(max_length=40)] | None = None
    birth_year: BirthYear | None = None
    municipality: ShortText | None = None
    district: ShortText | None = None
    employment_status: EmploymentStatus | None = None


class Registration(Strict, kw_only=True):
    email: Email
    password: Password
    full_name: FullName
    preferred_language: Language = "ca"
    profile: ProfileIn | None = None


class RegistrationAccepted(msgspec.Struct):
    email: str
    detail: str


class Credentials(Strict):
    email: Email
    password: Password


class RefreshRequest(Strict):
    refresh_token: Annotated[str, Meta(max_length=200)]


class TokenPair(msgspec.Struct):
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "Bearer"  # noqa: S105


class Profile(msgspec.Struct):
    consent: bool
    consent_given_at: datetime | None
    gender: str | None
    birth_year: int | None
    municipality: str | None
    district: str | None
    employment_status: EmploymentStatus | None


class Me(msgspec.Struct):
    id: uuid.UUID
    email: str
    full_name: str
    preferred_language: str
    role: Role
    created_at: datetime
    profile: Profile | None


class MeUpdate(Strict, kw_only=True):
    full_name: FullName | UnsetType = UNSET
    preferred_language: Language | UnsetType = UNSET
    profile: ProfileIn | UnsetType = UNSET


class PasswordChange(Strict):
    current_password: Password
    new_password: Password


class UserSummary(msgspec.Struct):
    id: uuid.UUID
    email: str
    full_name: str
    role: Role
    is_active: bool
    created_at: datetime


class UserAdminUpdate(Strict, kw_only=True):
    role: Role | UnsetType = UNSET
    is_active: bool | UnsetType = UNSET


class PasswordResetRequest(Strict):
    email: Email


class EmailChange(Strict):
    new_email: Email
    password: Password  # the account's current password


class EmailChangeConfirm(Strict):
    token: Annotated[str, Meta(min_length=10, max_length=200)]


class PasswordResetConfirm(Strict):
    token: Annotated[str, Meta(min_length=10, max_length=200)]
    new_password: Password


class Accepted(msgspec.Struct):
    detail: str
