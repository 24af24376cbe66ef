"""Who an access token's session belongs to, remembered per process, never trusted blindly.

The database is the record: a session (``sid``) is alive while its refresh-token family has a
row that is not revoked, and the user's role and ``is_active`` are on the ``users`` row. A
request whose session is in this cache skips the database; a miss asks the database with one
query and remembers the answer.

What keeps the cache true:

- A **version** shared by every process: a Redis key when Redis is configured, else the
  content of a stamp file in the data directory (the only other processes are then
  command-line ones). Every commit that changed a ``User`` row (any path: API, admin panel,
  CLI, jobs) or ended a session bumps it before the request answers (``after_commit`` below).
  Each cache hit reads the version first (one Redis GET, or reading a few bytes); a new version empties
  the process's cache, and an unknown one (Redis down, a key lost with a Redis restart without
  persistence) means "ask the database", never "allowed".
- The same commit tells every process which users and sessions changed on the hub topic
  ``identity:auth``: open sockets review their caller on it (``basis.identity.sockets``).
- A lookup that started before an invalidation in this process never stores its answer.
- Every entry also expires after ``auth_cache_seconds`` (0 turns the cache off).

A process reports only through engines it ``register``s: the server (identity's start-up hook)
and ``basis users``. ``basis worker`` registers none yet, so a job must not change users or end
sessions until it does (no job does today).
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.util.concurrency import await_only, in_greenlet

from basis.core.logging import get_logger
from basis.core.realtime import Hub
from basis.identity.models import User

log = get_logger("basis.identity")

AUTH_TOPIC = "identity:auth"
VERSION_KEY = "basis:identity:auth-version"
MAX_ENTRIES = 100_000
STAMP_NAME = "identity-changed.stamp"
_PENDING_USERS = "basis.identity.changed_users"
_PENDING_SIDS = "basis.identity.revoked_sids"
_COLUMNS = tuple(attr.key for attr in User.__mapper__.column_attrs)


@dataclass(slots=True)
class _Entry:
    user_id: int
    values: dict[str, Any]
    expires: float


def user_values(user: User) -> dict[str, Any]:
    return {key: getattr(user, key) for key in _COLUMNS}


_NEW_USER = User.__mapper__.class_manager.new_instance


def detached_user(values: dict[str, Any]) -> User:
    """A ``User`` as if just loaded: ``session.add`` attaches it without a query, and a change
    to it is flushed as an UPDATE like any loaded row's. Its values go into the instance as a
    query's rows do, past the attribute events (which cost more than the rest of a cache hit)."""
    user: User = _NEW_USER()
    user.__dict__.update(values)
    make_transient_to_detached(user)
    return user


class Version:
    """The shared change marker: a Redis key, or the content of a stamp file; a new random value
    on every change."""

    def __init__(self, *, redis: Redis | None, stamp: Path | None) -> None:
        self._redis = redis
        self._stamp = stamp

    async def read(self) -> bytes | int | None:
        """None when it cannot be known (then nothing cached may be trusted)."""
        if self._redis is not None:
            try:
                value = await self._redis.get(VERSION_KEY)
                if value is None:
                    # Lost with a Redis restart (or never set): start a new value that no earlier
                    # one can equal, so nothing remembered before the loss is trusted.
                    await self._redis.set(VERSION_KEY, uuid.uuid4().hex, nx=True)
                    value = await self._redis.get(VERSION_KEY)
                return value  # type: ignore[no-any-return]
            except (RedisError, OSError):
                return None
        if self._stamp is not None:
            try:
                with open(self._stamp, "rb") as file:  # noqa: ASYNC230 - a few bytes, page-cached
                    return file.read(64)
            except FileNotFoundError:
                return 0
            except OSError:
                return None
        return 0

    async def bump(self) -> None:
        if self._redis is not None:
            try:
                await self._redis.set(VERSION_KEY, uuid.uuid4().hex)
            except (RedisError, OSError) as exc:
                # Nobody can read the version either: every process asks the database meanwhile.
                log.warning("auth version not bumped", error=str(exc))
        elif self._stamp is not None:
            # A new random value, renamed into place: readers never see half a write, and two
            # changes within one clock tick still differ (a modification time might not).
            fresh = self._stamp.with_name(f"{self._stamp.name}.{uuid.uuid4().hex}")
            try:
                fresh.write_text(uuid.uuid4().hex)
                os.replace(fresh, self._stamp)
            except OSError as exc:
                log.warning("auth version not bumped", error=str(exc))
                with suppress(OSError):
                    fresh.unlink()


