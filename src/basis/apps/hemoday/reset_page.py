# ruff: noqa: RUF001 - the page speaks Russian, the families' language
"""The page a reset link opens (rule 20): the app has no reset screen, so Basis serves one.

A plain form, no script (the API's CSP allows none): the mail carries the code next to the
link, the user pastes it with the new password, and the form posts here, to the core's reset.
"""

from __future__ import annotations

from html import escape
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse

from basis.core.deps import InfraDep, SessionDep, SettingsDep
from basis.core.errors import BasisError
from basis.identity import reset
from basis.identity.dependencies import RequestMeta, check_origin

page_router = APIRouter(tags=["hemoday"], include_in_schema=False)

_PAGE = """<!doctype html>
<html lang="ru"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>HemoDay: новый пароль</title></head>
<body>
<h1>HemoDay: новый пароль / new password</h1>
{message}
<form method="post" action="/reset-password">
<p><label>Код из письма / code from the mail<br>
<input name="token" required maxlength="200" autocomplete="one-time-code" value="{token}"></label></p>
<p><label>Новый пароль / new password<br>
<input name="new_password" type="password" required minlength="8" maxlength="1024"
 autocomplete="new-password"></label></p>
<p><button type="submit">Сохранить / save</button></p>
</form>
</body></html>
"""

_DONE = """<!doctype html>
<html lang="ru"><head><meta charset="utf-8"><title>HemoDay: пароль изменён</title></head>
<body><h1>Пароль изменён / password changed</h1>
<p>Войдите в приложение с новым паролем. / Sign in to the app with your new password.</p></body></html>
"""

_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def _page(message: str = "", token: str = "", status_code: int = 200) -> HTMLResponse:
    body = _PAGE.format(
        message=f"<p><strong>{escape(message)}</strong></p>" if message else "", token=escape(token)
    )
    return HTMLResponse(body, status_code=status_code, headers=_HEADERS)


@page_router.get("/reset-password", response_class=HTMLResponse)
async def reset_form() -> HTMLResponse:
    return _page()


@page_router.post("/reset-password", response_class=HTMLResponse)
async def reset_submit(
    request: Request,
    token: Annotated[str, Form(max_length=200)],
    new_password: Annotated[str, Form(max_length=1024)],
    session: SessionDep,
    settings: SettingsDep,
    infra: InfraDep,
    meta: RequestMeta,
) -> HTMLResponse:
    check_origin(request, settings)
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
        detail = (
            error.detail
            if isinstance(error.detail, str)
            else "; ".join(str(item.get("msg", "")) for item in error.detail if isinstance(item, dict))
        )
        return _page(detail or "Invalid input", token=token, status_code=error.status_code)
    return HTMLResponse(_DONE, headers=_HEADERS)
