"""Query parameters the staff routers share: ids, dates, and the date range a report or schedule
list asks for (``from_date``/``to_date`` with ``date_from``/``date_to`` as aliases)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import Query

from basis.apps.timetracker import stats
from basis.core.types import Id, IsoDate

IdParam = Id | None
DateParam = Annotated[IsoDate | None, Query()]


def date_range(
    from_date: dt.date | None,
    date_from: dt.date | None,
    to_date: dt.date | None,
    date_to: dt.date | None,
    zone: str,
) -> stats.Range:
    return stats.resolve_range(from_date or date_from, to_date or date_to, zone)
