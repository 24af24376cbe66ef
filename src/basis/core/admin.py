"""Bases for admin panel (SQLAdmin) views whose writes go through a service.

A form's values are cleaned and validated by the app's own schema, the change is made by the
service (so the panel audits and refuses exactly as the API does), and a domain error comes back
as the message the form shows. The panel itself (authentication, mounting) lives in identity;
it puts its authentication backend, which knows the signed-in admin, on the panel's state under
``AUTH_STATE``.

The panel speaks the language of Basis's own pages (``speak_basis_languages``): SQLAdmin's
catalogs for its own texts (``en``, ``ru``) and Basis's ``locale/uk/LC_MESSAGES/admin.po``
for Ukrainian, which SQLAdmin does not ship.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from babel.support import Translations
from markupsafe import Markup, escape
from sqladmin import ModelView
from sqladmin import i18n as sqladmin_i18n
from sqladmin.helpers import secure_filename
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from basis.core import i18n
from basis.core.errors import BasisError
from basis.core.spreadsheets import safe_cell

T = TypeVar("T")
AUTH_STATE = "basis_admin_auth"


class PanelLanguage:
    """ASGI middleware of the panel: each request in the language Basis's pages would answer it
    in (``i18n.request_language``: the ``basis_lang`` cookie, else Accept-Language, else
    English), made SQLAdmin's active locale for its templates and messages."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        code = i18n.request_language(HTTPConnection(scope))
        sqladmin_i18n.set_locale(code)

        async def answer(message: Message) -> None:
            # SQLAdmin's base template says lang="en" whatever it renders: the header tells the truth.
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("content-language", code)
            await send(message)

        await self.app(scope, receive, answer)


def register_panel_catalogs() -> None:
    """The one place Basis adds to SQLAdmin's catalogs: each of Basis's languages SQLAdmin does
    not ship gets Basis's ``admin``-domain catalog. SQLAdmin 0.32 has no public call for this;
    its ``sqladmin.i18n.translations`` (language -> catalog) is what ``set_locale`` reads."""
    for code in i18n.LANGUAGES:
        if code not in sqladmin_i18n.translations:
            loaded = Translations.load(str(i18n.LOCALE_DIR), [code], i18n.ADMIN_DOMAIN)
            if isinstance(loaded, Translations):
                sqladmin_i18n.translations[code] = loaded


def speak_basis_languages(admin: Any) -> None:
    """Make a freshly built SQLAdmin ``Admin`` translate its own texts per request into the
    language of Basis's pages. Call it before the panel serves its first request."""
    register_panel_catalogs()
    env = admin.templates.env
    env.install_gettext_callables(  # type: ignore[attr-defined]
        sqladmin_i18n.gettext, sqladmin_i18n.ngettext, newstyle=True
    )
    env.globals["get_locale"] = sqladmin_i18n.get_locale
    admin.admin.add_middleware(PanelLanguage)  # outermost: before authentication and forms


class PanelText(str):
    """A text of a panel view (its name, menu category, column and action labels): it
    compares, hashes and builds URLs as its English text, and shows (in templates, and in ``%``
    formatting such as SQLAdmin's "New %(name)s") in the language of the request, from Basis's
    ``messages`` catalogs."""

    __slots__ = ()

    def __str__(self) -> str:
        return i18n.translations(sqladmin_i18n.get_locale()).gettext(str.__str__(self))

    def __html__(self) -> Markup:
        return escape(str(self))


_ACRONYMS = frozenset({"id", "qr", "nfc", "uid", "sku", "ip", "url", "pdf", "api", "mime"})
_WORDS = {"urls": "URLs", "ts": "time"}


def column_label(name: str) -> str:
    """The English label of a model attribute the panel shows: ``full_name`` -> "Full name",
    ``is_active`` -> "Active", ``product_id`` -> "Product", ``qr_code`` -> "QR code"."""
    if name != "id":
        name = name.removeprefix("is_").removesuffix("_id")
    words = [w.upper() if w in _ACRONYMS else _WORDS.get(w, w) for w in name.split("_") if w]
    text = " ".join(words)
    return text[:1].upper() + text[1:]


def shown_columns(view: Any) -> list[str]:
    """The attributes a model view shows anywhere: list, details, form, search and sorting."""
    groups = (
        view._list_prop_names,
        view._details_prop_names,
        view._form_prop_names,
        view._search_fields,
        view._sort_fields,
    )
    return list(dict.fromkeys(name for group in groups for name in group))


