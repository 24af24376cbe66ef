"""Categories v6.0 as the original's client reads them."""

from __future__ import annotations

import httpx

from basis.apps.exchange import categories_data


async def test_v6_has_the_originals_35_permanent_and_25_temporary_slugs_in_order(
    client: httpx.AsyncClient,
) -> None:
    r = await client.get("/v1/categories")
    assert r.status_code == 200
    body = r.json()
    assert body["version"] == "v6.0" and body["description"]
    permanent, temporary = body["categories"]["permanent"], body["categories"]["temporary"]
    assert [c["slug"] for c in permanent] == [row[0] for row in categories_data.PERMANENT]
    assert [c["slug"] for c in temporary] == [row[0] for row in categories_data.TEMPORARY]
    assert len(permanent) == 35 and len(temporary) == 25
    assert permanent[0] == {
        "slug": "personal_transport",
        "name": "Личные и спецтранспортные средства",
        "group": "🚗 Транспорт и техника",
        "emoji": "🚗",
        "sort_order": 0,
    }
    assert [c["sort_order"] for c in temporary] == sorted(c["sort_order"] for c in temporary)


async def test_by_type_and_groups(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/categories/temporary")
    assert r.status_code == 200 and isinstance(r.json(), list) and len(r.json()) == 25
    assert (await client.get("/v1/categories/PERMANENT")).json()[0]["slug"] == "personal_transport"
    groups = (await client.get("/v1/categories/groups/permanent")).json()["groups"]
    assert groups[0] == "🚗 Транспорт и техника" and len(groups) == len(set(groups)) == 16


async def test_bad_type_is_400_and_unknown_version_404(client: httpx.AsyncClient) -> None:
    for path in ("/v1/categories/forever", "/v1/categories/groups/forever"):
        r = await client.get(path)
        assert r.status_code == 400 and r.json()["code"] == "invalid_exchange_type"
    r = await client.get("/v1/categories", params={"version": "v5.0"})
    assert r.status_code == 404 and r.json()["code"] == "version_not_found"
    assert (await client.get("/v1/categories/permanent", params={"version": "v9"})).status_code == 404
