"""The clinician's report for a period (rules 22, 26, 32): transfusions with their intervals,
ferritin, chelator changes and a summary, as JSON, CSV, XLSX and PDF.

Deleted rows never count. Intervals and chelator changes look back to the family's previous
live transfusion, also one before the period. Values of different units are never added:
ferritin values keep each their own unit.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from statistics import fmean
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from basis.apps.hemoday.models import Analysis, AnalysisItem, Family, Transfusion

COLUMNS = (
    "date",
    "component",
    "volume",
    "weight",
    "volume_per_kg",
    "hb_before",
    "hb_after",
    "delta_hb",
    "interval_days",
    "chelator",
)
UNITS = {
    "volume": "ml",
    "weight": "kg",
    "volume_per_kg": "ml/kg",
    "hb_before": "g/l",
    "hb_after": "g/l",
    "delta_hb": "g/l",
    "interval_days": "days",
}
FERRITIN_NAMES = frozenset({"ферритин", "ferritin"})
_NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?$")


@dataclass(frozen=True, slots=True)
class Report:
    patient_name: str | None
    start: dt.date
    end: dt.date
    transfusions: list[dict[str, Any]]
    ferritin: list[dict[str, Any]]
    chelator_changes: list[dict[str, Any]]
    summary: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {
            "patient_name": self.patient_name,
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "units": UNITS,
            "transfusions": self.transfusions,
            "ferritin": self.ferritin,
            "chelator_changes": self.chelator_changes,
            "summary": self.summary,
        }


def header() -> list[str]:
    """The table's header with units, as CSV and XLSX carry it: ``volume [ml]``."""
    return [f"{name} [{UNITS[name]}]" if name in UNITS else name for name in COLUMNS]


def parse_value(text: str | None) -> float | None:
    """A lab value as typed on a phone: ``1 500,5`` or ``1500.5``; None when it is no number."""
    if text is None:
        return None
    cleaned = re.sub(r"[\s\u00a0\u202f]", "", text).replace(",", ".")
    return float(cleaned) if _NUMBER.match(cleaned) else None


def _day(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        return None


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return fmean(present) if present else None


async def build(*, session: AsyncSession, family_id: str, start: dt.date, end: dt.date) -> Report:
    family = await session.get(Family, family_id)
    t = Transfusion
    rows = (
        await session.execute(
            select(
                t.date,
                t.component,
                t.volume,
                t.weight,
                t.volume_per_kg,
                t.hb_before,
                t.hb_after,
                t.delta_hb,
                t.chelator,
                t.created_at,
                t.pk,
            ).where(t.family_id == family_id, t.deleted_at.is_(None))
        )
    ).all()
    dated = sorted(
        ((day, row) for row in rows if (day := _day(row.date)) is not None and day <= end),
        key=lambda pair: (pair[0], pair[1].created_at, pair[1].pk),
    )
    transfusions: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []
    previous: tuple[dt.date, Any] | None = None
    for day, row in dated:
        if day >= start:
            interval = (day - previous[0]).days if previous is not None else None
            transfusions.append(
                {
                    "date": day.isoformat(),
                    "component": row.component,
                    "volume": row.volume,
                    "weight": row.weight,
                    "volume_per_kg": row.volume_per_kg,
                    "hb_before": row.hb_before,
                    "hb_after": row.hb_after,
                    "delta_hb": row.delta_hb,
                    "interval_days": interval,
                    "chelator": row.chelator,
                }
            )
            if previous is not None and previous[1].chelator != row.chelator:
                changes.append({"date": day.isoformat(), "from": previous[1].chelator, "to": row.chelator})
        previous = (day, row)
    return Report(
        patient_name=family.patient_name if family is not None else None,
        start=start,
        end=end,
        transfusions=transfusions,
        ferritin=await _ferritin(session, family_id, start, end),
        chelator_changes=changes,
        summary={
            "count": len(transfusions),
            "total_volume": sum(r["volume"] for r in transfusions),
            "mean_interval_days": _mean([r["interval_days"] for r in transfusions]),
            "mean_volume_per_kg": _mean([r["volume_per_kg"] for r in transfusions]),
            "mean_hb_before": _mean([r["hb_before"] for r in transfusions]),
            "mean_hb_after": _mean([r["hb_after"] for r in transfusions]),
        },
    )


async def _ferritin(
    session: AsyncSession, family_id: str, start: dt.date, end: dt.date
) -> list[dict[str, Any]]:
    a, i = Analysis, AnalysisItem
    rows = (
        await session.execute(
            select(a.date, i.name, i.value, i.unit, i.created_at, i.pk)
            .join(a, (a.family_id == i.family_id) & (a.id == i.analysis_id))
            .where(i.family_id == family_id, i.deleted_at.is_(None), a.deleted_at.is_(None))
        )
    ).all()
    found = []
    for row in rows:
        day = _day(row.date)
        value = parse_value(row.value)
        if day is None or not start <= day <= end or value is None:
            continue
        if row.name.strip().lower() in FERRITIN_NAMES:
            found.append(
                (day, row.created_at, row.pk, {"date": day.isoformat(), "value": value, "unit": row.unit})
            )
    return [entry for *_, entry in sorted(found, key=lambda f: f[:3])]