def speak_view_names(admin: Any, view: Any) -> None:
    """Give a view just added to ``admin`` (and its menu category) names, column labels and
    action labels that show in the panel's language; a label the view sets itself is kept as
    its English text."""
    for attribute in ("name", "name_plural"):
        value = getattr(view, attribute, None)
        if value and not isinstance(value, PanelText):
            setattr(view, attribute, PanelText(value))
    for item in admin._menu.items:  # SQLAdmin 0.32: the menu's categories, one level deep
        if item.children and not isinstance(item.name, PanelText):
            item.name = PanelText(item.name)
    if isinstance(view, ModelView):
        labels = {name: str.__str__(label) for name, label in view._column_labels.items()}
        for name in shown_columns(view):
            labels.setdefault(name, column_label(name))
        view._column_labels = {name: PanelText(label) for name, label in labels.items()}
        view._column_labels_value_by_key = {label: name for name, label in view._column_labels.items()}
        for actions in (view._custom_actions_in_list, view._custom_actions_in_detail):
            actions.update({slug: PanelText(label) for slug, label in actions.items()})
        # A file name stays English: secure_filename would strip a Cyrillic one to "_<time>.csv".
        english = str.__str__(view.name)
        view.get_export_name = lambda export_type: (
            f"{english}_{time.strftime('%Y-%m-%d_%H-%M-%S')}.{export_type}"
        )
        # SQLAdmin joins the search labels with str.join, which reads a str's own text: join them
        # as the page renders them instead.
        view.search_placeholder = lambda: ", ".join(
            str(view._column_labels.get(field, field)) for field in view._search_fields
        )


def _panel_gettext(lang: i18n.Lang) -> Callable[..., str]:
    """Basis's gettext for ``lang``, SQLAdmin's for the panel texts Basis's catalog lacks
    (a Basis page inside the panel layout, e.g. the confirmation page's "Logout")."""

    def gettext(message: str, **values: Any) -> str:
        text = i18n.translations(lang.code).gettext(message)
        if text == message:
            text = sqladmin_i18n.gettext(message)
        return text % values if values else text

    return gettext


def clean(data: dict[str, Any]) -> dict[str, Any]:
    """Form values with text stripped; an empty text is no value."""
    return {key: (value.strip() or None) if isinstance(value, str) else value for key, value in data.items()}


