# ruff: noqa: RUF001 - Ukrainian and Russian texts
"""Interface languages (issue 17.2): catalogs compiled and complete, the language negotiated,
dates and numbers in the language's format, templates translated per render."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from jinja2 import Environment

from basis.core import i18n

SOURCES = Path(i18n.__file__).resolve().parent.parent


def _catalog(language: str) -> dict[str, str]:
    path = i18n.LOCALE_DIR / language / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as source:
        return {m.id: m.string for m in read_po(source) if m.id}


def test_every_compiled_catalog_matches_its_source() -> None:
    # A .po edited without `python -m basis.core.i18n` fails here.
    assert {po.parent.parent.name for po in i18n.catalogs()} == set(i18n.LANGUAGES)
    assert i18n.stale() == []


def test_a_stale_catalog_is_noticed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = tmp_path / "uk" / "LC_MESSAGES"
    copy.mkdir(parents=True)
    source = i18n.LOCALE_DIR / "uk" / "LC_MESSAGES"
    (copy / "messages.po").write_bytes(
        (source / "messages.po").read_bytes().replace("Зберегти".encode(), "Записати".encode())
    )
    (copy / "messages.mo").write_bytes((source / "messages.mo").read_bytes())
    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path)
    assert i18n.stale() == [copy / "messages.po"]
    i18n.compile_all(write=lambda _: None)
    assert i18n.stale() == []


def test_every_text_of_the_pages_is_in_every_catalog() -> None:
    used = set()
    for part in ("apps/timetracker", "identity", "core"):
        for _, _, message, _, _ in extract_from_dir(
            SOURCES / part,
            method_map=[("**.html", "jinja2"), ("**.py", "python")],
            keywords={"gettext": None, "_": None},
            options_map={"**.html": {"extensions": "jinja2.ext.i18n"}},
        ):
            used.add(message if isinstance(message, str) else message[0])
    assert len(used) > 40
    english = _catalog("en")
    assert used <= set(english)
    for language in ("uk", "ru"):
        catalog = _catalog(language)
        assert set(catalog) == set(english)
        assert all(catalog.values()), f"{language}: untranslated {[k for k, v in catalog.items() if not v]}"


@pytest.mark.parametrize(
    ("header", "preferred", "expected"),
    [
        ("uk-UA,uk;q=0.9,en;q=0.8", None, "uk"),
        ("de-DE, ru;q=0.5, en;q=0.4", None, "ru"),
        ("en;q=0.2, uk;q=0.9", None, "uk"),
        ("fr", None, "en"),
        (None, None, "en"),
        ("uk;q=0, ru", None, "ru"),
        ("*", None, "en"),
        ("en", "uk", "uk"),
        ("uk", "de", "uk"),
        ("q=;;,,, ;q=abc", None, "en"),
    ],
)
def test_the_language_is_the_users_choice_else_the_browsers(
    header: str | None, preferred: str | None, expected: str
) -> None:
    assert i18n.negotiate(header, preferred) == expected


def test_dates_and_numbers_follow_the_language() -> None:
    day = dt.date(2026, 3, 9)
    assert i18n.lang("en").date(day) == "Mar 9, 2026"
    assert i18n.lang("uk").date(day) == "9 бер. 2026\u202fр."
    assert i18n.lang("ru").month_name(3) == "март"
    assert i18n.lang("en").number(1234.5, 2) == "1,234.50"
    assert i18n.lang("uk").number(1234.5, 2) == "1\xa0234,50"
    assert i18n.lang("xx").code == "en"


def test_one_environment_renders_each_render_in_its_own_language() -> None:
    env = i18n.install(Environment(autoescape=True, enable_async=False))
    template = env.from_string('{{ _("Save") }} | {% trans count=n %}Saved {{ count }} cells.{% endtrans %}')
    assert template.render(n=3) == "Save | Saved 3 cells."
    assert template.render(n=3, **i18n.lang("uk").context()) == "Зберегти | Збережено клітинок: 3."
    assert template.render(n=3, **i18n.lang("ru").context()) == "Сохранить | Сохранено ячеек: 3."
