"""A service's own 405 names every method of the resource: FastAPI makes one route a method,
and Starlette's `Allow` named only the first route that matched the path."""

from __future__ import annotations

import httpx
from fastapi import FastAPI, Response

from common.errors import install_error_handlers
from common.http import SlashOptionalRouter
from tests.support.http import assert_json_error


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    router = SlashOptionalRouter()

    async def answer() -> Response:
        return Response(status_code=204)

    router.get("/things/{thing}/")(answer)
    router.patch("/things/{thing}/")(answer)
    router.delete("/things/{thing}/")(answer)
    router.api_route("/things/{thing}/", methods=["HEAD"], include_in_schema=False)(answer)
    router.post("/things/")(answer)
    app.include_router(router)
    return app


async def test_405_allow_lists_every_route_of_the_path() -> None:
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        for path in ("/things/1/", "/things/1"):
            for method in ("POST", "PUT", "OPTIONS"):
                response = await client.request(method, path)
                assert_json_error(response, 405, detail=True)
                assert response.headers["allow"] == "DELETE, GET, HEAD, PATCH"
        response = await client.get("/things/")
        assert_json_error(response, 405, detail=True)
        assert response.headers["allow"] == "POST"
