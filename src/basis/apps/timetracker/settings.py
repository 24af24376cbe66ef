"""TimeTracker's settings: ``BASIS_TIMETRACKER_*`` (and the original's names where it had them)."""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import SettingsConfigDict

from basis.core.ratelimit import parse_limit
from basis.settings import AppSettings

MAX_BATCH_ITEMS = 1000
"""Items in one ``POST /api/terminal/scans`` at most."""


class TimetrackerSettings(AppSettings):
    model_config = SettingsConfigDict(env_prefix="BASIS_TIMETRACKER_")

    terminal_scan_cooldown_seconds: int = Field(
        5,
        ge=0,
        validation_alias=AliasChoices(
            "BASIS_TIMETRACKER_TERMINAL_SCAN_COOLDOWN_SECONDS", "TERMINAL_SCAN_COOLDOWN_SECONDS"
        ),
    )
    """A scan closer than this to an accepted scan of the same employee is a duplicate."""
    max_shift_hours: int = Field(16, ge=1, le=48)
    """An IN without an OUT within this many hours is a MISSING_OUT anomaly."""
    missing_out_policy: Literal["flag", "schedule_end"] = "flag"
    max_scan_age_days: int = Field(7, ge=0)
    max_clock_skew_seconds: int = Field(120, ge=0)
    late_grace_minutes: int = Field(5, ge=0)
    early_exit_grace_minutes: int = Field(5, ge=0)
    overtime_tolerance_minutes: int = Field(0, ge=0)
    check_in_window_minutes: int = Field(120, ge=0)
    terminal_rate_limit: str = "600/minute"
    """Requests per terminal (terminal protocol calls), not per IP."""
    terminal_item_limit: str = "3000/minute"
    """Batch items (``/api/terminal/scans``) per terminal: what a request limit cannot bound,
    since one request may carry 1,000 scans. At least one full batch."""

    @field_validator("terminal_rate_limit", "terminal_item_limit")
    @classmethod
    def _a_limit(cls, value: str) -> str:
        try:
            parse_limit(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a rate limit such as 600/minute") from None
        return value

    @field_validator("terminal_item_limit")
    @classmethod
    def _a_full_batch_fits(cls, value: str) -> str:
        if parse_limit(value).amount < MAX_BATCH_ITEMS:
            raise ValueError(f"must allow at least one full batch ({MAX_BATCH_ITEMS} items), not {value!r}")
        return value
