"""Exchange settings: ``BASIS_EXCHANGE_*``."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from basis.settings import AppSettings


class ExchangeSettings(AppSettings):
    model_config = SettingsConfigDict(env_prefix="BASIS_EXCHANGE_")

    fit_tolerance: float = Field(0.15, ge=0, lt=1)
    """How far an offer's value may be from a want's, as a share of the larger of the two."""
    min_score: float = Field(0.70, gt=0, le=1)
    """The lowest score of a proposed pair, and of every participant of a proposed chain."""
    max_chain: int = Field(10, ge=3, le=10)
    """The longest chain proposed (participants)."""
    rematch_in_background: bool = True
    """Re-match the owner of a listing after it changes, as a background job."""
    reports_per_hour: int = Field(10, ge=1)
    reviews_per_hour: int = Field(10, ge=1)
    max_cycles: int = Field(200_000, ge=1)
    """Safety bound on the cycles one matching run may enumerate (a run that reaches it logs a
    warning and proposes what it found)."""
