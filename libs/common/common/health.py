"""`/healthz` (the process is alive) and `/readyz` (it can serve) for every service.

Readiness takes a service out of rotation, so only what it cannot serve without decides it;
`reported` checks (a broker whose blips the outbox absorbs, an SMTP relay the mailer retries)
are shown beside them in `/readyz` but do not decide it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

from fastapi import APIRouter
from fastapi.responses import JSONResponse

Check = Callable[[], Awaitable[bool]]


def health_router(
    checks: Mapping[str, Check] | Callable[[], Mapping[str, Check]],
    *,
    reported: Mapping[str, Check] | None = None,
) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz")
    async def readyz() -> JSONResponse:
        deciding = checks() if callable(checks) else checks
        current = dict(deciding)
        for name, check in (reported or {}).items():
            current.setdefault(name, check)
        names = list(current)
        results = await asyncio.gather(
            *(asyncio.wait_for(current[n](), timeout=3) for n in names), return_exceptions=True
        )
        status = {
            n: ("ok" if r is True else "failing") for n, r in zip(names, results, strict=True)
        }
        ready = all(status[n] == "ok" for n in deciding)
        return JSONResponse(
            {"status": "ok" if ready else "unavailable", "checks": status},
            status_code=200 if ready else 503,
        )

    return router
