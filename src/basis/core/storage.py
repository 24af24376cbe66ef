"""File storage: a local directory by default, S3-compatible object storage when configured,
both with signed, expiring upload and download URLs.

Keys are relative paths such as ``messenger/2026/11/3f2a.png``: segments of letters, digits,
``.``, ``_`` and ``-`` that start with a letter or digit, so no key can climb out of the root.

Local storage's presigned URLs point at ``<public_url>/files/<key>?token=...``, served by the
core's file route (``core.http.files_router``), which checks the token with ``storage.verify``
and enforces an upload link's size and content type while the bytes stream in. S3's presigned
URLs point at the bucket itself, and S3 enforces the same limits: an upload link signs its
Content-Type and Content-Length, so the server refuses any other before it stores a byte.

``sniff_content_type`` reads a file's real type from its first bytes, so an app can refuse a
file whose content does not match the type it claims.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import json
import os
import re
import tempfile
import time
from collections.abc import AsyncIterable, AsyncIterator, Collection, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from itsdangerous import BadSignature, URLSafeSerializer

from basis.core.errors import BadRequest, BasisError, Conflict, Forbidden, NotFound, ServiceUnavailable
from basis.core.logging import get_logger
from basis.settings import Settings

if TYPE_CHECKING:
    from aiobotocore.client import AioBaseClient

log = get_logger("basis.storage")

MAX_KEY_LENGTH = 512
MAX_EXPIRES_IN = 7 * 24 * 3600
DEFAULT_MAX_UPLOAD_BYTES = 100 * 1024 * 1024
SNIFF_BYTES = 1024
"""How many leading bytes ``sniff_content_type`` needs to see."""
URL_PATH = "/files/"
_SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_CONTENT_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}")
_SIGNING_CONTEXT = b"basis.core.storage.presigned-url.v1"

Operation = Literal["get", "put"]


class PayloadTooLarge(BasisError):
    status_code = 413
    code = "body_too_large"
    default_detail = "File too large"


class UnsupportedMediaType(BasisError):
    status_code = 415
    code = "unsupported_media_type"
    default_detail = "This type of file is not accepted"


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

    async def presign_put(self, key: str, content_type: str, max_bytes: int, expires_in: int) -> str:
        """A URL for one ``PUT`` of the bytes, sent with ``Content-Type: <content_type>``.

        Pass the size the client declared as ``max_bytes``: local storage refuses (413) a body
        that grows past it, and S3 signs it as the exact Content-Length, so there an upload of
        any other length is refused (403). Either way nothing is stored. PayloadTooLarge when
        ``max_bytes`` is over the deployment's ``BASIS_STORAGE_MAX_UPLOAD_BYTES``."""
        ...

    async def presign_get(self, key: str, expires_in: int) -> str:
        """A URL that downloads the object without any other credential until it expires."""
        ...

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


def _check_upload_size(max_bytes: int, ceiling: int) -> None:
    if max_bytes < 1:
        raise ValueError("max_bytes must be positive")
    if max_bytes > ceiling:
        raise PayloadTooLarge(f"A file may be at most {ceiling} bytes")


def _check_size(size: int, ceiling: int) -> None:
    if size > ceiling:
        raise PayloadTooLarge(f"A file may be at most {ceiling} bytes")


# ------------------------------------------------------------------------- content sniffing
# Signatures from each format's own specification: JPEG's SOI marker, PNG's 8-byte signature,
# GIF's header, WebP's RIFF container, the ISO base media "ftyp" box of HEIF/HEIC/AVIF, and
# PDF's header (which readers accept anywhere in the first 1024 bytes).

_HEIC_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx"})
_HEIF_BRANDS = frozenset({b"mif1", b"msf1"})
_AVIF_BRANDS = frozenset({b"avif", b"avis"})
CONTENT_TYPE_ALIASES = {
    "image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "application/x-pdf": "application/pdf"
}


