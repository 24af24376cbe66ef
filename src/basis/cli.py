"""``basis``: serve, migrate, check, openapi, demo, worker, users, and each app's commands."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from basis.core import migrations
from basis.core.apps import AppSpec, BrokenApp, UnknownApp, check_settings, enabled_specs
from basis.core.progress import advancer, progress_bar
from basis.settings import Settings

cli = typer.Typer(no_args_is_help=True, add_completion=False, help="Basis: one backend for several apps.")
migrate_cli = typer.Typer(
    help="Database migrations (one Alembic branch per part).", invoke_without_command=True
)
cli.add_typer(migrate_cli, name="migrate")


class UserError(Exception):
    """A mistake the user can fix: printed as one line, exit code 2."""


def _invalid(exc: ValidationError) -> UserError:
    problems = "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}" for err in exc.errors()
    )
    return UserError(f"invalid settings: {problems}")


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        raise _invalid(exc) from None


def specs_for(settings: Settings) -> list[AppSpec]:
    """The enabled apps, their settings read and checked."""
    try:
        specs = enabled_specs(settings.apps)
        check_settings(settings, specs)
    except (UnknownApp, BrokenApp) as exc:
        raise UserError(str(exc)) from None
    except ValidationError as exc:
        raise _invalid(exc) from None
    return specs


def _pending(settings: Settings, specs: Sequence[AppSpec]) -> list[str]:
    return asyncio.run(migrations.pending(settings.resolved_database_url, specs))


def _backend(settings: Settings) -> str:
    from basis.core.db import backend_name

    return backend_name(settings.resolved_database_url)


def prepare_schema(settings: Settings, specs: Sequence[AppSpec]) -> None:
    """SQLite migrates itself; a server database must be migrated on purpose."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)  # a fresh clone has no data/ for the SQLite file
    missing = _pending(settings, specs)
    if not missing:
        return
    if _backend(settings) == "sqlite":
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        migrations.upgrade(settings.resolved_database_url, specs)
        return
    raise UserError(
        f"the database schema is behind the code (branches: {', '.join(missing)}); run `basis migrate` first"
    )


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Server processes.")] = 1,
    https: Annotated[
        bool, typer.Option("--https", help="Serve TLS (self-signed unless configured).")
    ] = False,
    reload: Annotated[bool, typer.Option("--reload", help="Restart on code changes (development).")] = False,
) -> None:
    """Serve the API, the admin panel and the docs."""
    import uvicorn

    settings = load_settings()
    specs = specs_for(settings)
    prepare_schema(settings, specs)
    ssl: dict[str, Any] = {}
    scheme = "http"
    if https:
        from basis.core.tls import ensure_certificate

        certfile, keyfile = ensure_certificate(settings)
        ssl = {"ssl_certfile": str(certfile), "ssl_keyfile": str(keyfile)}
        scheme = "https"
    shown = "localhost" if host in ("127.0.0.1", "0.0.0.0") else host  # noqa: S104
    address = f"{scheme}://{shown}:{port}"
    if "public_url" in settings.model_fields_set:  # where users reach it (a proxy may stand before)
        address = f"{settings.public_url.rstrip('/')} (listening on {host}:{port})"
    typer.echo(
        f"Basis {_version()} on {_backend(settings)}: {address}  "
        f"(API docs /docs, admin panel /admin). "
        "First admin: `basis users create-admin --email you@example.com` "
        "or BASIS_ADMIN_EMAIL/BASIS_ADMIN_PASSWORD on first start."
    )
    uvicorn.run(
        "basis.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=None if reload else workers,
        reload=reload,
        server_header=False,
        proxy_headers=False,  # BASIS_TRUSTED_PROXIES decides whom to believe, not uvicorn
        log_config=None,
        **ssl,
    )


def _version() -> str:
    from basis import __version__

    return __version__


@migrate_cli.callback()
def migrate(ctx: typer.Context) -> None:
    """Upgrade every enabled branch to its head (subcommands: upgrade, downgrade, current, history)."""
    if ctx.invoked_subcommand is None:
        _upgrade([])


@migrate_cli.command("upgrade")
def migrate_upgrade(
    branches: Annotated[
        list[str] | None,
        typer.Argument(help="Branches to upgrade (identity, an app's name; 'head' or none: all enabled)."),
    ] = None,
) -> None:
    """Upgrade to the head: every enabled branch, or the ones named (as bare `basis migrate`)."""
    _upgrade(branches or [])


def _upgrade(branches: Sequence[str]) -> None:
    settings = load_settings()
    specs = specs_for(settings)
    known = migrations.branch_dirs(specs)
    chosen = [b for b in branches if b not in ("head", "heads")]
    unknown = [b for b in chosen if b not in known]
    if unknown:
        raise UserError(f"unknown branch(es): {', '.join(unknown)} (enabled: {', '.join(known)})")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrations.upgrade(settings.resolved_database_url, specs, branches=chosen)
    typer.echo("database is up to date: " + ", ".join(chosen or known))


@migrate_cli.command("downgrade")
def migrate_downgrade(
    target: Annotated[str, typer.Argument(help="Revision, e.g. 'warehouse@-1' or 'base'.")],
) -> None:
    """Downgrade to a revision."""
    settings = load_settings()
    migrations.downgrade(settings.resolved_database_url, specs_for(settings), target)
    typer.echo(f"downgraded to {target}")


@migrate_cli.command("current")
def migrate_current() -> None:
    """Show the applied revision of each enabled branch."""
    settings = load_settings()
    found = asyncio.run(migrations.status(settings.resolved_database_url, specs_for(settings)))
    for branch, (applied, head) in found.items():
        state = "up to date" if applied == head else f"behind (head {head})"
        typer.echo(f"{branch}: {applied or 'not applied'} - {state}")


