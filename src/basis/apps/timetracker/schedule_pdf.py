"""The schedule of a period as a PDF (the original's ``GET /api/schedule/pdf``): one landscape
table, employees x days, each row's planned hours, in DejaVu Sans so Cyrillic names print."""

from __future__ import annotations

import functools
from pathlib import Path

from fpdf import FPDF

from basis.apps.timetracker.schedule_grid import SHORT_CODES, Cell, Grid, hours
from basis.core.errors import ServiceUnavailable
from basis.core.i18n import Lang

NAME_MM, TOTAL_MM, PAGE_MM = 48.0, 16.0, 277.0
FONTS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
)


@functools.cache
def find_font(configured: str | None = None) -> str:
    for candidate in (configured, *FONTS):
        if candidate and Path(candidate).is_file():
            return candidate
    raise ServiceUnavailable(
        "No Unicode font for the schedule PDF; install fonts-dejavu-core", code="pdf_font_missing"
    )


def _short(cell: Cell) -> str:
    if cell.code is None:
        return ""
    if cell.code == "work" and cell.start is not None and cell.end is not None:
        start = f"{cell.start.hour}" + (f":{cell.start.minute:02d}" if cell.start.minute else "")
        end = f"{cell.end.hour}" + (f":{cell.end.minute:02d}" if cell.end.minute else "")
        return f"{start}-{end}"
    return SHORT_CODES.get(cell.code, cell.code)


def as_pdf(grid: Grid, *, site: str, lang: Lang, font: str | None = None) -> bytes:
    pdf = FPDF(orientation="L", unit="mm", format="A4")
    pdf.add_font("Body", "", find_font(font))
    pdf.set_creator("Basis TimeTracker")
    pdf.set_title(f"{site}: {lang.gettext('Schedule')}")
    pdf.set_auto_page_break(auto=True, margin=10)
    pdf.add_page()
    pdf.set_font("Body", size=12)
    period = f"{lang.date(grid.first)} - {lang.date(grid.last)}"
    pdf.cell(0, 8, f"{site} - {lang.gettext('Schedule')}: {period}", new_x="LMARGIN", new_y="NEXT")
    day_mm = (PAGE_MM - NAME_MM - TOTAL_MM) / max(len(grid.days), 1)
    small = 5.5 if len(grid.days) > 20 else 7
    pdf.set_font("Body", size=7)
    pdf.cell(NAME_MM, 6, lang.gettext("Employee"), border=1)
    for day in grid.days:
        pdf.cell(day_mm, 6, str(day.day), border=1, align="C")
    pdf.cell(TOTAL_MM, 6, lang.gettext("Hours"), border=1, align="C", new_x="LMARGIN", new_y="NEXT")
    for row in grid.rows:
        pdf.set_font("Body", size=7)
        pdf.cell(NAME_MM, 6, row.full_name[:40], border=1)
        pdf.set_font("Body", size=small)
        for cell in row.cells:
            pdf.cell(day_mm, 6, _short(cell), border=1, align="C")
        pdf.set_font("Body", size=7)
        pdf.cell(TOTAL_MM, 6, hours(row.minutes), border=1, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.cell(NAME_MM + day_mm * len(grid.days), 6, lang.gettext("Total"), border=1, align="R")
    pdf.cell(TOTAL_MM, 6, hours(grid.minutes), border=1, align="C", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
