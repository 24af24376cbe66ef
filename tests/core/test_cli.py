"""The command line as a user meets it: real processes, exit codes, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support import backends as tb
from tests.support.live import ROOT, settings_env


def basis(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "basis.cli", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )


def _env(tmp_path: Path, **values: Any) -> dict[str, str]:
    return settings_env({"data_dir": str(tmp_path / "data"), "log_level": "WARNING", **values})


def test_invalid_settings_are_one_line_and_exit_2(tmp_path: Path) -> None:
    result = basis("check", env=_env(tmp_path, cors_origins="*"))
    assert result.returncode == 2
    assert result.stderr.startswith("error: invalid settings:")
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_a_bad_app_setting_is_one_line_naming_its_variable(tmp_path: Path) -> None:
    result = basis("check", env=_env(tmp_path, timetracker_max_shift_hours=100))
    assert result.returncode == 2
    assert result.stderr.startswith("error: invalid settings: BASIS_TIMETRACKER_MAX_SHIFT_HOURS: Input")
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_unknown_app_is_a_clear_error(tmp_path: Path) -> None:
    result = basis("check", env=_env(tmp_path, apps="timetracker,payroll"))
    assert result.returncode == 2
    assert "unknown app(s) in BASIS_APPS: payroll" in result.stderr


def test_migrate_then_check_on_sqlite(tmp_path: Path) -> None:
    env = _env(tmp_path)
    first = basis("check", env=env)
    assert first.returncode == 2 and "run `basis migrate`" in first.stderr
    assert basis("migrate", env=env).returncode == 0
    checked = basis("check", env=env)
    assert checked.returncode == 0, checked.stderr
    assert "schema: ok" in checked.stdout
    current = basis("migrate", "current", env=env)
    assert current.returncode == 0
    assert "identity: identity_" in current.stdout and "up to date" in current.stdout


def test_serve_refuses_a_server_database_behind_the_code(tmp_path: Path, worker_id_safe: str) -> None:
    if not tb.port_open(tb.SERVER_URLS["postgresql"], 5432):
        import pytest

        pytest.skip("PostgreSQL is not running")
    database = tb.create_database("postgresql", f"cli_{worker_id_safe}", tmp_path)
    try:
        result = basis("serve", "--port", "1", env=_env(tmp_path, database_url=database.url), timeout=60)
    finally:
        tb.drop_database(database)
    assert result.returncode == 2
    assert "schema is behind the code" in result.stderr and "basis migrate" in result.stderr
    assert "Traceback" not in result.stderr


def test_unreachable_database_is_one_line(tmp_path: Path) -> None:
    result = basis("migrate", env=_env(tmp_path, database_url="postgresql://nobody@127.0.0.1:1/x"))
    assert result.returncode == 2
    assert result.stderr.startswith("error: cannot reach the database")
    assert "Traceback" not in result.stderr


def test_openapi_writes_the_spec(tmp_path: Path) -> None:
    out = tmp_path / "openapi.json"
    result = basis("openapi", "--output", str(out), env=_env(tmp_path))
    assert result.returncode == 0, result.stderr
    spec = json.loads(out.read_text())
    assert "/health" in spec["paths"] and "/auth/login" in spec["paths"]


def test_worker_without_redis_says_why(tmp_path: Path) -> None:
    result = basis("worker", env=_env(tmp_path))
    assert result.returncode == 2 and "BASIS_REDIS_URL" in result.stderr


def test_https_serves_tls12_or_newer_with_a_generated_certificate(tmp_path: Path) -> None:
    import socket
    import ssl
    import time
    import warnings

    from tests.support.live import free_port

    port = free_port()
    env = _env(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "basis.cli", "serve", "--https", "--port", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        deadline = time.monotonic() + 60
        version = None
        while time.monotonic() < deadline and version is None:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as raw:
                    with context.wrap_socket(raw, server_hostname="localhost") as tls:
                        version = tls.version()
            except OSError:
                time.sleep(0.2)
        assert version in ("TLSv1.2", "TLSv1.3")
        old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        old.check_hostname = False
        old.verify_mode = ssl.CERT_NONE
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # offering TLS 1.1 is the point
            old.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
            old.maximum_version = ssl.TLSVersion.TLSv1_1
        old.set_ciphers("DEFAULT:@SECLEVEL=0")
        refused = False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as raw:
                with old.wrap_socket(raw, server_hostname="localhost"):
                    pass
        except (ssl.SSLError, OSError):
            refused = True
        assert refused, "TLS 1.1 must be refused"
        key = tmp_path / "data" / "tls" / "selfsigned.key"
        assert key.exists() and key.stat().st_mode & 0o077 == 0
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_migrate_upgrade_as_alembic_users_type_it(tmp_path: Path) -> None:
    # Issue 12.15: `basis migrate upgrade [BRANCH...]` beside the bare `basis migrate`.
    env = _env(tmp_path)
    one = basis("migrate", "upgrade", "identity", env=env)
    assert one.returncode == 0, one.stderr
    assert one.stdout.strip() == "database is up to date: identity"
    current = basis("migrate", "current", env=env).stdout
    assert "identity: identity_0001 - up to date" in current
    assert [line for line in current.splitlines() if line.startswith("timetracker:") and "behind" in line]
    everything = basis("migrate", "upgrade", "head", env=env)
    assert everything.returncode == 0, everything.stderr
    after = basis("migrate", "current", env=env).stdout
    assert "timetracker: timetracker_" in after and "behind" not in after
    again = basis("migrate", "upgrade", env=env)
    assert again.returncode == 0 and "timetracker" in again.stdout
    wrong = basis("migrate", "upgrade", "payroll", env=env)
    assert wrong.returncode == 2 and wrong.stderr.startswith("error: unknown branch(es): payroll")


def test_a_bad_core_setting_names_its_variable(tmp_path: Path) -> None:
    # Issue 12.16: the message named the field (db_pool_size), not what the user sets.
    result = basis("check", env=_env(tmp_path, db_pool_size=0))
    assert result.returncode == 2
    assert result.stderr.startswith("error: invalid settings: BASIS_DB_POOL_SIZE: Input should be")
    assert "db_pool_size" not in result.stderr


def test_help_names_the_installed_apps(tmp_path: Path) -> None:
    result = basis("--help", env=_env(tmp_path))
    assert result.returncode == 0
    assert "five" not in result.stdout
    from basis.core.apps import enabled_specs

    installed = ", ".join(spec.name for spec in enabled_specs(None))
    assert "timetracker" in installed
    assert f"apps installed: {installed}." in " ".join(result.stdout.split())


def test_serve_banner_shows_the_public_url(tmp_path: Path) -> None:
    from tests.support.live import free_port

    port = free_port()
    env = _env(tmp_path, public_url="https://basis.example.com")
    with subprocess.Popen(
        [sys.executable, "-m", "basis.cli", "serve", "--port", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    ) as proc:
        try:
            assert proc.stdout is not None
            banner = proc.stdout.readline()
        finally:
            proc.terminate()
    assert f"https://basis.example.com (listening on 127.0.0.1:{port})" in banner, banner
    assert "localhost" not in banner
