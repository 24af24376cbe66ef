"""The WatermelonDB sync protocol (rules 3-12, 24, 27): what a device pulls and pushes."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.apps.hemoday.conftest import HemoDay, Person, only, transfusion

TABLES = {
    "transfusions",
    "analyses",
    "analysis_items",
    "analysis_templates",
    "analysis_template_items",
    "reminders",
    "documents",
    "component_types",
    "chelator_types",
}


def ids(changes: dict[str, Any], table: str, kind: str) -> list[str]:
    return [r if isinstance(r, str) else r["id"] for r in changes[table][kind]]


async def test_first_pull_lists_every_table_and_the_global_rows(hemoday: HemoDay) -> None:
    parent = await hemoday.register()
    changes = await parent.pull()
    assert set(changes) == TABLES
    assert all(set(lists) == {"created", "updated", "deleted"} for lists in changes.values())
    assert isinstance(parent.last_pulled_at, int)
    assert ids(changes, "component_types", "created") == ["comp_hb_01", "comp_fe_01", "comp_plt_01"]
    assert ids(changes, "chelator_types", "created") == [
        "chel_none_01",
        "chel_desf_01",
        "chel_exja_01",
        "chel_jade_01",
    ]
    assert ids(changes, "analysis_templates", "created") == ["tmpl_cbc_01", "tmpl_biochem_01"]
    items = {r["id"]: r for r in changes["analysis_template_items"]["created"]}
    assert (
        items["tmpl_item_fer_01"]["template_id"] == "tmpl_biochem_01"
        and items["tmpl_item_fer_01"]["name"] == "Ферритин"
    )
    assert len(items) == 8
    hb = changes["component_types"]["created"][0]
    assert hb["name"] == "Гемоглобин" and hb["is_default"] is True and isinstance(hb["created_at"], int)
    # An unchanged family gets empty lists afterwards.
    again = await parent.pull()
    assert all(not lists[kind] for lists in again.values() for kind in lists)


async def test_push_then_pull_computes_and_classifies(hemoday: HemoDay) -> None:
    parent = await hemoday.register()
    relative = await hemoday.join(parent.token["invite_code"])
    await parent.pull()
    await relative.pull()
    assert await parent.push(
        only("transfusions", "created", transfusion("t1", volume_per_kg=999, delta_hb=-5))
    ) == {"status": "ok"}
    changes = await relative.pull()
    [row] = changes["transfusions"]["created"]
    assert row["volume_per_kg"] == 10.0 and row["delta_hb"] == 35.0
    assert row["chelator"] == "Эксиджад" and row["created_at"] > 1 and row["updated_at"] == row["created_at"]
    assert row["created_at"] <= relative.last_pulled_at
    assert set(row) >= {"id", "date", "component", "volume", "weight", "hb_before", "hb_after", "note"}

    # The writer gets the server's values on its next pull too.
    mine = await parent.pull()
    assert mine["transfusions"]["created"][0]["volume_per_kg"] == 10.0

    await parent.push(
        only(
            "transfusions",
            "updated",
            transfusion("t1", volume=250, weight=33, hb_before=80.04, hb_after=118.0),
        )
    )
    changes = await relative.pull()
    [row] = changes["transfusions"]["updated"]
    assert row["volume_per_kg"] == round(250 / 33, 2) and row["delta_hb"] == 38.0

    await parent.pull()
    await parent.push(only("transfusions", "deleted", "t1"))
    changes = await relative.pull()
    assert changes["transfusions"]["deleted"] == ["t1"]
    assert (await hemoday.register()).token  # unrelated
    first = await relative.pull(since=0)
    assert first["transfusions"]["created"] == [] and first["transfusions"]["deleted"] == []


async def test_push_semantics_of_created_updated_deleted(hemoday: HemoDay) -> None:
    parent = await hemoday.register()
    await parent.pull()
    # updated for an unknown id creates it; created for an existing id updates it.
    await parent.push(
        only(
            "reminders",
            "updated",
            {"id": "r1", "title": "Ферритин", "date": "2026-05-01", "time": "09:00", "repeat": "Никогда"},
        )
    )
    await parent.pull()
    await parent.push(
        only(
            "reminders",
            "created",
            {"id": "r1", "title": "Анализы", "date": "2026-05-01", "time": "09:30", "repeat": "Ежемесячно"},
        )
    )
    # deleted for an unknown id is a no-op.
    await parent.push(only("reminders", "deleted", "never-existed"))
    changes = await parent.pull(since=0)
    [row] = changes["reminders"]["created"]
    assert (row["title"], row["time"], row["repeat"]) == ("Анализы", "09:30", "Ежемесячно")


BAD_RECORDS: list[tuple[str, Any]] = [
    ("transfusions", transfusion("x", volume=0)),
    ("transfusions", transfusion("x", volume=5001)),
    ("transfusions", transfusion("x", weight=400.5)),
    ("transfusions", transfusion("x", weight="30")),
    ("transfusions", transfusion("x", volume=True)),
    ("transfusions", transfusion("x", hb_before=-1)),
    ("transfusions", transfusion("x", date="01.03.2026")),
    ("transfusions", transfusion("x", date="2026-02-30")),
    ("transfusions", {"id": "x", "date": "2026-03-01", "volume": 100}),
    ("transfusions", transfusion(5)),
    ("transfusions", transfusion("x" * 65)),
    ("analyses", {"id": "a", "date": "2026-03-01"}),
    ("analysis_items", {"id": "i", "analysis_id": "a", "name": "Ферритин", "value": 1500}),
    ("reminders", {"id": "r", "title": "t", "date": "2026-03-01", "time": "24:00", "repeat": "Никогда"}),
    ("reminders", {"id": "r", "title": "t", "date": "2026-03-01", "time": "9:00", "repeat": "Никогда"}),
    ("documents", {"id": "d", "name": "scan"}),
    ("component_types", {"id": "c", "icon_name": "droplet"}),
    ("no_such_table", {"id": "q"}),
]


async def test_a_bad_record_refuses_the_whole_push(hemoday: HemoDay) -> None:
    parent = await hemoday.register()
    await parent.pull()
    for table, record in BAD_RECORDS:
        changes = {"transfusions": {"created": [transfusion("good")], "updated": [], "deleted": []}}
        changes.setdefault(table, {"created": [], "updated": [], "deleted": []})["updated"] = [record]
        body = await parent.push(changes, expect=422)
        assert body["code"] == "validation_error", (table, record)
    assert (await parent.pull(since=0))["transfusions"]["created"] == []


async def test_push_needs_last_pulled_at_and_pull_checks_it(
    hemoday: HemoDay, client: httpx.AsyncClient
) -> None:
    parent = await hemoday.register()
    h = parent.headers
    assert (await client.post("/api/v1/sync", json={"changes": {}}, headers=h)).status_code == 422
    for bad in (-1, "12", 1.5, True):
        response = await client.post("/api/v1/sync", json={"changes": {}, "last_pulled_at": bad}, headers=h)
        assert response.status_code == 422, bad
    assert (
        await client.post("/api/v1/sync?last_pulled_at=5", json={"changes": {}}, headers=h)
    ).status_code == 200
    bad_json = await client.post(
        "/api/v1/sync", content=b"{nope", headers={**h, "Content-Type": "application/json"}
    )
    assert bad_json.status_code in (400, 422)
    for value in ("", "null", "0"):
        response = await client.get(f"/api/v1/sync?last_pulled_at={value}", headers=h)
        assert response.status_code == 200 and response.json()["changes"]["component_types"]["created"]
    for value in ("-5", "abc", "1.5", "1e3"):
        assert (await client.get(f"/api/v1/sync?last_pulled_at={value}", headers=h)).status_code == 422


async def test_conflict_refuses_the_whole_push_and_a_replay_is_idempotent(hemoday: HemoDay) -> None:
    mum = await hemoday.register()
    dad = await hemoday.join(mum.token["invite_code"])
    await mum.pull()
    await mum.push(only("transfusions", "created", transfusion("t1")))
    await dad.pull()
    stale = dad.last_pulled_at
    await mum.pull()
    await mum.push(only("transfusions", "updated", transfusion("t1", hb_after=125)))

    # Dad changed t1 too, from before mum's change: the whole push is refused, nothing stored.
    changes = {
        "transfusions": {
            "created": [transfusion("t2")],
            "updated": [transfusion("t1", hb_after=130)],
            "deleted": [],
        }
    }
    body = await dad.push(changes, expect=409)
    assert body["code"] == "sync_conflict" and "detail" in body
    # Deleting it is a conflict too.
    await dad.push(only("transfusions", "deleted", "t1"), expect=409)

    # Pull, merge, push again: accepted.
    pulled = await dad.pull()
    assert pulled["transfusions"]["updated"][0]["hb_after"] == 125
    await dad.push(changes)
    final = await mum.pull()
    assert {
        r["id"]: r["hb_after"] for r in final["transfusions"]["updated"] + final["transfusions"]["created"]
    } == {
        "t1": 130,
        "t2": 120,
    }

    # A replay of the same values with the old last_pulled_at is accepted and changes nothing.
    await dad.push(changes, last_pulled_at=stale)
    assert all(not lists[k] for lists in (await mum.pull()).values() for k in lists)


async def test_pushed_update_does_not_revive_a_deleted_record(hemoday: HemoDay) -> None:
    mum = await hemoday.register()
    dad = await hemoday.join(mum.token["invite_code"])
    await mum.pull()
    await mum.push(only("transfusions", "created", transfusion("t1")))
    await dad.pull()
    await mum.pull()
    await mum.push(only("transfusions", "deleted", "t1"))
    await dad.push(only("transfusions", "updated", transfusion("t1", note="edited offline")))
    changes = await dad.pull()
    assert changes["transfusions"]["deleted"] == ["t1"]
    assert (await mum.pull(since=0))["transfusions"]["created"] == []


async def test_global_rows_are_ignored_on_push_and_own_lookups_sync(hemoday: HemoDay) -> None:
    parent = await hemoday.register()
    relative = await hemoday.join(parent.token["invite_code"])
    first = await parent.pull()
    await relative.pull()
    seeded = first["component_types"]["created"] + [{"id": "own_default", "name": "x", "is_default": True}]
    renamed = [{**row, "name": "Hacked"} for row in seeded]
    own = {"id": "comp_own_1", "name": "Плазма", "icon_name": "droplet", "is_default": False, "sort_order": 4}
    await parent.push(
        {"component_types": {"created": [*renamed, own], "updated": [], "deleted": ["chel_none_01"]}}
    )
    await parent.push({"chelator_types": {"created": [], "updated": [], "deleted": ["chel_none_01"]}})
    changes = await relative.pull()
    assert changes["component_types"]["created"] == [
        {
            **own,
            "created_at": changes["component_types"]["created"][0]["created_at"],
            "updated_at": changes["component_types"]["created"][0]["updated_at"],
        }
    ]
    assert changes["chelator_types"] == {"created": [], "updated": [], "deleted": []}
    fresh = await (await hemoday.register()).pull()
    assert [r["name"] for r in fresh["component_types"]["created"]] == [
        "Гемоглобин",
        "Ферритин",
        "Тромбоциты",
    ]
    await parent.pull()
    await parent.push(only("component_types", "deleted", "comp_own_1"))
    assert (await relative.pull())["component_types"]["deleted"] == ["comp_own_1"]


async def test_families_never_see_each_other(hemoday: HemoDay) -> None:
    ours = await hemoday.register()
    theirs = await hemoday.register()
    await ours.pull()
    await theirs.pull()
    await ours.push(only("transfusions", "created", transfusion("same-id", note="ours")))
    # The same id in another family is another record: created there, nothing changed here.
    await theirs.push(only("transfusions", "updated", transfusion("same-id", note="theirs")))
    await theirs.pull()
    await theirs.push(only("transfusions", "deleted", "same-id"))
    ours_now = await ours.pull(since=0)
    assert [r["note"] for r in ours_now["transfusions"]["created"]] == ["ours"]
    theirs_now = await theirs.pull(since=0)
    assert theirs_now["transfusions"]["created"] == []


async def test_timestamp_never_decreases_and_later_changes_come_after_it(hemoday: HemoDay) -> None:
    parent = await hemoday.register()
    stamps = []
    for n in range(3):
        await parent.pull()
        stamps.append(parent.last_pulled_at)
        await parent.push(
            only(
                "analyses",
                "created",
                {"id": f"a{n}", "name": "Общий анализ крови", "date": "2026-01-0" + str(n + 1)},
            )
        )
    assert stamps == sorted(stamps)
    changes = await parent.pull(since=stamps[1])
    assert ids(changes, "analyses", "created") == ["a1", "a2"]


async def test_parallel_pushes_of_many_devices_lose_nothing(hemoday: HemoDay) -> None:
    parent = await hemoday.register()
    devices: list[Person] = [parent] + [await hemoday.join(parent.token["invite_code"]) for _ in range(3)]
    for device in devices:
        await device.pull()

    async def write(n: int, device: Person) -> None:
        await device.push(only("transfusions", "created", *(transfusion(f"d{n}-{i}") for i in range(5))))

    await asyncio.gather(*(write(n, d) for n, d in enumerate(devices)))
    changes = await parent.pull(since=0)
    assert len(changes["transfusions"]["created"]) == 20
