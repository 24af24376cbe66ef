"""Request and response shapes of the messenger, as the original's client knows them."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from basis.apps.messenger.models import MAX_TEMP_ID, MAX_TEXT
from basis.core.types import Id, PrintableText, StorableText, storable_text

TempId = Annotated[str, Field(min_length=1, max_length=MAX_TEMP_ID)]
Name = Annotated[PrintableText, Field(min_length=1, max_length=255)]


class Loose(BaseModel):
    """Unknown fields are ignored, as the original's schemas did."""

    model_config = ConfigDict(extra="ignore")


# ------------------------------------------------------------------ auth aliases and people


class RegisterAlias(Loose):
    email: str = Field(max_length=320)
    username: str | None = Field(None, max_length=150)
    password: str = Field(max_length=1024)
    full_name: str | None = Field(None, max_length=200)


class LoginAlias(Loose):
    email: str = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=1024)


class RefreshAlias(Loose):
    refresh_token: str = Field(min_length=1, max_length=1024)


class UserOut(BaseModel):
    id: int
    email: str | None
    username: str | None
    full_name: str | None
    created_at: dt.datetime
    online: bool


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the scheme's name, not a secret
    user: UserOut | None = None


class Health(BaseModel):
    status: str


# ------------------------------------------------------------------ chats


class ChatCreate(Loose):
    type: Literal["dialog", "group"]
    title: Annotated[StorableText, Field(max_length=255)] | None = None
    members: list[Id] = Field(default_factory=list, max_length=1000)


class MembersAdd(Loose):
    members: list[Id] = Field(min_length=1, max_length=1000)


class MemberOut(BaseModel):
    user_id: int
    role: str
    joined_at: dt.datetime
    last_read_message_id: int | None


class AttachmentIn(Loose):
    object_key: str = Field(min_length=1, max_length=255)
    file_name: Name
    content_type: str = Field(min_length=1, max_length=255)
    size_bytes: int = Field(gt=0, le=2**53)


class AttachmentOut(BaseModel):
    id: int
    object_key: str
    file_name: str
    content_type: str
    size_bytes: int
    url: str
    created_at: dt.datetime


class MessageOut(BaseModel):
    id: int
    chat_id: int
    sender_id: int
    text: str
    attachments: list[AttachmentOut]
    created_at: dt.datetime
    edited_at: dt.datetime | None
    deleted_at: dt.datetime | None


class ChatOut(BaseModel):
    id: int
    type: str
    title: str | None
    created_by: int
    created_at: dt.datetime
    members: list[MemberOut]
    last_message: MessageOut | None
    unread_count: int


def clean_text(value: str) -> str:
    return storable_text(value).strip()


class MessageText(Loose):
    text: str = Field(min_length=1, max_length=MAX_TEXT * 4)

    @field_validator("text")
    @classmethod
    def _trimmed(cls, value: str) -> str:
        value = clean_text(value)
        if not 1 <= len(value) <= MAX_TEXT:
            raise ValueError(f"text must be 1-{MAX_TEXT} characters after trimming")
        return value


class MessageCreate(Loose):
    text: str = Field("", max_length=MAX_TEXT * 4)
    temp_id: TempId | None = None
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=10)

    @field_validator("text")
    @classmethod
    def _trimmed(cls, value: str) -> str:
        value = clean_text(value)
        if len(value) > MAX_TEXT:
            raise ValueError(f"text must be at most {MAX_TEXT} characters after trimming")
        return value

    @model_validator(mode="after")
    def _something(self) -> MessageCreate:
        if not self.text and not self.attachments:
            raise ValueError("text must be 1-4096 characters (it may be empty only with an attachment)")
        return self


class EditOut(BaseModel):
    text: str
    edited_at: dt.datetime


class ReadIn(Loose):
    message_id: Id


class ReadOut(BaseModel):
    chat_id: int
    last_read_message_id: int | None
    unread_count: int


class MuteIn(Loose):
    muted: bool


class MuteOut(BaseModel):
    chat_id: int
    muted: bool


# ------------------------------------------------------------------ attachments


class PresignIn(Loose):
    file_name: Name | None = None
    filename: Name | None = None
    content_type: str = Field(min_length=1, max_length=255)
    size_bytes: int = Field(gt=0, le=2**53)

    @model_validator(mode="after")
    def _named(self) -> PresignIn:
        if not (self.file_name or self.filename):
            raise ValueError("give file_name (or filename)")
        return self

    @property
    def name(self) -> str:
        return self.file_name or self.filename or ""


class PresignOut(BaseModel):
    url: str
    method: Literal["PUT"] = "PUT"
    object_key: str
    expires_in: int


class LinkIn(AttachmentIn):
    message_id: Id
