"""Request and response bodies of /auth and /users."""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StrictBool, field_validator, model_validator

from basis.core.types import refuse_in_strings, storable_text
from basis.identity.passwords import MAX_BYTES, policy_problem

Role = Literal["admin", "operator", "user"]
# No "@": a login name with one is an email, so the two kinds can never collide.
USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{1,149}$")
# As the schema declares it for clients: the name is read with surrounding spaces stripped.
_USERNAME_SCHEMA = {"pattern": r"^\s*[A-Za-z0-9][A-Za-z0-9._+-]{1,149}\s*$"}


def _new_password(value: str) -> str:
    problem = policy_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _username(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if not USERNAME_RE.match(value):
        raise ValueError("2-150 characters: letters, digits and . _ + -, starting with a letter or digit")
    return value


def _optional_text(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


def _clean_input(data: Any) -> Any:
    """Values JSON can carry but nothing downstream can: lone UTF-16 surrogates ("\\ud800") and
    NaN/Infinity. They become U+FFFD and null, so a bad body gets a 4xx (and an error message
    that can still be encoded), never a 500."""
    if not isinstance(data, dict):
        return data
    cleaned = {}
    for key, value in data.items():
        if isinstance(value, str) and any(0xD800 <= ord(ch) <= 0xDFFF for ch in value):
            value = "".join("\ufffd" if 0xD800 <= ord(ch) <= 0xDFFF else ch for ch in value)
        elif isinstance(value, float) and not math.isfinite(value):
            value = None
        cleaned[key] = value
    return cleaned


class Ignoring(BaseModel):
    """Bodies whose unknown fields (``role``, ``is_active``, ``id`` ...) are dropped, never applied."""

    model_config = ConfigDict(extra="ignore", str_max_length=MAX_BYTES)

    _clean = model_validator(mode="before")(classmethod(lambda cls, data: _clean_input(data)))
    # PostgreSQL cannot store NUL in text; refuse it per field (the error names the field only).
    _nul = field_validator("*", mode="before")(
        classmethod(lambda cls, value: refuse_in_strings(storable_text, value))
    )


class UserPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str | None
    username: str | None
    full_name: str | None
    phone: str | None
    role: Role
    is_active: bool
    created_at: dt.datetime


class UserAdminPublic(UserPublic):
    updated_at: dt.datetime
    password_changed_at: dt.datetime | None


class RegisterRequest(Ignoring):
    email: EmailStr
    password: str = Field(max_length=MAX_BYTES)
    full_name: str | None = Field(None, max_length=200)
    phone: str | None = Field(None, max_length=40)
    username: str | None = Field(None, max_length=150, json_schema_extra=_USERNAME_SCHEMA)
    client: Literal["web", "native"] | None = None
    device: str | None = Field(None, max_length=100)

    _password = field_validator("password")(classmethod(lambda cls, v: _new_password(v)))
    _username = field_validator("username")(classmethod(lambda cls, v: _username(v)))
    _texts = field_validator("full_name", "phone", "device")(classmethod(lambda cls, v: _optional_text(v)))


class LoginRequest(Ignoring):
    email: str | None = Field(None, max_length=320)
    username: str | None = Field(None, max_length=320)
    login: str | None = Field(None, max_length=320)
    password: str = Field(min_length=1, max_length=MAX_BYTES)
    client: Literal["web", "native"] | None = None
    device: str | None = Field(None, max_length=100)

    @model_validator(mode="after")
    def _one_identifier(self) -> LoginRequest:
        if not (self.identifier or "").strip():
            raise ValueError("give email, username or login")
        return self

    @property
    def identifier(self) -> str:
        return self.login or self.email or self.username or ""


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 (the OAuth2 token type, not a secret)
    expires_in: int
    role: Role
    refresh_token: str | None = Field(
        None, description="Only for native clients (login with client=native, or refresh by JSON body)"
    )


class LoginResponse(TokenResponse):
    user: UserPublic


class RegisterResponse(LoginResponse):
    pass


class RefreshRequest(Ignoring):
    refresh_token: str | None = Field(None, max_length=200)


class DetailResponse(BaseModel):
    detail: str


class MeUpdate(Ignoring):
    full_name: str | None = Field(None, max_length=200)
    phone: str | None = Field(None, max_length=40)
    email: EmailStr | None = None
    current_password: str | None = Field(None, max_length=MAX_BYTES)
    """Needed to change the email (re-authentication)."""

    _texts = field_validator("full_name", "phone")(classmethod(lambda cls, v: _optional_text(v)))


class PasswordChange(Ignoring):
    current_password: str = Field(min_length=1, max_length=MAX_BYTES)
    new_password: str = Field(max_length=MAX_BYTES)

    _password = field_validator("new_password")(classmethod(lambda cls, v: _new_password(v)))


class ResetRequest(Ignoring):
    email: EmailStr


class ResetConfirm(Ignoring):
    token: str = Field(min_length=1, max_length=200)
    new_password: str = Field(max_length=MAX_BYTES)

    _password = field_validator("new_password")(classmethod(lambda cls, v: _new_password(v)))


class SessionPublic(BaseModel):
    id: str
    device: str | None
    ip: str | None
    user_agent: str | None
    created_at: dt.datetime
    last_used_at: dt.datetime
    expires_at: dt.datetime
    current: bool


class UserCreate(Ignoring):
    email: EmailStr | None = None
    username: str | None = Field(None, max_length=150, json_schema_extra=_USERNAME_SCHEMA)
    password: str = Field(max_length=MAX_BYTES)
    full_name: str | None = Field(None, max_length=200)
    phone: str | None = Field(None, max_length=40)
    role: Role = "user"

    _password = field_validator("password")(classmethod(lambda cls, v: _new_password(v)))
    _username = field_validator("username")(classmethod(lambda cls, v: _username(v)))
    _texts = field_validator("full_name", "phone")(classmethod(lambda cls, v: _optional_text(v)))

    @model_validator(mode="after")
    def _needs_login(self) -> UserCreate:
        if not self.email and not self.username:
            raise ValueError("give an email or a username")
        return self


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=MAX_BYTES)

    _clean = model_validator(mode="before")(classmethod(lambda cls, data: _clean_input(data)))
    # PostgreSQL cannot store NUL in text; refuse it per field (the error names the field only).
    _nul = field_validator("*", mode="before")(
        classmethod(lambda cls, value: refuse_in_strings(storable_text, value))
    )

    email: EmailStr | None = None
    username: str | None = Field(None, max_length=150, json_schema_extra=_USERNAME_SCHEMA)
    full_name: str | None = Field(None, max_length=200)
    phone: str | None = Field(None, max_length=40)
    role: Role | None = None
    is_active: StrictBool | None = None  # 0 or "yes" is not a yes/no answer
    password: str | None = Field(None, max_length=MAX_BYTES)

    _username = field_validator("username")(classmethod(lambda cls, v: _username(v)))

    @field_validator("password")
    @classmethod
    def _password(cls, value: str | None) -> str | None:
        return None if value is None else _new_password(value)


class AuthEventPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    user_id: int | None
    event_type: str
    success: bool
    ip: str | None
    user_agent: str | None
    details: dict[str, Any] | None
    created_at: dt.datetime
