"""The exchange's admin panel views, through HTTP as a browser uses them."""

from __future__ import annotations

from tests.apps.exchange.conftest import ALMATY, Exchange, item
from tests.fixtures.auth import DEFAULT_PASSWORD

ORIGIN = {"Origin": "http://testserver"}


async def test_views_list_and_a_report_is_resolved_by_a_posted_form(ex: Exchange) -> None:
    await ex.make_user(role="admin", email="panel@example.com")
    alice, bob = await ex.member(ALMATY), await ex.member(ALMATY)
    listing = (await ex.create(bob, offers={"property": [item("Дача")]}))["items"][0]
    report = (
        await ex.client.post(
            "/api/reports",
            json={"target_listing_id": listing["id"], "reason": "fake_listing"},
            headers=alice.headers,
        )
    ).json()
    r = await ex.client.post(
        "/admin/login", data={"username": "panel@example.com", "password": DEFAULT_PASSWORD}, headers=ORIGIN
    )
    assert r.status_code == 302
    for view in ("category", "category-version", "listing-item", "exchange", "ban", "report"):
        r = await ex.client.get(f"/admin/{view}/list")
        assert r.status_code == 200, view
    assert (
        "personal_transport"
        in (await ex.client.get("/admin/category/list", params={"search": "personal"})).text
    )
    r = await ex.client.post(
        f"/admin/report/edit/{report['id']}",
        data={"resolution": "listing_removed", "admin_notes": "проверено"},
        headers=ORIGIN,
    )
    assert r.status_code == 302, r.text
    queue = (
        await ex.client.get(
            "/api/admin/reports", params={"status": "resolved"}, headers=(await ex.admin_member()).headers
        )
    ).json()
    assert (
        queue["reports"][0]["resolution"] == "listing_removed"
        and queue["reports"][0]["admin_notes"] == "проверено"
    )
    assert (await ex.client.get("/api/listings/my", headers=bob.headers)).json()["total"] == 0
    r = await ex.client.post(
        f"/admin/report/edit/{report['id']}", data={"resolution": "dismissed"}, headers=ORIGIN
    )
    assert r.status_code == 400 and "already resolved" in r.text
