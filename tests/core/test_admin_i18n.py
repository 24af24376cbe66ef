"""The admin panel's own texts (SQLAdmin's) in the language of Basis's pages (issue 17.2):
the ``basis_lang`` cookie, else Accept-Language, else English; Ukrainian from Basis's catalog."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from babel.messages.pofile import read_po
from fastapi import FastAPI
from sqladmin import ModelView
from sqladmin import i18n as sqladmin_i18n

from basis.core import i18n
from basis.core.admin import column_label, shown_columns
from tests.core.test_i18n import _catalog
from tests.fixtures.auth import MakeUser
from tests.identity.helpers import PASSWORD

ORIGIN = {"Origin": "http://testserver"}
# language -> (login button, "Logout", "Search")
TEXTS = {
    "en": ("Login", "Logout", "Search"),
    "uk": ("Увійти", "Вийти", "Пошук"),
    "ru": ("Вход", "Выход", "Поиск"),
}
ACTIONS = {"en": "Deactivate", "uk": "Деактивувати", "ru": "Деактивировать"}
# language -> (the Warehouse menu group, the products list's title, its "New" button, a column)
NAMES = {
    "en": ("Warehouse", "Products", "New Product", "In stock"),
    "uk": ("Склад", "Товари", "Новий запис: Товар", "У наявності"),  # noqa: RUF001 (Cyrillic)
    "ru": ("Склад", "Товары", "Создать: Товар", "В наличии"),  # noqa: RUF001 (Cyrillic)
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
        assert f"> {ACTIONS[code]} </a>" in " ".join(page.text.split()), code  # the list's action menu
        others = {TEXTS[other][1] for other in TEXTS if other != code} - {logout}
        assert not any(f">{word}<" in page.text.replace(" ", "").replace("\n", "") for word in others)

        # Basis's own names: the menu group, the list's title, SQLAdmin's "New %(name)s" button.
        menu, title, button, column = NAMES[code]
        page = await client.get("/admin/product/list")  # the address stays English in every language
        assert page.status_code == 200, code
        text = " ".join(page.text.split())
        assert f'<span class="nav-link-title">{menu}</span>' in text, code
        assert f'<h3 class="card-title">{title}</h3>' in text and button in text, code
        assert f"<th> {column} </th>" in text, code
        if code != "en":
            assert '<h3 class="card-title">Products</h3>' not in text and ">Users<" not in text
        export = await client.get("/admin/auth-event/export/csv")
        assert export.status_code == 200, code
        assert re.search(
            r"filename=Auth_event_\d{4}-\d\d-\d\d_[\d-]+\.csv$", export.headers["content-disposition"]
        )
    client.cookies.delete(i18n.LANG_COOKIE)


def _own_views(app: FastAPI) -> list[Any]:
    """The panel's views that Basis ships (identity and its apps), not a test plug-in's."""
    return [view for view in app.state.admin.views if type(view).__module__.startswith("basis.")]


async def test_every_name_the_panel_shows_is_translated(client: httpx.AsyncClient, backend: str) -> None:
    if backend != "sqlite":
        pytest.skip("catalogs only: checked once")
    views = _own_views(client.app)  # type: ignore[attr-defined]
    assert len(views) > 20  # identity and every app of Basis
    shown = {
        str.__str__(getattr(view, field))
        for view in views
        for field in ("name", "name_plural")
        if getattr(view, field, None)
    }
    shown |= {view.category for view in views if getattr(view, "category", None)}
    # Every column a list, a details page, a form, the search or the sorting shows.
    shown |= {
        str.__str__(view._column_labels[name])
        for view in views
        if isinstance(view, ModelView)
        for name in shown_columns(view)
    }
    shown |= {
        str.__str__(label)
        for view in views
        if isinstance(view, ModelView)
        for actions in (view._custom_actions_in_list, view._custom_actions_in_detail)
        for label in actions.values()
    }
    assert {
        "Users",
        "Products",
        "Warehouse",
        "Families",
        "Exchange",
        "Full name",
        "SKU",
        "Deactivate",
    } <= shown
    english = set(_catalog("en"))
    assert shown <= english, f"not in the catalogs: {sorted(shown - english)}"
    for language in ("uk", "ru"):
        catalog = _catalog(language)
        assert all(catalog[name] for name in shown), language


@pytest.mark.parametrize(
    ("attribute", "label"),
    [
        ("full_name", "Full name"),
        ("is_active", "Active"),
        ("product_id", "Product"),
        ("qr_code", "QR code"),
        ("nfc_uid", "NFC UID"),
        ("evidence_urls", "Evidence URLs"),
        ("id", "ID"),
    ],
)
def test_a_column_without_a_label_gets_a_readable_one(attribute: str, label: str) -> None:
    assert column_label(attribute) == label
