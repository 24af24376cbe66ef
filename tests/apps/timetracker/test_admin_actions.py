"""The panel's TimeTracker actions change state on a same-site POST only (issue 12.2)."""

from __future__ import annotations

from sqlalchemy import select, update

from basis.apps.timetracker.models import Employee
from tests.apps.timetracker.conftest import TT
from tests.fixtures.auth import DEFAULT_PASSWORD

OWN = {"Origin": "http://testserver"}
FOREIGN = {"Origin": "https://evil.example.net"}


async def _panel(tt: TT) -> None:
    await tt.make_user(role="admin", email="actions@example.com")
    response = await tt.client.post(
        "/admin/login", data={"username": "actions@example.com", "password": DEFAULT_PASSWORD}, headers=OWN
    )
    assert response.status_code == 302, response.text


async def _key_status(tt: TT, employee_id: int) -> str:
    query = select(Employee.key_status).where(Employee.id == employee_id)
    status = (await tt.session.execute(query)).scalar_one()
    await tt.session.rollback()  # no transaction left open while the panel writes
    return status


async def test_rotating_a_terminal_key_needs_a_same_site_post(tt: TT) -> None:
    terminal_id, key = await tt.terminal(name="Rotated door")
    worker = await tt.employee()
    await _panel(tt)
    url = f"/admin/terminal/action/rotate-key?pks={terminal_id}"
    asked = await tt.client.get(url)
    assert asked.status_code == 200 and 'method="post"' in asked.text and "stops working" in asked.text
    assert (await tt.client.post(url, headers=FOREIGN)).status_code == 403
    assert (await tt.scan(key, worker["nfc_uid"])).status_code in (200, 201)  # the old key still works
    rotated = await tt.client.post(url, headers=OWN)
    assert rotated.status_code == 200 and "New terminal keys" in rotated.text
    assert rotated.headers["cache-control"] == "no-store"
    assert (await tt.scan(key, worker["nfc_uid"])).status_code == 401


async def test_approving_and_revoking_a_phone_key_need_a_same_site_post(tt: TT) -> None:
    employee = await tt.employee()
    await tt.session.execute(
        update(Employee)
        .where(Employee.id == employee["id"])
        .values(key_status="pending", public_key="k" * 44)
    )
    await tt.session.commit()
    await _panel(tt)
    for action, after in (("approve-key", "active"), ("revoke-key", "revoked")):
        url = f"/admin/employee/action/{action}?pks={employee['id']}"
        before = await _key_status(tt, employee["id"])
        assert (await tt.client.get(url)).status_code == 200
        assert (await tt.client.post(url, headers=FOREIGN)).status_code == 403
        assert await _key_status(tt, employee["id"]) == before
        done = await tt.client.post(url, headers=OWN)
        assert done.status_code == 303 and "error=" not in done.headers["location"]
        assert await _key_status(tt, employee["id"]) == after
