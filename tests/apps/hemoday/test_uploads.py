"""Uploads (rules 21, 34): type from the content, 10 MiB, per-family files, signed expiring links."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx

from basis.settings import Settings
from tests.apps.hemoday.conftest import HemoDay, Person

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 100
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 100
HEIC = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 100
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n"
MAX = 10 * 1024 * 1024


async def upload(person: Person, data: bytes, name: str = "скан анализа.pdf", expect: int = 201) -> dict:
    response = await person.client.post(
        "/api/v1/upload", files={"file": (name, data, "application/octet-stream")}, headers=person.headers
    )
    assert response.status_code == expect, response.text
    return response.json()


def local(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


ACCEPTED = [
    (JPEG, "image/jpeg"),
    (PNG, "image/png"),
    (WEBP, "image/webp"),
    (HEIC, "image/heic"),
    (PDF, "application/pdf"),
]


async def test_accepted_types_are_read_from_the_content(hemoday: HemoDay, client: httpx.AsyncClient) -> None:
    parent = await hemoday.register()
    for data, content_type in ACCEPTED:
        body = await upload(parent, data, name="Анализ №1.bin")
        assert body["content_type"] == content_type and body["size"] == len(data)
        assert body["filename"] == "Анализ №1.bin"
        # The signed link needs no Authorization, serves the exact bytes with the detected type.
        download = await client.get(local(body["download_url"]))
        assert download.status_code == 200
        assert download.content == data and download.headers["content-type"].startswith(content_type)


async def test_refused_before_storing(
    hemoday: HemoDay, client: httpx.AsyncClient, settings: Settings
) -> None:
    parent = await hemoday.register()
    refused = await upload(parent, b"#!/bin/sh\necho hi\n", name="x.pdf", expect=415)
    assert refused["code"] == "unsupported_media_type"
    await upload(parent, b"", expect=422)
    too_big = await upload(parent, PDF + b"\x00" * (MAX + 1 - len(PDF)), expect=413)
    assert too_big["code"]
    exact = await upload(parent, PDF + b"\x00" * (MAX - len(PDF)))
    assert exact["size"] == MAX
    no_file = await client.post("/api/v1/upload", data={"other": "x"}, headers=parent.headers)
    assert no_file.status_code == 422
    # Only the accepted file reached the storage, under the family's own prefix.
    root = settings.data_dir / "files"
    kept = [p for p in root.rglob("*") if p.is_file() and "_meta" not in p.relative_to(root).parts]
    assert [p.relative_to(root).parts[:2] for p in kept] == [("hemoday", parent.token["family_id"])]


async def test_links_follow_the_files_family(hemoday: HemoDay, client: httpx.AsyncClient) -> None:
    parent = await hemoday.register()
    relative = await hemoday.join(parent.token["invite_code"])
    stranger = await hemoday.register()
    body = await upload(parent, PDF)

    link = await relative.get("/upload/link", params={"file_url": body["file_url"]})
    assert link["expires_in"] == 900
    assert (await client.get(local(link["download_url"]))).content == PDF

    theirs = await client.get(
        "/api/v1/upload/link", params={"file_url": body["file_url"]}, headers=stranger.headers
    )
    unknown = await client.get(
        "/api/v1/upload/link", params={"file_url": "hemoday/x/y.pdf"}, headers=stranger.headers
    )
    assert theirs.status_code == unknown.status_code == 404 and theirs.json() == unknown.json()

    # A documents row naming another family's file is stored, and gives no access to it.
    await stranger.pull()
    doc = {"id": "d1", "name": "чужой", "file_url": body["file_url"]}
    await stranger.push({"documents": {"created": [doc], "updated": [], "deleted": []}})
    assert (
        await client.get(
            "/api/v1/upload/link", params={"file_url": body["file_url"]}, headers=stranger.headers
        )
    ).status_code == 404

    # Any change to the signed link is refused.
    url = local(body["download_url"])
    for forged in (
        url[:-2] + ("AA" if not url.endswith("AA") else "BB"),
        url.replace("token=", "token=x"),
        url.split("?")[0],
    ):
        assert (await client.get(forged)).status_code in (401, 403, 404, 422)
    assert (await client.post("/api/v1/upload", files={"file": ("a", PDF)})).status_code == 401
