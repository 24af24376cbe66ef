"""Quantities: exact decimals with three places on every backend, and the units that bound them."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Numeric
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

SCALE = 3
STEP = Decimal(1).scaleb(-SCALE)
MILLI = 10**SCALE

COUNTED_UNITS = ("pcs", "pack", "box")
MEASURED_UNITS = ("kg", "g", "l", "ml", "m")
UNITS = COUNTED_UNITS + MEASURED_UNITS

MAX_QUANTITY = Decimal(10) ** 12
"""Bound of one movement or one limit: keeps every JSON number exact as a double."""


class Quantity(TypeDecorator[Decimal]):
    """``NUMERIC(18,3)`` on PostgreSQL and MariaDB; integer thousandths on SQLite.

    SQLite has no decimal type (NUMERIC values become floating point), so sums and comparisons
    in SQL would drift (0.7 + 0.1 < 0.8). Thousandths in an INTEGER keep them exact there too.
    """

    impl = Numeric(18, SCALE)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(18, SCALE, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        value = Decimal(value).quantize(STEP)
        if dialect.name == "sqlite":
            return int(value * MILLI)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return (Decimal(int(value)) / MILLI).quantize(STEP)
        return Decimal(value).quantize(STEP)

    @property
    def python_type(self) -> type[Decimal]:
        return Decimal


def is_counted(unit: str) -> bool:
    return unit in COUNTED_UNITS


def fits_unit(quantity: Decimal, unit: str) -> bool:
    """Whole numbers for counted units, at most three decimal places for measured ones."""
    if is_counted(unit):
        return quantity == quantity.to_integral_value()
    return quantity == quantity.quantize(STEP)


def as_number(value: Decimal) -> int | float:
    """The JSON form: an integer when whole, else the shortest float (exact below 10^12)."""
    if value == value.to_integral_value():
        return int(value)
    return float(value)
