"""The admin panel: SQLAdmin at /admin for admins and operators; each view names the roles it
lets in (``RoleGate``: the identity views are for admins only).

Its own signed session cookie (``settings.admin_secret``, SameSite=Strict, Secure under HTTPS);
each request re-reads the admin and the panel session from the database, so a demotion, a
deactivation or a revoked session ends access at once. Unsafe requests must come from an
allowed Origin (CSRF), the login form included.
"""

from __future__ import annotations

import datetime as dt
from datetime import tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import FastAPI
from sqladmin import Admin, ModelView, action
from sqladmin.authentication import AuthenticationBackend, login_required
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send
from wtforms import Form, PasswordField, SelectField
from wtforms.validators import Optional as OptionalValidator

from basis.core.admin import (
    AUTH_STATE,
    ReadOnlyView,
    RoleGate,
    ServiceView,
    auth_backend,
    clean,
    confirmed_action,
    csv_export,
    local_time,
    speak_basis_languages,
    speak_view_names,
)
from basis.core.errors import BasisError, TooManyRequests
from basis.core.net import client_ip
from basis.identity import events, login, sessions, users
from basis.identity.dependencies import origin_allowed
from basis.identity.models import ROLES, AuthEvent, RefreshToken, User
from basis.identity.schemas import UserCreate, UserUpdate
from basis.settings import Settings