def readable(error: Exception) -> ValueError:
    """A domain or validation error as the one-line message a form shows."""
    if isinstance(error, BasisError):
        detail = error.detail
        if isinstance(detail, list):
            detail = "; ".join(str(item.get("msg", item)) for item in detail)
        return ValueError(str(detail))
    errors = getattr(error, "errors", None)
    if callable(errors):
        return ValueError("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors()))
    return ValueError(str(error))


def selected_pks(request: Request) -> list[int]:
    """The ids an action was asked for (``?pks=1,2,3``); anything else is ignored."""
    return [int(part) for part in request.query_params.get("pks", "").split(",") if part.strip().isdigit()]


def auth_backend(request: Request) -> Any:
    return getattr(request.scope["app"].state, AUTH_STATE)


async def signed_in(request: Request) -> tuple[Any, Any]:
    """The signed-in admin (the actor of every service call made here) and the settings."""
    backend = auth_backend(request)
    return await backend.current_admin(request), backend.settings


_CONFIRM_PAGE = """{% extends "sqladmin/layout.html" %}
{% block content %}
<div class="col-12"><div class="card">
  <div class="card-header"><h3 class="card-title">{{ label }}</h3></div>
  <div class="card-body">
    <p>{{ message }}</p>
    <p class="text-secondary">{{ _("Selected:") }} {{ pks | join(", ") if pks else _("nothing") }}</p>
    <form method="post" action="{{ action_url }}" class="d-flex gap-2">
      <a href="{{ back_url }}" class="btn">{{ _("Cancel") }}</a>
      <button type="submit" class="btn btn-primary" id="confirm-action">{{ label }}</button>
    </form>
  </div>
</div></div>
{% endblock %}
"""


def confirmed_action(message: str) -> Callable[[Any], Any]:
    """An admin action that changes state: its link (GET) only shows a page that asks
    ``message`` and posts back; the work runs on that POST, which the panel checks for a
    same-site Origin like every form. Put it under ``@action(...)`` (no
    ``confirmation_message`` there: this page is the confirmation)."""

    def wrap(func: Callable[[Any, Request], Awaitable[Response]]) -> Any:
        @functools.wraps(func)
        async def run(view: Any, request: Request) -> Response:
            if request.method == "POST":
                return await func(view, request)
            return await view.confirm_page(request, message)

        return run

    return wrap


def local_time(zone: dt.tzinfo) -> Callable[[dt.datetime], str]:
    """A panel formatter: an instant as the deployment's wall-clock time with its offset
    (``2026-03-29 03:30:00 +02:00``), so every view reads alike whatever the database kept."""

    def show(value: dt.datetime) -> str:
        local = (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).astimezone(zone)
        offset = local.strftime("%z")
        return f"{local:%Y-%m-%d %H:%M:%S} {offset[:3]}:{offset[3:]}"

    return show


def csv_export(view: ModelView, rows: list[Any]) -> Response:
    """The panel's CSV export of ``rows`` (SQLAdmin's columns and file name), each text cell
    made safe for spreadsheets (``safe_cell``, as the apps' API exports do)."""

    async def lines() -> AsyncIterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        names = view._export_prop_names
        writer.writerow(names)
        for row in rows:
            cells = [safe_cell(await view.get_prop_value(row, name)) for name in names]
            writer.writerow([cell if isinstance(cell, str) else str(cell) for cell in cells])
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
        yield buffer.getvalue()

    filename = secure_filename(view.get_export_name(export_type="csv"))
    return StreamingResponse(
        lines(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f"attachment;filename={filename}"},
    )


class RoleGate:
    """The roles a panel view lets in (``roles``), checked by SQLAdmin on every request to the
    view and for its menu entry: the panel's authentication puts the signed-in user's role on the request."""

    roles: tuple[str, ...] = ("admin",)

    def is_accessible(self, request: Request) -> bool:
        return getattr(request.state, "panel_role", None) in self.roles


class ServiceView(RoleGate, ModelView):
    """A model view whose inserts, updates and actions call a service."""

    @staticmethod
    def validated(schema: Any, payload: dict[str, Any]) -> Any:
        """``schema.model_validate(payload)``, its errors as a ValueError the form can show."""
        try:
            return schema.model_validate(payload)
        except Exception as error:
            raise readable(error) from None

    @staticmethod
    async def run(operation: Awaitable[T]) -> T:
        """Await a service call, its domain errors as a ValueError the form can show."""
        try:
            return await operation
        except BasisError as error:
            raise readable(error) from None

    @staticmethod
    async def get_or_fail(session: Any, model: type[T], pk: str | int, label: str) -> T:
        row = await session.get(model, int(pk))
        if row is None:
            raise ValueError(f"{label} not found")
        return row

    async def change_row(
        self, request: Request, pk: str | int, change: Callable[[Any, Any, Any], Awaitable[T]]
    ) -> T:
        """``change(session, row, actor)`` on this view's row ``pk``, for the signed-in admin;
        a missing row or a refusal comes back as the form's message."""
        actor, _ = await signed_in(request)
        async with self.session_maker() as session:
            row = await self.get_or_fail(session, self.model, pk, self.name)
            return await self.run(change(session, row, actor))

    async def confirm_page(self, request: Request, message: str) -> Response:
        slug = request.url.path.rstrip("/").rsplit("/", 1)[-1]
        template = i18n.install(self.templates.env).from_string(_CONFIRM_PAGE)
        lang = i18n.lang(i18n.request_language(request))
        label = self._custom_actions_in_list.get(slug) or self._custom_actions_in_detail.get(slug, slug)
        content = await template.render_async(
            **{**lang.context(), "gettext": _panel_gettext(lang), "_": _panel_gettext(lang)},
            request=request,
            label=lang.gettext(label),
            message=lang.gettext(message),
            pks=selected_pks(request),
            action_url=str(request.url),
            back_url=str(request.url_for("admin:list", identity=self.identity)),
            view=self,
        )
        headers = {"Cache-Control": "no-store", "Content-Language": lang.code}
        return HTMLResponse(content, headers=headers)

    def back_to_list(self, request: Request, errors: list[str]) -> Response:
        """Back to this view's list, the errors of an action (if any) shown above it."""
        url = request.url_for("admin:list", identity=self.identity)
        if errors:
            url = url.include_query_params(error="; ".join(errors))
        return RedirectResponse(url, status_code=303)  # after a POST: the list, by GET

    async def for_each_selected(
        self,
        request: Request,
        operation: Callable[[Any, Any], Awaitable[Any]],
        label: Callable[[Any], str] = str,
    ) -> Response:
        """``operation(session, row)`` for each selected row, one transaction each: a refused
        row is rolled back and named in the message, the others are done."""
        errors = []
        async with self.session_maker() as session:
            for pk in selected_pks(request):
                row = await session.get(self.model, pk)
                if row is None:
                    continue
                # Named now: after a rollback the row is expired, and reading it again would be
                # IO outside the async context (MissingGreenlet, issue 12.3).
                name = label(row)
                try:
                    await operation(session, row)
                except BasisError as error:
                    await session.rollback()
                    errors.append(f"{name}: {error.detail}")
        return self.back_to_list(request, errors)


class ReadOnlyView(RoleGate, ModelView):
    """A view that only lists and shows: the rows change through the API's rules alone."""

    can_create = False
    can_edit = False
    can_delete = False
