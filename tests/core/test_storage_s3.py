"""S3 storage against a real S3-compatible server process (moto's S3 behind SigV4 checks, see
tests/support/s3_server.py): round trips, presigned links used by a plain HTTP client, and the
upload limits held by the server itself, with the same cases as the local route's."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import secrets
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from basis.core.errors import BadRequest, NotFound, ServiceUnavailable
from basis.core.storage import S3Storage, require_content_type
from tests.support import backends as tb
from tests.support.live import ROOT, free_port

BUCKET = "basis-test"


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    access_key: str
    secret_key: str

    def storage(self, **overrides: object) -> S3Storage:
        options: dict[str, object] = {
            "bucket": BUCKET, "endpoint": self.endpoint, "access_key": self.access_key,
            "secret_key": self.secret_key, "max_upload_bytes": 1024 * 1024, **overrides,
        }
        return S3Storage(**options)  # type: ignore[arg-type]


def _unavailable(reason: str) -> None:
    if tb.in_ci():
        pytest.fail(f"{reason}; CI needs it (pip install -e '.[test]')")
    pytest.skip(f"{reason}; install the test extra (pip install -e '.[test]') to run the S3 tests")


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the S3 test server exited: {log.read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"the S3 test server did not listen within {timeout}s: {log.read_text()[-2000:]}")


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    if importlib.util.find_spec("moto") is None or importlib.util.find_spec("flask") is None:
        _unavailable("the S3 test server (moto[server]) is not installed")
    access_key, secret_key = "basis-test-" + secrets.token_hex(4), secrets.token_urlsafe(24)
    port = free_port()
    log = tmp_path_factory.mktemp("s3") / "server.log"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "S3_TEST_ACCESS_KEY": access_key}
    env["S3_TEST_SECRET_KEY"] = secret_key
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.s3_server", "--port", str(port)],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    try:
        _wait_for_port(port, process, log)
        server = S3Server(f"http://127.0.0.1:{port}", access_key, secret_key)
        import botocore.session

        client = botocore.session.get_session().create_client(
            "s3", endpoint_url=server.endpoint, region_name="us-east-1",
            aws_access_key_id=access_key, aws_secret_access_key=secret_key,
        )
        client.create_bucket(Bucket=BUCKET)
        client.close()
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def storage(s3_server: S3Server) -> S3Storage:
    return s3_server.storage()


@pytest.fixture
def key() -> str:
    return f"tests/{uuid.uuid4().hex}/photo.png"


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40


async def test_put_get_head_delete(storage: S3Storage, key: str) -> None:
    assert not await storage.exists(key)
    assert await storage.head(key) is None
    info = await storage.put(key, PNG, "image/PNG")
    assert (info.key, info.size, info.content_type) == (key, len(PNG), "image/png")
    assert await storage.exists(key)
    assert await storage.get(key) == PNG
    assert await storage.head(key) == info
    await storage.put(key, b"new", "image/png")
    assert await storage.get(key) == b"new"
    await storage.delete(key)
    await storage.delete(key)  # deleting twice is fine
    assert not await storage.exists(key)
    with pytest.raises(NotFound):
        await storage.get(key)


async def test_bad_keys_and_types_are_refused_before_any_request(storage: S3Storage) -> None:
    for bad_key in ("../x", "a//b", ".hidden", "_meta/x"):
        with pytest.raises(BadRequest):
            await storage.put(bad_key, b"x", "text/plain")
        with pytest.raises(BadRequest):
            await storage.presign_get(bad_key, 60)
    with pytest.raises(BadRequest):
        await storage.put("a.txt", b"x", "text/plain\r\nX-Evil: 1")


async def test_presigned_upload_then_download_with_a_plain_http_client(storage: S3Storage, key: str) -> None:
    put_url = await storage.presign_put(key, "image/png", max_bytes=len(PNG), expires_in=60)
    assert put_url.startswith(f"{storage._presigner.meta.endpoint_url}/{BUCKET}/{key}?")
    async with httpx.AsyncClient() as http:
        put = await http.put(put_url, content=PNG, headers={"Content-Type": "image/png"})
        assert put.status_code == 200, put.text
        got = await http.get(await storage.presign_get(key, expires_in=60))
    assert got.status_code == 200
    assert got.content == PNG
    assert got.headers["content-type"] == "image/png"
    assert require_content_type(got.content, ["image/png"], declared="image/png") == "image/png"
    assert (await storage.head(key)).size == len(PNG)  # type: ignore[union-attr]


async def test_an_expired_link_is_refused(storage: S3Storage, key: str) -> None:
    await storage.put(key, PNG, "image/png")
    get_url = await storage.presign_get(key, expires_in=1)
    put_url = await storage.presign_put(key, "image/png", max_bytes=3, expires_in=1)
    await asyncio.sleep(2.1)
    async with httpx.AsyncClient() as http:
        assert (await http.get(get_url)).status_code == 403
        put = await http.put(put_url, content=b"new", headers={"Content-Type": "image/png"})
    assert put.status_code == 403
    assert await storage.get(key) == PNG


async def test_an_upload_over_the_limit_is_refused_and_nothing_stored(storage: S3Storage, key: str) -> None:
    url = await storage.presign_put(key, "image/png", max_bytes=len(PNG), expires_in=60)
    async with httpx.AsyncClient() as http:
        answer = await http.put(url, content=PNG + b"x", headers={"Content-Type": "image/png"})
    assert answer.status_code == 403
    assert b"SignatureDoesNotMatch" in answer.content
    assert not await storage.exists(key)


async def test_an_upload_of_another_type_is_refused_and_nothing_stored(storage: S3Storage, key: str) -> None:
    url = await storage.presign_put(key, "image/png", max_bytes=len(PNG), expires_in=60)
    async with httpx.AsyncClient() as http:
        for headers in ({"Content-Type": "text/html"}, {"Content-Type": "image/jpeg"}, {}):
            answer = await http.put(url, content=PNG, headers=headers)
            assert answer.status_code == 403, headers
    assert not await storage.exists(key)


async def test_a_link_works_only_for_its_key_and_operation(storage: S3Storage, key: str) -> None:
    await storage.put(key, PNG, "image/png")
    get_url = await storage.presign_get(key, expires_in=60)
    put_url = await storage.presign_put(key, "image/png", max_bytes=3, expires_in=60)
    other = key.replace("photo.png", "other.png")
    async with httpx.AsyncClient() as http:
        assert (await http.get(get_url.replace(key, other))).status_code == 403
        wrong_op = await http.put(get_url, content=b"new", headers={"Content-Type": "image/png"})
        assert wrong_op.status_code == 403
        assert (await http.get(put_url)).status_code == 403
        forged = get_url[:-4] + ("0000" if not get_url.endswith("0000") else "1111")
        assert (await http.get(forged)).status_code == 403
        assert (await http.get(get_url.split("?")[0])).status_code == 403  # no signature at all
    assert await storage.get(key) == PNG


async def test_the_deployments_upload_ceiling_holds(s3_server: S3Server, key: str) -> None:
    from basis.core.storage import PayloadTooLarge

    small = s3_server.storage(max_upload_bytes=10)
    with pytest.raises(PayloadTooLarge):
        await small.put(key, b"x" * 11, "image/png")
    with pytest.raises(PayloadTooLarge):
        await small.presign_put(key, "image/png", max_bytes=11, expires_in=60)
    assert not await small.exists(key)


async def test_wrong_credentials_or_bucket_give_a_clear_503(s3_server: S3Server, key: str) -> None:
    for storage in (s3_server.storage(secret_key="wrong-secret"), s3_server.storage(bucket="no-such-bucket")):
        with pytest.raises(ServiceUnavailable) as caught:
            await storage.put(key, b"x", "image/png")
        assert (caught.value.status_code, caught.value.code) == (503, "storage_unavailable")
        assert "wrong-secret" not in str(caught.value.detail)


async def test_an_unreachable_store_or_missing_credentials_give_a_clear_503(
    s3_server: S3Server, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing listens on the discard port; one attempt, not the usual three with back-off.
    down = s3_server.storage(endpoint="http://127.0.0.1:9", max_attempts=1)
    with pytest.raises(ServiceUnavailable):
        await down.get(key)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    anonymous = s3_server.storage(access_key=None, secret_key=None)
    with pytest.raises(ServiceUnavailable):
        await anonymous.presign_get(key, expires_in=60)


async def test_links_can_name_the_endpoint_browsers_reach(s3_server: S3Server, key: str) -> None:
    public = s3_server.storage(public_endpoint="https://files.example.com")
    url = await public.presign_get(key, expires_in=60)
    assert url.startswith(f"https://files.example.com/{BUCKET}/{key}?X-Amz-")


def test_the_s3_server_is_the_one_these_tests_expect(s3_server: S3Server) -> None:
    # Anonymous requests are refused: the server checks signatures, as a real bucket does.
    assert httpx.get(f"{s3_server.endpoint}/{BUCKET}/anything").status_code == 403

