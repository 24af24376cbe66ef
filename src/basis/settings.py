"""The one settings object, read from the environment (prefix ``BASIS_``) and ``.env``.

The source systems' variable names (``DATABASE_URL``, ``JWT_SECRET``, ...) are accepted as
aliases so an existing deployment's environment keeps working.
"""

from __future__ import annotations

import secrets
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

WEAK_SECRETS = frozenset(
    {"secret", "changeme", "change-me", "changethis", "your-secret-key", "supersecret", "jwt-secret"}
)
MIN_SECRET_BYTES = 32


def _alias(*names: str) -> AliasChoices:
    return AliasChoices(*names)


def _split(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


CommaList = Annotated[list[str], NoDecode]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="BASIS_", env_file=".env", extra="ignore", populate_by_name=True
    )

    # --- deployment
    env: Literal["dev", "prod"] = "dev"
    """dev: readable logs, generated secrets allowed; prod: JSON logs, strong secrets required."""
    data_dir: Path = Path("data")
    """Where the SQLite file, the generated dev secret and the self-signed certificate live."""
    database_url: str | None = Field(None, validation_alias=_alias("BASIS_DATABASE_URL", "DATABASE_URL"))
    """SQLAlchemy URL; unset means SQLite at ``<data_dir>/basis.sqlite3``."""
    db_pool_size: int = Field(20, ge=1, le=500)
    """Connections per process (PostgreSQL/MariaDB); size it to the requests a process serves at once."""
    db_max_overflow: int = Field(10, ge=0, le=500)
    db_pool_pre_ping: bool = False
    """Test each pooled connection before use: survives database restarts without one failed
    request, at the cost of one extra round trip per request."""
    db_echo: bool = False
    redis_url: str | None = Field(None, validation_alias=_alias("BASIS_REDIS_URL", "REDIS_URL"))
    """Shared state for several processes: rate limits, revocations, realtime, jobs."""
    apps: CommaList | None = None
    """Enabled apps, comma separated. Unset: every app. Empty: the core alone."""
    public_url: str = "http://localhost:8000"
    """Where users reach this server; links in mails are built from it, never from the Host header."""
    cors_origins: CommaList = Field(
        default_factory=list, validation_alias=_alias("BASIS_CORS_ORIGINS", "CORS_ORIGINS")
    )
    trusted_proxies: CommaList = Field(default_factory=list)
    """Peers (IPs or CIDRs) whose X-Forwarded-For / X-Real-IP are believed."""
    max_body_bytes: int = Field(1_048_576, ge=1024)
    log_level: str = "INFO"
    metrics_enabled: bool = True
    metrics_token: SecretStr | None = None
    """When set, /metrics wants ``Authorization: Bearer <token>``."""
    tls_certfile: Path | None = None
    tls_keyfile: Path | None = None
    timezone: str = "Europe/Warsaw"
    """The site's zone: local wall-clock input and reports use it unless a record has its own."""

    # --- identity
    jwt_secrets: CommaList = Field(
        default_factory=list,
        validation_alias=_alias("BASIS_JWT_SECRETS", "JWT_SECRET", "JWT_SECRET_KEY", "SECRET_KEY"),
    )
    """HS256 keys, current first; all verify, the first signs. At least 32 bytes each."""
    jwt_issuer: str = "basis"
    jwt_audience: str = "basis"
    access_token_minutes: int = Field(
        15, ge=1, le=1440, validation_alias=_alias("BASIS_ACCESS_TOKEN_MINUTES", "ACCESS_TOKEN_EXPIRE_MINUTES")
    )
    refresh_token_days: int = Field(
        14, ge=1, le=365, validation_alias=_alias("BASIS_REFRESH_TOKEN_DAYS", "REFRESH_TOKEN_EXPIRE_DAYS")
    )
    session_absolute_days: int = Field(30, ge=1, le=365)
    """A session ends this long after login whatever the refreshes."""
    auth_cache_seconds: float = Field(60, ge=0, le=3600)
    """How long a process may remember a live session's user between invalidations (0: ask the
    database on every request). Changes reach every process at once through invalidation; this
    only bounds what a lost invalidation could cost."""
    registration: Literal["open", "closed"] = "closed"
    admin_email: str | None = None
    admin_password: SecretStr | None = None
    admin_session_secret: SecretStr | None = None
    """Signs the admin panel's cookie; separate from the JWT keys."""
    password_reset_minutes: int = Field(30, ge=5, le=1440)
    password_hash_profile: Literal["production", "fast"] = "production"
    """``fast`` lowers Argon2 cost for test suites only; refused in prod."""
    rate_limits_enabled: bool = True
    login_limit_ip_identifier: str = "5/15minutes"
    login_limit_ip: str = "50/15minutes"
    login_limit_account: str = "20/hour"
    register_limit_ip: str = "10/hour"
    reset_request_limit_email: str = "5/hour"
    reset_request_limit_ip: str = "20/hour"
    reset_confirm_limit_ip: str = "10/15minutes"
    refresh_limit_session: str = "60/minute"

    # --- mail
    smtp_host: str | None = Field(None, validation_alias=_alias("BASIS_SMTP_HOST", "SMTP_HOST"))
    smtp_port: int = Field(587, validation_alias=_alias("BASIS_SMTP_PORT", "SMTP_PORT"))
    smtp_user: str | None = Field(None, validation_alias=_alias("BASIS_SMTP_USER", "SMTP_USER"))
    smtp_password: SecretStr | None = Field(
        None, validation_alias=_alias("BASIS_SMTP_PASSWORD", "SMTP_PASSWORD")
    )
    smtp_tls: Literal["starttls", "tls", "none"] = "starttls"
    smtp_from: str = "Basis <no-reply@localhost>"

    # --- storage
    storage_backend: Literal["auto", "local", "s3"] = "auto"
    """auto: S3 when ``STORAGE_S3_ENDPOINT`` is set, else the local folder."""
    storage_dir: Path | None = None
    """Local file storage; defaults to ``<data_dir>/files``."""
    storage_max_upload_bytes: int = Field(104_857_600, ge=1)
    """The largest file any upload may store, whatever an app allows (100 MiB)."""
    storage_s3_endpoint: str | None = None
    """S3 API URL this process uses, e.g. ``http://minio:9000``; unset with backend s3: AWS."""
    storage_s3_public_endpoint: str | None = None
    """S3 API URL that browsers reach, for presigned links; defaults to the endpoint."""
    storage_s3_bucket: str | None = None
    storage_s3_access_key: str | None = None
    storage_s3_secret_key: SecretStr | None = None
    storage_s3_region: str = "us-east-1"
    storage_s3_path_style: bool = True
    """``<endpoint>/<bucket>/<key>`` URLs, as MinIO needs; false: ``<bucket>.<host>`` (AWS)."""

    # --- timetracker
    timetracker_terminal_scan_cooldown_seconds: int = Field(
        5,
        ge=0,
        validation_alias=_alias(
            "BASIS_TIMETRACKER_TERMINAL_SCAN_COOLDOWN_SECONDS", "TERMINAL_SCAN_COOLDOWN_SECONDS"
        ),
    )
    timetracker_max_shift_hours: int = Field(16, ge=1, le=48)
    timetracker_missing_out_policy: Literal["flag", "schedule_end"] = "flag"
    timetracker_max_scan_age_days: int = Field(7, ge=0)
    timetracker_max_clock_skew_seconds: int = Field(120, ge=0)
    timetracker_late_grace_minutes: int = Field(5, ge=0)
    timetracker_early_exit_grace_minutes: int = Field(5, ge=0)
    timetracker_overtime_tolerance_minutes: int = Field(0, ge=0)
    timetracker_check_in_window_minutes: int = Field(120, ge=0)
    timetracker_terminal_rate_limit: str = "600/minute"

    # --- warehouse
    warehouse_low_stock_mail: bool = True

    _split_lists = field_validator("apps", "cors_origins", "trusted_proxies", "jwt_secrets", mode="before")(
        classmethod(lambda cls, v: _split(v))
    )

    @field_validator("timezone")
    @classmethod
    def _zone_exists(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _storage_complete(self) -> Settings:
        if self.resolved_storage_backend != "s3":
            return self
        if not self.storage_s3_bucket:
            raise ValueError("S3 storage needs BASIS_STORAGE_S3_BUCKET")
        for name in ("storage_s3_endpoint", "storage_s3_public_endpoint"):
            value = getattr(self, name)
            if value is not None and not value.startswith(("http://", "https://")):
                raise ValueError(f"BASIS_{name.upper()} must be an http:// or https:// URL")
        if self.env == "prod" and not (self.storage_s3_access_key and self.storage_s3_secret_key):
            raise ValueError(
                "S3 storage in prod needs BASIS_STORAGE_S3_ACCESS_KEY and BASIS_STORAGE_S3_SECRET_KEY"
            )
        return self

    @model_validator(mode="after")
    def _refuse_unsafe(self) -> Settings:
        if "*" in self.cors_origins:
            raise ValueError(
                "BASIS_CORS_ORIGINS='*' is refused: browsers send credentials (the refresh cookie); "
                "list the origins instead"
            )
        if self.env == "prod":
            if not self.jwt_secrets:
                raise ValueError("BASIS_JWT_SECRETS is required in prod (at least 32 random bytes)")
            for value in self.jwt_secrets:
                _check_strong(value, "BASIS_JWT_SECRETS")
            if self.admin_session_secret is None:
                raise ValueError("BASIS_ADMIN_SESSION_SECRET is required in prod")
            _check_strong(self.admin_session_secret.get_secret_value(), "BASIS_ADMIN_SESSION_SECRET")
            if self.password_hash_profile != "production":
                raise ValueError("BASIS_PASSWORD_HASH_PROFILE=fast is for tests only, not prod")
        else:
            for value in self.jwt_secrets:
                if len(value.encode()) < MIN_SECRET_BYTES:
                    raise ValueError(f"each BASIS_JWT_SECRETS entry needs at least {MIN_SECRET_BYTES} bytes")
        return self

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'basis.sqlite3').resolve()}"

    @property
    def resolved_storage_backend(self) -> Literal["local", "s3"]:
        if self.storage_backend == "auto":
            return "s3" if self.storage_s3_endpoint else "local"
        return self.storage_backend

    @property
    def is_https(self) -> bool:
        return self.public_url.startswith("https://")

    @cached_property
    def signing_secrets(self) -> list[str]:
        """The configured JWT keys or, in dev only, one generated and kept in the data dir."""
        return self.jwt_secrets or [_dev_secret(self.data_dir, "jwt_secret")]

    @cached_property
    def admin_secret(self) -> str:
        if self.admin_session_secret is not None:
            return self.admin_session_secret.get_secret_value()
        return _dev_secret(self.data_dir, "admin_session_secret")


def _check_strong(value: str, name: str) -> None:
    if len(value.encode()) < MIN_SECRET_BYTES or value.lower() in WEAK_SECRETS or len(set(value)) < 8:
        raise ValueError(f"{name} is too weak: use at least {MIN_SECRET_BYTES} random bytes")


def _dev_secret(data_dir: Path, name: str) -> str:
    # A development server must work with no configuration, and tokens should survive a
    # restart, so the generated secret is kept (0600) beside the database.
    path = data_dir / f".{name}"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    path.touch(mode=0o600)
    path.write_text(value)
    return value


def get_settings() -> Settings:
    return Settings()