@migrate_cli.command("history")
def migrate_history() -> None:
    """List the revisions of the enabled branches."""
    settings = load_settings()
    typer.echo("\n".join(migrations.history(settings.resolved_database_url, specs_for(settings))))


@cli.command()
def check() -> None:
    """Check the configuration, the database, the schema and Redis."""
    settings = load_settings()
    specs = specs_for(settings)
    problems = asyncio.run(_check(settings, specs))
    if problems:
        raise UserError("; ".join(problems))
    typer.echo("ok")


async def _check(settings: Settings, specs: Sequence[AppSpec]) -> list[str]:
    from sqlalchemy import text

    from basis.core.db import Database

    problems: list[str] = []
    typer.echo(f"settings: ok (env={settings.env}, apps={', '.join(s.name for s in specs) or 'core only'})")
    db = Database(settings.resolved_database_url, pool_size=1)
    if db.backend == "sqlite":
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        async with db.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        typer.echo(f"database: ok ({db.backend})")
        missing = await migrations.pending(settings.resolved_database_url, specs)
        if missing:
            problems.append(f"schema behind for {', '.join(missing)}: run `basis migrate`")
        else:
            typer.echo("schema: ok")
    except Exception as exc:  # report, don't crash: this command exists to diagnose
        problems.append(f"database unreachable ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})")
    finally:
        await db.dispose()
    if settings.redis_url:
        from redis.asyncio import Redis

        redis = Redis.from_url(settings.redis_url)
        try:
            await redis.ping()
            typer.echo("redis: ok")
        except Exception as exc:
            problems.append(f"redis unreachable ({type(exc).__name__})")
        finally:
            await redis.aclose()
    else:
        typer.echo("redis: not configured (in-process rate limits, realtime and jobs)")
    return problems


@cli.command()
def openapi(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write; stdout if omitted.")
    ] = None,
) -> None:
    """Write the OpenAPI document of the enabled apps."""
    from basis.main import create_app

    settings = load_settings()
    specs_for(settings)  # a bad BASIS_APPS or app setting is one line, not a traceback
    spec = create_app(settings, configure_logs=False).openapi()
    text = json.dumps(spec, indent=2, ensure_ascii=False)
    if output is None:
        typer.echo(text)
    else:
        output.write_text(text + "\n", encoding="utf-8")
        typer.echo(f"wrote {output}")


@cli.command()
def demo(
    size: Annotated[str, typer.Option(help="small (quick look) or full (benchmarks).")] = "full",
    app: Annotated[list[str] | None, typer.Option(help="Only these apps (repeatable).")] = None,
) -> None:
    """Fill the enabled apps with a realistic data set."""
    if size not in ("small", "full"):
        raise UserError("--size must be small or full")
    settings = load_settings()
    specs = [s for s in specs_for(settings) if s.demo is not None and (not app or s.name in app)]
    if app and {s.name for s in specs} != set(app):
        raise UserError(f"no demo data for: {', '.join(sorted(set(app) - {s.name for s in specs}))}")
    prepare_schema(settings, specs_for(settings))
    asyncio.run(_demo(settings, specs, size))


async def _demo(settings: Settings, specs: Sequence[AppSpec], size: str) -> None:
    from basis.core.db import Database

    db = Database(settings.resolved_database_url, pool_size=2)
    try:
        with progress_bar() as progress:
            for spec in specs:
                task = progress.add_task(spec.name, total=None)
                async with db.sessionmaker() as session:
                    assert spec.demo is not None
                    await spec.demo(
                        session=session, settings=settings, progress=advancer(progress, task), size=size
                    )
                typer.echo(f"{spec.name}: demo data ready")
    finally:
        await db.dispose()


@cli.command()
def worker() -> None:
    """Run background jobs from the Redis queue (needs BASIS_REDIS_URL)."""
    from basis.core.jobs import run_worker

    settings = load_settings()
    if not settings.redis_url:
        raise UserError("the worker needs BASIS_REDIS_URL; without it jobs run inside the server")
    specs_for(settings)
    asyncio.run(run_worker(settings))


def _add_app_commands() -> None:
    from basis.identity.cli import app as users_cli

    cli.add_typer(users_cli, name="users", help="Accounts: create-admin, list, set-role, deactivate.")
    try:
        installed = [spec.name for spec in enabled_specs(None)]
        names = ", ".join(installed) or "none (the core alone)"
        cli.info.help = f"Basis: one backend; apps installed: {names}."
    except (UnknownApp, BrokenApp):
        pass  # the command that runs will report the problem
    try:
        settings = Settings()
        specs = enabled_specs(settings.apps)
    except (ValidationError, UnknownApp, BrokenApp):
        return  # the command that runs will report the problem
    for spec in specs:
        if spec.cli is not None:
            cli.add_typer(spec.cli, name=spec.name)


def main(argv: Sequence[str] | None = None) -> None:
    _add_app_commands()
    try:
        result = cli(args=argv, standalone_mode=False)
    except UserError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("aborted", err=True)
        raise SystemExit(130) from None
    except typer.Exit as exc:
        raise SystemExit(exc.exit_code) from None
    except Exception as exc:  # the last line of defence against a traceback for a user
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            raise SystemExit(exc.exit_code) from None
        from sqlalchemy.exc import OperationalError

        if isinstance(exc, OperationalError | OSError):
            typer.echo(f"error: cannot reach the database: {str(exc).splitlines()[0][:300]}", err=True)
            raise SystemExit(2) from None
        raise
    # Without standalone mode click returns the exit code of typer.Exit instead of exiting.
    if isinstance(result, int) and result != 0:
        raise SystemExit(result)


if __name__ == "__main__":
    main()
