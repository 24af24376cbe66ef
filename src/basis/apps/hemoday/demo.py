"""Demo data: a family with five years of weekly transfusions, monthly analyses and reminders.

The parents' accounts get unusable random passwords: set one with ``basis users`` or the reset
link to sign in as them.
"""

from __future__ import annotations

import datetime as dt
import random
import secrets
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from basis.apps.hemoday import families
from basis.apps.hemoday.models import Analysis, AnalysisItem, Family, Member, Reminder, Transfusion
from basis.apps.hemoday.records import computed
from basis.core.time import from_ms, to_ms, utcnow
from basis.identity.models import User
from basis.identity.passwords import hash_password
from basis.settings import Settings

OWNER_EMAIL = "mama.demo@hemoday.example"
RELATIVE_EMAIL = "babushka.demo@hemoday.example"
YEARS = 5
CHELATORS = ["Десферал", "Эксиджад", "Джадену"]
CHUNK = 500


async def _user(session: AsyncSession, settings: Settings, email: str) -> User:
    user = User(
        email=email,
        role="user",
        is_active=True,
        password_hash=await hash_password(secrets.token_urlsafe(24), profile=settings.password_hash_profile),
        password_changed_at=utcnow(),
    )
    session.add(user)
    await session.flush()
    return user


def _chunks(rows: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), CHUNK):
        yield rows[start : start + CHUNK]


def history(rng: random.Random, today: dt.date) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Weekly transfusions (Hb falling between them, the weight growing) and monthly analyses."""
    transfusions, analyses = [], []
    day = today - dt.timedelta(days=365 * YEARS)
    weight, chelator, n = 14.0, CHELATORS[0], 0
    while day <= today:
        weight = min(weight + rng.uniform(0.0, 0.12), 60.0)
        if rng.random() < 0.02:
            chelator = rng.choice(CHELATORS)
        before = round(rng.uniform(82, 96), 1)
        volume = round(weight * rng.uniform(10, 15) / 10) * 10
        transfusions.append(
            {
                "id": f"demo-t-{n:04d}",
                "date": day.isoformat(),
                "component": "Эритроцитная масса",
                "volume": float(volume),
                "weight": round(weight, 1),
                "hb_before": before,
                "hb_after": round(before + rng.uniform(25, 40), 1),
                "chelator": chelator,
                "note": None,
            }
        )
        n += 1
        day += dt.timedelta(days=rng.choice([6, 7, 7, 7, 8]))
    for m in range(12 * YEARS, 0, -1):
        months = today.year * 12 + today.month - 1 - m
        date = dt.date(months // 12, months % 12 + 1, 15)
        analyses.append(
            {
                "id": f"demo-a-{m:03d}",
                "name": "Биохимический анализ",
                "date": date.isoformat(),
                "template_name": "Биохимический анализ",
                "items": [
                    ("Ферритин", f"{rng.randint(900, 2600)}", "нг/мл"),
                    ("АЛТ", f"{rng.randint(15, 60)}", "Ед/л"),
                    ("Гемоглобин", f"{rng.randint(85, 125)}", "g/l"),
                ],
            }
        )
    return transfusions, analyses


async def demo(
    *, session: AsyncSession, settings: Settings, progress: Callable[..., None], size: str = "small", **_: Any
) -> None:
    if await session.scalar(select(User.id).where(User.email == OWNER_EMAIL)) is not None:
        progress(0, total=1, description="hemoday: demo family already there")
        progress(1)
        return
    rng = random.Random(20260000 + YEARS)  # noqa: S311 - reproducible demo data, not secrets
    transfusions, analyses = history(rng, utcnow().date())
    progress(0, total=len(transfusions) + len(analyses) + 2, description="hemoday: a demo family")
    owner = await _user(session, settings, OWNER_EMAIL)
    relative = await _user(session, settings, RELATIVE_EMAIL)
    family = await families.new_family(session, owner.id)
    await session.execute(
        update(Family)
        .where(Family.id == family.id)
        .values(
            patient_name="Аня (демо)", patient_birth_date=dt.date(2017, 4, 12), patient_current_weight=28.5
        )
    )
    session.add_all(
        [
            Member(user_id=owner.id, family_id=family.id, role="owner", joined_at=utcnow()),
            Member(user_id=relative.id, family_id=family.id, role="member", joined_at=utcnow()),
        ]
    )
    await session.flush()
    progress(2)
    now_ms = to_ms(utcnow())
    stamp = {
        "family_id": family.id,
        "created_at": from_ms(now_ms),
        "updated_at": from_ms(now_ms),
        "changed_ms": now_ms,
        "deleted_at": None,
    }
    conn = await session.connection()
    rows = [{**t, **computed("transfusions", t), **stamp} for t in transfusions]
    for chunk in _chunks(rows):
        await conn.execute(insert(Transfusion.__table__), chunk)
        progress(len(chunk))
    analysis_rows = [{k: v for k, v in a.items() if k != "items"} | stamp for a in analyses]
    item_rows = [
        {"id": f"{a['id']}-{i}", "analysis_id": a["id"], "name": name, "value": value, "unit": unit, **stamp}
        for a in analyses
        for i, (name, value, unit) in enumerate(a["items"])
    ]
    for chunk in _chunks(analysis_rows):
        await conn.execute(insert(Analysis.__table__), chunk)
    for chunk in _chunks(item_rows):
        await conn.execute(insert(AnalysisItem.__table__), chunk)
    await conn.execute(
        insert(Reminder.__table__),
        [
            {
                "id": "demo-r-1",
                "title": "Принять хелатор",
                "date": "2026-01-01",
                "time": "20:00",
                "repeat": "Ежедневно",
                "note": None,
                **stamp,
            },
            {
                "id": "demo-r-2",
                "title": "Сдать ферритин",
                "date": "2026-01-15",
                "time": "08:30",
                "repeat": "Ежемесячно",
                "note": "натощак",
                **stamp,
            },
        ],
    )
    await session.execute(update(Family).where(Family.id == family.id).values(clock_ms=now_ms))
    await session.commit()
    progress(len(analyses), description=f"hemoday: demo family of {OWNER_EMAIL}")
