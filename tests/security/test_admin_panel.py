"""The /admin panel: admins only (checked against the database), CSRF on forms, no hashes shown."""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from tests.security.helpers import DEFAULT_PASSWORD, HASH_PATTERN

ClientFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]
FOREIGN = "https://evil.example.net"
REDIRECTS = (301, 302, 303, 307, 308)


async def panel_login(
    client: httpx.AsyncClient,
    username: str,
    password: str = DEFAULT_PASSWORD,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    return await client.post(
        "/admin/login", data={"username": username, "password": password}, headers=headers
    )


async def logged_in(client: httpx.AsyncClient) -> bool:
    response = await client.get("/admin/", follow_redirects=False)
    assert response.status_code in (200, *REDIRECTS), response.status_code
    return response.status_code == 200


def links(html: str, base: str) -> set[str]:
    found = {urljoin(base, href) for href in re.findall(r'href="([^"#]+)"', html)}
    return {
        urlsplit(u).path + (f"?{urlsplit(u).query}" if urlsplit(u).query else "")
        for u in found
        if urlsplit(u).path.startswith("/admin/")
    }


async def test_unauthenticated_visitors_are_sent_to_the_login_page(client: httpx.AsyncClient) -> None:
    for path in ("/admin/", "/admin", "/admin/user/list", "/admin/user/details/1"):
        response = await client.get(path, follow_redirects=False)
        if response.status_code == 404 and path != "/admin/":
            continue  # a view named otherwise; the index check below is the contract
        assert response.status_code in REDIRECTS, (path, response.status_code)
        assert "/admin/login" in response.headers["location"] or response.headers["location"].endswith(
            "/admin/"
        )
    page = await client.get("/admin/", follow_redirects=True)
    assert page.status_code == 200 and 'name="password"' in page.text
    assert "/admin/login" in str(page.url)


async def test_credentials_without_a_staff_role_are_refused(
    client: httpx.AsyncClient, make_user: Any
) -> None:
    # Admins and operators sign in (operators for TimeTracker's staff pages, issue 17); a plain
    # user never does.
    staff = await make_user(role="user")
    response = await panel_login(client, staff.email)
    assert response.status_code in (400, 401, 403, *REDIRECTS), response.status_code
    if response.status_code in REDIRECTS:
        assert "/admin/login" in response.headers["location"]
    assert not await logged_in(client)


async def test_admin_logs_in_and_a_wrong_password_does_not(client: httpx.AsyncClient, make_user: Any) -> None:
    admin = await make_user(role="admin")
    await panel_login(client, admin.email, "not the password")
    assert not await logged_in(client)
    response = await panel_login(client, admin.email)
    assert response.status_code in REDIRECTS, (response.status_code, response.text[:300])
    assert await logged_in(client)


async def test_login_form_with_a_foreign_origin_is_refused(client: httpx.AsyncClient, make_user: Any) -> None:
    admin = await make_user(role="admin")
    for origin in (FOREIGN, "null"):
        response = await panel_login(client, admin.email, headers={"Origin": origin})
        assert response.status_code == 403, (origin, response.status_code)
        assert not await logged_in(client)
    response = await panel_login(client, admin.email, headers={"Origin": "http://testserver"})
    assert response.status_code in REDIRECTS
    assert await logged_in(client)


async def test_admin_forms_refuse_a_foreign_origin(
    client: httpx.AsyncClient, make_user: Any, admin_headers: dict[str, str]
) -> None:
    admin = await make_user(role="admin")
    victim = await make_user(full_name="Original Name")
    assert (await panel_login(client, admin.email)).status_code in REDIRECTS
    index = (await client.get("/admin/")).text
    user_lists = [
        link for link in links(index, "http://testserver/admin/") if re.search(r"/admin/users?/list", link)
    ]
    assert user_lists, sorted(links(index, "http://testserver/admin/"))
    identity = user_lists[0].split("/")[2]
    for method, path, data in (
        (
            "POST",
            f"/admin/{identity}/edit/{victim.id}",
            {"full_name": "Pwned", "role": "admin", "is_active": "y"},
        ),
        ("DELETE", f"/admin/{identity}/delete?pks={victim.id}", None),
        (
            "POST",
            f"/admin/{identity}/create",
            {"email": "csrf@example.com", "role": "admin", "password": "x" * 20},
        ),
    ):
        response = await client.request(
            method, path, data=data, headers={"Origin": FOREIGN}, follow_redirects=False
        )
        assert response.status_code == 403, (method, path, response.status_code)
    stored = (await client.get(f"/users/{victim.id}", headers=admin_headers)).json()
    assert stored["full_name"] == "Original Name" and stored["role"] == "user"
    assert (await client.get("/users", params={"q": "csrf@example.com"}, headers=admin_headers)).json()[
        "total"
    ] == 0


async def test_password_hashes_never_appear_in_admin_pages(client: httpx.AsyncClient, make_user: Any) -> None:
    admin = await make_user(role="admin")
    for role in ("user", "operator"):
        await make_user(role=role)
    assert (await panel_login(client, admin.email)).status_code in REDIRECTS
    index = await client.get("/admin/")
    assert index.status_code == 200
    list_pages = {
        link for link in links(index.text, "http://testserver/admin/") if link.rstrip("/").endswith("/list")
    }
    assert any(re.search(r"/admin/users?/list", p) for p in list_pages), sorted(list_pages)
    visited: set[str] = set()
    for page in sorted(list_pages):
        listing = await client.get(page)
        visited.add(page)
        assert listing.status_code == 200, page
        assert not HASH_PATTERN.search(listing.text), page
        detail_pages = sorted(
            link
            for link in links(listing.text, f"http://testserver{page}")
            if re.search(r"/(details|edit)/", link)
        )[:6]
        identity = page.split("/")[2]
        exports = [f"/admin/{identity}/export/csv", f"/admin/{identity}/export/json"]
        for sub in (*detail_pages, *exports):
            response = await client.get(sub)
            visited.add(sub)
            assert response.status_code < 500, (sub, response.status_code)
            assert not HASH_PATTERN.search(response.text), sub
    assert any("/details/" in v or "/edit/" in v for v in visited), sorted(visited)


async def test_panel_session_ends_when_the_admin_is_demoted(
    client: httpx.AsyncClient, make_user: Any, admin_headers: dict[str, str]
) -> None:
    # A panel session must not outlive the role it was granted for (checked against the
    # database on every request): an admin made operator loses the accounts at once, and one
    # made a plain user loses the panel.
    admin = await make_user(role="admin")
    assert (await panel_login(client, admin.email)).status_code in REDIRECTS
    assert (await client.get("/admin/user/list")).status_code == 200
    response = await client.patch(f"/users/{admin.id}", json={"role": "operator"}, headers=admin_headers)
    assert response.status_code == 200
    assert (await client.get("/admin/user/list")).status_code == 403
    response = await client.patch(f"/users/{admin.id}", json={"role": "user"}, headers=admin_headers)
    assert response.status_code == 200
    assert not await logged_in(client)


async def test_panel_cookie_is_secure_under_https(make_client: ClientFactory, make_user: Any) -> None:
    admin = await make_user(role="admin")
    async with make_client(public_url="https://basis.example.com") as client:
        response = await panel_login(client, admin.email, headers={"Origin": "https://basis.example.com"})
        assert response.status_code in REDIRECTS, response.status_code
        raw = response.headers.get_list("set-cookie")
        assert raw, "the panel login sets a session cookie"
        for cookie in raw:
            lowered = [part.strip().lower() for part in cookie.split(";")]
            assert "secure" in lowered and "httponly" in lowered, cookie
            assert "samesite=lax" in lowered or "samesite=strict" in lowered, cookie  # ASVS V3.3.2
            assert not cookie.lower().startswith("basis_refresh"), cookie


async def test_panel_pages_cannot_be_framed(client: httpx.AsyncClient) -> None:
    response = await client.get("/admin/login")
    csp = response.headers.get("content-security-policy", "")
    # identity.md: "the admin panel gets the CSP it needs" -- framing is never among those needs.
    assert "frame-ancestors 'none'" in csp or response.headers.get("x-frame-options", "").upper() == "DENY", (
        csp
    )
    assert response.headers.get("x-content-type-options") == "nosniff"


async def test_panel_login_is_rate_limited_like_every_login(
    client: httpx.AsyncClient, make_user: Any
) -> None:
    # identity.md: "Same counters for JSON and form logins and for every login alias"; the panel
    # login is a login form (ASVS V6.3.1 / V2.2.1 anti-automation).
    admin = await make_user(role="admin")
    for i in range(5):
        await panel_login(client, admin.email, f"wrong {i}")
    await panel_login(client, admin.email)
    assert not await logged_in(client), "the 6th attempt (right password) must not log in"
