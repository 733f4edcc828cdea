"""No route of any service has a plain `def` endpoint or dependency: FastAPI would run it in a
worker thread, a thread hop per request (on a video segment, two such hops were a fifth of the
all-in-one's CPU). Blocking work belongs in an explicit `asyncio.to_thread`."""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Iterator
from pathlib import Path

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from allinone.app import build_app
from tests.support.platform import make_settings


def calls(dependant: Dependant) -> Iterator[str]:
    """Every plain function the route calls: its endpoint and dependencies, nested ones too."""
    if dependant.call is not None and not inspect.iscoroutinefunction(dependant.call):
        yield getattr(dependant.call, "__qualname__", repr(dependant.call))
    for sub in dependant.dependencies:
        yield from calls(sub)


def api_routes(routes: Iterable[BaseRoute]) -> Iterator[APIRoute]:
    """Every APIRoute, also inside included routers (kept whole by newer FastAPI releases)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif (included := getattr(route, "original_router", None)) is not None:
            yield from api_routes(included.routes)


def test_every_endpoint_and_dependency_is_async(tmp_path: Path) -> None:
    app = build_app(make_settings(tmp_path))
    services = app.state.services
    routes = [
        (name, route)
        for name in ("identity", "catalog")
        for route in api_routes(services[name].routes)
    ]
    assert len(routes) > 20  # the check looked at the real route tables
    plain = {
        f"{name} {route.path}: {call}" for name, route in routes for call in calls(route.dependant)
    }
    assert plain == set()
