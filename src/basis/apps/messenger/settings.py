"""Messenger settings: ``BASIS_MESSENGER_*``."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from basis.settings import AppSettings


class MessengerSettings(AppSettings):
    model_config = SettingsConfigDict(env_prefix="BASIS_MESSENGER_")

    max_attachment_bytes: int = Field(20 * 1024 * 1024, ge=1)
    """The largest file a message may carry."""
    send_limit: str = "60/minute"
    """New messages per user, REST and socket together, across processes (a sliding window)."""
    offline_mail_delay_seconds: int = Field(120, ge=0)
    """How long a message waits unread before an offline member is mailed about its chat."""
    offline_mail_quiet_seconds: int = Field(900, ge=0)
    """After a mail, no further mail for that chat to that member for this long."""
    mail_preview: bool = False
    """Put the message's text in the offline mail."""
    presence_ttl_seconds: int = Field(90, ge=5)
    """How long a socket counts as open without its process refreshing it (dead processes)."""
    upload_expires_seconds: int = Field(900, ge=60, le=7 * 24 * 3600)
    download_expires_seconds: int = Field(3600, ge=60, le=7 * 24 * 3600)
