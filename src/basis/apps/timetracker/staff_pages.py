"""TimeTracker's staff pages inside the admin panel: the schedule month grid (and its PDF)
and terminals with their provisioning QR code. Server-rendered in the user's language
(``basis.core.i18n``); every change is a POST, which the panel checks for a same-site Origin,
and goes through the service, so it is audited and refused exactly as through the API."""

from __future__ import annotations

import base64
import datetime as dt
import functools
import io
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import segno
from jinja2 import Template
from markupsafe import Markup, escape
from sqladmin import BaseView, expose
from sqlalchemy import select
from starlette.datastructures import URL
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from basis.apps.timetracker import schedule_grid, schedule_pdf, service
from basis.apps.timetracker.models import Terminal
from basis.apps.timetracker.parsing import SCHEDULE_CODES
from basis.apps.timetracker.schemas import TerminalCreate, TerminalUpdate
from basis.core import i18n
from basis.core.admin import RoleGate, auth_backend, signed_in
from basis.core.errors import BasisError
from basis.core.time import get_zone, local_date, utcnow

_HERE = Path(__file__).parent
STATIC_FILES = {"schedule_grid.js", "confirm.js", "dashboard.js"}
MAX_CELLS_JSON = 1_000_000
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "[::1]"}
NO_STORE = {"Cache-Control": "no-store"}
CODE_NAMES = {
    "work": "Work",
    "off": "Day off",
    "sick": "Sick leave",
    "vacation": "Vacation",
    "holiday": "Holiday",
}


class Refused(Exception):
    """A page the signed-in user's role may not open or change."""


def page_lang(request: Request) -> i18n.Lang:
    return i18n.lang(i18n.request_language(request))


@functools.cache
def _template(env_id: int, name: str, env: Any) -> Template:
    return env.from_string((_HERE / "templates" / name).read_text(encoding="utf-8"))


