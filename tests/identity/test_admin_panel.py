"""The admin panel (identity.md "Admin panel"), through HTTP as a browser would use it."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from basis.identity.models import User
from tests.fixtures.auth import MakeUser
from tests.identity.helpers import OTHER_PASSWORD, PASSWORD, bearer, events, login

ORIGIN = {"Origin": "http://testserver"}


async def panel_login(
    client: httpx.AsyncClient, name: str, password: str = PASSWORD, **headers: str
) -> httpx.Response:
    return await client.post("/admin/login", data={"username": name, "password": password}, headers=headers)


async def test_admins_and_operators_get_in_and_only_admins_see_accounts(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    await make_user(role="admin", email="boss@example.com")
    await make_user(role="operator", email="op@example.com")
    await make_user(role="user", email="plain@example.com")
    assert (await client.get("/admin/")).headers["location"].endswith("/admin/login")
    refused = await panel_login(client, "plain@example.com", **ORIGIN)
    assert refused.status_code == 400 and "Invalid credentials" in refused.text
    assert "basis_admin" not in client.cookies
    assert (await client.get("/admin/user/list")).status_code == 302
    # An operator signs in to see and correct TimeTracker's data, never the accounts (issue 17).
    operator = await panel_login(client, "op@example.com", **ORIGIN)
    assert operator.status_code == 302
    home = await client.get("/admin/")
    assert home.status_code == 200 and "/admin/user/list" not in home.text
    assert (await client.get("/admin/user/list")).status_code == 403
    assert (await client.get("/admin/user/create")).status_code == 403
    assert (await client.get("/admin/auth-event/list")).status_code == 403
    # Nor any other app's views unless they let operators in (the warehouse catalogue did not).
    for path in ("/admin/product/list", "/admin/category/create", "/admin/location/list"):
        assert (await client.get(path)).status_code == 403, path
    await client.get("/admin/logout")
    wrong = await panel_login(client, "boss@example.com", "not the password")
    assert wrong.status_code == 400
    ok = await panel_login(client, "boss@example.com", **ORIGIN)
    assert ok.status_code == 302 and ok.headers["location"].endswith("/admin/")
    cookie = ok.headers["set-cookie"].lower()
    assert cookie.startswith("basis_admin=") and "httponly" in cookie and "samesite=strict" in cookie
    assert "path=/admin" in cookie and "secure" not in cookie
    page = await client.get("/admin/user/list")
    assert page.status_code == 200 and "boss@example.com" in page.text and "op@example.com" in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]


async def test_panel_login_form_checks_origin(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    await make_user(role="admin", email="csrf-admin@example.com")
    response = await panel_login(client, "csrf-admin@example.com", Origin="https://evil.example.net")
    assert response.status_code == 403 and "basis_admin" not in client.cookies


async def test_panel_login_shares_the_login_rate_limits(
    client: httpx.AsyncClient, make_user: MakeUser, admin_headers: dict[str, str]
) -> None:
    await make_user(role="admin", email="brute@example.com")
    for _ in range(5):
        assert (await panel_login(client, "brute@example.com", "guessing again")).status_code == 400
    limited = await panel_login(client, "brute@example.com")
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    assert (await login(client, "brute@example.com")).status_code == 429
    channels = {
        e["details"]["channel"] for e in await events(client, admin_headers, event_type="login_failure")
    }
    assert channels == {"admin"}


async def test_panel_forms_check_origin(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    await make_user(role="admin", email="forms@example.com")
    victim = await make_user(email="victim@example.com")
    await panel_login(client, "forms@example.com", **ORIGIN)
    evil = {"Origin": "https://evil.example.net"}
    response = await client.post(
        f"/admin/user/edit/{victim.id}",
        data={"email": "victim@example.com", "role": "admin", "is_active": "y", "password": ""},
        headers=evil,
    )
    assert response.status_code == 403
    for action in ("deactivate", "revoke-sessions"):
        response = await client.post(f"/admin/user/action/{action}?pks={victim.id}", headers=evil)
        assert response.status_code == 403 and response.json()["code"] == "origin_not_allowed"
    # A link (GET), even a cross-site one, only shows the confirmation.
    link = await client.get(
        f"/admin/user/action/deactivate?pks={victim.id}", headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert link.status_code == 200 and 'method="post"' in link.text
    victim_login = await login(client, "victim@example.com")
    assert victim_login.status_code == 200 and victim_login.json()["role"] == "user"


async def test_hashes_never_shown_and_passwords_set_through_the_hasher(
    client: httpx.AsyncClient, make_user: MakeUser, session: AsyncSession
) -> None:
    await make_user(role="admin", email="hasher@example.com")
    target = await make_user(email="target@example.com")
    await panel_login(client, "hasher@example.com", **ORIGIN)
    for path in ("/admin/user/list", f"/admin/user/details/{target.id}", f"/admin/user/edit/{target.id}"):
        page = await client.get(path)
        assert page.status_code == 200, path
        assert "$argon2" not in page.text and "password_hash" not in page.text.lower().replace("-", "_"), path
    weak = await client.post(
        f"/admin/user/edit/{target.id}",
        data={"email": "target@example.com", "role": "user", "is_active": "y", "password": "password1"},
        headers=ORIGIN,
    )
    assert weak.status_code == 400
    saved = await client.post(
        f"/admin/user/edit/{target.id}",
        data={
            "email": "target@example.com",
            "full_name": "Renamed",
            "role": "user",
            "is_active": "y",
            "password": OTHER_PASSWORD,
        },
        headers=ORIGIN,
    )
    assert saved.status_code == 302, saved.text[:500]
    stored = (
        await session.execute(select(User.password_hash, User.full_name).where(User.id == target.id))
    ).one()
    await session.rollback()
    assert stored[0].startswith("$argon2id$") and stored[1] == "Renamed"
    assert (await login(client, "target@example.com", OTHER_PASSWORD)).status_code == 200


async def test_create_user_in_the_panel(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    await make_user(role="admin", email="creator@example.com")
    await panel_login(client, "creator@example.com", **ORIGIN)
    created = await client.post(
        "/admin/user/create",
        data={"username": "floor7", "role": "operator", "password": PASSWORD, "full_name": "Floor"},
        headers=ORIGIN,
    )
    assert created.status_code == 302, created.text[:500]
    response = await login(client, "floor7")
    assert response.status_code == 200 and response.json()["role"] == "operator"
    no_password = await client.post(
        "/admin/user/create", data={"username": "floor8", "role": "user"}, headers=ORIGIN
    )
    assert no_password.status_code == 400


async def test_actions_deactivate_and_revoke_sessions(
    client: httpx.AsyncClient, make_user: MakeUser, admin_headers: dict[str, str]
) -> None:
    await make_user(role="admin", email="actions@example.com")
    worker = await make_user(email="worker@example.com")
    other = await make_user(email="other@example.com")
    worker_tokens = (await login(client, "worker@example.com", client="native")).json()
    other_tokens = (await login(client, "other@example.com", client="native")).json()
    client.cookies.clear()
    await panel_login(client, "actions@example.com", **ORIGIN)
    # Issue 12.2: the action's link (GET) asks, it changes nothing; the change is a POST.
    for action, pk in (("revoke-sessions", other.id), ("deactivate", worker.id)):
        asked = await client.get(f"/admin/user/action/{action}?pks={pk}")
        assert asked.status_code == 200 and 'method="post"' in asked.text, action
        assert f'action="http://testserver/admin/user/action/{action}?pks={pk}"' in asked.text
    assert (await client.get("/auth/me", headers=bearer(other_tokens["access_token"]))).status_code == 200
    assert (await client.get("/auth/me", headers=bearer(worker_tokens["access_token"]))).status_code == 200
    revoked = await client.post(f"/admin/user/action/revoke-sessions?pks={other.id}", headers=ORIGIN)
    assert revoked.status_code == 303 and revoked.headers["location"].endswith("/admin/user/list")
    assert (await client.get("/auth/me", headers=bearer(other_tokens["access_token"]))).status_code == 401
    assert (await login(client, "other@example.com")).status_code == 200  # still active
    deactivated = await client.post(f"/admin/user/action/deactivate?pks={worker.id}", headers=ORIGIN)
    assert deactivated.status_code == 303
    assert (await client.get("/auth/me", headers=bearer(worker_tokens["access_token"]))).status_code == 401
    assert (await login(client, "worker@example.com")).status_code == 401
    kinds = {e["event_type"] for e in await events(client, admin_headers)}
    assert {"user_deactivated", "session_revoked"} <= kinds


async def test_panel_access_ends_with_demotion_and_logout(
    client: httpx.AsyncClient, make_user: MakeUser, admin_headers: dict[str, str]
) -> None:
    boss = await make_user(role="admin", email="demoted@example.com")
    await panel_login(client, "demoted@example.com", **ORIGIN)
    assert (await client.get("/admin/")).status_code == 200
    await client.patch(f"/users/{boss.id}", json={"role": "operator"}, headers=admin_headers)
    assert (await client.get("/admin/user/list")).status_code == 403  # an operator now
    await client.patch(f"/users/{boss.id}", json={"role": "user"}, headers=admin_headers)
    assert (await client.get("/admin/")).status_code == 302
    await client.patch(f"/users/{boss.id}", json={"role": "admin"}, headers=admin_headers)
    await panel_login(client, "demoted@example.com", **ORIGIN)
    assert (await client.get("/admin/")).status_code == 200
    cookie = client.cookies["basis_admin"]
    assert (await client.get("/admin/logout")).status_code == 302
    # A copy of the old cookie does not open the panel again: the panel session was revoked.
    client.cookies.set("basis_admin", cookie, domain="testserver.local", path="/admin")
    assert (await client.get("/admin/", headers={"Cookie": f"basis_admin={cookie}"})).status_code == 302


async def test_auth_events_view(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    await make_user(role="admin", email="viewer@example.com")
    await login(client, "viewer@example.com", "not my password")
    await panel_login(client, "viewer@example.com", **ORIGIN)
    page = await client.get("/admin/auth-event/list")
    assert page.status_code == 200 and "login_failure" in page.text and "login_success" in page.text
    assert (await client.get("/admin/auth-event/create")).status_code in (403, 404)
    sessions = await client.get("/admin/refresh-token/list")
    assert sessions.status_code == 200 and not re.search(r"\b[0-9a-f]{64}\b", sessions.text)


async def test_secure_panel_cookie_under_https(make_client, make_user: MakeUser) -> None:  # type: ignore[no-untyped-def]
    await make_user(role="admin", email="tls-admin@example.com")
    async with make_client(public_url="https://testserver") as client:
        response = await panel_login(client, "tls-admin@example.com", Origin="https://testserver")
        cookie = response.headers["set-cookie"].lower()
        assert cookie.startswith("__secure-basis_admin=") and "secure" in cookie


async def test_panel_login_at_every_served_address(make_client, make_user: MakeUser) -> None:  # type: ignore[no-untyped-def]
    # Issue 12.1: the address uvicorn prints (127.0.0.1) works as well as the public URL; a
    # same-origin post is accepted on each host the server serves, a cross-origin one is not.
    await make_user(role="admin", email="where@example.com")
    async with make_client(public_url="http://localhost:8000", allowed_hosts=["panel.example.org"]) as client:
        for base in ("http://127.0.0.1:8000", "http://localhost:8000", "http://[::1]:8000",
                     "http://panel.example.org"):
            client.cookies.clear()
            form = await client.get(f"{base}/admin/login")
            assert form.status_code == 200 and f'action="{base}/admin/login"' in form.text, base
            response = await client.post(
                f"{base}/admin/login",
                data={"username": "where@example.com", "password": PASSWORD},
                headers={"Origin": base},
            )
            assert response.status_code == 302, (base, response.status_code, response.text[:200])
            assert response.headers["location"] == f"{base}/admin/", base
            assert (await client.get(f"{base}/admin/user/list")).status_code == 200, base
        # The browser is on one served host, the form came from another: cross-origin, refused.
        client.cookies.clear()
        for origin in ("http://localhost:8000", "http://127.0.0.1:8001", "https://127.0.0.1:8000",
                       "http://evil.example.net", "null"):
            refused = await client.post(
                "http://127.0.0.1:8000/admin/login",
                data={"username": "where@example.com", "password": PASSWORD},
                headers={"Origin": origin},
            )
            if origin == "http://localhost:8000":  # the public URL's origin is always allowed
                assert refused.status_code == 302
                client.cookies.clear()
                continue
            assert refused.status_code == 403 and refused.json()["code"] == "origin_not_allowed", origin


async def test_a_host_the_server_does_not_serve_is_400(make_client, make_user: MakeUser) -> None:  # type: ignore[no-untyped-def]
    await make_user(role="admin", email="hosts@example.com")
    async with make_client(public_url="https://basis.example.com") as client:
        for path in ("/admin/login", "/admin/", "/auth/me", "/docs"):
            response = await client.get(f"http://evil.example.net{path}")
            assert response.status_code == 400, path
            assert response.json() == {
                "detail": "This server does not answer to that Host", "code": "invalid_host"
            }
            assert "evil.example.net" not in response.headers.get("location", "")
        posted = await client.post(
            "http://evil.example.net/admin/login",
            data={"username": "hosts@example.com", "password": PASSWORD},
            headers={"Origin": "http://evil.example.net"},
        )
        assert posted.status_code == 400 and "set-cookie" not in posted.headers
        # Probes and scrapers reach the ops endpoints by any address.
        assert (await client.get("http://10.1.2.3:8000/health")).status_code == 200
        assert (await client.get("https://basis.example.com/admin/login")).status_code == 200


async def test_a_refused_action_comes_back_to_the_list_with_the_reason(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    # Issue 12.3: deactivating the last admin was a plain-text 500 (MissingGreenlet).
    only = await make_user(role="admin", email="only-admin@example.com")
    worker = await make_user(email="still-here@example.com")
    await panel_login(client, "only-admin@example.com", **ORIGIN)
    response = await client.post(
        f"/admin/user/action/deactivate?pks={only.id},{worker.id}", headers=ORIGIN, follow_redirects=True
    )
    assert response.status_code == 200 and str(response.url).startswith("http://testserver/admin/user/list")
    assert "The last active admin cannot be demoted or deactivated" in response.text
    assert "only-admin@example.com" in response.text
    assert (await login(client, "only-admin@example.com")).status_code == 200
    assert (await login(client, "still-here@example.com")).status_code == 401  # the other row was done


async def test_csv_exports_neutralise_formulas(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    # Issue 12.4: an unauthenticated login attempt plants a formula through its User-Agent.
    import csv
    import io

    await make_user(role="admin", email="exporter@example.com")
    planted = ['=HYPERLINK("http://evil.example.net","x")', "+1+1", "-2+3", "@SUM(A1)"]
    for agent in planted:
        await client.post(
            "/auth/login", json={"login": "nobody@example.com", "password": "x" * 10},
            headers={"User-Agent": agent},
        )
    await panel_login(client, "exporter@example.com", **ORIGIN)
    export = await client.get("/admin/auth-event/export/csv")
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    assert "attachment" in export.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(export.text)))
    agents = [row[rows[0].index("user_agent")] for row in rows[1:]]
    for agent in planted:
        assert "'" + agent in agents, (agent, agents)
    cells = [cell for row in rows for cell in row]
    assert not [cell for cell in cells if cell.startswith(("=", "+", "-", "@"))]


async def test_panel_times_are_in_the_deployment_zone_with_the_offset(
    client: httpx.AsyncClient, make_user: MakeUser, admin_headers: dict[str, str]
) -> None:
    # Issue 12.5: auth events showed UTC; every view shows the site's zone (Europe/Warsaw).
    import datetime as dt
    from zoneinfo import ZoneInfo

    boss = await make_user(role="admin", email="clock@example.com")
    await panel_login(client, "clock@example.com", **ORIGIN)
    event = (await events(client, admin_headers, event_type="login_success"))[0]
    created = dt.datetime.fromisoformat(event["created_at"].replace("Z", "+00:00"))
    local = created.astimezone(ZoneInfo("Europe/Warsaw"))
    offset = local.strftime("%z")
    shown = f"{local:%Y-%m-%d %H:%M:%S} {offset[:3]}:{offset[3:]}"
    assert offset in ("+0100", "+0200")
    listing = await client.get("/admin/auth-event/list")
    assert shown in listing.text, shown
    assert f"{created:%Y-%m-%d %H:%M:%S}" not in listing.text  # no bare UTC time beside it
    details = await client.get(f"/admin/user/details/{boss.id}")
    joined = boss.created_at.astimezone(ZoneInfo("Europe/Warsaw"))
    assert f"{joined:%Y-%m-%d %H:%M:%S} {offset[:3]}:{offset[3:]}" in details.text
