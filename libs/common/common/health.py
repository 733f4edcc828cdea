"""`/healthz` (the process is alive) and `/readyz` (its dependencies answer) for every service."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

from fastapi import APIRouter
from fastapi.responses import JSONResponse

Check = Callable[[], Awaitable[bool]]


def health_router(checks: Mapping[str, Check] | Callable[[], Mapping[str, Check]]) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz")
    async def readyz() -> JSONResponse:
        current = checks() if callable(checks) else checks
        names = list(current)
        results = await asyncio.gather(
            *(asyncio.wait_for(current[n](), timeout=3) for n in names), return_exceptions=True
        )
        status = {
            n: ("ok" if r is True else "failing") for n, r in zip(names, results, strict=True)
        }
        ready = all(v == "ok" for v in status.values())
        return JSONResponse(
            {"status": "ok" if ready else "unavailable", "checks": status},
            status_code=200 if ready else 503,
        )

    return router
