"""Request-level helpers of the HemoDay routes: the caller and their family, read per request."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from basis.apps.hemoday.families import Caller, caller_of
from basis.core.deps import SessionDep
from basis.identity.deps import CurrentUser


async def current_caller(user: CurrentUser, session: SessionDep) -> Caller:
    return await caller_of(session, user)


CallerDep = Annotated[Caller, Depends(current_caller)]
