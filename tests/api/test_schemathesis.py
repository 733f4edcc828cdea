"""Schemathesis against a real all-in-one: the published schema (`/api/openapi.json`) is the
truth about every answer: no 5xx, and every status code, content type, header and body the
server sends is one the schema declares.

Bounded: `MAX_EXAMPLES` schema-valid and as many schema-invalid cases an operation, and
`TIME_BUDGET` seconds for the whole run (operations past it are not tried); loopback only. The
admin's Bearer token authenticates every call, so the admin and video routes are exercised
(with a Bearer token the gateway asks for no CSRF header).

Each operation runs as its own Hypothesis test through schemathesis's Python API
(`operation.as_strategy`, `case.call`, `case.validate_response`): schemathesis's lazy pytest fixture
(`schemathesis.pytest.from_fixture`) does not run under pytest 9.
"""

from __future__ import annotations

import time
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import CheckFunction
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from tests.api.conftest import RunningApi, Session

MAX_EXAMPLES = 50
TIME_BUDGET = 240.0

# A fresh login a call: logout revokes the session it is given and refresh may rotate it, so
# they never get the session the other operations run under (and they run last).
OWN_SESSION = {("POST", "/api/logout/"), ("POST", "/api/token/refresh/")}

# operations whose success the fuzzer must have seen at least once
# (not register: two random passwords never match; its 201 is checked by the account tests)
REACHED = [
    "POST /api/password_reset/",
    "POST /api/logout/",
    "POST /api/token/refresh/",
    "GET /api/video/",
    "GET /api/video/{video_id}/master.m3u8",
    "GET /api/video/{video_id}/{resolution}/index.m3u8",
    "GET /api/admin/videos/",
    "POST /api/admin/videos/",
    "GET /api/admin/videos/{video_id}/",
    "PATCH /api/admin/videos/{video_id}/",
    "DELETE /api/admin/videos/{video_id}/",
]

# never-ending answers, which no call could read to the end (tests/catalog/test_events.py)
UNBOUNDED = {("GET", "/api/admin/events/")}

# Not conformance checks, and wrong for this API by design:
# - positive_data_acceptance: a schema-valid request may rightly be refused with 400 (a random
#   activation or reset link is invalid, a random password weak or unlike its confirmation);
# - negative_data_rejection: the "invalid" Authorization header it generates is replaced by
#   the admin's real token, and an empty `thumbnail` part means "no thumbnail" (a browser sends
#   one when no file is chosen), so such requests rightly succeed.
EXCLUDED_CHECKS: list[CheckFunction] = [positive_data_acceptance, negative_data_rejection]


@schemathesis.serializer("application/offset+octet-stream")
def _offset_octets(_context: Any, value: Any) -> bytes:
    """tus PATCH bodies (`/api/admin/uploads/{id}`): raw bytes, like application/octet-stream."""
    return value if isinstance(value, bytes) else str(value).encode()


def _headers(api: RunningApi, admin: Session, method: str, path: str) -> dict[str, str]:
    if (method, path) not in OWN_SESSION:
        return {"Authorization": f"Bearer {admin.access}"}
    own = api.login()
    return {
        "Authorization": f"Bearer {own.access}",
        "Cookie": f"refresh_token={own.refresh}; csrftoken={own.csrf}",
        "X-CSRFToken": own.csrf,
    }


def _run(
    operation: Any,
    mode: GenerationMode,
    api: RunningApi,
    admin: Session,
    seen: set[int],
    path_parameters: dict[str, str] | None = None,
) -> None:
    method, path = operation.method.upper(), operation.path
    strategy = operation.as_strategy(generation_mode=mode, path_parameters=path_parameters)

    @given(case=strategy)
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: Any) -> None:
        headers = _headers(api, admin, method, path)
        response = case.call(base_url=api.url, headers=headers, timeout=30)
        seen.add(response.status_code)
        case.validate_response(
            response,
            headers=headers,
            excluded_checks=EXCLUDED_CHECKS,
            transport_kwargs={"base_url": api.url, "headers": headers, "timeout": 30},
        )

    try:
        check()
    except Unsatisfiable:
        # nothing to negate: path segments of any text, no body (activate, logout, ...)
        assert mode is GenerationMode.NEGATIVE, f"{method} {path}"


def test_api_answers_as_its_schema_says(running_api: RunningApi, ready_video: int) -> None:
    schema = schemathesis.openapi.from_url(f"{running_api.url}/api/openapi.json", timeout=30)
    operations = [result.ok() for result in schema.get_all_operations()]
    # the session-ending ones last, and DELETE (it may remove the ready video) just before
    operations.sort(
        key=lambda op: ((op.method.upper(), op.path) in OWN_SESSION, op.method.upper() == "DELETE")
    )
    known = {"video_id": str(ready_video), "resolution": "480p"}
    assert len(operations) >= 15, [f"{op.method} {op.path}" for op in operations]
    admin = running_api.login()
    deadline = time.monotonic() + TIME_BUDGET
    failures: dict[str, str] = {}
    statuses: dict[str, set[int]] = {}
    for operation in operations:
        if (operation.method.upper(), operation.path) in UNBOUNDED:
            continue
        name = f"{operation.method.upper()} {operation.path}"
        seen = statuses.setdefault(name, set())
        # random input, then (where the path names a video) the ready one, so its routes
        # answer with real data rather than 404
        fixed = {k: v for k, v in known.items() if "{" + k + "}" in operation.path}
        passes = [("positive", GenerationMode.POSITIVE, None)]
        passes.append(("negative", GenerationMode.NEGATIVE, None))
        if fixed:
            passes.append(("known video", GenerationMode.POSITIVE, fixed))
        for label, mode, path_parameters in passes:
            if time.monotonic() > deadline:
                break
            try:
                _run(operation, mode, running_api, admin, seen, path_parameters)
            except (Exception, BaseExceptionGroup) as exc:  # failures, or an error of the run
                failures[f"{name} ({label})"] = str(exc)[:3000]
    assert not failures, "\n\n".join(f"== {k}\n{v}" for k, v in failures.items())
    # the run reached the logic behind the routes, not only their refusals
    for name in REACHED:
        assert statuses[name] & {200, 201, 204}, f"{name}: {statuses}"