class AuthCache:
    def __init__(
        self, version: Version, *, ttl_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.version = version
        self._ttl = ttl_seconds
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._generation = 0
        self._seen: bytes | int | None = None

    @property
    def enabled(self) -> bool:
        return self._ttl > 0

    async def lookup(self, sid: str, user_id: int) -> tuple[dict[str, Any] | None, Any]:
        """The remembered user of a live session (or None: ask the database), and a ticket to
        ``put`` the database's answer with."""
        if not self.enabled:
            return None, None
        generation = self._generation
        version = await self.version.read()
        if version is None:
            return None, None
        if version != self._seen:
            self.clear()
            self._seen = version
            return None, (self._generation, version)
        entry = self._entries.get(sid)
        if entry is None or entry.user_id != user_id:
            return None, (generation, version)
        if entry.expires <= self._clock():
            del self._entries[sid]
            return None, (generation, version)
        return entry.values, None

    def put(self, ticket: Any, sid: str, values: dict[str, Any]) -> None:
        if ticket is None:
            return
        generation, version = ticket
        if generation != self._generation or version != self._seen:
            return
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        self._entries[sid] = _Entry(values["id"], values, self._clock() + self._ttl)

    def invalidate(self, *, users: Iterable[int] = (), sids: Iterable[str] = ()) -> None:
        self._generation += 1
        for sid in sids:
            self._entries.pop(sid, None)
        gone = set(users)
        if gone:
            for sid in [sid for sid, entry in self._entries.items() if entry.user_id in gone]:
                del self._entries[sid]

    def clear(self) -> None:
        self._generation += 1
        self._entries.clear()


# --------------------------------------------------------------------------- change capture


@dataclass(slots=True)
class Notifier:
    """Where a process reports committed changes: the shared version, its own cache, the hub."""

    version: Version
    cache: AuthCache | None
    hub: Hub | None

    async def publish(self, users: list[int], sids: list[str]) -> None:
        await self.version.bump()
        if self.cache is not None:
            self.cache.invalidate(users=users, sids=sids)
        if self.hub is not None and self.hub.heard(AUTH_TOPIC):
            try:
                await self.hub.publish(AUTH_TOPIC, {"users": users, "sids": sids})
            except Exception as exc:
                # The version already moved; only open sockets wait for their periodic review.
                log.warning("auth change not published", error=str(exc))


_NOTIFIERS: dict[str, list[Notifier]] = {}
"""By database URL: a commit through any engine of this process on that database reports to
every app instance serving it (a script or test writing through its own engine included)."""


def _key(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def register(engine: Engine, notifier: Notifier) -> None:
    """Commits to ``engine``'s database (through any engine) report to ``notifier``."""
    _NOTIFIERS.setdefault(_key(engine), []).append(notifier)


def unregister(engine: Engine, notifier: Notifier) -> None:
    listed = _NOTIFIERS.get(_key(engine), [])
    if notifier in listed:
        listed.remove(notifier)
    if not listed:
        _NOTIFIERS.pop(_key(engine), None)


def note_revoked(session: Any, sids: Iterable[str]) -> None:
    """Sessions ended in this transaction: reported when it commits."""
    info = session.info
    info.setdefault(_PENDING_SIDS, set()).update(sids)


@event.listens_for(Session, "after_flush")
def _collect_users(session: Session, _context: Any) -> None:
    changed = [obj.id for obj in (*session.dirty, *session.deleted) if isinstance(obj, User)]
    if changed:
        session.info.setdefault(_PENDING_USERS, set()).update(changed)


@event.listens_for(Session, "after_commit")
def _report(session: Session) -> None:
    users = session.info.pop(_PENDING_USERS, None)
    sids = session.info.pop(_PENDING_SIDS, None)
    if not users and not sids:
        return
    bind = session.bind
    notifiers = _NOTIFIERS.get(_key(bind.engine)) if bind is not None else None
    if not notifiers:
        return
    publishing = _publish(list(notifiers), sorted(users or ()), sorted(sids or ()))
    if in_greenlet():
        # Inside AsyncSession.commit: the commit returns once every process has been told.
        await_only(publishing)
    else:
        with suppress(RuntimeError):
            asyncio.get_running_loop().create_task(publishing)
            return
        publishing.close()


async def _publish(notifiers: list[Notifier], users: list[int], sids: list[str]) -> None:
    for notifier in notifiers:
        await notifier.publish(users, sids)


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_PENDING_USERS, None)
    session.info.pop(_PENDING_SIDS, None)


def stamp_path(data_dir: Path) -> Path:
    return data_dir / STAMP_NAME
