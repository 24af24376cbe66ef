"""Revoked session ids, shared by every process through ``infra.kv`` (Redis when configured).

An access token names its session (``sid``). Revoking a session writes its id here for as long
as an access token of it can still be valid, so checking costs one key-value read and no
database query.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from basis.identity.tokens import LEEWAY_SECONDS

if TYPE_CHECKING:
    from basis.core.kv import KeyValue

PREFIX = "identity:revoked-sid:"


def ttl_for(access_minutes: int) -> int:
    return access_minutes * 60 + LEEWAY_SECONDS + 60


async def revoke_sessions(kv: KeyValue, sids: Iterable[str], *, access_minutes: int) -> None:
    ttl = ttl_for(access_minutes)
    for sid in set(sids):
        await kv.set(PREFIX + sid, "1", ttl)


async def is_revoked(kv: KeyValue, sid: str) -> bool:
    return await kv.get(PREFIX + sid) is not None
