"""Export and deletion of a family's data (rule 25)."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from basis.apps.hemoday.models import FamilyEvent
from tests.apps.hemoday.conftest import PASSWORD, HemoDay, only, transfusion
from tests.apps.hemoday.test_uploads import PDF, upload


async def test_export_gives_the_whole_record_and_file_links(
    hemoday: HemoDay, client: httpx.AsyncClient
) -> None:
    parent = await hemoday.register()
    relative = await hemoday.join(parent.token["invite_code"])
    other = await hemoday.register()
    await parent.pull()
    await parent.push(only("transfusions", "created", transfusion("t1"), transfusion("t2")))
    await parent.pull()
    await parent.push(only("transfusions", "deleted", "t2"))
    await other.pull()
    await other.push(only("transfusions", "created", transfusion("theirs")))
    stored = await upload(parent, PDF)

    data = await relative.get("/family/export")
    assert data["family"]["id"] == parent.token["family_id"] and len(data["family"]["members"]) == 2
    assert [r["id"] for r in data["records"]["transfusions"]] == ["t1"]
    assert data["records"]["transfusions"][0]["volume_per_kg"] == 10.0
    [file] = data["files"]
    assert file["file_url"] == stored["file_url"]
    link = urlsplit(file["download_url"])
    assert (await client.get(f"{link.path}?{link.query}")).content == PDF


async def test_owner_deletes_the_family_with_the_password(
    hemoday: HemoDay, client: httpx.AsyncClient
) -> None:
    parent = await hemoday.register()
    relative = await hemoday.join(parent.token["invite_code"])
    await parent.pull()
    await parent.push(only("transfusions", "created", transfusion("t1")))
    stored = await upload(parent, PDF)

    refused = await client.request(
        "DELETE", "/api/v1/family", json={"password": PASSWORD}, headers=relative.headers
    )
    assert refused.status_code == 403
    wrong = await client.request(
        "DELETE", "/api/v1/family", json={"password": "not-it-at-all"}, headers=parent.headers
    )
    assert wrong.status_code == 400
    assert (await relative.get("/family/export"))["records"]["transfusions"]

    gone = await client.request(
        "DELETE", "/api/v1/family", json={"password": PASSWORD}, headers=parent.headers
    )
    assert gone.status_code == 204
    # Every member is left without it at once: each now has an empty family of their own.
    for person in (parent, relative):
        me = await person.get("/auth/me")
        assert me["family_id"] != parent.token["family_id"]
        assert (await person.pull(since=0))["transfusions"]["created"] == []
    link = await client.get(
        "/api/v1/upload/link", params={"file_url": stored["file_url"]}, headers=parent.headers
    )
    assert link.status_code == 404
    dead = urlsplit(stored["download_url"])
    assert (await client.get(f"{dead.path}?{dead.query}")).status_code == 404
    # The old invite code joins nobody.
    await hemoday.join(parent.token["invite_code"], expect=404)


async def test_membership_changes_leave_a_trail_without_medical_values(
    hemoday: HemoDay, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    parent = await hemoday.register()
    aunt = await hemoday.join(parent.token["invite_code"])
    doctor = await hemoday.join(parent.token["invite_code"])
    await client.patch(
        "/api/v1/family", json={"patient_name": "Аня", "patient_current_weight": 25}, headers=aunt.headers
    )
    await parent.post("/family/invite-code")
    await parent.post("/family/remove-member", {"user_id": aunt.token["user_id"]})
    await parent.post("/family/transfer-ownership", {"user_id": doctor.token["user_id"]})
    await aunt.post("/family/leave")
    gone = await client.request(
        "DELETE", "/api/v1/family", json={"password": PASSWORD}, headers=doctor.headers
    )
    assert gone.status_code == 204

    rows = (
        await session.execute(
            select(FamilyEvent.action, FamilyEvent.actor, FamilyEvent.after)
            .where(FamilyEvent.family_id == parent.token["family_id"])
            .order_by(FamilyEvent.id)
        )
    ).all()
    assert [(r.action, r.actor) for r in rows] == [
        ("family_created", parent.email),
        ("joined", aunt.email),
        ("joined", doctor.email),
        ("family_updated", aunt.email),
        ("invite_code_changed", parent.email),
        ("member_removed", parent.email),
        ("ownership_transferred", parent.email),
        ("family_deleted", doctor.email),
    ]
    assert rows[3].after == {"fields": ["patient_current_weight", "patient_name"]}
    assert "Аня" not in str([tuple(r) for r in rows])
