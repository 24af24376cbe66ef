from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from basis.settings import AppSettings


class ExampleSettings(AppSettings):
    model_config = SettingsConfigDict(env_prefix="BASIS_EXAMPLE_")

    greeting: str = Field("hello", min_length=1, max_length=50)
    """What ``GET /example/greeting`` answers."""
