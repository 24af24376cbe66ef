"""``basis users``: create-admin, list, set-role, deactivate.

Each command is a thin shell over a function that takes ``Settings`` (testable without a shell).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, NoReturn, TypeVar

import typer
from pydantic import ValidationError
from redis.asyncio import Redis
from sqlalchemy import inspect, select
from sqlalchemy.ext.asyncio import AsyncSession

from basis.core import migrations
from basis.core.apps import enabled_specs
from basis.core.db import Database
from basis.core.errors import BasisError
from basis.core.ratelimit import RateLimiter
from basis.core.realtime import RedisHub
from basis.identity import authcache, events, users
from basis.identity.models import ROLES, User
from basis.settings import Settings

T = TypeVar("T")

app = typer.Typer(no_args_is_help=True, help="Accounts: create-admin, list, set-role, deactivate.")


class CommandError(Exception):
    """A mistake the operator can fix; printed as one line."""


class _CliInfra:
    """The part of ``Infra`` that user administration needs. Its changes reach the servers
    through the auth notifier ``_database`` registers, not through this object."""

    def __init__(self, settings: Settings) -> None:
        self.limiter = RateLimiter(redis_url=None, enabled=False)

    async def close(self) -> None:
        await self.limiter.close()


async def _has_users_table(db: Database) -> bool:
    async with db.engine.connect() as conn:
        return await conn.run_sync(lambda sync_conn: inspect(sync_conn).has_table("users"))


@asynccontextmanager
async def _database(settings: Settings) -> AsyncIterator[Database]:
    db = Database(settings.resolved_database_url, pool_size=2)
    # A change made here reaches the servers' caches and sockets: through Redis when they share
    # one, else through the stamp file a server without Redis watches.
    redis = Redis.from_url(settings.redis_url) if settings.redis_url else None
    hub = RedisHub(settings.redis_url) if settings.redis_url else None
    version = authcache.Version(redis=redis, stamp=None if redis else authcache.stamp_path(settings.data_dir))
    notifier = authcache.Notifier(version=version, cache=None, hub=hub)
    authcache.register(db.engine.sync_engine, notifier)
    try:
        if not await _has_users_table(db):
            if db.backend != "sqlite":
                raise CommandError("the database has no tables yet: run `basis migrate` first")
            # SQLite migrates itself, as `basis serve` does, so the first admin can come first.
            specs = enabled_specs(settings.apps)
            await asyncio.to_thread(migrations.upgrade, settings.resolved_database_url, specs)
        yield db
    finally:
        authcache.unregister(db.engine.sync_engine, notifier)
        if hub is not None:
            await hub.close()
        if redis is not None:
            await redis.aclose()
        await db.dispose()


async def _find(session: AsyncSession, identifier: str) -> User:
    user = await users.get_user_by_identifier(session, identifier)
    if user is None and identifier.isdigit():
        user = await session.get(User, int(identifier))
    if user is None:
        raise CommandError(f"no user {identifier!r}")
    return user


async def create_admin(
    settings: Settings,
    *,
    email: str | None,
    password: str,
    username: str | None = None,
    full_name: str | None = None,
) -> User:
    if not email and not username:
        raise CommandError("give --email or --username")
    async with _database(settings) as db, db.sessionmaker() as session:
        try:
            return await users.create_admin(
                session=session,
                settings=settings,
                email=email,
                password=password,
                username=username,
                full_name=full_name,
            )
        except users.WeakPassword as exc:
            raise CommandError(f"password refused: {exc}") from None
        except ValidationError as exc:
            raise CommandError("; ".join(e["msg"] for e in exc.errors())) from None
        except BasisError as exc:
            raise CommandError(str(exc.detail)) from None


async def list_users(
    settings: Settings, *, role: str | None = None, active: bool | None = None
) -> list[User]:
    async with _database(settings) as db, db.sessionmaker() as session:
        stmt = select(User).order_by(User.id)
        if role:
            stmt = stmt.where(User.role == role)
        if active is not None:
            stmt = stmt.where(User.is_active.is_(active))
        return list((await session.execute(stmt)).scalars())


async def _change(
    settings: Settings, identifier: str, change: Callable[..., Awaitable[User]], **kwargs: object
) -> User:
    infra = _CliInfra(settings)
    try:
        async with _database(settings) as db, db.sessionmaker() as session:
            user = await _find(session, identifier)
            try:
                return await change(
                    session=session,
                    settings=settings,
                    infra=infra,
                    user=user,
                    actor=None,
                    meta=events.Meta(ip="cli"),
                    **kwargs,
                )
            except BasisError as exc:
                raise CommandError(str(exc.detail)) from None
    finally:
        await infra.close()


async def set_role(settings: Settings, *, identifier: str, role: str) -> User:
    if role not in ROLES:
        raise CommandError(f"role must be one of {', '.join(ROLES)}")
    return await _change(settings, identifier, users.set_role, role=role)


async def deactivate(settings: Settings, *, identifier: str) -> User:
    return await _change(settings, identifier, users.deactivate_user)


# --------------------------------------------------------------------------- the shell


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        _fail("invalid settings: " + "; ".join(e["msg"] for e in exc.errors()))


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def _run(coro: Awaitable[T]) -> T:
    try:
        return asyncio.run(coro)  # type: ignore[arg-type]
    except CommandError as exc:
        _fail(str(exc))


def _interactive() -> bool:
    return sys.stdin.isatty()


def _describe(user: User) -> str:
    state = "active" if user.is_active else "inactive"
    return f"{user.id}\t{user.email or '-'}\t{user.username or '-'}\t{user.role}\t{state}"


@app.command("create-admin")
def create_admin_command(
    email: Annotated[str | None, typer.Option(help="The admin's email (login name).")] = None,
    username: Annotated[str | None, typer.Option(help="A username instead of / besides the email.")] = None,
    full_name: Annotated[str | None, typer.Option(help="Display name.")] = None,
) -> None:
    """Create an admin. The password comes from BASIS_ADMIN_PASSWORD or a hidden prompt."""
    settings = _settings()
    if settings.admin_password is not None:
        password = settings.admin_password.get_secret_value()
    elif _interactive():
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        _fail("no password: set BASIS_ADMIN_PASSWORD or run in a terminal to be asked")
    user = _run(
        create_admin(settings, email=email, username=username, password=password, full_name=full_name)
    )
    typer.echo(f"admin created: {_describe(user)}")


@app.command("list")
def list_command(
    role: Annotated[str | None, typer.Option(help="Only this role.")] = None,
    active: Annotated[
        bool | None, typer.Option("--active/--inactive", help="Only active / inactive.")
    ] = None,
) -> None:
    """List accounts: id, email, username, role, state."""
    found = _run(list_users(_settings(), role=role, active=active))
    for user in found:
        typer.echo(_describe(user))
    if not found:
        typer.echo("no users", err=True)


@app.command("set-role")
def set_role_command(
    user: Annotated[str, typer.Argument(help="Email, username or id.")],
    role: Annotated[str, typer.Argument(help="admin, operator or user.")],
) -> None:
    """Change a user's role (applies to the user's next request)."""
    changed = _run(set_role(_settings(), identifier=user, role=role))
    typer.echo(f"role set: {_describe(changed)}")


@app.command("deactivate")
def deactivate_command(user: Annotated[str, typer.Argument(help="Email, username or id.")]) -> None:
    """Deactivate a user and end every session of theirs."""
    changed = _run(deactivate(_settings(), identifier=user))
    typer.echo(f"deactivated: {_describe(changed)}")
