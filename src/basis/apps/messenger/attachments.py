"""Uploads through the core storage: a sender presigns, PUTs the bytes, then attaches."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from basis.apps.messenger import exceptions as exc
from basis.apps.messenger.models import Attachment, Message, Upload
from basis.apps.messenger.schemas import AttachmentIn
from basis.core.storage import Storage
from basis.core.time import utcnow

ALLOWED_TYPES = frozenset(
    {
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
        "application/pdf",
        "text/plain",
        "application/zip",
        "application/msword",
        "application/vnd.ms-excel",
        "application/vnd.ms-powerpoint",
        "application/rtf",
    }
)
ALLOWED_PREFIXES = (
    "audio/",
    "video/",
    "application/vnd.openxmlformats-officedocument.",
    "application/vnd.oasis.opendocument.",
)
_MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}")
_EXTENSION = re.compile(r"\.([A-Za-z0-9]{1,10})$")


def allowed_content_type(content_type: str) -> str:
    bare = content_type.split(";", 1)[0].strip().lower()
    if bare == "image/jpg":
        bare = "image/jpeg"
    if not _MEDIA_TYPE.fullmatch(bare) or not (bare in ALLOWED_TYPES or bare.startswith(ALLOWED_PREFIXES)):
        raise exc.content_type_not_allowed(content_type)
    return bare


def new_object_key(user_id: int, file_name: str) -> str:
    """Made here, never from the client's path: the file name gives at most its extension."""
    match = _EXTENSION.search(file_name)
    extension = f".{match.group(1).lower()}" if match else ""
    now = utcnow()
    return f"messenger/{now:%Y/%m}/{user_id}-{uuid.uuid4().hex}{extension}"


async def presign(
    *,
    session: AsyncSession,
    storage: Storage,
    user_id: int,
    file_name: str,
    content_type: str,
    size_bytes: int,
    max_bytes: int,
    expires_in: int,
) -> tuple[str, str]:
    """The upload URL and the object key. Does not commit."""
    content_type = allowed_content_type(content_type)
    if size_bytes > max_bytes:
        raise exc.invalid("size_bytes", f"a file may be at most {max_bytes} bytes")
    key = new_object_key(user_id, file_name)
    url = await storage.presign_put(key, content_type, size_bytes, expires_in)
    session.add(
        Upload(
            object_key=key,
            user_id=user_id,
            file_name=file_name,
            content_type=content_type,
            size_bytes=size_bytes,
            created_at=utcnow(),
        )
    )
    await session.flush()
    return url, key


async def check(
    *, session: AsyncSession, storage: Storage, user_id: int, files: Sequence[AttachmentIn]
) -> list[Upload]:
    """Each file was presigned by this user, uploaded whole and never attached: else 422
    ``upload_missing`` (403 for another user's upload)."""
    keys = [f.object_key for f in files]
    if len(set(keys)) != len(keys):
        raise exc.invalid("attachments", "an upload can be attached once")
    uploads = {
        u.object_key: u
        for u in (await session.scalars(select(Upload).where(Upload.object_key.in_(keys)))).all()
    }
    taken = set(
        (await session.scalars(select(Attachment.object_key).where(Attachment.object_key.in_(keys)))).all()
    )
    found = []
    for file in files:
        upload = uploads.get(file.object_key)
        if upload is None:
            raise exc.upload_missing(file.object_key)
        if upload.user_id != user_id:
            raise exc.upload_of_another_user(file.object_key)
        if file.object_key in taken or file.size_bytes != upload.size_bytes:
            raise exc.upload_missing(file.object_key)
        stored = await storage.head(file.object_key)
        if stored is None or stored.size != upload.size_bytes:
            raise exc.upload_missing(file.object_key)
        found.append(upload)
    return found


async def attach(
    *, session: AsyncSession, storage: Storage, message: Message, user_id: int, files: Sequence[AttachmentIn]
) -> list[Attachment]:
    """All or nothing. Does not commit."""
    uploads = await check(session=session, storage=storage, user_id=user_id, files=files)
    now = utcnow()
    rows = [
        Attachment(
            message_id=message.id,
            object_key=upload.object_key,
            file_name=file.file_name,
            content_type=upload.content_type,
            size_bytes=upload.size_bytes,
            created_at=now,
        )
        for file, upload in zip(files, uploads, strict=True)
    ]
    session.add_all(rows)
    await session.flush()
    return rows
