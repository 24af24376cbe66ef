"""Interface languages: gettext catalogs (Babel) for the pages Basis renders itself.

The catalogs live in ``basis/locale/<lang>/LC_MESSAGES/messages.po`` with their compiled
``messages.mo`` beside them (``python -m basis.core.i18n`` compiles them; a test fails when a
``.mo`` no longer matches its ``.po``). Beside them, ``admin.po`` holds the admin panel's own
texts (SQLAdmin's ``admin`` domain) for a language SQLAdmin does not ship (``core.admin``).
A page's language is the signed-in user's setting when there is one, else the browser's
``Accept-Language``, else English. Dates and numbers are
formatted by Babel for that language.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from babel import Locale, dates, numbers
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations
from jinja2 import Environment
from starlette.requests import HTTPConnection

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
DOMAIN = "messages"
ADMIN_DOMAIN = "admin"  # SQLAdmin's own texts, for the languages it lacks (uk)
LANGUAGES: tuple[str, ...] = ("en", "uk", "ru")
DEFAULT_LANGUAGE = "en"
NAMES = {"en": "English", "uk": "Українська", "ru": "Русский"}
LANG_COOKIE = "basis_lang"


def _tags(header: str) -> Iterable[tuple[float, int, str]]:
    for place, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if tag and quality > 0:
            yield quality, place, tag.strip().lower()


def negotiate(accept_language: str | None, preferred: str | None = None) -> str:
    """The language to answer in: ``preferred`` (a user's setting) when Basis speaks it, else the
    best of ``Accept-Language`` that it speaks (``uk-UA`` counts as ``uk``), else English."""
    if preferred and preferred.lower()[:2] in LANGUAGES:
        return preferred.lower()[:2]
    ranked = sorted(_tags((accept_language or "")[:1000]), key=lambda item: (-item[0], item[1]))
    for _, _, tag in ranked:
        base = tag.split("-")[0]
        if base in LANGUAGES:
            return base
        if tag == "*":
            return DEFAULT_LANGUAGE
    return DEFAULT_LANGUAGE


def request_language(conn: HTTPConnection, preferred: str | None = None) -> str:
    """The language of a page: the user's setting, a choice kept in the language cookie,
    the browser's ``Accept-Language``."""
    chosen = preferred or conn.cookies.get(LANG_COOKIE)
    return negotiate(conn.headers.get("accept-language"), chosen)


@functools.cache
def translations(language: str) -> Translations:
    language = language if language in LANGUAGES else DEFAULT_LANGUAGE
    loaded = Translations.load(str(LOCALE_DIR), [language], DOMAIN)
    if not isinstance(loaded, Translations):  # a missing catalog: the English msgids
        return Translations()
    return loaded


@dataclass(frozen=True)
class Lang:
    """One language's gettext and Babel formatting, handed to a template as ``i18n``."""

    code: str

    @property
    def locale(self) -> Locale:
        return Locale.parse(self.code)

    def gettext(self, message: str, **values: Any) -> str:
        text = translations(self.code).gettext(message)
        return text % values if values else text

    def ngettext(self, singular: str, plural: str, n: int, **values: Any) -> str:
        text = translations(self.code).ngettext(singular, plural, n)
        return text % {"num": n, **values}

    def date(self, value: dt.date, fmt: str = "medium") -> str:
        return dates.format_date(value, format=fmt, locale=self.code)

    def datetime(self, value: dt.datetime, fmt: str = "medium", tz: Any = None) -> str:
        return dates.format_datetime(value, format=fmt, tzinfo=tz, locale=self.code)

    def time(self, value: dt.time | dt.datetime, fmt: str = "short", tz: Any = None) -> str:
        return dates.format_time(value, format=fmt, tzinfo=tz, locale=self.code)

    def number(self, value: float | int | Decimal, digits: int | None = None) -> str:
        if digits is None:
            return numbers.format_decimal(value, locale=self.code)
        pattern = "#,##0." + "0" * digits if digits else "#,##0"
        return numbers.format_decimal(value, format=pattern, locale=self.code)

    def month_name(self, month: int) -> str:
        return dates.get_month_names("wide", context="stand-alone", locale=self.code)[month]

    def weekday_short(self, day: dt.date) -> str:
        return dates.format_date(day, "EEEEEE", locale=self.code)

    def context(self) -> dict[str, Any]:
        """What a template rendered through ``install`` needs: ``{% trans %}``, ``_()`` and ``i18n``."""
        return {"gettext": self.gettext, "ngettext": self.ngettext, "_": self.gettext, "i18n": self}


def lang(code: str) -> Lang:
    return Lang(code if code in LANGUAGES else DEFAULT_LANGUAGE)


def install(env: Environment) -> Environment:
    """Jinja2's i18n extension on ``env``; the gettext of a render comes from its context
    (``Lang.context()``), so one environment serves every language at once. English is the
    fallback for a template rendered without one."""
    if "jinja2.ext.InternationalizationExtension" not in env.extensions:
        env.add_extension("jinja2.ext.i18n")
        env.install_gettext_callables(  # type: ignore[attr-defined]
            lang(DEFAULT_LANGUAGE).gettext, lang(DEFAULT_LANGUAGE).ngettext, newstyle=True
        )
        env.globals["_"] = lang(DEFAULT_LANGUAGE).gettext
    return env


def compiled(po_path: Path) -> bytes:
    """The ``.mo`` bytes a ``.po`` compiles to."""
    with po_path.open("rb") as source:
        catalog = read_po(source, locale=po_path.parent.parent.name)
    out = io.BytesIO()
    write_mo(out, catalog, use_fuzzy=False)
    return out.getvalue()


def catalogs() -> list[Path]:
    """Every catalog: Basis's pages (``messages``) and the panel's own texts (``admin``)."""
    return sorted(
        po for domain in (DOMAIN, ADMIN_DOMAIN) for po in LOCALE_DIR.glob(f"*/LC_MESSAGES/{domain}.po")
    )


def stale() -> list[Path]:
    """The ``.po`` files whose ``.mo`` is missing or differs from what they compile to."""
    return [
        po
        for po in catalogs()
        if not po.with_suffix(".mo").exists() or po.with_suffix(".mo").read_bytes() != compiled(po)
    ]


def compile_all(write: Callable[[str], Any] = print) -> None:
    for po in catalogs():
        po.with_suffix(".mo").write_bytes(compiled(po))
        write(f"compiled {po.relative_to(LOCALE_DIR)}")


if __name__ == "__main__":  # python -m basis.core.i18n
    compile_all()
    sys.exit(0)
