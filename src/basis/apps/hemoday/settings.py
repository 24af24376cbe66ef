"""HemoDay settings: ``BASIS_HEMODAY_*``."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from basis.settings import AppSettings


class HemodaySettings(AppSettings):
    model_config = SettingsConfigDict(env_prefix="BASIS_HEMODAY_")

    access_token_days: int = Field(7, ge=1, le=365)
    """Lifetime of the app's access tokens: the mobile app never refreshes its token."""
    join_limit: str = "10/15minutes"
    """Failed invite-code joins per account (/family/join) or per client IP (/auth/join-family)."""
    reminder_interval_seconds: int = Field(60, ge=1, le=3600)
    """How often the reminder scan runs."""
    upload_max_bytes: int = Field(10 * 1024 * 1024, ge=1)
    link_seconds: int = Field(15 * 60, ge=10, le=7 * 86400)
    """How long a signed download link of an upload stays valid."""
    report_font: str | None = None
    """A TrueType font with Cyrillic for the PDF report; unset: DejaVu Sans from the system."""
