"""Identity: the cost of authentication per request, and login with production hashing."""

from __future__ import annotations

import json
from typing import Any

from bench.scenarios import BenchContext, Scenario, Timed

APPS: list[str] = []


async def _user(ctx: BenchContext) -> dict[str, Any]:
    if "identity_user" not in ctx.state:
        ctx.state["identity_user"] = await ctx.register()
    return ctx.state["identity_user"]


async def _me(ctx: BenchContext) -> dict[str, Any]:
    user = await _user(ctx)
    return {"headers": user["headers"]}


async def _login(ctx: BenchContext) -> dict[str, Any]:
    user = await _user(ctx)
    return {"body": json.dumps({"email": user["email"], "password": user["password"]})}


SCENARIOS: list[Scenario | Timed] = [
    Scenario(
        "GET /auth/me (Bearer)",
        path="/auth/me",
        setup=_me,
        note="token check, revocation check, user row read",
    ),
    Scenario(
        "GET /auth/me (no token: 401)",
        path="/auth/me",
        expect=401,
        note="rejection cost of an unauthenticated call",
    ),
    Scenario(
        "POST /auth/login (Argon2id production)",
        path="/auth/login",
        method="POST",
        headers={"Content-Type": "application/json"},
        setup=_login,
        connections=8,
        timeout=10,
        note="one password hash per request, rate limits off; 8 connections",
    ),
]