def sniff_content_type(data: bytes) -> str | None:
    """The type the bytes really are (their first ``SNIFF_BYTES`` suffice), or None when unknown."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[4:8] == b"ftyp":
        return _iso_media_type(data)
    if b"%PDF-" in data[:SNIFF_BYTES]:
        return "application/pdf"
    return None


def _iso_media_type(data: bytes) -> str | None:
    box_size = int.from_bytes(data[:4], "big")
    end = min(box_size, len(data)) if box_size >= 16 else 16
    brands = [data[8:12]] + [data[i : i + 4] for i in range(16, end - 3, 4)]
    for candidates, content_type in (
        (_HEIC_BRANDS, "image/heic"), (_AVIF_BRANDS, "image/avif"), (_HEIF_BRANDS, "image/heif")
    ):
        if any(brand in candidates for brand in brands):
            return content_type
    return None


def normalise_content_type(content_type: str) -> str:
    """The media type without parameters, lower case, common aliases (``image/jpg``) resolved."""
    bare = content_type.split(";", 1)[0].strip().lower()
    return CONTENT_TYPE_ALIASES.get(bare, bare)


def require_content_type(data: bytes, allowed: Collection[str], declared: str | None = None) -> str:
    """The sniffed type of ``data`` when it is one of ``allowed`` (and, given ``declared``, the one
    the client claimed); else UnsupportedMediaType (415)."""
    actual = sniff_content_type(data[:SNIFF_BYTES])
    if actual is None or actual not in {normalise_content_type(t) for t in allowed}:
        raise UnsupportedMediaType(f"Accepted types: {', '.join(sorted(allowed))}")
    if declared is not None and normalise_content_type(declared) != actual:
        raise UnsupportedMediaType(f"The file is {actual}, not {normalise_content_type(declared)}")
    return actual


def signing_key(secret: str) -> bytes:
    """A key for storage URLs only, so a leaked URL signature says nothing about other uses of the secret."""
    return hmac.new(secret.encode(), _SIGNING_CONTEXT, hashlib.sha256).digest()


class LocalStorage:
    """Objects as files under ``root``; each object's content type in ``root/_meta``."""

    def __init__(
        self, root: Path, *, secret: str, public_url: str, max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    ) -> None:
        self.root = root.resolve()
        self.public_url = public_url.rstrip("/")
        self.max_upload_bytes = max_upload_bytes
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
        _check_size(info.size, self.max_upload_bytes)
        with _key_conflicts(key):
            await asyncio.to_thread(self._write, path, self._meta_path(key), data, info)
        return info

    def _write(self, path: Path, meta: Path, data: bytes, info: ObjectInfo) -> None:
        _atomic_write(meta, _meta_bytes(info))
        _atomic_write(path, data)

    async def put_stream(
        self, key: str, chunks: AsyncIterable[bytes], content_type: str, max_bytes: int
    ) -> ObjectInfo:
        """Stores the chunks under ``key`` once all have come; PayloadTooLarge as soon as they pass
        ``max_bytes``. Until the last chunk the bytes live in a hidden temporary file beside the
        key's place, removed on any failure: the key never holds part of an upload."""
        path = self._path(key)
        content_type = validate_content_type(content_type)
        limit = min(max_bytes, self.max_upload_bytes)
        with _key_conflicts(key):
            await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
            fd, tmp = await asyncio.to_thread(tempfile.mkstemp, dir=path.parent, prefix=".upload-")
        try:
            size = 0
            with os.fdopen(fd, "wb") as file:
                async for chunk in chunks:
                    size += len(chunk)
                    _check_size(size, limit)
                    await asyncio.to_thread(file.write, chunk)
            info = ObjectInfo(key=key, size=size, content_type=content_type)
            with _key_conflicts(key):
                await asyncio.to_thread(self._commit, Path(tmp), path, self._meta_path(key), info)
            return info
        except BaseException:
            await asyncio.shield(asyncio.to_thread(Path(tmp).unlink, missing_ok=True))
            raise

    @staticmethod
    def _commit(tmp: Path, path: Path, meta: Path, info: ObjectInfo) -> None:
        _atomic_write(meta, _meta_bytes(info))
        os.replace(tmp, path)

    def path_of(self, key: str) -> Path:
        """Where ``key``'s bytes are (they may be absent); BadRequest for a key that is not one."""
        return self._path(key)

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
        _check_upload_size(max_bytes, self.max_upload_bytes)
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


