"""Ending sessions: the database is the record, every process's cache hears of it at commit.

An access token names its session (``sid``). A session is over once its refresh-token family has
no row left that is not revoked; ``revoke_sessions`` marks the family in the caller's transaction
(see ``service.revoke_families``) and notes the ids so that, when that transaction commits, every
process drops what it remembered of them (``basis.identity.authcache``). Nothing is revoked in a
cache alone: a Redis restart cannot bring a revoked token back.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from basis.identity.authcache import note_revoked


def revoke_sessions(session: Any, sids: Iterable[str]) -> None:
    """Reported to every process when ``session`` commits; the caller revokes the rows."""
    note_revoked(session, sids)
