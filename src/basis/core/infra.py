"""The shared infrastructure of one process: in-process by default, Redis when configured."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from redis.asyncio import Redis

from basis.core.jobs import JobQueue
from basis.core.kv import KeyValue, build_kv
from basis.core.mail import Mailer, build_mailer
from basis.core.ratelimit import RateLimiter
from basis.core.realtime import Hub, build_hub
from basis.core.storage import Storage, build_storage

if TYPE_CHECKING:
    from basis.core.apps import AppSpec
    from basis.core.db import Database
    from basis.settings import Settings


@dataclass(slots=True)
class Infra:
    redis: Redis | None
    kv: KeyValue
    limiter: RateLimiter
    hub: Hub
    jobs: JobQueue
    mailer: Mailer
    storage: Storage

    async def start(self) -> None:
        await self.hub.start()
        await self.jobs.start()

    async def close(self) -> None:
        # Jobs first: a job finishing during shutdown may still publish or use Redis.
        await self.jobs.close()
        await self.hub.close()
        await self.limiter.close()
        await self.kv.close()
        if self.redis is not None:
            await self.redis.aclose()


def build_infra(
    settings: Settings, db: Database, *, worker: bool = False, specs: Sequence[AppSpec] = ()
) -> Infra:
    """``specs``: the parts whose ``jobs_module`` must be imported so their jobs can run here."""
    redis = Redis.from_url(settings.redis_url) if settings.redis_url else None
    mailer = build_mailer(settings)
    hub = build_hub(settings.redis_url)
    storage = build_storage(settings)
    return Infra(
        redis=redis,
        kv=build_kv(redis),
        limiter=RateLimiter(redis_url=settings.redis_url, enabled=settings.rate_limits_enabled),
        hub=hub,
        jobs=JobQueue(
            settings=settings,
            db=db,
            mailer=mailer,
            redis_url=settings.redis_url,
            worker=worker,
            hub=hub,
            storage=storage,
            modules=[spec.jobs_module for spec in specs if spec.jobs_module],
        ),
        mailer=mailer,
        storage=storage,
    )
