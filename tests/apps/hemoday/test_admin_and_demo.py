"""The admin panel's HemoDay views and the command-line demo data."""

from __future__ import annotations

import re

import httpx

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
