"""Rules 32, 34, 35: offline mail, one recipient per mail, quiet period, mute."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from basis.settings import Settings
from tests.apps.messenger.conftest import Api


def outbox(settings: Settings) -> list[dict[str, Any]]:
    path = Path(settings.data_dir) / "outbox" / "mail.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


async def mails_for(
    settings: Settings, address: str, count: int, timeout: float = 10
) -> list[dict[str, Any]]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        found = [m for m in outbox(settings) if any(to.startswith(address) for to in m["to"])]
        if len(found) >= count or loop.time() > deadline:
            return found
        await asyncio.sleep(0.1)


async def test_an_offline_member_gets_one_mail_then_quiet_and_mute_holds(
    live: Api, settings: Settings
) -> None:
    ann, bob, cid = await live.person("ann"), await live.person("bob"), await live.person("cid")
    group = await live.group(ann, bob, cid, title="Climbers")
    online = await live.socket(cid)
    await asyncio.sleep(0.1)
    await live.send(ann, group["id"], "the secret route")
    (mail,) = await mails_for(settings, "bob", 1)
    assert len(mail["to"]) == 1 and mail["to"][0].startswith("bob")
    assert "Climbers" in mail["subject"] and "Ann" in mail["subject"]
    assert "the secret route" not in mail["text"] and f"/chats/{group['id']}" in mail["text"]
    assert not [m for m in outbox(settings) if m["to"][0].startswith(("ann", "cid"))]

    # Within the quiet period: no second mail.
    await live.send(ann, group["id"], "another")
    await asyncio.sleep(1.5)
    assert len([m for m in outbox(settings) if m["to"][0].startswith("bob")]) == 1

    # The mail's one-click link mutes the chat's mail.
    link = next(line for line in mail["text"].splitlines() if "mute" in line).split(": ", 1)[1]
    parts = urlsplit(link)
    muted = await live.client.get(f"{parts.path}?{parts.query}")
    assert muted.status_code == 200 and muted.json() == {"chat_id": group["id"], "muted": True}
    await online.close()
    bad = await live.client.get("/api/mail/mute", params={"token": "forged"})
    assert bad.status_code == 403
