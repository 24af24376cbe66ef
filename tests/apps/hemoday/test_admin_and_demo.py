"""The admin panel's HemoDay views and the command-line demo data."""

from __future__ import annotations

import datetime as dt
import re
import time
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from basis.apps.hemoday import report, report_files
from basis.apps.hemoday.demo import demo
from basis.apps.hemoday.models import Analysis, Family, Transfusion
from basis.settings import Settings
from tests.apps.hemoday.conftest import HemoDay, only, transfusion
from tests.fixtures.auth import MakeUser
from tests.identity.helpers import PASSWORD


async def test_admin_sees_families_and_counts_but_no_medical_values(
    hemoday: HemoDay, client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    parent = await hemoday.register()
    await hemoday.join(parent.token["invite_code"])
    await client.patch(
        "/api/v1/family",
        json={"patient_name": "Секретное Имя", "patient_current_weight": 27.5},
        headers=parent.headers,
    )
    await parent.pull()
    await parent.push(only("transfusions", "created", transfusion("t1", hb_before=77.7), transfusion("t2")))

    await make_user(role="admin", email="boss@example.com")
    login = await client.post(
        "/admin/login",
        data={"username": "boss@example.com", "password": PASSWORD},
        headers={"Origin": "http://testserver"},
    )
    assert login.status_code == 302
    families = await client.get("/admin/family/list")
    assert families.status_code == 200
    assert parent.token["invite_code"] in families.text
    cells = [c.strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", families.text, re.S)]
    assert "Transfusions" in families.text and cells[-5:] == ["2", "2", "0", "0", "0"], cells
    assert "Секретное" not in families.text and "77.7" not in families.text and "27.5" not in families.text
    details = await client.get(f"/admin/family/details/{parent.token['family_id']}")
    assert details.status_code == 200 and "Секретное" not in details.text
    members = await client.get("/admin/member/list")
    assert members.status_code == 200 and parent.token["user_id"] in members.text
    # Read-only: no create or edit form.
    assert (await client.get("/admin/family/create")).status_code in (302, 403, 404)


async def test_demo_family_has_five_years_and_its_pdf_report_is_fast(
    session: AsyncSession, settings: Settings
) -> None:
    calls: list[Any] = []
    await demo(session=session, settings=settings, progress=lambda *a, **k: calls.append(a), size="small")
    await demo(session=session, settings=settings, progress=lambda *a, **k: calls.append(a), size="small")
    family_id = await session.scalar(select(Family.id))
    assert (await session.scalar(select(func.count()).select_from(Family))) == 1
    count = await session.scalar(select(func.count()).select_from(Transfusion))
    assert 240 <= count <= 280
    assert await session.scalar(select(func.count()).select_from(Analysis)) == 60

    today = dt.date.today()
    started = time.perf_counter()
    built = await report.build(
        session=session, family_id=family_id, start=today - dt.timedelta(days=6 * 366), end=today
    )
    pdf = report_files.as_pdf(built, font=None)
    elapsed = time.perf_counter() - started
    assert built.summary["count"] == count and len(built.ferritin) == 60
    assert built.summary["mean_interval_days"] == pytest.approx(7, abs=0.5)
    assert pdf.startswith(b"%PDF") and elapsed < 2.0, elapsed
