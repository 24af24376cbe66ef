"""HemoDay's request and response bodies, in the mobile app's shapes."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

from basis.core.time import utcnow
from basis.core.types import PrintableText

PASSWORD = Annotated[str, Field(min_length=1, max_length=1024)]


class Ignoring(BaseModel):
    """Unknown fields (a ``role``, an ``id``) are ignored."""

    model_config = ConfigDict(extra="ignore")


class RegisterIn(Ignoring):
    email: EmailStr = Field(max_length=320)
    password: PASSWORD


class JoinFamilyIn(RegisterIn):
    invite_code: str = Field(max_length=64)


class LoginIn(Ignoring):
    email: str = Field(max_length=1024)
    password: str = Field(max_length=4096)


class ResetRequestIn(Ignoring):
    email: EmailStr = Field(max_length=320)


class InviteCodeIn(Ignoring):
    invite_code: str = Field(max_length=64)


class UserIdIn(Ignoring):
    user_id: str = Field(max_length=64)


class PasswordIn(Ignoring):
    password: PASSWORD


class Token(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the scheme's name
    user_id: str
    family_id: str
    invite_code: str


class Me(BaseModel):
    id: str
    email: str | None
    family_id: str
    invite_code: str
    created_at: dt.datetime


class MemberPublic(Me):
    role: Literal["owner", "member"]


class FamilyPublic(BaseModel):
    id: str
    invite_code: str
    owner_id: str | None
    patient_name: str | None
    patient_birth_date: dt.date | None
    patient_current_weight: float | None
    members: list[MemberPublic]


class FamilyUpdate(Ignoring):
    model_config = ConfigDict(extra="ignore", strict=False)

    patient_name: PrintableText | None = Field(None, max_length=200)
    patient_birth_date: dt.date | None = None
    patient_current_weight: float | None = Field(None, gt=0, le=400, allow_inf_nan=False)

    @field_validator("patient_birth_date", mode="before")
    @classmethod
    def _iso_only(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, str):
            raise ValueError("must be an ISO date YYYY-MM-DD")
        return value

    @field_validator("patient_birth_date")
    @classmethod
    def _not_future(cls, value: dt.date | None) -> dt.date | None:
        if value is not None and value > utcnow().date() + dt.timedelta(days=1):
            raise ValueError("must not be in the future")
        return value

    @field_validator("patient_current_weight", mode="before")
    @classmethod
    def _number(cls, value: Any) -> Any:
        if isinstance(value, bool) or (value is not None and not isinstance(value, int | float)):
            raise ValueError("must be a number")
        return value


class InviteCodeOut(BaseModel):
    invite_code: str


class Message(BaseModel):
    message: str


class StatusOk(BaseModel):
    status: Literal["ok"] = "ok"


class UploadOut(BaseModel):
    file_url: str
    filename: str
    size: int
    content_type: str
    download_url: str


class LinkOut(BaseModel):
    download_url: str
    expires_in: int
