"""The stock report as JSON, CSV or XLSX: the same rows in each."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from pydantic_core import to_json

from basis.apps.warehouse.stock import STOCK_COLUMNS
from basis.apps.warehouse.types import as_number
from basis.core.spreadsheets import safe_cell

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
QUANTITY = STOCK_COLUMNS.index("quantity")


def to_json_bytes(rows: Sequence[tuple[Any, ...]]) -> bytes:
    items = []
    for row in rows:
        item = dict(zip(STOCK_COLUMNS, row, strict=True))
        item["quantity"] = as_number(row[QUANTITY])
        items.append(item)
    return to_json({"items": items})


def _csv_number(value: Decimal) -> str:
    # ';' as separator is what Excel in a decimal-comma locale reads; its numbers want the comma too.
    text = format(value.normalize(), "f") if value != value.to_integral_value() else str(int(value))
    return text.replace(".", ",")


def to_csv(rows: Sequence[tuple[Any, ...]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(STOCK_COLUMNS)
    for row in rows:
        cells = [safe_cell(value) for value in row]
        cells[QUANTITY] = _csv_number(row[QUANTITY])
        writer.writerow(cells)
    return buffer.getvalue().encode("utf-8-sig")


def to_xlsx(rows: Sequence[tuple[Any, ...]]) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title="Stock")
    sheet.append(list(STOCK_COLUMNS))
    for row in rows:
        cells = [safe_cell(value) for value in row]
        cells[QUANTITY] = as_number(row[QUANTITY])
        sheet.append(cells)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
