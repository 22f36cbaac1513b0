"""Typed settings, read from ``LMS_*`` environment variables, built once and passed in."""

from __future__ import annotations

import json
import secrets
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Self
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# Shipped example values that must never reach production.
INSECURE_SECRETS = frozenset({"", "changeme", "change-me", "secret", "dev", "development", "insecure"})
INSECURE_DB_PASSWORDS = frozenset({"", "postgres", "password", "aula", "changeme", "secret"})
MIN_SECRET_LENGTH = 32  # 256 bits of entropy when generated with secrets.token_urlsafe(32)


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class StorageBackend(StrEnum):
    S3 = "s3"
    LOCAL = "local"


class MailBackend(StrEnum):
    SMTP = "smtp"
    LOG = "log"


class UnsafeSettingsError(ValueError):
    """Raised when production settings keep a default or weak secret."""


def _split_csv(value: object) -> object:
    """Accept ``a,b`` as well as a JSON list for list settings read from the environment."""
    if isinstance(value, str) and value.lstrip().startswith("["):
        return json.loads(value)
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class Settings(BaseSettings):
    """Everything Aula can be configured with; see the README for the table."""

    model_config = SettingsConfigDict(env_prefix="LMS_", extra="ignore", frozen=True)

    env: Environment = Environment.DEVELOPMENT
    secret_key: SecretStr = SecretStr("")
    data_dir: Path = Path(".aula")
    public_url: str = "http://127.0.0.1:8000"
    api_prefix: str = "/api/v1"
    # Scrapers send it as "Authorization: Bearer <token>". Unset: /metrics is open in development and
    # tests, and not served at all in production.
    metrics_token: SecretStr = SecretStr("")

    database_url: str | None = None
    # Per API process, twice over: the transactional pool and the bare pool of single-statement hot paths
    # (``lms.db.driver``) each hold up to this many connections.
    database_pool_size: int = Field(default=10, ge=1, le=200)
    # No overflow by default: overflow connections are closed when returned, so under a burst every few
    # requests would pay for a new connection; requests beyond the pool wait for one instead.
    database_max_overflow: int = Field(default=0, ge=0, le=200)
    database_pool_timeout: float = Field(default=5.0, gt=0)
    database_echo: bool = False

    broker_url: str | None = None
    redis_url: str | None = None  # rate limits shared by all API processes; in-process when unset
    broker_key_prefix: str = ""  # Redis keys of this deployment, when several share one Redis
    broker_visibility_timeout: int = Field(default=300, ge=5)
    broker_unacked_restore_interval: int = Field(default=2, ge=1)
    task_max_retries: int = Field(default=8, ge=0)
    outbox_grace_seconds: float = Field(default=10.0, ge=0)
    outbox_sweep_interval: float = Field(default=15.0, gt=0)
    # Seconds between refreshes of the catalogue's popularity and the courses' enrolment windows.
    listing_refresh_interval: float = Field(default=60.0, gt=0)

    storage_backend: StorageBackend | None = None
    storage_dir: Path | None = None
    s3_endpoint: str | None = None
    s3_public_endpoint: str | None = None
    s3_access_key: SecretStr = SecretStr("")
    s3_secret_key: SecretStr = SecretStr("")
    s3_region: str = "us-east-1"
    s3_secure: bool = False
    bucket_public: str = "aula-public"
    bucket_media: str = "aula-media"
    bucket_certificates: str = "aula-certificates"

    mail_backend: MailBackend | None = None
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: SecretStr = SecretStr("")
    smtp_starttls: bool = False
    smtp_timeout: float = 10.0
    mail_from: str = "Aula <no-reply@aula.localhost>"

    access_token_ttl: int = Field(default=900, ge=60)  # seconds
    refresh_token_ttl: int = Field(default=30 * 24 * 3600, ge=300)
    password_min_length: int = Field(default=10, ge=8)
    password_reset_ttl: int = Field(default=1800, ge=300)  # seconds a reset link works (30 minutes)
    password_reset_url: str | None = None  # the front end's reset page; default {public_url}/reset-password
    email_change_ttl: int = Field(default=86400, ge=600)  # seconds a new address's confirmation link works
    email_change_url: str | None = None  # the front end's page for it; default {public_url}/confirm-email
    password_hash_memory_kib: int = Field(default=65536, ge=256)  # Argon2id, RFC 9106's second choice
    password_hash_time_cost: int = Field(default=3, ge=1)
    login_rate_limit: int = Field(default=10, ge=1)  # failed logins per window, per address and per account
    login_rate_window: int = Field(default=60, ge=1)  # seconds
    verify_rate_limit: int = Field(default=60, ge=1)
    verify_rate_window: int = Field(default=60, ge=1)

    max_request_body: int = Field(default=1_048_576, ge=1024)  # bytes; uploads go straight to storage
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    log_level: str = "INFO"
    log_json: bool = True
    access_log: bool = False  # one JSON line per request; usually the reverse proxy keeps these

    org_name: str = "Aula"

    # certificates: what the PDF prints besides org_name, where its QR code points, download links
    certificate_logo_path: Path | None = None  # PNG or JPEG; without it, an emblem with the org's initial
    certificate_signatory_name: str = ""
    certificate_signatory_title: str = ""
    certificate_verify_base_url: str | None = None  # the QR code's target; public_url when unset
    certificate_download_ttl: int = Field(default=120, ge=10, le=3600)  # seconds a download link works
    certificate_batch_size: int = Field(default=50, ge=1, le=500)  # owed certificates one task issues

    # media: allow-lists and limits per kind, upload and download lifetimes, processing
    media_video_types: Annotated[list[str], NoDecode] = Field(default=["video/mp4", "video/webm"])
    media_video_max_bytes: int = Field(default=2 * 1024**3, ge=1)
    media_image_types: Annotated[list[str], NoDecode] = Field(
        default=["image/png", "image/jpeg", "image/webp"]
    )
    media_image_max_bytes: int = Field(default=20 * 1024**2, ge=1)
    media_document_types: Annotated[list[str], NoDecode] = Field(default=["application/pdf"])
    media_document_max_bytes: int = Field(default=50 * 1024**2, ge=1)
    media_captions_types: Annotated[list[str], NoDecode] = Field(default=["text/vtt"])
    media_captions_max_bytes: int = Field(default=1024**2, ge=1)
    media_upload_ttl: int = Field(default=900, ge=60, le=900)  # seconds; the issue caps it at 15 minutes
    media_download_ttl: int = Field(default=300, ge=30, le=3600)  # presigned GETs live minutes, not hours
    media_multipart_threshold: int = Field(default=100 * 1024**2, ge=5 * 1024**2)  # bytes
    media_part_size: int = Field(default=64 * 1024**2, ge=5 * 1024**2)  # S3's minimum part is 5 MiB
    media_pending_max_age: int = Field(default=24 * 3600, ge=60)  # unfinished uploads are swept after
    media_thumbnail_widths: Annotated[list[int], NoDecode] = Field(default=[320, 960])
    media_ffprobe: str = "ffprobe"

    # enrolments: when a video, a masterclass's live session or its recording counts as done
    enrolment_video_complete_ratio: float = Field(default=0.9, gt=0, le=1)  # of the video's duration
    enrolment_attendance_ratio: float = Field(default=0.75, gt=0, le=1)  # of the live session's minutes
    enrolment_clock_skew: int = Field(default=120, ge=0, le=3600)  # seconds a client clock may run ahead

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_cors(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator(
        "media_video_types",
        "media_image_types",
        "media_document_types",
        "media_captions_types",
        "media_thumbnail_widths",
        mode="before",
    )
    @classmethod
    def _split_media_lists(cls, value: object) -> object:
        return _split_csv(value)

    @model_validator(mode="after")
    def _refuse_unsafe_defaults(self) -> Self:
        if self.env is not Environment.PRODUCTION:
            return self
        problems: list[str] = []
        secret = self.secret_key.get_secret_value()
        if secret.lower() in INSECURE_SECRETS or len(secret) < MIN_SECRET_LENGTH:
            problems.append(
                f"LMS_SECRET_KEY must be set to a random value of at least {MIN_SECRET_LENGTH} chars"
            )
        if not self.database_url:
            problems.append("LMS_DATABASE_URL must be set in production")
        else:
            password = urlsplit(self.database_url).password or ""
            if password.lower() in INSECURE_DB_PASSWORDS:
                problems.append("LMS_DATABASE_URL must carry a strong database password")
        if not self.broker_url:
            problems.append("LMS_BROKER_URL must be set in production")
        weak_s3 = self.s3_secret_key.get_secret_value().lower() in INSECURE_DB_PASSWORDS | INSECURE_SECRETS
        if self.resolved_storage_backend is StorageBackend.S3 and weak_s3:
            problems.append("LMS_S3_SECRET_KEY must be set to a strong value")
        if problems:
            raise UnsafeSettingsError("; ".join(problems))
        return self

    @property
    def is_production(self) -> bool:
        return self.env is Environment.PRODUCTION

    @property
    def resolved_storage_backend(self) -> StorageBackend:
        if self.storage_backend is not None:
            return self.storage_backend
        return StorageBackend.S3 if self.s3_endpoint else StorageBackend.LOCAL

    @property
    def resolved_storage_dir(self) -> Path:
        return self.storage_dir or self.data_dir / "storage"

    @property
    def resolved_mail_backend(self) -> MailBackend:
        if self.mail_backend is not None:
            return self.mail_backend
        return MailBackend.SMTP if self.is_production else MailBackend.LOG

    @property
    def resolved_broker_url(self) -> str:
        return self.broker_url or "filesystem://"

    @property
    def broker_folder(self) -> Path:
        return self.data_dir / "broker"

    def signing_key(self) -> str:
        """The token signing key: the configured one, or one kept in the data folder in development."""
        secret = self.secret_key.get_secret_value()
        if secret:
            return secret
        if self.is_production:  # unreachable: the validator refuses it
            raise UnsafeSettingsError("LMS_SECRET_KEY is required in production")
        key_file = self.data_dir / "secret_key"
        if not key_file.exists():
            key_file.parent.mkdir(parents=True, exist_ok=True)
            key_file.write_text(secrets.token_urlsafe(48))
            key_file.chmod(0o600)
        return key_file.read_text().strip()
