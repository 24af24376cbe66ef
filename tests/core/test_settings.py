from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from basis.apps.timetracker.settings import TimetrackerSettings
from basis.core.apps import enabled_specs
from basis.settings import Settings, env_names

STRONG = "k3Y!pQ7#zW9@mL2$" * 3


def make(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


def test_defaults_serve_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    settings = make(data_dir=tmp_path)
    assert settings.resolved_database_url == f"sqlite+aiosqlite:///{tmp_path.resolve()}/basis.sqlite3"
    assert settings.apps is None  # every app
    assert settings.timezone == "Europe/Warsaw"


def test_prod_refuses_missing_and_weak_secrets(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="BASIS_JWT_SECRETS is required"):
        make(env="prod", data_dir=tmp_path)
    with pytest.raises(ValidationError, match="too weak"):
        make(env="prod", jwt_secrets=["changeme"], admin_session_secret=STRONG)
    with pytest.raises(ValidationError, match="too weak"):
        make(env="prod", jwt_secrets=["a" * 40], admin_session_secret=STRONG)
    with pytest.raises(ValidationError, match="ADMIN_SESSION_SECRET"):
        make(env="prod", jwt_secrets=[STRONG])
    assert make(env="prod", jwt_secrets=[STRONG], admin_session_secret=STRONG[::-1]).env == "prod"


def test_prod_refuses_the_fast_test_hash_profile() -> None:
    with pytest.raises(ValidationError, match="tests only"):
        make(
            env="prod", jwt_secrets=[STRONG], admin_session_secret=STRONG[::-1], password_hash_profile="fast"
        )


def test_wildcard_cors_is_refused() -> None:
    with pytest.raises(ValidationError, match="refused"):
        make(cors_origins="*")


def test_source_system_names_are_aliases(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@db/basis")
    monkeypatch.setenv("CORS_ORIGINS", "https://a.example,https://b.example")
    monkeypatch.setenv("ACCESS_TOKEN_EXPIRE_MINUTES", "30")
    monkeypatch.setenv("JWT_SECRET", STRONG)
    monkeypatch.setenv("TERMINAL_SCAN_COOLDOWN_SECONDS", "7")
    settings = make()
    assert settings.database_url == "postgresql://u@db/basis"
    assert settings.cors_origins == ["https://a.example", "https://b.example"]
    assert settings.access_token_minutes == 30
    assert settings.jwt_secrets == [STRONG]
    assert settings.app(TimetrackerSettings).terminal_scan_cooldown_seconds == 7


def test_apps_list_empty_means_core_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BASIS_APPS", "")
    assert make().apps == []
    monkeypatch.setenv("BASIS_APPS", "timetracker, warehouse")
    assert make().apps == ["timetracker", "warehouse"]


def test_unknown_time_zone_is_refused() -> None:
    with pytest.raises(ValidationError, match="unknown IANA time zone"):
        make(timezone="Mars/Olympus")


def test_dev_secret_is_generated_once_and_kept_private(tmp_path: Path) -> None:
    first = make(data_dir=tmp_path).signing_secrets
    second = make(data_dir=tmp_path).signing_secrets
    assert first == second and len(first[0]) >= 32
    assert (tmp_path / ".jwt_secret").stat().st_mode & 0o077 == 0


def test_env_example_documents_every_setting() -> None:
    text = (Path(__file__).resolve().parents[2] / ".env.example").read_text()
    classes = [Settings, *(spec.settings for spec in enabled_specs(None) if spec.settings is not None)]
    missing = [names[0] for cls in classes for names in env_names(cls).values() if names[0] not in text]
    assert missing == []


def test_app_settings_keep_their_names_and_take_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    assert make(timetracker_max_shift_hours=12).app(TimetrackerSettings).max_shift_hours == 12
    monkeypatch.setenv("BASIS_TIMETRACKER_MAX_SHIFT_HOURS", "10")
    monkeypatch.setenv("BASIS_TIMETRACKER_MISSING_OUT_POLICY", "schedule_end")
    tt = make().app(TimetrackerSettings)
    assert (tt.max_shift_hours, tt.missing_out_policy) == (10, "schedule_end")
    assert make(timetracker_max_shift_hours=12).app(TimetrackerSettings).max_shift_hours == 12  # init first


def test_a_bad_app_setting_names_its_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BASIS_TIMETRACKER_MAX_SHIFT_HOURS", "100")
    settings = make()  # the core settings alone are fine
    with pytest.raises(ValidationError, match="BASIS_TIMETRACKER_MAX_SHIFT_HOURS\n  Input should be less"):
        settings.app(TimetrackerSettings)
    with pytest.raises(ValidationError, match="BASIS_TIMETRACKER_TERMINAL_SCAN_COOLDOWN_SECONDS"):
        make(timetracker_terminal_scan_cooldown_seconds=-1).app(TimetrackerSettings)


def test_metrics_networks_must_be_networks() -> None:
    assert make(metrics_networks="10.0.0.0/8, 192.168.1.7").metrics_networks == ["10.0.0.0/8", "192.168.1.7"]
    with pytest.raises(ValidationError, match="not an IP address or CIDR"):
        make(metrics_networks="prometheus.internal")
