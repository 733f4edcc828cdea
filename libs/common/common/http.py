"""HTTP helpers shared by the services."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter


class SlashOptionalRouter(APIRouter):
    """Every route answers with and without its trailing slash, never with a redirect
    (CONTRACT.md). The slash-less twin is hidden from the OpenAPI schema."""

    def api_route(self, path: str, **kwargs: Any) -> Callable[[Any], Any]:
        add = super().api_route

        def decorator(func: Any) -> Any:
            add(path, **kwargs)(func)
            twin = path[:-1] if path.endswith("/") else path + "/"
            if twin:
                add(twin, **{**kwargs, "include_in_schema": False})(func)
            return func

        return decorator

    def get(self, path: str, **kwargs: Any) -> Callable[[Any], Any]:
        return self.api_route(path, methods=["GET"], **kwargs)

    def post(self, path: str, **kwargs: Any) -> Callable[[Any], Any]:
        return self.api_route(path, methods=["POST"], **kwargs)

    def patch(self, path: str, **kwargs: Any) -> Callable[[Any], Any]:
        return self.api_route(path, methods=["PATCH"], **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Callable[[Any], Any]:
        return self.api_route(path, methods=["DELETE"], **kwargs)


def head_too(router: APIRouter, path: str) -> Callable[[Any], Any]:
    """HEAD beside a GET, as a separate route hidden from the schema (one route with both
    methods would give two OpenAPI operations the same id)."""

    def decorator(func: Any) -> Any:
        router.api_route(path, methods=["HEAD"], include_in_schema=False)(func)
        return func

    return decorator
