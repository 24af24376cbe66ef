"""Local file storage: keys that cannot escape, and signed upload/download links."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from itsdangerous import URLSafeSerializer

from basis.core.errors import BadRequest, Forbidden, NotFound
from basis.core.storage import LocalStorage, build_storage
from basis.settings import Settings

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


def test_s3_is_refused_clearly_until_supported(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="S3 storage needs"):
        build_storage(Settings(_env_file=None, data_dir=tmp_path, storage_s3_endpoint="http://minio:9000"))
