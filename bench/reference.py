"""The reference: a bare FastAPI app with one route, the framework with nothing of Basis.

The bench serves it exactly as it serves Basis (one uvicorn process, uvloop, httptools, no
access log) and loads it with the same wrk settings in the same run, so "Basis's floor x the
reference" says what Basis's middleware, metrics and routing cost on top of FastAPI itself.
"""

from __future__ import annotations

from fastapi import FastAPI


def create_app() -> FastAPI:
    app = FastAPI()

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
