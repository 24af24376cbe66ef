# ruff: noqa: RUF001 - the report speaks Russian (the families') and English (the clinic's)
"""The clinician's report as files: CSV (UTF-8), XLSX (the table on the first sheet) and PDF
(the same rows as text, Cyrillic included, and a chart of Hb before and after over time)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from functools import lru_cache
from pathlib import Path
from typing import Any

from fpdf import FPDF
from openpyxl import Workbook

from basis.apps.hemoday.report import COLUMNS, UNITS, Report, header
from basis.core.errors import ServiceUnavailable

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/local/share/fonts/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/Library/Fonts/Arial Unicode.ttf",
    "C:/Windows/Fonts/arial.ttf",
)


def _cell(value: Any) -> Any:
    if isinstance(value, float):
        return _number(value)
    return "" if value is None else value


def as_csv(report: Report) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header())
    for row in report.transfusions:
        writer.writerow([_cell(row[name]) for name in COLUMNS])
    # A BOM: spreadsheet programs then read the Cyrillic as UTF-8.
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def as_xlsx(report: Report) -> bytes:
    book = Workbook(write_only=True)
    sheet = book.create_sheet("Transfusions")
    sheet.append(header())
    for row in report.transfusions:
        sheet.append([row[name] for name in COLUMNS])
    ferritin = book.create_sheet("Ferritin")
    ferritin.append(["date", "value", "unit"])
    for entry in report.ferritin:
        ferritin.append([entry["date"], entry["value"], entry["unit"]])
    changes = book.create_sheet("Chelator changes")
    changes.append(["date", "from", "to"])
    for change in report.chelator_changes:
        changes.append([change["date"], change["from"], change["to"]])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@lru_cache(maxsize=4)
def find_font(configured: str | None) -> str:
    for candidate in (configured, *FONT_CANDIDATES):
        if candidate and Path(candidate).is_file():
            return candidate
    raise ServiceUnavailable(
        "No Unicode font for the PDF report; install fonts-dejavu-core or set BASIS_HEMODAY_REPORT_FONT",
        code="report_font_missing",
    )


def _number(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return f"{value:g}" if isinstance(value, float) else str(value)


class _Pdf(FPDF):
    def __init__(self, font: str) -> None:
        super().__init__(orientation="L", unit="mm", format="A4")
        self.add_font("Body", "", font)
        self.set_font("Body", size=9)
        self.set_auto_page_break(auto=True, margin=12)
        self.set_creator("Basis HemoDay")


WIDTHS = (24, 52, 20, 20, 26, 24, 24, 22, 24, 41)


def as_pdf(report: Report, *, font: str | None) -> bytes:
    pdf = _Pdf(find_font(font))
    pdf.add_page()
    pdf.set_font_size(15)
    pdf.cell(0, 9, "HemoDay: отчёт о трансфузиях / transfusion report", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font_size(10)
    pdf.cell(0, 6, f"Пациент / patient: {report.patient_name or '-'}", new_x="LMARGIN", new_y="NEXT")
    pdf.cell(
        0,
        6,
        f"Период / period: {report.start.isoformat()} - {report.end.isoformat()}",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    s = report.summary
    summary = (
        f"count {s['count']}; total_volume {_number(s['total_volume'])} ml; "
        f"mean_interval_days {_round(s['mean_interval_days'])}; "
        f"mean_volume_per_kg {_round(s['mean_volume_per_kg'])}; "
        f"mean_hb_before {_round(s['mean_hb_before'])}; mean_hb_after {_round(s['mean_hb_after'])}"
    )
    pdf.multi_cell(0, 6, summary, new_x="LMARGIN", new_y="NEXT")
    _chart(pdf, report)
    _table(pdf, report)
    _extras(pdf, report)
    return bytes(pdf.output())


def _round(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _table(pdf: FPDF, report: Report) -> None:
    pdf.set_font_size(8)

    def head() -> None:
        for width, name in zip(WIDTHS, header(), strict=True):
            pdf.cell(width, 6, name, border=1)
        pdf.ln()

    head()
    for row in report.transfusions:
        if pdf.will_page_break(6):
            pdf.add_page()
            head()
        for width, name in zip(WIDTHS, COLUMNS, strict=True):
            value = row[name]
            text = _number(value) if name in UNITS else (value or "")
            pdf.cell(width, 6, str(text)[:40], border=1)
        pdf.ln()


def _extras(pdf: FPDF, report: Report) -> None:
    pdf.ln(4)
    pdf.set_font_size(10)
    pdf.cell(0, 7, "Ферритин / ferritin", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font_size(8)
    for entry in report.ferritin or []:
        pdf.cell(
            0,
            5,
            f"{entry['date']}  {_number(entry['value'])} {entry['unit'] or ''}",
            new_x="LMARGIN",
            new_y="NEXT",
        )
    if not report.ferritin:
        pdf.cell(0, 5, "-", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font_size(10)
    pdf.cell(0, 7, "Смена хелатора / chelator changes", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font_size(8)
    for change in report.chelator_changes:
        pdf.cell(
            0,
            5,
            f"{change['date']}  {change['from'] or '-'} -> {change['to'] or '-'}",
            new_x="LMARGIN",
            new_y="NEXT",
        )
    if not report.chelator_changes:
        pdf.cell(0, 5, "-", new_x="LMARGIN", new_y="NEXT")


def _chart(pdf: FPDF, report: Report) -> None:
    """Hb before (blue) and after (red) against the date, on one page-wide panel."""
    points = [
        (dt.date.fromisoformat(r["date"]), r["hb_before"], r["hb_after"])
        for r in report.transfusions
        if r["hb_before"] is not None or r["hb_after"] is not None
    ]
    left, top, width, height = 22.0, pdf.get_y() + 3, 255.0, 70.0
    pdf.set_draw_color(0, 0, 0)
    pdf.rect(left, top, width, height)
    pdf.set_font_size(7)
    if not points:
        pdf.text(left + 4, top + 8, "Hb: нет данных / no data")
        pdf.set_y(top + height + 4)
        return
    values = [v for _, b, a in points for v in (b, a) if v is not None]
    low, high = min(values), max(values)
    if high == low:
        low, high = low - 1, high + 1
    first, last = report.start, report.end
    span = max((last - first).days, 1)

    def xy(day: dt.date, value: float) -> tuple[float, float]:
        return left + width * (day - first).days / span, top + height - height * (value - low) / (high - low)

    for fraction in (0.0, 0.5, 1.0):
        value = low + (high - low) * fraction
        _, y = xy(first, value)
        pdf.text(left - 14, y + 1, f"{value:.0f}")
    pdf.text(left, top + height + 4, first.isoformat())
    pdf.text(left + width - 16, top + height + 4, last.isoformat())
    for index, color in ((1, (31, 119, 180)), (2, (214, 39, 40))):
        series = [xy(p[0], p[index]) for p in points if p[index] is not None]
        pdf.set_draw_color(*color)
        pdf.set_line_width(0.4)
        if len(series) > 1:
            pdf.polyline(series)
        for x, y in series:
            pdf.circle(x, y, 0.6, style="D")
    pdf.set_draw_color(0, 0, 0)
    pdf.set_line_width(0.2)
    pdf.set_text_color(31, 119, 180)
    pdf.text(left + 4, top + 5, "Hb до / before")
    pdf.set_text_color(214, 39, 40)
    pdf.text(left + 34, top + 5, "Hb после / after")
    pdf.set_text_color(0, 0, 0)
    pdf.set_y(top + height + 7)
