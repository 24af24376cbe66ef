"""The app registry end to end, with the test-only example app."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import httpx
import pytest

from basis.core.apps import UnknownApp, enabled_specs
from basis.main import create_app
from basis.settings import Settings
from tests.support.live import ROOT, settings_env
from tests.support.server import available_apps

ClientFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


async def test_an_enabled_app_serves_its_routes(client: httpx.AsyncClient, admin_headers: dict[str, str]) -> None:
    created = await client.post("/example/notes", json={"text": "hello"}, headers=admin_headers)
    assert created.status_code == 201, created.text
    listed = await client.get("/example/notes", headers=admin_headers)
    assert [note["text"] for note in listed.json()["items"]] == ["hello"]


async def test_a_disabled_app_has_no_routes_and_no_admin_views(make_client: ClientFactory) -> None:
    async with make_client(apps=[]) as client:
        spec = (await client.get("/openapi.json")).json()
        assert not [p for p in spec["paths"] if p.startswith(("/example", "/api/", "/products"))]
        assert (await client.get("/example/notes")).status_code == 404
        assert "/auth/login" in spec["paths"]  # identity is always there
        app = client.app  # type: ignore[attr-defined]
        admin_names = {view.name for view in app.state.admin._views} if hasattr(app.state, "admin") else set()
        assert not any("Example" in name for name in admin_names)


def test_unknown_apps_are_refused_before_anything_starts(tmp_path: Path) -> None:
    with pytest.raises(UnknownApp, match="nope"):
        create_app(Settings(_env_file=None, apps=["nope"], data_dir=tmp_path), available=available_apps())


def test_every_known_app_is_selected_when_unset() -> None:
    names = [spec.name for spec in enabled_specs(None, available_apps())]
    assert names == list(available_apps())


async def test_demo_hook_and_cli_subcommand_of_an_app(settings: Settings, tmp_path: Path, _clean_tables: None) -> None:
    env = settings_env({**settings.model_dump(mode="json", exclude_none=True), "apps": "example"})
    env["BASIS_JWT_SECRETS"] = ",".join(settings.jwt_secrets)
    env["BASIS_ADMIN_SESSION_SECRET"] = settings.admin_secret
    code = (
        "import sys; from tests.support import server; from basis import cli; from basis.core import apps;"
        "apps.KNOWN_APPS.update({'example': 'tests.example_app.app:spec'}); cli.main(sys.argv[1:])"
    )
    run: Callable[..., subprocess.CompletedProcess[str]] = lambda *args: subprocess.run(  # noqa: E731
        [sys.executable, "-c", code, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    demo = run("demo", "--size", "small")
    assert demo.returncode == 0, demo.stderr
    assert "example: demo data ready" in demo.stdout
    count = run("example", "count")
    assert count.returncode == 0, count.stderr
    assert int(count.stdout.strip().split()[-1]) > 0
