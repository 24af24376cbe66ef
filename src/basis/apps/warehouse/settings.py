"""Warehouse settings: ``BASIS_WAREHOUSE_*``."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from basis.settings import AppSettings


class WarehouseSettings(AppSettings):
    model_config = SettingsConfigDict(env_prefix="BASIS_WAREHOUSE_")

    low_stock_mail: bool = True
    """Mail the admins when a product falls below its minimum quantity."""
