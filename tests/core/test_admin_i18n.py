"""The admin panel's own texts (SQLAdmin's) in the language of Basis's pages (issue 17.2):
the ``basis_lang`` cookie, else Accept-Language, else English; Ukrainian from Basis's catalog."""

from __future__ import annotations

import httpx
import pytest
from babel.messages.pofile import read_po
from sqladmin import i18n as sqladmin_i18n

from basis.core import i18n
from tests.fixtures.auth import MakeUser
from tests.identity.helpers import PASSWORD

ORIGIN = {"Origin": "http://testserver"}
# language -> (login button, "Logout", "Search")
TEXTS = {
    "en": ("Login", "Logout", "Search"),
    "uk": ("Увійти", "Вийти", "Пошук"),
    "ru": ("Вход", "Выход", "Поиск"),
}


def test_the_ukrainian_panel_catalog_translates_every_text_of_sqladmin() -> None:
    english = sqladmin_i18n.__file__.replace("i18n.py", "translations/en/LC_MESSAGES/admin.po")
    with open(english, "rb") as source:
        wanted = {m.id for m in read_po(source) if m.id}
    with (i18n.LOCALE_DIR / "uk" / "LC_MESSAGES" / "admin.po").open("rb") as source:
        ours = {m.id: m.string for m in read_po(source) if m.id}
    assert set(ours) == wanted and all(ours.values())


async def test_the_panel_speaks_the_language_of_basis_pages(
    client: httpx.AsyncClient, make_user: MakeUser, backend: str
) -> None:
    if backend != "sqlite":
        pytest.skip("templates and catalogs only: checked once")
    await make_user(role="admin", email="polyglot@example.com")

    async def login_page(**headers: str) -> str:
        page = await client.get("/admin/login", headers=headers)
        assert page.status_code == 200
        return page.text

    assert f">{TEXTS['en'][0]}<" in (await login_page()).replace(" ", "").replace("\n", "")
    for code, (button, _, _) in TEXTS.items():
        text = (await login_page(**{"Accept-Language": f"{code}-XX,en;q=0.5"})).replace("\n", " ")
        assert button in text, code
    assert "Вход" not in await login_page(**{"Accept-Language": "de-DE"})  # Basis speaks no German

    signed_in = await client.post(
        "/admin/login", data={"username": "polyglot@example.com", "password": PASSWORD}, headers=ORIGIN
    )
    assert signed_in.status_code == 302
    for code, (_, logout, search) in TEXTS.items():
        # The cookie of Basis's language switch wins over the browser's Accept-Language.
        client.cookies.set(i18n.LANG_COOKIE, code)
        page = await client.get(
            "/admin/user/list", headers={"Accept-Language": "ru" if code != "ru" else "uk"}
        )
        assert page.status_code == 200 and page.headers["content-language"] == code
        assert logout in page.text and search in page.text, code
        others = {TEXTS[other][1] for other in TEXTS if other != code} - {logout}
        assert not any(f">{word}<" in page.text.replace(" ", "").replace("\n", "") for word in others)
    client.cookies.delete(i18n.LANG_COOKIE)
