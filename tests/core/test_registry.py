"""The app registry end to end, with the test-only example app."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from pydantic import ValidationError

from basis.core.apps import AppSpec, BrokenApp, UnknownApp, discovered_apps, enabled_specs
from basis.main import create_app
from basis.settings import Settings
from tests.example_app.settings import ExampleSettings
from tests.support.live import ROOT, settings_env
from tests.support.plugin import with_path, write_distribution
from tests.support.server import available_apps

ClientFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


async def test_an_enabled_app_serves_its_routes(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
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


# --- the example app as a real plug-in: its own distribution with a ``basis.apps`` entry point


@pytest.fixture
def plugins(tmp_path: Path) -> Path:
    return write_distribution(tmp_path / "plugins")


@pytest.fixture
def installed(plugins: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The example app installed in this process (as ``pip install`` of its package would)."""
    monkeypatch.syspath_prepend(str(plugins))
    return plugins


def _cli_env(plugins: Path, values: dict[str, object]) -> dict[str, str]:
    return with_path(settings_env(values), plugins)


def _basis(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # The installed console script, as a user runs it.
    command = [str(Path(sys.executable).with_name("basis")), *args]
    return subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_apps_are_found_through_entry_points_sorted_by_name(
    plugins: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = discovered_apps()
    assert {"timetracker", "warehouse"} <= set(before) and "example" not in before
    monkeypatch.syspath_prepend(str(plugins))
    after = discovered_apps()
    assert list(after) == sorted(after) and after["example"].value == "tests.example_app.app:spec"
    assert [spec.name for spec in enabled_specs(None)] == list(after)
    assert [spec.name for spec in enabled_specs([])] == []
    with pytest.raises(UnknownApp, match=r"unknown app\(s\) in BASIS_APPS: nope; known: example, "):
        enabled_specs(["nope"])


def test_only_enabled_apps_are_imported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = write_distribution(tmp_path / "broken", "basis-broken", ("broken = tests.no_such_module:spec",))
    monkeypatch.syspath_prepend(str(broken))
    assert [spec.name for spec in enabled_specs(["warehouse"])] == ["warehouse"]
    with pytest.raises(BrokenApp, match=r"app 'broken' \(tests\.no_such_module:spec\) cannot be loaded"):
        enabled_specs(["broken"])


def test_an_entry_point_must_name_its_app_and_settings_their_prefix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    misnamed = write_distribution(
        tmp_path / "misnamed", "basis-other", ("other = tests.example_app.app:spec",)
    )
    monkeypatch.syspath_prepend(str(misnamed))
    with pytest.raises(BrokenApp, match="registered as 'other' calls itself 'example'"):
        enabled_specs(["other"])
    with pytest.raises(BrokenApp, match="env_prefix='BASIS_OTHER_'"):
        enabled_specs(["other"], {"other": AppSpec(name="other", settings=ExampleSettings)})


async def test_a_plugged_in_app_serves_its_routes_authenticated_by_default(
    installed: Path,
    make_settings: Callable[..., Settings],
    admin_headers: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    _clean_tables: None,
) -> None:
    monkeypatch.setenv("BASIS_EXAMPLE_GREETING", "hi from the environment")
    app = create_app(make_settings(apps=["example"]), configure_logs=False)  # no `available`: entry points
    assert [spec.name for spec in app.state.specs] == ["example"]
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            assert (await client.get("/example/notes")).status_code == 401
            created = await client.post("/example/notes", json={"text": "plugged in"}, headers=admin_headers)
            assert created.status_code == 201, created.text
            greeting = await client.get("/example/greeting", headers=admin_headers)
            assert greeting.json() == {"greeting": "hi from the environment"}
            assert (await client.get("/products", headers=admin_headers)).status_code == 404  # not enabled


def test_an_app_reads_its_settings_from_its_prefix_the_env_file_and_overrides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("BASIS_EXAMPLE_GREETING=from the .env file\n")
    assert Settings().app(ExampleSettings).greeting == "from the .env file"
    assert Settings(_env_file=None).app(ExampleSettings).greeting == "hello"  # type: ignore[call-arg]
    overridden = Settings(_env_file=None, example_greeting="given")  # type: ignore[call-arg]
    assert overridden.app(ExampleSettings).greeting == "given"
    assert overridden.app(ExampleSettings) is overridden.app(ExampleSettings)  # read once
    monkeypatch.setenv("BASIS_EXAMPLE_GREETING", "")
    with pytest.raises(ValidationError, match="BASIS_EXAMPLE_GREETING\n  String should have at least 1"):
        create_app(Settings(apps=["example"], data_dir=tmp_path), available=available_apps())


def test_migrate_and_cli_of_a_plugged_in_app(plugins: Path, tmp_path: Path) -> None:
    database = tmp_path / "plugin.sqlite3"
    env = _cli_env(
        plugins,
        {
            "data_dir": str(tmp_path / "data"),
            "database_url": f"sqlite+aiosqlite:///{database}",
            "apps": "example",
        },
    )
    migrated = _basis("migrate", env=env)
    assert migrated.returncode == 0, migrated.stderr
    assert migrated.stdout.strip() == "database is up to date: core, identity, example"
    with sqlite3.connect(database) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "example_notes" in tables and "users" in tables
    assert not {"employees", "products"} & tables  # apps not enabled have no tables
    current = _basis("migrate", "current", env=env)
    assert "example: example_0003 - up to date" in current.stdout
    helped = _basis("--help", env=env)
    assert "Example app commands" in helped.stdout
    counted = _basis("example", "count", env=env)
    assert counted.returncode == 0, counted.stderr
    assert counted.stdout.strip() == "example notes: 0"


async def test_demo_hook_and_cli_subcommand_of_an_app(
    settings: Settings, plugins: Path, tmp_path: Path, _clean_tables: None
) -> None:
    env = _cli_env(plugins, {**settings.model_dump(mode="json", exclude_none=True), "apps": "example"})
    env["BASIS_JWT_SECRETS"] = ",".join(settings.jwt_secrets)
    env["BASIS_ADMIN_SESSION_SECRET"] = settings.admin_secret
    demo = _basis("demo", "--size", "small", env=env)
    assert demo.returncode == 0, demo.stderr
    assert "example: demo data ready" in demo.stdout
    count = _basis("example", "count", env=env)
    assert count.returncode == 0, count.stderr
    assert int(count.stdout.strip().split()[-1]) > 0


def test_nothing_outside_the_example_app_names_it() -> None:
    sources = [ROOT / "pyproject.toml", *(ROOT / "src").rglob("*.py"), *(ROOT / "migrations").rglob("*.py")]
    naming = [str(path.relative_to(ROOT)) for path in sources if _names_example(path.read_text())]
    assert naming == []


def _names_example(text: str) -> bool:
    return any(word in text for word in ("example_app", "tests.example", "BASIS_EXAMPLE", "ExampleSettings"))
