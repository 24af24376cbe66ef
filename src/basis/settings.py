"""The one settings object, read from the environment (prefix ``BASIS_``) and ``.env``.

The source systems' variable names (``DATABASE_URL``, ``JWT_SECRET``, ...) are accepted as
aliases so an existing deployment's environment keeps working.

Each app keeps its own settings in an :class:`AppSettings` subclass (prefix ``BASIS_<APP>_``,
same sources); app code reaches it through the one object: ``settings.app(TimetrackerSettings)``.
"""

from __future__ import annotations

import ipaddress
import secrets
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AliasChoices,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_core import InitErrorDetails
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

WEAK_SECRETS = frozenset(
    {"secret", "changeme", "change-me", "changethis", "your-secret-key", "supersecret", "jwt-secret"}
)
MIN_SECRET_BYTES = 32
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def host_name(host: str) -> str:
    """``Example.com:8000`` -> ``example.com``, ``[::1]:8000`` -> ``::1``: a Host header's name."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.split(":", 1)[0]


def _alias(*names: str) -> AliasChoices:
    return AliasChoices(*names)


def _split(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


CommaList = Annotated[list[str], NoDecode]

# Where the core and every app read their values from: the environment, then this file.
ENV_FILE = ".env"


class AppSettings(BaseSettings):
    """Base of an app's own settings class.

    A subclass sets ``model_config = SettingsConfigDict(env_prefix="BASIS_<APP>_")`` and
    declares its fields; it reads the same environment and ``.env`` file as :class:`Settings`.
    """

    model_config = SettingsConfigDict(env_file=ENV_FILE, extra="ignore", populate_by_name=True)


A = TypeVar("A", bound=AppSettings)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="BASIS_", env_file=ENV_FILE, extra="ignore", populate_by_name=True
    )

    _source_options: dict[str, Any] = PrivateAttr(default_factory=dict)
    _app_values: dict[str, Any] = PrivateAttr(default_factory=dict)
    _core_keys: ClassVar[frozenset[str] | None] = None

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            # Name what the user sets (BASIS_DB_POOL_SIZE), not the field (db_pool_size).
            raise _named_by_variable(exc, type(self)) from None
        # ``_env_file=None`` and the other source options apply to the apps' settings too;
        # ``<app>_<field>=...`` values are kept for the app's class (``timetracker_max_shift_hours``).
        core = self._known_keys()
        self._source_options = {k: v for k, v in values.items() if k.startswith("_") and k != "_env_prefix"}
        self._app_values = {k: v for k, v in values.items() if not k.startswith("_") and k not in core}

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
    allowed_hosts: CommaList = Field(default_factory=list)
    """Further host names this server answers to (besides the public URL's host and, in dev,
    localhost/127.0.0.1/[::1]); any other Host header is refused with 400."""
    cors_origins: CommaList = Field(
        default_factory=list, validation_alias=_alias("BASIS_CORS_ORIGINS", "CORS_ORIGINS")
    )
    trusted_proxies: CommaList = Field(default_factory=list)
    """Peers (IPs or CIDRs) whose X-Forwarded-For / X-Real-IP are believed."""
    max_body_bytes: int = Field(1_048_576, ge=1024)
    log_level: str = "INFO"
    metrics_enabled: bool = True
    metrics_token: SecretStr | None = None
    """When set, /metrics answers a caller with ``Authorization: Bearer <token>``."""
    metrics_networks: CommaList = Field(default_factory=list)
    """IPs or CIDRs (e.g. the Prometheus host) that may read /metrics without the token. In
    prod, /metrics is closed (403) until this or ``BASIS_METRICS_TOKEN`` is set."""
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
        15,
        ge=1,
        le=1440,
        validation_alias=_alias("BASIS_ACCESS_TOKEN_MINUTES", "ACCESS_TOKEN_EXPIRE_MINUTES"),
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
    password_hash_profile: Literal["production", "fast"] = "production"  # noqa: S105 (a profile's name)
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

    _split_lists = field_validator(
        "apps",
        "allowed_hosts",
        "cors_origins",
        "trusted_proxies",
        "jwt_secrets",
        "metrics_networks",
        mode="before",
    )(classmethod(lambda cls, v: _split(v)))

    @field_validator("timezone")
    @classmethod
    def _zone_exists(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {value!r}") from exc
        return value

    @field_validator("metrics_networks", "trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or CIDR network") from None
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
            if self.password_hash_profile != "production":  # noqa: S105 (a profile's name)
                raise ValueError("BASIS_PASSWORD_HASH_PROFILE=fast is for tests only, not prod")
        else:
            for value in self.jwt_secrets:
                if len(value.encode()) < MIN_SECRET_BYTES:
                    raise ValueError(f"each BASIS_JWT_SECRETS entry needs at least {MIN_SECRET_BYTES} bytes")
        return self

    @classmethod
    def _known_keys(cls) -> frozenset[str]:
        if cls._core_keys is None:
            cls._core_keys = frozenset(
                key for name, info in cls.model_fields.items() for key in (name, *_aliases(info))
            )
        return cls._core_keys

    def app(self, cls: type[A]) -> A:
        """This app's settings, read once per ``Settings`` object from the same sources.

        Raises ``ValidationError`` whose locations name the environment variables
        (``BASIS_TIMETRACKER_MAX_SHIFT_HOURS``)."""
        found = self._app_cache.get(cls)
        if found is None:
            found = self._app_cache[cls] = _load_app(cls, self._app_values, self._source_options)
        return found  # type: ignore[return-value]

    @cached_property
    def _app_cache(self) -> dict[type[AppSettings], AppSettings]:
        # A plain instance attribute once read: the terminal protocol asks on every request, and
        # a pydantic private attribute costs microseconds each time.
        return {}

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

    @cached_property
    def served_hosts(self) -> frozenset[str]:
        """The host names (lower case, no port, IPv6 without brackets) this server answers to."""
        hosts = {host_name(self.public_url.split("://", 1)[-1].split("/", 1)[0])}
        if self.env == "dev":
            hosts |= LOCAL_HOSTS
        return frozenset(hosts | {host_name(h) for h in self.allowed_hosts})

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


def _aliases(info: FieldInfo) -> list[str]:
    alias = info.validation_alias
    if isinstance(alias, AliasChoices):
        return [choice for choice in alias.choices if isinstance(choice, str)]
    return [alias] if isinstance(alias, str) else []


def env_prefix(cls: type[BaseSettings]) -> str:
    return str(cls.model_config.get("env_prefix", ""))


def env_names(cls: type[BaseSettings]) -> dict[str, list[str]]:
    """Field name -> the environment variables it reads, as the documentation lists them."""
    prefix = env_prefix(cls).upper()
    return {name: _aliases(info) or [f"{prefix}{name.upper()}"] for name, info in cls.model_fields.items()}


def _load_app(cls: type[A], values: dict[str, Any], options: dict[str, Any]) -> A:
    # ``Settings(timetracker_max_shift_hours=8)`` hands ``max_shift_hours=8`` to the app's class;
    # a value given by one of the class's aliases (``TERMINAL_SCAN_COOLDOWN_SECONDS``) goes as is.
    key_prefix = env_prefix(cls).lower().removeprefix("basis_")
    aliases = {alias for info in cls.model_fields.values() for alias in _aliases(info)}
    mine = {}
    for key, value in values.items():
        if key.startswith(key_prefix) and key[len(key_prefix) :] in cls.model_fields:
            mine[key[len(key_prefix) :]] = value
        elif key in aliases:
            mine[key] = value
    try:
        return cls(**options, **mine)
    except ValidationError as exc:
        raise _named_by_variable(exc, cls) from None


def _named_by_variable(exc: ValidationError, cls: type[BaseSettings]) -> ValidationError:
    """The same error with each field's location replaced by its environment variable."""
    names = env_names(cls)

    def located(loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
        return (names[loc[0]][0], *loc[1:]) if loc and loc[0] in names else loc

    details = [
        InitErrorDetails(
            type=err["type"], loc=located(err["loc"]), input=err["input"], ctx=err.get("ctx", {})
        )
        for err in exc.errors()
    ]
    try:
        return ValidationError.from_exception_data(exc.title, details)
    except (KeyError, TypeError, ValueError):  # an error type pydantic cannot rebuild: keep the original
        return exc


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
