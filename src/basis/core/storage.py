"""File storage: a local directory by default, with signed upload and download URLs.

Keys are relative paths such as ``messenger/2026/11/3f2a.png``: segments of letters, digits,
``.``, ``_`` and ``-`` that start with a letter or digit, so no key can climb out of the root.
Presigned URLs point at ``<public_url>/files/<key>?token=...``; the route that serves them (an
app's, later) checks the token with ``storage.verify``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from itsdangerous import BadSignature, URLSafeSerializer

from basis.core.errors import BadRequest, Forbidden, NotFound
from basis.settings import Settings

MAX_KEY_LENGTH = 512
MAX_EXPIRES_IN = 7 * 24 * 3600
URL_PATH = "/files/"
_SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_CONTENT_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}")
_SIGNING_CONTEXT = b"basis.core.storage.presigned-url.v1"

Operation = Literal["get", "put"]


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    key: str
    size: int
    content_type: str


@dataclass(frozen=True, slots=True)
class Grant:
    """What a valid presigned URL allows."""

    op: Operation
    key: str
    expires_at: int
    content_type: str | None = None
    max_bytes: int | None = None


class Storage(Protocol):
    async def put(self, key: str, data: bytes, content_type: str) -> ObjectInfo: ...

    async def get(self, key: str) -> bytes:
        """The object's bytes; NotFound when absent."""
        ...

    async def head(self, key: str) -> ObjectInfo | None: ...

    async def exists(self, key: str) -> bool: ...

    async def delete(self, key: str) -> None:
        """Idempotent: deleting an absent key is fine."""
        ...

    async def presign_put(self, key: str, content_type: str, max_bytes: int, expires_in: int) -> str: ...

    async def presign_get(self, key: str, expires_in: int) -> str: ...

    def verify(self, op: Operation, key: str, token: str) -> Grant:
        """Check a presigned URL's token for ``key``; Forbidden when forged, expired or for another key."""
        ...


def validate_key(key: str) -> str:
    if not isinstance(key, str) or not key or len(key) > MAX_KEY_LENGTH:
        raise BadRequest(f"A storage key is 1 to {MAX_KEY_LENGTH} characters", code="invalid_storage_key")
    for segment in key.split("/"):
        if not _SEGMENT.fullmatch(segment):
            raise BadRequest(
                "A storage key is made of '/'-separated names of letters, digits, '.', '_' and '-' "
                "that start with a letter or digit",
                code="invalid_storage_key",
            )
    return key


def validate_content_type(content_type: str) -> str:
    if not isinstance(content_type, str) or not _CONTENT_TYPE.fullmatch(content_type):
        raise BadRequest(f"Not a content type: {content_type!r}", code="invalid_content_type")
    return content_type.lower()


def _check_expiry(expires_in: int) -> None:
    if not 1 <= expires_in <= MAX_EXPIRES_IN:
        raise ValueError(f"expires_in must be 1 to {MAX_EXPIRES_IN} seconds")


def signing_key(secret: str) -> bytes:
    """A key for storage URLs only, so a leaked URL signature says nothing about other uses of the secret."""
    return hmac.new(secret.encode(), _SIGNING_CONTEXT, hashlib.sha256).digest()


class LocalStorage:
    """Objects as files under ``root``; each object's content type in ``root/_meta``."""

    def __init__(self, root: Path, *, secret: str, public_url: str) -> None:
        self.root = root.resolve()
        self.public_url = public_url.rstrip("/")
        self._signer = URLSafeSerializer(signing_key(secret), salt="basis.storage")

    def _path(self, key: str) -> Path:
        path = (self.root / validate_key(key)).resolve()
        # The key rules already forbid escaping; this guards against a symlink inside the root.
        if not path.is_relative_to(self.root):
            raise BadRequest("Storage key outside the storage root", code="invalid_storage_key")
        return path

    def _meta_path(self, key: str) -> Path:
        # "_meta" cannot be a key's first segment (segments start with a letter or digit).
        return self.root / "_meta" / f"{key}.json"

    async def put(self, key: str, data: bytes, content_type: str) -> ObjectInfo:
        path = self._path(key)
        info = ObjectInfo(key=key, size=len(data), content_type=validate_content_type(content_type))
        await asyncio.to_thread(self._write, path, self._meta_path(key), data, info)
        return info

    def _write(self, path: Path, meta: Path, data: bytes, info: ObjectInfo) -> None:
        _atomic_write(meta, json.dumps({"content_type": info.content_type, "size": info.size}).encode())
        _atomic_write(path, data)

    async def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise NotFound(f"No stored file {key!r}", code="not_found") from None

    async def head(self, key: str) -> ObjectInfo | None:
        return await asyncio.to_thread(self._head, self._path(key), key)

    def _head(self, path: Path, key: str) -> ObjectInfo | None:
        if not path.is_file():
            return None
        try:
            content_type = json.loads(self._meta_path(key).read_text())["content_type"]
        except (OSError, ValueError, KeyError):
            content_type = "application/octet-stream"
        return ObjectInfo(key=key, size=path.stat().st_size, content_type=content_type)

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self._path(key).is_file)

    async def delete(self, key: str) -> None:
        path = self._path(key)
        await asyncio.to_thread(self._remove, path, self._meta_path(key))

    @staticmethod
    def _remove(path: Path, meta: Path) -> None:
        for file in (path, meta):
            try:
                file.unlink()
            except (FileNotFoundError, IsADirectoryError):
                pass

    async def presign_put(self, key: str, content_type: str, max_bytes: int, expires_in: int) -> str:
        validate_key(key)
        _check_expiry(expires_in)
        if max_bytes < 1:
            raise ValueError("max_bytes must be positive")
        claims = {"op": "put", "k": key, "ct": validate_content_type(content_type), "max": max_bytes}
        return self._url(key, claims, expires_in)

    async def presign_get(self, key: str, expires_in: int) -> str:
        validate_key(key)
        _check_expiry(expires_in)
        return self._url(key, {"op": "get", "k": key}, expires_in)

    def _url(self, key: str, claims: dict[str, object], expires_in: int) -> str:
        token = self._signer.dumps({**claims, "exp": int(time.time()) + expires_in})
        return f"{self.public_url}{URL_PATH}{key}?token={token}"

    def verify(self, op: Operation, key: str, token: str) -> Grant:
        try:
            claims = self._signer.loads(token)
        except BadSignature:
            raise Forbidden("Invalid file link signature", code="invalid_signature") from None
        if not isinstance(claims, dict) or claims.get("op") != op or claims.get("k") != key:
            raise Forbidden("This file link is not for this file or operation", code="invalid_signature")
        expires_at = int(claims.get("exp", 0))
        if expires_at < time.time():
            raise Forbidden("This file link has expired", code="expired_signature")
        return Grant(op=op, key=key, expires_at=expires_at, content_type=claims.get("ct"),
                     max_bytes=claims.get("max"))


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def build_storage(settings: Settings) -> Storage:
    if settings.storage_s3_endpoint:
        raise ValueError(
            "S3 storage needs an S3 client library, which this installation does not include yet: "
            "unset BASIS_STORAGE_S3_ENDPOINT to use local storage (BASIS_STORAGE_DIR)"
        )
    root = settings.storage_dir or settings.data_dir / "files"
    return LocalStorage(root, secret=settings.admin_secret, public_url=settings.public_url)
