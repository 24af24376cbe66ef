# ruff: noqa: RUF001 - Ukrainian and Russian page texts
"""The page a reset link opens (issue 12.9): served by identity in en/uk/ru, no external asset,
its script a file of Basis, and without script the same confirmation as the API."""

from __future__ import annotations

import datetime as dt
import re

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from basis.core.time import utcnow
from basis.identity.models import PasswordResetToken
from basis.identity.tokens import digest
from tests.fixtures.auth import MakeUser

OWN = {"Origin": "http://testserver"}


async def reset_token(session: AsyncSession, user_id: int, raw: str = "reset-code-for-the-page-1") -> str:
    session.add(
        PasswordResetToken(
            token=digest(raw), user_id=user_id, expires_at=utcnow() + dt.timedelta(hours=1), used=False
        )
    )
    await session.commit()
    return raw


async def test_the_page_speaks_the_browsers_language_and_loads_nothing_from_outside(
    client: httpx.AsyncClient,
) -> None:
    english = await client.get("/reset-password")
    assert english.status_code == 200 and english.headers["content-language"] == "en"
    assert "Choose a new password" in english.text and 'name="new_password"' in english.text
    assert 'id="new-password-again"' in english.text and "At least 8 characters" in english.text
    csp = english.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp and "unsafe-inline" not in csp
    assert english.headers["cache-control"] == "no-store"
    assert not re.search(
        r"<script>|\son[a-z]+=|(src|href)=\"(https?:)?//", english.text
    )  # no inline script, no CDN
    ukrainian = await client.get("/reset-password", headers={"Accept-Language": "uk-UA,uk;q=0.9"})
    assert "Новий пароль" in ukrainian.text and ukrainian.headers["content-language"] == "uk"
    assert '<html lang="uk">' in ukrainian.text
    russian = await client.get("/reset-password", headers={"Accept-Language": "ru"})
    assert "Сохранить новый пароль" in russian.text
    script = await client.get("/reset-password/reset.js")
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    assert "location.hash" in script.text and "/auth/password-reset/confirm" in script.text
    assert (await client.get("/reset-password/reset.css")).status_code == 200
    assert (await client.get("/reset-password/other.js")).status_code == 404


async def test_without_script_the_form_confirms_like_the_api(
    client: httpx.AsyncClient, session: AsyncSession, make_user: MakeUser
) -> None:
    user = await make_user(email="page-reset@example.com")
    token = await reset_token(session, user.id)
    uk = {**OWN, "Accept-Language": "uk"}
    differ = await client.post(
        "/reset-password",
        data={"token": token, "new_password": "a good new secret 7", "new_password_again": "other"},
        headers=uk,
    )
    assert differ.status_code == 422 and "Паролі не збігаються." in differ.text
    weak = await client.post(
        "/reset-password",
        data={"token": token, "new_password": "short", "new_password_again": "short"},
        headers=uk,
    )
    assert weak.status_code == 422 and "щонайменше 8 символів" in weak.text and "<form" in weak.text
    foreign = await client.post(
        "/reset-password",
        data={"token": token, "new_password": "a good new secret 7"},
        headers={"Origin": "https://evil.example.net"},
    )
    assert foreign.status_code == 403
    done = await client.post(
        "/reset-password",
        data={
            "token": token,
            "new_password": "a good new secret 7",
            "new_password_again": "a good new secret 7",
        },
        headers=OWN,
    )
    assert done.status_code == 200 and "Password changed" in done.text
    again = await client.post(
        "/reset-password", data={"token": token, "new_password": "another secret 88"}, headers=uk
    )
    assert again.status_code == 400 and "Посилання недійсне або застаріле" in again.text
    signed_in = await client.post(
        "/auth/login", json={"email": "page-reset@example.com", "password": "a good new secret 7"}
    )
    assert signed_in.status_code == 200