def language_switch(request: Request, lang: i18n.Lang) -> Markup:
    """A small form on every staff page: the language kept in a cookie for Basis's pages."""
    action = escape(str(request.url_for("admin:view-timetracker-language")))
    back = escape(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
    buttons = "".join(
        f'<button type="submit" name="lang" value="{code}" class="btn btn-sm'
        f'{" btn-primary" if code == lang.code else ""}" id="lang-{code}">{escape(label)}</button>'
        for code, label in i18n.NAMES.items()
    )
    return Markup(  # noqa: S704 - every value escaped above
        f'<form method="post" action="{action}" class="d-flex gap-1 mb-2" id="language-switch">'
        f'<input type="hidden" name="next" value="{back}">{buttons}</form>'
    )


async def render(view: BaseView, request: Request, name: str, status: int = 200, **values: Any) -> Response:
    env = i18n.install(view.templates.env)
    lang = page_lang(request)
    content = await _template(id(env), name, env).render_async(
        request=request, view=view, language_switch=language_switch(request, lang), **lang.context(), **values
    )
    return HTMLResponse(content, status_code=status, headers={**NO_STORE, "Content-Language": lang.code})


async def actor_with(request: Request, roles: tuple[str, ...]) -> tuple[Any, Any]:
    """The signed-in user and the settings; 403 page unless the user's role is in ``roles``
    (checked here, on the server, whatever the menu shows)."""
    actor, settings = await signed_in(request)
    if actor is None or actor.role not in roles:
        raise Refused
    return actor, settings


def refused(request: Request) -> Response:
    lang = page_lang(request)
    return HTMLResponse(lang.gettext("This page is for administrators."), status_code=403)


def _db(request: Request) -> Any:
    return auth_backend(request).main_app.state.db.sessionmaker


def static_file(name: str) -> Response:
    if name not in STATIC_FILES:
        return Response(status_code=404)
    body = (_HERE / "static" / name).read_bytes()
    return Response(body, media_type="text/javascript", headers={"Cache-Control": "max-age=3600"})


STAFF = ("admin", "operator")


class LanguageView(RoleGate, BaseView):
    """Keeps the chosen language in the ``basis_lang`` cookie (all of Basis's pages read it)."""

    name = "Language"
    roles = STAFF

    def is_visible(self, request: Request) -> bool:
        return False

    @expose("/timetracker/language", methods=["POST"], identity="timetracker-language")
    async def language(self, request: Request) -> Response:
        form = await request.form()
        code, back = form.get("lang"), form.get("next")
        if not isinstance(back, str) or not back.startswith("/admin/") or "//" in back or "\\" in back:
            back = "/admin/"
        response = RedirectResponse(back, status_code=303)
        if isinstance(code, str) and code in i18n.LANGUAGES:
            response.set_cookie(
                i18n.LANG_COOKIE, code, max_age=365 * 24 * 3600, path="/", samesite="lax", httponly=True
            )
        return response


class StaffStatic(RoleGate, BaseView):
    """The staff pages' script files, served by Basis (no CDN, no inline script)."""

    name = "Static"
    roles = STAFF

    def is_visible(self, request: Request) -> bool:
        return False

    @expose("/timetracker/static/{name}", methods=["GET"], identity="timetracker-static")
    async def file(self, request: Request) -> Response:
        return static_file(request.path_params["name"])


def _month_after(day: dt.date) -> str:
    later = day.replace(day=28) + dt.timedelta(days=4)
    return later.strftime("%Y-%m")


class ScheduleGridView(RoleGate, BaseView):
    roles = STAFF
    name = "Schedule grid"
    icon = "fa-solid fa-table-cells"
    category = "TimeTracker"

    @expose("/timetracker/schedule", methods=["GET", "POST"], identity="timetracker-schedule")
    async def grid(self, request: Request) -> Response:
        try:
            actor, settings = await actor_with(request, STAFF)
        except Refused:
            return refused(request)
        if request.method == "POST":
            return await self._save(request, actor)
        today = local_date(utcnow(), settings.timezone)
        first, last = schedule_grid.month_bounds(request.query_params.get("month"), today)
        async with _db(request)() as session:
            grid = await schedule_grid.load(session, first, last)
        lang = page_lang(request)
        base = str(request.url_for("admin:view-timetracker-schedule"))
        return await render(
            self,
            request,
            "schedule_grid.html",
            grid=grid,
            month=first.strftime("%Y-%m"),
            prev_month=(first - dt.timedelta(days=1)).strftime("%Y-%m"),
            next_month=_month_after(first),
            pdf_url=f"{base}.pdf?from={first.isoformat()}&to={last.isoformat()}",
            codes=[(code, lang.gettext(CODE_NAMES[code])) for code in SCHEDULE_CODES],
            hours=schedule_grid.hours,
            message=request.query_params.get("saved")
            and lang.gettext("Saved %(count)s cells.", count=request.query_params["saved"]),
            error=request.query_params.get("error"),
            static_url=request.url_for("admin:view-timetracker-static", name="schedule_grid.js"),
        )

    async def _save(self, request: Request, actor: Any) -> Response:
        form = await request.form()
        month, raw = form.get("month"), form.get("cells")
        back = URL(str(request.url_for("admin:view-timetracker-schedule"))).include_query_params(
            month=month if isinstance(month, str) else ""
        )
        lang = page_lang(request)
        try:
            if not isinstance(raw, str) or len(raw) > MAX_CELLS_JSON:
                raise ValueError
            cells = json.loads(raw)
            if not isinstance(cells, list):
                raise ValueError
        except ValueError:
            return RedirectResponse(back.include_query_params(error=lang.gettext("Nothing to save.")), 303)
        try:
            async with _db(request)() as session:
                saved, deleted = await service.upsert_schedule_cells(
                    session=session, cells=cells, actor=actor
                )
        except BasisError as error:
            errors = error.extra.get("errors", [])[:5]
            details = [f"{e.get('day')} #{e.get('employee_id')}: {e.get('detail')}" for e in errors]
            message = "; ".join(details) or str(error.detail)
            return RedirectResponse(back.include_query_params(error=message), 303)
        return RedirectResponse(back.include_query_params(saved=saved + deleted), 303)


class SchedulePdfView(RoleGate, BaseView):
    roles = STAFF
    name = "Schedule PDF"

    def is_visible(self, request: Request) -> bool:
        return False

    @expose("/timetracker/schedule.pdf", methods=["GET"], identity="timetracker-schedule-pdf")
    async def pdf(self, request: Request) -> Response:
        try:
            _, settings = await actor_with(request, STAFF)
        except Refused:
            return refused(request)
        lang = page_lang(request)
        try:
            first = dt.date.fromisoformat(request.query_params.get("from", ""))
            last = dt.date.fromisoformat(request.query_params.get("to", ""))
        except ValueError:
            return HTMLResponse(lang.gettext("Give the period as from=YYYY-MM-DD&to=YYYY-MM-DD."), 422)
        if last < first or (last - first).days > 62:
            return HTMLResponse(lang.gettext("A period is from 1 to 62 days."), 422)
        async with _db(request)() as session:
            grid = await schedule_grid.load(session, first, last)
        site = urlsplit(settings.public_url).hostname or "Basis"
        body = schedule_pdf.as_pdf(grid, site=site, lang=lang)
        name = f"schedule-{first.isoformat()}-{last.isoformat()}.pdf"
        return Response(
            body,
            media_type="application/pdf",
            headers={**NO_STORE, "Content-Disposition": f'attachment; filename="{name}"'},
        )


def provisioning_payload(*, server: str, api_key: str, terminal: Terminal) -> dict[str, Any]:
    """What the Android terminal reads from the QR code at its first start (the original's JSON)."""
    return {"server": server, "api_key": api_key, "terminal_id": terminal.id, "terminal_name": terminal.name}


def qr_png(payload: dict[str, Any]) -> tuple[str, int]:
    """The payload as a QR code PNG (base64) and its size in pixels."""
    code = segno.make(json.dumps(payload, ensure_ascii=False, separators=(",", ":")), error="m")
    out = io.BytesIO()
    scale = 5
    code.save(out, kind="png", scale=scale, border=4)
    width, _ = code.symbol_size(scale=scale, border=4)
    return base64.b64encode(out.getvalue()).decode(), width


def on_local_host(request: Request, public_url: str) -> bool:
    """The page is open on this machine and the public URL names it too: a terminal could not
    reach that address, so the admin types the server's address."""
    public_host = urlsplit(public_url).hostname or ""
    return public_host in LOCAL_HOSTS or ((request.url.hostname or "") in LOCAL_HOSTS and not public_host)


def server_address(form: Any, request: Request, public_url: str) -> str | None:
    if not on_local_host(request, public_url):
        return public_url.rstrip("/")
    typed = form.get("server")
    if not isinstance(typed, str):
        return None
    parts = urlsplit(typed.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or len(typed) > 300:
        return None
    return typed.strip().rstrip("/")


class _TerminalPage(RoleGate, BaseView):
    roles = ("admin",)

    async def _page(self, request: Request, settings: Any, status: int = 200, **values: Any) -> Response:
        async with _db(request)() as session:
            terminals = list(await session.scalars(select(Terminal).order_by(Terminal.name)))
        issued = values.get("issued")
        qr = qr_png(issued) if issued else ("", 0)
        return await render(
            self,
            request,
            "terminals.html",
            status=status,
            terminals=terminals,
            url=str(request.url_for("admin:view-timetracker-terminals")),
            ask_server=on_local_host(request, settings.public_url),
            zone=get_zone(settings.timezone),
            qr_png=qr[0],
            qr_size=qr[1],
            static_url=request.url_for("admin:view-timetracker-static", name="confirm.js"),
            **values,
        )


class TerminalsPageView(_TerminalPage):
    name = "Terminal set-up"
    icon = "fa-solid fa-qrcode"
    category = "TimeTracker"

    @expose("/timetracker/terminals", methods=["GET", "POST"], identity="timetracker-terminals")
    async def terminals(self, request: Request) -> Response:
        try:
            actor, settings = await actor_with(request, ("admin",))
        except Refused:
            return refused(request)
        if request.method == "GET":
            return await self._page(request, settings)
        form = await request.form()
        lang = page_lang(request)
        server = server_address(form, request, settings.public_url)
        if server is None:
            return await self._page(request, settings, 422, error=lang.gettext("Type the server's address."))
        try:
            data = TerminalCreate.model_validate(
                {"name": form.get("name"), "location": form.get("location") or None}
            )
        except ValueError:
            return await self._page(request, settings, 422, error=lang.gettext("A terminal needs a name."))
        try:
            async with _db(request)() as session:
                terminal, key = await service.create_terminal(session=session, data=data, actor=actor)
        except BasisError as error:
            return await self._page(request, settings, error.status_code, error=str(error.detail))
        issued = provisioning_payload(server=server, api_key=key, terminal=terminal)
        return await self._page(request, settings, 201, issued=issued)


class TerminalChangeView(_TerminalPage):
    name = "Terminal change"

    def is_visible(self, request: Request) -> bool:
        return False

    @expose(
        "/timetracker/terminals/{terminal_id:int}/{verb}", methods=["POST"], identity="timetracker-terminal"
    )
    async def change(self, request: Request) -> Response:
        try:
            actor, settings = await actor_with(request, ("admin",))
        except Refused:
            return refused(request)
        form = await request.form()
        lang = page_lang(request)
        verb = request.path_params["verb"]
        if form.get("confirmed") != "1" or verb not in ("toggle", "rotate"):
            return await self._page(request, settings, 422, error=lang.gettext("Not confirmed."))
        server = server_address(form, request, settings.public_url) if verb == "rotate" else ""
        if server is None:
            return await self._page(request, settings, 422, error=lang.gettext("Type the server's address."))
        async with _db(request)() as session:
            terminal = await session.get(Terminal, request.path_params["terminal_id"])
            if terminal is None:
                return await self._page(request, settings, 404, error=lang.gettext("No such terminal."))
            try:
                if verb == "toggle":
                    change = TerminalUpdate(is_active=not terminal.is_active)
                    await service.update_terminal(
                        session=session, terminal=terminal, data=change, actor=actor
                    )
                    back = request.url_for("admin:view-timetracker-terminals")
                    return RedirectResponse(back, status_code=303)
                key = await service.rotate_terminal_key(session=session, terminal=terminal, actor=actor)
            except BasisError as error:
                return await self._page(request, settings, error.status_code, error=str(error.detail))
            issued = provisioning_payload(server=server, api_key=key, terminal=terminal)
        return await self._page(request, settings, 200, issued=issued)


PAGE_VIEWS: list[type] = [
    LanguageView,
    ScheduleGridView,
    SchedulePdfView,
    TerminalsPageView,
    TerminalChangeView,
    StaffStatic,
]
