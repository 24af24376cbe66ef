"""Local file storage: keys that cannot escape, signed upload/download links served by the core's
file route with their limits held while the bytes stream in, and content sniffing."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import time_machine
from itsdangerous import URLSafeSerializer
from pydantic import ValidationError

from basis.core.errors import BadRequest, Conflict, Forbidden, NotFound
from basis.core.storage import (
    LocalStorage,
    PayloadTooLarge,
    S3Storage,
    UnsupportedMediaType,
    build_storage,
    require_content_type,
    sniff_content_type,
)
from basis.settings import Settings

ClientFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]

SECRET = "storage-test-secret-" + "k" * 32


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "files", secret=SECRET, public_url="https://basis.test/")


def token_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["token"][0]


async def test_put_get_head_delete(storage: LocalStorage) -> None:
    key = "messenger/2026/11/photo-1.png"
    assert not await storage.exists(key)
    assert await storage.head(key) is None
    info = await storage.put(key, b"\x89PNG data", "image/PNG")
    assert (info.size, info.content_type) == (9, "image/png")
    assert await storage.exists(key)
    assert await storage.get(key) == b"\x89PNG data"
    assert await storage.head(key) == info
    await storage.put(key, b"new", "image/png")
    assert await storage.get(key) == b"new"
    await storage.delete(key)
    await storage.delete(key)  # deleting twice is fine
    assert not await storage.exists(key)
    with pytest.raises(NotFound):
        await storage.get(key)
    assert (storage.root / "messenger").is_dir()
    assert not any(p.is_file() for p in storage.root.rglob("*"))


@pytest.mark.parametrize(
    "key",
    ["", "../secret", "a/../../etc/passwd", "/etc/passwd", "a//b", ".hidden", "a/.git/config", "a\\..\\b",
     "a/b/", "_meta/x.json", "spa ce", "x" * 513, "ü.png", "a/\x00"],
)
async def test_keys_that_could_escape_or_collide_are_refused(storage: LocalStorage, key: str) -> None:
    calls = (storage.put(key, b"x", "text/plain"), storage.get(key), storage.exists(key), storage.delete(key))
    for call in calls:
        with pytest.raises(BadRequest) as caught:
            await call
        assert caught.value.code == "invalid_storage_key"
    with pytest.raises(BadRequest):
        await storage.presign_get(key, 60)


async def test_a_symlink_inside_the_root_does_not_lead_outside(storage: LocalStorage, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("no")
    storage.root.mkdir(parents=True)
    (storage.root / "link").symlink_to(outside)
    with pytest.raises(BadRequest):
        await storage.get("link/secret.txt")


async def test_bad_content_types_are_refused(storage: LocalStorage) -> None:
    for content_type in ("", "png", "text/plain\r\nX-Evil: 1", "a/b/c"):
        with pytest.raises(BadRequest):
            await storage.put("f.bin", b"x", content_type)


async def test_presigned_upload_link_carries_its_limits(storage: LocalStorage) -> None:
    url = await storage.presign_put("uploads/a.pdf", "application/pdf", max_bytes=10_000_000, expires_in=300)
    assert url.startswith("https://basis.test/files/uploads/a.pdf?token=")
    grant = storage.verify("put", "uploads/a.pdf", token_of(url))
    assert (grant.content_type, grant.max_bytes) == ("application/pdf", 10_000_000)
    assert time.time() + 290 < grant.expires_at <= time.time() + 300


async def test_links_work_only_for_their_key_and_operation(storage: LocalStorage) -> None:
    put = token_of(await storage.presign_put("a.pdf", "application/pdf", max_bytes=10, expires_in=60))
    get = token_of(await storage.presign_get("a.pdf", expires_in=60))
    assert storage.verify("get", "a.pdf", get).key == "a.pdf"
    for op, key, token in [("get", "a.pdf", put), ("put", "a.pdf", get), ("get", "b.pdf", get)]:
        with pytest.raises(Forbidden) as caught:
            storage.verify(op, key, token)  # type: ignore[arg-type]
        assert caught.value.code == "invalid_signature"


async def test_forged_or_foreign_links_are_refused(storage: LocalStorage, tmp_path: Path) -> None:
    token = token_of(await storage.presign_get("a.pdf", expires_in=60))
    other = LocalStorage(tmp_path / "files", secret="other-" + "z" * 32, public_url="https://basis.test")
    # The raw secret does not sign storage links: they use a key derived for storage alone.
    raw = URLSafeSerializer(SECRET, salt="basis.storage").dumps({"op": "get", "k": "a.pdf", "exp": 2**40})
    for forged in (token[:-2] + ("AA" if not token.endswith("AA") else "BB"), "garbage", raw):
        with pytest.raises(Forbidden):
            storage.verify("get", "a.pdf", forged)
    with pytest.raises(Forbidden):
        other.verify("get", "a.pdf", token)


async def test_links_expire(storage: LocalStorage) -> None:
    with time_machine.travel(time.time(), tick=False) as traveller:
        token = token_of(await storage.presign_get("a.pdf", expires_in=60))
        traveller.shift(59)
        storage.verify("get", "a.pdf", token)
        traveller.shift(2)
        with pytest.raises(Forbidden) as caught:
            storage.verify("get", "a.pdf", token)
        assert caught.value.code == "expired_signature"


async def test_expiry_and_size_arguments_are_checked(storage: LocalStorage) -> None:
    for expires_in in (0, 8 * 24 * 3600):
        with pytest.raises(ValueError):
            await storage.presign_get("a", expires_in)
    with pytest.raises(ValueError):
        await storage.presign_put("a", "text/plain", max_bytes=0, expires_in=60)


def test_build_storage_defaults_to_the_data_dir(tmp_path: Path) -> None:
    storage = build_storage(Settings(_env_file=None, data_dir=tmp_path, public_url="https://x.test"))
    assert isinstance(storage, LocalStorage)
    assert storage.root == (tmp_path / "files").resolve()
    chosen = build_storage(Settings(_env_file=None, data_dir=tmp_path, storage_dir=tmp_path / "elsewhere"))
    assert isinstance(chosen, LocalStorage) and chosen.root == (tmp_path / "elsewhere").resolve()


async def test_a_key_that_clashes_with_another_keys_folder_is_a_conflict(storage: LocalStorage) -> None:
    await storage.put("a/b.png", b"x", "image/png")
    with pytest.raises(Conflict):
        await storage.put("a", b"x", "image/png")
    with pytest.raises(Conflict):
        await storage.put("a/b.png/c", b"x", "image/png")


async def test_the_deployments_upload_ceiling_holds_for_put_and_links(tmp_path: Path) -> None:
    small = LocalStorage(tmp_path, secret=SECRET, public_url="https://basis.test", max_upload_bytes=10)
    await small.put("ok.bin", b"x" * 10, "application/octet-stream")
    with pytest.raises(PayloadTooLarge) as caught:
        await small.put("big.bin", b"x" * 11, "application/octet-stream")
    assert caught.value.status_code == 413
    with pytest.raises(PayloadTooLarge):
        await small.presign_put("big.bin", "application/octet-stream", max_bytes=11, expires_in=60)
    assert not await small.exists("big.bin")


# ------------------------------------------------------------------ build_storage and settings


def test_build_storage_chooses_s3_when_an_endpoint_is_set(tmp_path: Path) -> None:
    settings = Settings(
        _env_file=None, data_dir=tmp_path, storage_s3_endpoint="http://minio:9000",
        storage_s3_bucket="basis", storage_s3_access_key="basis", storage_s3_secret_key="not-a-real-secret",
        storage_max_upload_bytes=5000,
    )
    assert settings.resolved_storage_backend == "s3"
    storage = build_storage(settings)
    assert isinstance(storage, S3Storage)
    assert (storage.bucket, storage.max_upload_bytes) == ("basis", 5000)
    forced_local = Settings(
        _env_file=None, data_dir=tmp_path, storage_backend="local", storage_s3_endpoint="http://minio:9000"
    )
    assert isinstance(build_storage(forced_local), LocalStorage)


def test_s3_settings_that_cannot_work_are_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="STORAGE_S3_BUCKET"):
        Settings(_env_file=None, data_dir=tmp_path, storage_s3_endpoint="http://minio:9000")
    with pytest.raises(ValidationError, match="http"):
        Settings(_env_file=None, storage_s3_endpoint="minio:9000", storage_s3_bucket="b")
    prod = {
        "env": "prod", "jwt_secrets": ["J" + "q7#Lm2$vX9!pR4&w" * 3],
        "admin_session_secret": "A" + "z8@Kd3%nQ6^tY1*e" * 3,
        "storage_s3_endpoint": "http://minio:9000", "storage_s3_bucket": "basis",
    }
    with pytest.raises(ValidationError, match="ACCESS_KEY and BASIS_STORAGE_S3_SECRET_KEY"):
        Settings(_env_file=None, **prod)
    with pytest.raises(ValidationError, match="SECRET_KEY"):
        Settings(_env_file=None, **prod, storage_s3_access_key="basis")
    Settings(_env_file=None, **prod, storage_s3_access_key="basis", storage_s3_secret_key="s" * 40)


# ------------------------------------------------------------- the core's signed file route


@pytest.fixture
async def files(make_client: ClientFactory) -> AsyncIterator[tuple[httpx.AsyncClient, LocalStorage]]:
    async with make_client(apps=[], storage_max_upload_bytes=4 * 1024 * 1024) as client:
        storage = client.app.state.infra.storage  # type: ignore[attr-defined]
        assert isinstance(storage, LocalStorage)
        yield client, storage


def stored_files(storage: LocalStorage) -> list[str]:
    """Every file under the root, temporary ones included: what an upload left behind."""
    if not storage.root.exists():
        return []
    return sorted(str(p.relative_to(storage.root)) for p in storage.root.rglob("*") if p.is_file())


def local_path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


async def test_presigned_upload_then_download_through_the_route(
    files: tuple[httpx.AsyncClient, LocalStorage],
) -> None:
    client, storage = files
    body = b"%PDF-1.7 a tiny document"
    put_url = await storage.presign_put(
        "hemoday/7/lab.pdf", "application/pdf", max_bytes=len(body), expires_in=60
    )
    assert put_url.startswith("http://testserver/files/hemoday/7/lab.pdf?token=")
    put = await client.put(local_path(put_url), content=body, headers={"Content-Type": "application/pdf"})
    assert put.status_code == 200, put.text
    assert put.json() == {"key": "hemoday/7/lab.pdf", "size": len(body), "content_type": "application/pdf"}
    got = await client.get(local_path(await storage.presign_get("hemoday/7/lab.pdf", expires_in=60)))
    assert got.status_code == 200
    assert got.content == body
    assert got.headers["content-type"] == "application/pdf"
    assert got.headers["content-disposition"].startswith("inline")
    assert await storage.head("hemoday/7/lab.pdf") is not None


async def test_an_upload_larger_than_the_global_body_limit_passes_when_its_link_allows_it(
    files: tuple[httpx.AsyncClient, LocalStorage],
) -> None:
    client, storage = files
    body = b"\x89PNG\r\n\x1a\n" + b"p" * (3 * 1024 * 1024)  # the API's body limit is 1 MiB
    url = await storage.presign_put("big.png", "image/png", max_bytes=len(body), expires_in=60)
    answer = await client.put(local_path(url), content=body, headers={"Content-Type": "image/png"})
    assert answer.status_code == 200, answer.text
    assert await storage.get("big.png") == body
    # Elsewhere the global limit stays.
    assert (await client.post("/auth/login", content=b"x" * 2_000_000)).status_code == 413


async def test_an_announced_oversized_upload_is_refused_before_reading(
    files: tuple[httpx.AsyncClient, LocalStorage],
) -> None:
    client, storage = files
    url = await storage.presign_put("a.png", "image/png", max_bytes=10, expires_in=60)
    answer = await client.put(local_path(url), content=b"x" * 11, headers={"Content-Type": "image/png"})
    assert answer.status_code == 413
    assert answer.json()["code"] == "body_too_large"
    assert stored_files(storage) == []


async def test_a_streamed_upload_is_cut_off_as_soon_as_it_passes_the_limit(
    files: tuple[httpx.AsyncClient, LocalStorage],
) -> None:
    client, storage = files
    url = await storage.presign_put("a.png", "image/png", max_bytes=100_000, expires_in=60)
    sent: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: chunked transfer
        for _ in range(50):
            sent.append(1)
            yield b"x" * 16_384

    answer = await client.put(local_path(url), content=chunks(), headers={"Content-Type": "image/png"})
    assert answer.status_code == 413
    assert answer.json()["code"] == "body_too_large"
    assert stored_files(storage) == []  # neither the key nor a temporary file
    assert not await storage.exists("a.png")
    assert len(sent) < 10  # refused at the limit, not after the whole body


async def test_an_oversized_upload_leaves_an_existing_file_intact(
    files: tuple[httpx.AsyncClient, LocalStorage],
) -> None:
    client, storage = files
    await storage.put("a.png", b"old", "image/png")
    url = await storage.presign_put("a.png", "image/png", max_bytes=10, expires_in=60)

    async def chunks() -> AsyncIterator[bytes]:
        yield b"new"
        yield b"x" * 20

    answer = await client.put(local_path(url), content=chunks(), headers={"Content-Type": "image/png"})
    assert answer.status_code == 413
    assert await storage.get("a.png") == b"old"
    assert stored_files(storage) == ["_meta/a.png.json", "a.png"]


async def test_an_interrupted_upload_leaves_nothing_behind(
    files: tuple[httpx.AsyncClient, LocalStorage],
) -> None:
    client, storage = files
    url = urlsplit(await storage.presign_put("a.png", "image/png", max_bytes=100_000, expires_in=60))
    incoming = [
        {"type": "http.request", "body": b"x" * 16_384, "more_body": True},
        {"type": "http.disconnect"},  # the phone lost its signal
    ]
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return incoming.pop(0)

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "PUT", "scheme": "http",
        "path": url.path, "raw_path": url.path.encode(), "query_string": url.query.encode(), "root_path": "",
        "headers": [(b"host", b"testserver"), (b"content-type", b"image/png")],
        "client": ("127.0.0.1", 50000), "server": ("testserver", 80),
    }
    await client.app(scope, receive, send)  # type: ignore[attr-defined]
    assert sent[0]["status"] == 400
    assert stored_files(storage) == []


@pytest.mark.parametrize("sent_type", ["text/html", "image/jpeg", "image/png; charset=x", None])
async def test_an_upload_of_another_type_is_refused(
    files: tuple[httpx.AsyncClient, LocalStorage], sent_type: str | None
) -> None:
    client, storage = files
    url = await storage.presign_put("a.png", "image/png", max_bytes=100, expires_in=60)
    headers = {"Content-Type": sent_type} if sent_type else {}
    answer = await client.put(local_path(url), content=b"<script>x</script>", headers=headers)
    assert answer.status_code == 415
    assert answer.json()["code"] == "unsupported_media_type"
    assert stored_files(storage) == []


async def test_links_are_refused_when_expired_forged_or_used_for_something_else(
    files: tuple[httpx.AsyncClient, LocalStorage],
) -> None:
    client, storage = files
    await storage.put("a.png", b"png", "image/png")
    with time_machine.travel(time.time(), tick=False) as traveller:
        get_url = local_path(await storage.presign_get("a.png", expires_in=60))
        put_url = local_path(await storage.presign_put("a.png", "image/png", max_bytes=10, expires_in=60))
        traveller.shift(61)
        expired = await client.get(get_url)
        assert (expired.status_code, expired.json()["code"]) == (403, "expired_signature")
        refused = await client.put(put_url, content=b"new", headers={"Content-Type": "image/png"})
        assert (refused.status_code, refused.json()["code"]) == (403, "expired_signature")
        traveller.shift(-61)
        forged = get_url[:-3] + ("aaa" if not get_url.endswith("aaa") else "bbb")
        assert (await client.get(forged)).status_code == 403
        assert (await client.get(get_url.replace("/a.png?", "/b.png?"))).status_code == 403
        wrong_op = await client.put(get_url, content=b"new", headers={"Content-Type": "image/png"})
        assert wrong_op.status_code == 403
        assert (await client.get(put_url)).status_code == 403
        assert (await client.get("/files/a.png")).status_code == 422  # no token at all
        assert (await client.get(get_url)).status_code == 200
    assert await storage.get("a.png") == b"png"


async def test_a_valid_link_to_a_missing_file_is_404(files: tuple[httpx.AsyncClient, LocalStorage]) -> None:
    client, storage = files
    answer = await client.get(local_path(await storage.presign_get("gone.png", expires_in=60)))
    assert (answer.status_code, answer.json()["code"]) == (404, "not_found")


async def test_risky_types_download_as_attachments(files: tuple[httpx.AsyncClient, LocalStorage]) -> None:
    client, storage = files
    await storage.put("page.html", b"<script>alert(1)</script>", "text/html")
    answer = await client.get(local_path(await storage.presign_get("page.html", expires_in=60)))
    assert answer.status_code == 200
    assert answer.headers["content-disposition"].startswith("attachment")
    assert "default-src 'none'" in answer.headers["content-security-policy"]


async def test_with_s3_storage_the_file_route_serves_nothing(make_client: ClientFactory) -> None:
    s3 = {
        "storage_s3_endpoint": "http://127.0.0.1:9", "storage_s3_bucket": "basis",
        "storage_s3_access_key": "basis", "storage_s3_secret_key": "not-a-real-secret",
    }
    async with make_client(apps=[], **s3) as client:
        assert isinstance(client.app.state.infra.storage, S3Storage)  # type: ignore[attr-defined]
        assert (await client.get("/files/a.png?token=x")).status_code == 404
        assert (await client.put("/files/a.png?token=x", content=b"x")).status_code == 404


# ------------------------------------------------------------------------- content sniffing

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 "
GIF = b"GIF89a\x01\x00\x01\x00"
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
# An iPhone photo's first box: major brand heic, compatible mif1 miaf MiHB heic.
HEIC = b"\x00\x00\x00\x20ftypheic\x00\x00\x00\x00mif1miafMiHBheic"
# A still image in the generic HEIF brand (e.g. from a camera), not HEVC-coded.
HEIF = b"\x00\x00\x00\x18ftypmif1\x00\x00\x00\x00mif1miaf"
AVIF = b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (PNG, "image/png"), (JPEG, "image/jpeg"), (WEBP, "image/webp"), (GIF, "image/gif"),
        (PDF, "application/pdf"), (b"\r\n  %PDF-1.7", "application/pdf"), (HEIC, "image/heic"),
        (b"\x00\x00\x00\x18ftypmif1\x00\x00\x00\x00mif1heic", "image/heic"), (HEIF, "image/heif"),
        (AVIF, "image/avif"), (b"\x00\x00\x00\x14ftypisom\x00\x00\x02\x00isom", None),  # an MP4 video
        (b"<html><body>png</body></html>", None), (b"MZ\x90\x00", None), (b"", None),
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", None), (b"\x89PNG", None),
    ],
)
def test_the_real_type_is_read_from_the_first_bytes(data: bytes, expected: str | None) -> None:
    assert sniff_content_type(data + b"\x00" * 100) == expected


def test_a_file_must_be_an_allowed_type_and_the_one_it_claims() -> None:
    allowed = ["image/jpeg", "image/png", "image/webp", "image/heic", "application/pdf"]
    assert require_content_type(PNG, allowed) == "image/png"
    assert require_content_type(JPEG, allowed, declared="image/jpg") == "image/jpeg"
    assert require_content_type(PDF, allowed, declared="Application/PDF; charset=binary") == "application/pdf"
    for data, declared in [(GIF, None), (b"#!/bin/sh\nrm -rf /", None), (b"", None), (PNG, "image/jpeg")]:
        with pytest.raises(UnsupportedMediaType) as caught:
            require_content_type(data, allowed, declared=declared)
        assert (caught.value.status_code, caught.value.code) == (415, "unsupported_media_type")