def _meta_bytes(info: ObjectInfo) -> bytes:
    return json.dumps({"content_type": info.content_type, "size": info.size}).encode()


@contextmanager
def _key_conflicts(key: str) -> Iterator[None]:
    """A key whose place is taken by another key's folder (or the reverse) is a 409, not a 500."""
    try:
        yield
    except (NotADirectoryError, IsADirectoryError, FileExistsError):
        raise Conflict(
            f"Storage key {key!r} clashes with another key's folder", code="storage_key_conflict"
        ) from None


_Keeper = tuple[asyncio.AbstractEventLoop, "asyncio.Future[AioBaseClient]", "asyncio.Task[None]"]


async def _until_loop_shutdown() -> None:
    """Waits until the event loop's shutdown cancels the waiting task."""
    await asyncio.get_running_loop().create_future()


@functools.cache
def _botocore_session() -> Any:
    # One per process: a session caches the service models, slow to load (~0.5 s).
    import botocore.session

    return botocore.session.get_session()


@functools.cache
def _aio_session() -> Any:
    from aiobotocore.session import get_session

    return get_session()


class S3Storage:
    """Objects in one bucket of an S3-compatible store (AWS S3, MinIO, Ceph RGW, ...).

    Operations share one aiobotocore client (and its connection pool) per event loop, opened on
    first use by a task that holds it until the loop shuts down: ``asyncio.run``, uvicorn and
    the test runner cancel that task at the end, which closes the client, with no shutdown hook
    to remember. A fresh client per operation would cost ~50 ms of CPU for its TLS context plus
    a new connection each time. Presigning is pure computation, done by a plain botocore client
    built once and configured with the endpoint that browsers reach (``public_endpoint``), which
    can differ from the one this process uses (``http://minio:9000`` inside docker compose)."""

    def __init__(
        self,
        *,
        bucket: str,
        endpoint: str | None = None,
        public_endpoint: str | None = None,
        region: str = "us-east-1",
        access_key: str | None = None,
        secret_key: str | None = None,
        path_style: bool = True,
        max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
        max_attempts: int = 3,
    ) -> None:
        from aiobotocore.config import AioConfig
        from botocore.config import Config

        self.bucket = bucket
        self.max_upload_bytes = max_upload_bytes
        options: dict[str, Any] = {
            "signature_version": "s3v4",
            "s3": {"addressing_style": "path" if path_style else "virtual"},
            # Checksums only where S3 requires them: MinIO, Ceph and older servers reject the
            # newer default trailers on some requests.
            "request_checksum_calculation": "when_required",
            "response_checksum_validation": "when_required",
        }
        self._client_args: dict[str, Any] = {
            "service_name": "s3",
            "region_name": region,
            "endpoint_url": endpoint,
            "aws_access_key_id": access_key,
            "aws_secret_access_key": secret_key,
        }
        self._config = AioConfig(
            **options, connect_timeout=5, read_timeout=60,
            retries={"max_attempts": max_attempts, "mode": "standard"},
        )
        self._session = _aio_session()
        self._keeper: _Keeper | None = None
        self._presigner = _botocore_session().create_client(
            **{**self._client_args, "endpoint_url": public_endpoint or endpoint}, config=Config(**options)
        )

    @asynccontextmanager
    async def _client(self, key: str | None = None) -> AsyncIterator[AioBaseClient]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            yield await self._shared_client()
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            if code in ("NoSuchKey", "404", "NotFound"):
                raise NotFound(f"No stored file {key!r}", code="not_found") from None
            log.warning("storage_s3_error", error=code or type(error).__name__, bucket=self.bucket)
            raise ServiceUnavailable("File storage is unavailable", code="storage_unavailable") from None
        except BotoCoreError as error:
            log.warning("storage_s3_error", error=type(error).__name__, bucket=self.bucket)
            raise ServiceUnavailable("File storage is unavailable", code="storage_unavailable") from None

    async def _shared_client(self) -> AioBaseClient:
        loop = asyncio.get_running_loop()
        if self._keeper is None or self._keeper[0] is not loop or self._keeper[2].done():
            ready: asyncio.Future[AioBaseClient] = loop.create_future()
            task = loop.create_task(self._keep_client(ready), name="basis-storage-s3-client")
            self._keeper = (loop, ready, task)
        return await asyncio.shield(self._keeper[1])

    async def _keep_client(self, ready: asyncio.Future[AioBaseClient]) -> None:
        try:
            async with self._session.create_client(**self._client_args, config=self._config) as client:
                ready.set_result(client)
                await _until_loop_shutdown()
        except asyncio.CancelledError:
            ready.cancel()
            raise
        except Exception as error:  # handed to the operation that waits for the client
            if not ready.done():
                ready.set_exception(error)

    async def put(self, key: str, data: bytes, content_type: str) -> ObjectInfo:
        content_type = validate_content_type(content_type)
        info = ObjectInfo(key=validate_key(key), size=len(data), content_type=content_type)
        _check_size(info.size, self.max_upload_bytes)
        async with self._client(key) as s3:
            await s3.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=info.content_type)
        return info

    async def get(self, key: str) -> bytes:
        validate_key(key)
        async with self._client(key) as s3:
            answer = await s3.get_object(Bucket=self.bucket, Key=key)
            async with answer["Body"] as body:
                return await body.read()

    async def head(self, key: str) -> ObjectInfo | None:
        validate_key(key)
        try:
            async with self._client(key) as s3:
                answer = await s3.head_object(Bucket=self.bucket, Key=key)
        except NotFound:
            return None
        content_type = answer.get("ContentType") or "application/octet-stream"
        return ObjectInfo(key=key, size=int(answer["ContentLength"]), content_type=content_type)

    async def exists(self, key: str) -> bool:
        return await self.head(key) is not None

    async def delete(self, key: str) -> None:
        validate_key(key)
        async with self._client(key) as s3:
            await s3.delete_object(Bucket=self.bucket, Key=key)

    async def presign_put(self, key: str, content_type: str, max_bytes: int, expires_in: int) -> str:
        validate_key(key)
        _check_expiry(expires_in)
        _check_upload_size(max_bytes, self.max_upload_bytes)
        # A PUT cannot carry a size range (only a POST policy can); signing the exact
        # Content-Length and Content-Type makes S3 refuse any other before storing anything,
        # and keeps one URL + PUT for both backends (the messenger's clients PUT to a URL).
        params = {
            "Bucket": self.bucket, "Key": key,
            "ContentType": validate_content_type(content_type), "ContentLength": max_bytes,
        }
        return self._presign("put_object", params, expires_in)

    async def presign_get(self, key: str, expires_in: int) -> str:
        validate_key(key)
        _check_expiry(expires_in)
        return self._presign("get_object", {"Bucket": self.bucket, "Key": key}, expires_in)

    def _presign(self, operation: str, params: dict[str, Any], expires_in: int) -> str:
        from botocore.exceptions import BotoCoreError

        try:
            return self._presigner.generate_presigned_url(operation, Params=params, ExpiresIn=expires_in)
        except BotoCoreError as error:  # e.g. no credentials found anywhere
            log.warning("storage_s3_error", error=type(error).__name__, bucket=self.bucket)
            raise ServiceUnavailable("File storage is unavailable", code="storage_unavailable") from None

    def verify(self, op: Operation, key: str, token: str) -> Grant:
        raise Forbidden("S3 checks its own file links", code="invalid_signature")


def build_storage(settings: Settings) -> Storage:
    if settings.resolved_storage_backend == "s3":
        secret = settings.storage_s3_secret_key
        return S3Storage(
            bucket=settings.storage_s3_bucket or "",
            endpoint=settings.storage_s3_endpoint,
            public_endpoint=settings.storage_s3_public_endpoint,
            region=settings.storage_s3_region,
            access_key=settings.storage_s3_access_key,
            secret_key=secret.get_secret_value() if secret is not None else None,
            path_style=settings.storage_s3_path_style,
            max_upload_bytes=settings.storage_max_upload_bytes,
        )
    root = settings.storage_dir or settings.data_dir / "files"
    return LocalStorage(
        root, secret=settings.admin_secret, public_url=settings.public_url,
        max_upload_bytes=settings.storage_max_upload_bytes,
    )
