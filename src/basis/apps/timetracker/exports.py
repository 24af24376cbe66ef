"""The payroll summary as a file: CSV (';' and a UTF-8 BOM, as Excel in Central Europe wants)
or XLSX. The columns of the summary rows, then the same times in hours as payroll clerks read
them; one row per employee, no totals row."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal

from basis.apps.timetracker.schemas import SummaryRowOut
from basis.apps.timetracker.stats import Range
from basis.core.spreadsheets import safe_cell

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
TIMES = ("worked", "expected", "overtime")
HOUR_COLUMNS = (*(f"{t}_hours" for t in TIMES), *(f"{t}_hm" for t in TIMES))
"""After the columns clients read by position: decimal hours, then H:MM."""
HEADER = (*COLUMNS, *HOUR_COLUMNS)
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _cells(row: SummaryRowOut) -> list[object]:
    return [getattr(row, column) for column in COLUMNS]


def _seconds(row: SummaryRowOut) -> list[int]:
    return [getattr(row, f"{t}_seconds") for t in TIMES]


def decimal_hours(seconds: int) -> Decimal:
    """Hours to the hundredth, half up: 30585 s -> 8.50."""
    return (Decimal(seconds) / 3600).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def hours_minutes(seconds: int) -> str:
    """H:MM in whole minutes (rounded down, as the daily stats' minutes); hours pass 24."""
    minutes = seconds // 60
    return f"{minutes // 60}:{minutes % 60:02d}"


def _csv_hours(row: SummaryRowOut) -> list[str]:
    # A decimal comma: with ';' files Excel in Central Europe reads "8.50" as text or a date.
    seconds = _seconds(row)
    return [str(decimal_hours(s)).replace(".", ",") for s in seconds] + [hours_minutes(s) for s in seconds]



def filename(rng: Range, extension: str) -> str:
    return f"worktime_{rng.from_date.isoformat()}_{rng.to_date.isoformat()}.{extension}"


def to_csv(rows: Sequence[SummaryRowOut]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(HEADER)
    for row in rows:
        cells = [safe_cell("" if value is None else value) for value in _cells(row)]
        writer.writerow(cells + _csv_hours(row))
    return buffer.getvalue().encode("utf-8-sig")


def to_xlsx(rows: Sequence[SummaryRowOut], rng: Range) -> bytes:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    def cell(value: object) -> object:
        # Control characters cannot be stored in a worksheet at all.
        return ILLEGAL_CHARACTERS_RE.sub("", value) if isinstance(value, str) else value

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=f"{rng.from_date.isoformat()}..{rng.to_date.isoformat()}"[:31])
    sheet.append(list(HEADER))

    def hours(row: SummaryRowOut) -> list[WriteOnlyCell]:
        # Numbers and durations, not text: a clerk's SUM() over them works.
        seconds = _seconds(row)
        decimals = [WriteOnlyCell(sheet, float(decimal_hours(s))) for s in seconds]
        durations = [WriteOnlyCell(sheet, dt.timedelta(minutes=s // 60)) for s in seconds]
        for number in decimals:
            number.number_format = "0.00"
        for duration in durations:
            duration.number_format = "[h]:mm"
        return decimals + durations

    for row in rows:
        sheet.append([cell(safe_cell(value)) for value in _cells(row)] + hours(row))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
