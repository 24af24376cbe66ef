"""The page a password-reset link opens (``BASIS_PUBLIC_URL/reset-password#token=...``).

It reads the code from the link's fragment with a small script file served here (the fragment
never reaches a server or a log), asks for the new password twice and confirms through
``POST /auth/password-reset/confirm``. Without script the same form posts here and gets the
same answer as a page. In the user's language (``Accept-Language``: en, uk, ru); no external
asset (the CSP of ``/reset-password`` allows files from Basis only, no inline script).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, Template, select_autoescape

from basis.core import i18n
from basis.core.deps import InfraDep, SessionDep, SettingsDep
from basis.core.errors import BasisError
from basis.identity import passwords, reset
from basis.identity.dependencies import RequestMeta, check_origin

page_router = APIRouter(include_in_schema=False)
_HERE = Path(__file__).parent
_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
_FILES = {"reset.js": "text/javascript", "reset.css": "text/css"}
POLICY_MESSAGES = (
    f"Password must have at least {passwords.MIN_LENGTH} characters",
    f"Password must have at most {passwords.MAX_BYTES} bytes",
    "This password is too common; choose another",
    "Password must not be based on your email or username",
    "Invalid or expired token",
)
"""The API's refusals, so the page can say them in the user's language."""


@functools.cache
def _template() -> Template:
    env = Environment(
        loader=FileSystemLoader(_HERE / "templates"), autoescape=select_autoescape(), enable_async=True
    )
    return i18n.install(env).get_template("reset_password.html")


def _detail(error: BasisError) -> str:
    if isinstance(error.detail, str):
        return error.detail
    return "; ".join(str(item.get("msg", "")) for item in error.detail if isinstance(item, dict))


async def _page(
    request: Request, *, status: int = 200, error: str = "", token: str = "", done: bool = False
) -> HTMLResponse:
    lang = i18n.lang(i18n.request_language(request))
    content = await _template().render_async(
        **lang.context(),
        error=lang.gettext(error) if error else "",
        token=token,
        done=done,
        min_length=passwords.MIN_LENGTH,
        messages=json.dumps(
            {message: lang.gettext(message) for message in POLICY_MESSAGES}, ensure_ascii=False
        ),
    )
    return HTMLResponse(content, status_code=status, headers={**_HEADERS, "Content-Language": lang.code})


@page_router.get("/reset-password", response_class=HTMLResponse)
async def reset_form(request: Request) -> HTMLResponse:
    return await _page(request)


@page_router.post("/reset-password", response_class=HTMLResponse)
async def reset_submit(
    request: Request,
    token: Annotated[str, Form(max_length=200)],
    new_password: Annotated[str, Form(max_length=1024)],
    session: SessionDep,
    settings: SettingsDep,
    infra: InfraDep,
    meta: RequestMeta,
    new_password_again: Annotated[str | None, Form(max_length=1024)] = None,
) -> HTMLResponse:
    """The form without script: the same checks and the same confirmation as the API."""
    check_origin(request, settings)
    if new_password_again is not None and new_password_again != new_password:
        return await _page(request, status=422, error="The two passwords differ.", token=token)
    try:
        await reset.confirm_password_reset(
            session=session,
            settings=settings,
            infra=infra,
            raw_token=token.strip(),
            new_password=new_password,
            meta=meta,
        )
    except BasisError as error:
        return await _page(
            request, status=error.status_code, error=_detail(error) or "Invalid input", token=token
        )
    return await _page(request, done=True)


@page_router.get("/reset-password/{name}")
async def reset_file(name: str) -> Response:
    if name not in _FILES:
        return Response(status_code=404)
    body = (_HERE / "static" / name).read_bytes()
    return Response(body, media_type=_FILES[name], headers={"Cache-Control": "max-age=3600"})
