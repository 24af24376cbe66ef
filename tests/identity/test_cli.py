"""`basis users ...` and the first-admin bootstrap (identity.md "Users")."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from basis.identity import cli
from basis.identity.users import WeakPassword
from basis.settings import Settings
from tests.fixtures.auth import MakeUser
from tests.identity.helpers import PASSWORD, login

STRONG = "a strong admin passphrase"


def env_of(settings: Settings, **extra: str) -> dict[str, str]:
    values = {
        "BASIS_DATABASE_URL": settings.resolved_database_url,
        "BASIS_DATA_DIR": str(settings.data_dir),
        "BASIS_PASSWORD_HASH_PROFILE": "fast",
        "BASIS_JWT_SECRETS": settings.jwt_secrets[0],
        "BASIS_APPS": ",".join(settings.apps or []),
    }
    return {**values, **extra}


def test_create_admin_from_env_password_and_list(settings: Settings, _clean_tables: None) -> None:
    runner = CliRunner()
    result = runner.invoke(
        cli.app,
        ["create-admin", "--email", "Root@Example.com"],
        env=env_of(settings, BASIS_ADMIN_PASSWORD=STRONG),
    )
    assert result.exit_code == 0, result.output
    assert "root@example.com" in result.output and STRONG not in result.output
    listed = runner.invoke(cli.app, ["list", "--role", "admin"], env=env_of(settings))
    assert listed.exit_code == 0 and "root@example.com\t-\tadmin\tactive" in listed.output


def test_weak_or_missing_password_is_refused(settings: Settings, _clean_tables: None) -> None:
    runner = CliRunner()
    weak = runner.invoke(
        cli.app,
        ["create-admin", "--email", "a@example.com"],
        env=env_of(settings, BASIS_ADMIN_PASSWORD="admin123"),
    )
    assert weak.exit_code == 2 and "password refused" in weak.output
    # Non-interactive without BASIS_ADMIN_PASSWORD: a clear error, never a default password.
    missing = runner.invoke(cli.app, ["create-admin", "--email", "a@example.com"], env=env_of(settings))
    assert missing.exit_code == 2 and "BASIS_ADMIN_PASSWORD" in missing.output
    assert asyncio.run(cli.list_users(settings)) == []


def test_password_prompt_is_used_in_a_terminal(
    settings: Settings, _clean_tables: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli, "_interactive", lambda: True)
    result = CliRunner().invoke(
        cli.app, ["create-admin", "--username", "chief"], input=f"{STRONG}\n{STRONG}\n", env=env_of(settings)
    )
    assert result.exit_code == 0, result.output
    assert [u.username for u in asyncio.run(cli.list_users(settings, role="admin"))] == ["chief"]


def test_set_role_and_deactivate(settings: Settings, _clean_tables: None) -> None:
    asyncio.run(cli.create_admin(settings, email="first@example.com", password=STRONG))
    asyncio.run(cli.create_admin(settings, email="second@example.com", password=STRONG))
    runner = CliRunner()
    changed = runner.invoke(cli.app, ["set-role", "SECOND@example.com", "operator"], env=env_of(settings))
    assert changed.exit_code == 0 and "operator" in changed.output
    bad_role = runner.invoke(cli.app, ["set-role", "second@example.com", "root"], env=env_of(settings))
    assert bad_role.exit_code == 2
    unknown = runner.invoke(cli.app, ["deactivate", "ghost@example.com"], env=env_of(settings))
    assert unknown.exit_code == 2 and "no user" in unknown.output
    done = runner.invoke(cli.app, ["deactivate", "second@example.com"], env=env_of(settings))
    assert done.exit_code == 0 and "inactive" in done.output
    # The last active admin cannot be demoted.
    last = runner.invoke(cli.app, ["set-role", "first@example.com", "user"], env=env_of(settings))
    assert last.exit_code == 2 and "last active admin" in last.output


def test_create_admin_function_refuses_weak_passwords(settings: Settings, _clean_tables: None) -> None:
    with pytest.raises(cli.CommandError, match="password refused"):
        asyncio.run(cli.create_admin(settings, email="w@example.com", password="password"))
    with pytest.raises(cli.CommandError):
        asyncio.run(cli.create_admin(settings, email=None, password=STRONG))


async def test_first_start_creates_the_admin_from_the_environment(
    make_client: Callable[..., Any], make_user: MakeUser
) -> None:
    async with make_client(admin_email="boot@example.com", admin_password=SecretStr(STRONG)) as client:
        response = await login(client, "boot@example.com", STRONG)
        assert response.status_code == 200 and response.json()["role"] == "admin"
    # A second start with other values changes nothing: an admin exists.
    async with make_client(admin_email="boot2@example.com", admin_password=SecretStr(STRONG)) as client:
        assert (await login(client, "boot2@example.com", STRONG)).status_code == 401


async def test_no_default_accounts(client: httpx.AsyncClient) -> None:
    for name, password in (("admin", "admin"), ("admin", "admin123"), ("admin@example.com", PASSWORD)):
        assert (await login(client, name, password)).status_code == 401


async def test_weak_bootstrap_password_refuses_to_start(make_client: Callable[..., Any]) -> None:
    with pytest.raises(WeakPassword):
        async with make_client(admin_email="weak@example.com", admin_password=SecretStr("admin123")):
            pass


def test_first_admin_on_a_fresh_sqlite_file_migrates_it(tmp_path: Any) -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'fresh.sqlite3'}",
        data_dir=tmp_path,
        password_hash_profile="fast",
        apps=[],
    )
    user = asyncio.run(cli.create_admin(settings, email="fresh@example.com", password=STRONG))
    assert user.role == "admin"
    assert [u.email for u in asyncio.run(cli.list_users(settings))] == ["fresh@example.com"]
