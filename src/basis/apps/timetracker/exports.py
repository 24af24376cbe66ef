"""The payroll summary as a file: CSV (';' and a UTF-8 BOM, as Excel in Central Europe wants)
or XLSX. Same columns as the summary rows, one row per employee, no totals row."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from basis.apps.timetracker.schemas import SummaryRowOut
from basis.apps.timetracker.stats import Range

COLUMNS = (
    "employee_id",
    "full_name",
    "department",
    "worked_seconds",
    "expected_seconds",
    "overtime_seconds",
    "missing_out_count",
    "absent_days",
)
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# Spreadsheets run a cell starting with these as a formula (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cells(row: SummaryRowOut) -> list[object]:
    return [getattr(row, column) for column in COLUMNS]


def _safe_text(value: object) -> object:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def filename(rng: Range, extension: str) -> str:
    return f"worktime_{rng.from_date.isoformat()}_{rng.to_date.isoformat()}.{extension}"


def to_csv(rows: Sequence[SummaryRowOut]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([_safe_text("" if value is None else value) for value in _cells(row)])
    return buffer.getvalue().encode("utf-8-sig")


def to_xlsx(rows: Sequence[SummaryRowOut], rng: Range) -> bytes:
    from openpyxl import Workbook
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    def cell(value: object) -> object:
        # Control characters cannot be stored in a worksheet at all.
        return ILLEGAL_CHARACTERS_RE.sub("", value) if isinstance(value, str) else value

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=f"{rng.from_date.isoformat()}..{rng.to_date.isoformat()}"[:31])
    sheet.append(list(COLUMNS))
    for row in rows:
        sheet.append([cell(_safe_text(value)) for value in _cells(row)])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
