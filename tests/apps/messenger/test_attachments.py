"""Rules 28-31: presign, upload through the core storage, attach in a send or by link."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from tests.apps.messenger.conftest import Api, Person

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 56


async def presign(api: Api, who: Person, *, expect: int = 201, **body: Any) -> Any:
    fields = {"filename": "cat.png", "content_type": "image/png", "size_bytes": len(PNG), **body}
    return await api.post(who, "/api/attachments/presign", fields, expect=expect)


async def upload(api: Api, url: str, data: bytes, content_type: str = "image/png") -> int:
    parts = urlsplit(url)
    response = await api.client.put(
        f"{parts.path}?{parts.query}", content=data, headers={"Content-Type": content_type}
    )
    return response.status_code


def attachment(grant: dict[str, Any], size: int = len(PNG)) -> dict[str, Any]:
    return {
        "object_key": grant["object_key"],
        "file_name": "cat.png",
        "content_type": "image/png",
        "size_bytes": size,
    }


async def test_presign_upload_send_and_download_without_a_token(api: Api) -> None:
    ann, bob = await api.person(), await api.person()
    chat = await api.dialog(ann, bob)
    grant = await presign(api, ann, filename="../../etc/passwd.png")
    assert grant["method"] == "PUT" and isinstance(grant["expires_in"], int)
    assert grant["url"].startswith("http://testserver/")
    key = grant["object_key"]
    assert ".." not in key and not key.startswith("/") and "passwd" not in key
    assert (await presign(api, ann))["object_key"] != key
    assert await upload(api, grant["url"], PNG) == 200

    message = await api.send(ann, chat["id"], "", attachments=[attachment(grant)])
    (file,) = message["attachments"]
    assert set(file) == {"id", "object_key", "file_name", "content_type", "size_bytes", "url", "created_at"}
    assert file["object_key"] == key and file["size_bytes"] == len(PNG) and isinstance(file["id"], int)
    parts = urlsplit(file["url"])
    download = await api.client.get(f"{parts.path}?{parts.query}")
    assert download.status_code == 200 and download.content == PNG
    tampered = await api.client.get(f"{parts.path}?{parts.query[:-2]}xx")
    assert tampered.status_code == 403
    listed = await api.get(bob, f"/api/chats/{chat['id']}/messages")
    assert listed[0]["attachments"][0]["object_key"] == key


async def test_presign_refuses_bad_types_and_sizes(api: Api) -> None:
    ann = await api.person()
    for content_type in ("text/html", "image/svg+xml", "application/x-msdownload", "nonsense"):
        await presign(api, ann, content_type=content_type, expect=422)
    for size in (0, -1, "big", 20 * 1024 * 1024 + 1):
        await presign(api, ann, size_bytes=size, expect=422)
    await presign(api, ann, filename=None, expect=422)
    await presign(api, ann, filename=None, file_name="doc.pdf", content_type="application/pdf")
    await presign(api, ann, content_type="audio/ogg")


async def test_an_upload_larger_than_presigned_or_signed_wrong_is_refused(api: Api) -> None:
    ann = await api.person()
    grant = await presign(api, ann, size_bytes=10)
    assert await upload(api, grant["url"], b"x" * 11) == 413
    assert await upload(api, grant["url"] + "tampered", b"x" * 10) == 403


async def test_attaching_needs_ones_own_complete_upload_all_or_nothing(api: Api) -> None:
    ann, bob = await api.person(), await api.person()
    chat = await api.dialog(ann, bob)
    path = f"/api/chats/{chat['id']}/messages"
    never_uploaded = await presign(api, ann)
    short = await presign(api, ann)
    assert await upload(api, short["url"], PNG[:10]) == 200
    good = await presign(api, ann)
    assert await upload(api, good["url"], PNG) == 200
    bobs = await presign(api, bob)
    assert await upload(api, bobs["url"], PNG) == 200

    for files, status, code in (
        ([attachment(never_uploaded)], 422, "upload_missing"),
        ([attachment(short)], 422, "upload_missing"),
        ([attachment(good), attachment(never_uploaded)], 422, "upload_missing"),
        ([attachment(bobs)], 403, "forbidden"),
        ([{**attachment(good), "object_key": "messenger/none.png"}], 422, "upload_missing"),
    ):
        answer = await api.client.post(path, json={"text": "look", "attachments": files}, headers=ann.headers)
        assert answer.status_code == status and answer.json()["code"] == code, answer.text
    assert await api.get(ann, path) == []
    await api.send(ann, chat["id"], "", attachments=[attachment(good)])
    # An upload is attached once.
    again = await api.client.post(
        path, json={"text": "x", "attachments": [attachment(good)]}, headers=ann.headers
    )
    assert again.status_code == 422


async def test_link_attaches_to_ones_own_message_only(api: Api) -> None:
    ann, bob = await api.person(), await api.person()
    chat = await api.dialog(ann, bob)
    message = await api.send(ann, chat["id"], "see attached")
    grant = await presign(api, ann)
    assert await upload(api, grant["url"], PNG) == 200
    body = {"message_id": message["id"], **attachment(grant)}
    await api.post(bob, "/api/attachments/link", body, expect=403)
    await api.post(ann, "/api/attachments/link", {**body, "message_id": 999999}, expect=404)
    await api.post(ann, "/api/attachments/link", body, expect=204)
    listed = await api.get(bob, f"/api/chats/{chat['id']}/messages")
    assert [a["object_key"] for a in listed[0]["attachments"]] == [grant["object_key"]]