BASE_URL = "/admin"
SESSION_COOKIE = "basis_admin"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class AdminOriginCheck:
    """403 for a state-changing request from a foreign Origin."""

    def __init__(self, app: ASGIApp, *, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            request = Request(scope)
            if request.method in UNSAFE_METHODS and not origin_allowed(request, self.settings):
                response = Response(
                    '{"detail":"Origin not allowed","code":"origin_not_allowed"}',
                    status_code=403,
                    media_type="application/json",
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class AdminAuth(AuthenticationBackend):
    def __init__(self, app: FastAPI, settings: Settings) -> None:
        cookie = f"__Secure-{SESSION_COOKIE}" if settings.is_https else SESSION_COOKIE
        super().__init__(
            secret_key=settings.admin_secret,
            session_cookie=cookie,
            max_age=login.ADMIN_PANEL_HOURS * 3600,
            path=BASE_URL,
            same_site="strict",
            https_only=settings.is_https,
        )
        self.main_app = app
        self.settings = settings
        self.admin: Admin | None = None

    def _meta(self, request: Request) -> events.Meta:
        ip = client_ip(request, tuple(self.settings.trusted_proxies))
        return events.Meta(ip=ip, user_agent=request.headers.get("user-agent"))

    def _sessions(self) -> async_sessionmaker[AsyncSession]:
        return self.main_app.state.db.sessionmaker

    async def login(self, request: Request) -> Response | bool:
        form = await request.form()
        username, password = form.get("username"), form.get("password")
        if not isinstance(username, str) or not isinstance(password, str) or not username or not password:
            return False
        if len(password) > 1024 or len(username) > 320 or "\x00" in username + password:
            return False
        async with self._sessions()() as session:
            try:
                uid, sid = await login.admin_panel_login(
                    session=session,
                    settings=self.settings,
                    infra=self.main_app.state.infra,
                    identifier=username,
                    password=password,
                    meta=self._meta(request),
                )
            except TooManyRequests as exc:
                return await self._login_page(
                    request, "Too many attempts; try again later.", 429, exc.headers
                )
            except BasisError:
                return False
        request.session.clear()
        request.session.update({"uid": uid, "sid": sid})
        return True

    async def _login_page(
        self, request: Request, error: str, status: int, headers: dict[str, str] | None
    ) -> Response:
        assert self.admin is not None
        response = await self.admin.templates.TemplateResponse(
            request, "sqladmin/login.html", {"error": error}, status_code=status
        )
        response.headers.update(headers or {})
        return response

    async def logout(self, request: Request) -> Response | bool:
        uid, sid = request.session.get("uid"), request.session.get("sid")
        request.session.clear()
        if isinstance(uid, int) and isinstance(sid, str):
            async with self._sessions()() as session:
                await sessions.revoke_families(
                    session=session,
                    settings=self.settings,
                    infra=self.main_app.state.infra,
                    family_ids=[sid],
                    reason="logout",
                )
                events.audit(
                    session,
                    "logout",
                    success=True,
                    meta=self._meta(request),
                    user_id=uid,
                    details={"sid": sid},
                )
                await session.commit()
        return False

    async def authenticate(self, request: Request) -> Response | bool:
        user = await self.current_admin(request)
        if user is not None:
            request.state.panel_role = user.role  # for the views' sync is_accessible (RoleGate)
        return user is not None

    async def current_admin(self, request: Request) -> User | None:
        uid, sid = request.session.get("uid"), request.session.get("sid")
        if not isinstance(uid, int) or not isinstance(sid, str):
            return None
        async with self._sessions()() as session:
            user = await login.admin_panel_user(session=session, user_id=uid, sid=sid)
        if user is None:
            request.session.clear()
        return user

    async def get_user_id(self, request: Request) -> Any:
        return request.session.get("uid")


async def _context(request: Request) -> tuple[Settings, Any, events.Meta, User | None]:
    backend = auth_backend(request)
    assert isinstance(backend, AdminAuth)
    actor = await backend.current_admin(request)
    return backend.settings, backend.main_app.state.infra, backend._meta(request), actor


class UserAdmin(ServiceView, model=User):
    name = "User"
    name_plural = "Users"
    icon = "fa-solid fa-user"
    column_list = [
        User.id,
        User.email,
        User.username,
        User.full_name,
        User.role,
        User.is_active,
        User.created_at,
    ]
    column_details_exclude_list = [User.password_hash, User.username_key]
    column_export_exclude_list = [User.password_hash, User.username_key]
    column_searchable_list = [User.email, User.username, User.full_name]
    column_sortable_list = [User.id, User.email, User.role, User.is_active, User.created_at]
    form_columns = [User.email, User.username, User.full_name, User.phone, User.role, User.is_active]
    form_overrides = {"role": SelectField}
    form_args = {"role": {"choices": [(role, role) for role in ROLES]}}
    can_delete = False
    can_export = False

    async def scaffold_form(self, rules: list[str] | None = None) -> type[Form]:
        base = await super().scaffold_form(rules)

        class UserForm(base):  # type: ignore[misc, valid-type]
            password = PasswordField(
                "Password",
                validators=[OptionalValidator()],
                render_kw={"class": "form-control", "autocomplete": "new-password"},
                description="Required for a new user; leave empty to keep the current one. Stored hashed.",
            )

        return UserForm

    async def insert_model(self, request: Request, data: dict[str, Any]) -> Any:
        settings, _, meta, actor = await _context(request)
        values = clean(data)
        values.pop("is_active", None)
        create = self.validated(UserCreate, values)
        async with self.session_maker() as session:
            return await self.run(
                users.create_user(session=session, settings=settings, data=create, actor=actor, meta=meta)
            )

    async def update_model(self, request: Request, pk: str, data: dict[str, Any]) -> Any:
        settings, infra, meta, _ = await _context(request)
        values = clean(data)
        if not values.get("password"):
            values.pop("password", None)
        changes = self.validated(UserUpdate, values)
        return await self.change_row(
            request,
            pk,
            lambda session, user, actor: users.update_user(
                session=session,
                settings=settings,
                infra=infra,
                user=user,
                data=changes,
                actor=actor,
                meta=meta,
            ),
        )

    async def _each_user(self, request: Request, verb: str) -> Response:
        settings, infra, meta, actor = await _context(request)
        operation = users.deactivate_user if verb == "deactivate" else sessions.revoke_all_sessions

        async def one(session: AsyncSession, user: User) -> None:
            await operation(
                session=session, settings=settings, infra=infra, user=user, actor=actor, meta=meta
            )

        return await self.for_each_selected(request, one, label=lambda user: user.email or user.username)

    @action(name="deactivate", label="Deactivate")
    @confirmed_action("Deactivate the selected users and end all their sessions?")
    async def deactivate(self, request: Request) -> Response:
        return await self._each_user(request, "deactivate")

    @action(name="revoke_sessions", label="Revoke all sessions")
    @confirmed_action("Sign the selected users out everywhere?")
    async def revoke_sessions(self, request: Request) -> Response:
        return await self._each_user(request, "revoke")


class AuthEventAdmin(ReadOnlyView, model=AuthEvent):
    name = "Auth event"
    name_plural = "Auth events"
    icon = "fa-solid fa-shield-halved"
    column_list = [
        AuthEvent.created_at,
        AuthEvent.event_type,
        AuthEvent.success,
        AuthEvent.user_id,
        AuthEvent.ip,
        AuthEvent.user_agent,
        AuthEvent.details,
    ]
    column_searchable_list = [AuthEvent.event_type, AuthEvent.ip]
    column_sortable_list = [AuthEvent.created_at, AuthEvent.event_type, AuthEvent.user_id]
    column_default_sort = [(AuthEvent.created_at, True)]


class SessionAdmin(ReadOnlyView, model=RefreshToken):
    name = "Session token"
    name_plural = "Session tokens"
    icon = "fa-solid fa-key"
    column_list = [
        RefreshToken.id,
        RefreshToken.user_id,
        RefreshToken.family_id,
        RefreshToken.device,
        RefreshToken.ip,
        RefreshToken.issued_at,
        RefreshToken.expires_at,
        RefreshToken.is_revoked,
        RefreshToken.revoked_reason,
    ]
    column_details_exclude_list = [RefreshToken.token_hash]
    column_sortable_list = [RefreshToken.id, RefreshToken.issued_at, RefreshToken.user_id]
    column_default_sort = [(RefreshToken.id, True)]
    can_export = False


IDENTITY_VIEWS: list[type] = [UserAdmin, AuthEventAdmin, SessionAdmin]


class BasisAdmin(Admin):
    """SQLAdmin with its custom actions answering POST as well as GET: the link shows a
    confirmation page, the change runs on the POST it sends (``confirmed_action``); and with
    every view's CSV export made safe for spreadsheets, whichever app the view belongs to."""

    def __init__(self, *args: Any, zone: tzinfo, **kwargs: Any) -> None:
        self.zone = zone
        super().__init__(*args, **kwargs)

    def add_view(self, view: Any) -> None:
        super().add_view(view)
        instance = self.views[-1]
        speak_view_names(self, instance)  # names and labels in the panel's language
        if isinstance(instance, ModelView):
            # Per view instance (not the shared class): times in the zone of this deployment.
            show = local_time(self.zone)
            instance._column_type_formatters[dt.datetime] = show
            instance._column_type_formatters_detail[dt.datetime] = show

    @login_required
    async def export(self, request: Request) -> Response:
        if request.path_params["export_type"] != "csv":
            return await super().export.__wrapped__(self, request)  # type: ignore[attr-defined]
        await self._export(request)  # SQLAdmin's permission checks
        view = self._find_model_view(request.path_params["identity"])
        rows = await view.get_model_objects(request=request, limit=view.export_max_rows)
        return csv_export(view, rows)

    def _handle_action_decorated_func(self, func: Any, view: Any, view_instance: Any) -> None:
        # sqladmin 0.32 registers actions for GET only (sqladmin/application.py).
        super()._handle_action_decorated_func(func, view, view_instance)
        if hasattr(func, "_action"):
            name = f"action-{view_instance.identity}-{func._slug}"
            for route in self.admin.router.routes:
                if getattr(route, "name", None) == name:
                    route.methods = {"GET", "HEAD", "POST"}  # type: ignore[attr-defined]


def mount_admin(app: FastAPI, settings: Settings, views: list[type]) -> None:
    # The engine exists only once the lifespan has started; the identity startup hook binds it.
    session_maker = async_sessionmaker(class_=AsyncSession, expire_on_commit=False)
    app.state.admin_sessionmaker = session_maker
    auth = AdminAuth(app, settings)
    admin = BasisAdmin(
        app,
        zone=ZoneInfo(settings.timezone),
        session_maker=session_maker,
        base_url=BASE_URL,
        title="Basis admin",
        authentication_backend=auth,
        middlewares=[Middleware(AdminOriginCheck, settings=settings)],
    )
    auth.admin = admin
    app.state.admin = admin
    speak_basis_languages(admin)  # the panel's own texts in the language of Basis's pages
    setattr(admin.admin.state, AUTH_STATE, auth)
    for view in views:
        # Operators sign in too (issue 17): a view that does not say whom it lets in would
        # let them in everywhere, so such a view is refused at start.
        if not issubclass(view, RoleGate):
            raise TypeError(f"{view.__name__}: a panel view names its roles (basis.core.admin.RoleGate)")
        admin.add_view(view)


async def bind_admin(app: FastAPI) -> None:
    maker = getattr(app.state, "admin_sessionmaker", None)
    if maker is not None:
        maker.configure(bind=app.state.db.engine)
