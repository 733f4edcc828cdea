"""The edge (deploy/edge): Debian's nginx with the real nginx.conf.template and s3.js, started by
the stack's own code (`stack.edge`), in front of two gateways. Playlists and segments come from
S3 through the edge's cache after the gateway's authorisation; whatever the edge does not serve
itself, and every refusal, is the gateway's own answer, so a client sees no difference.

The revocation bound is `EDGE_AUTH_SECONDS` + 1 s (11 s by default, 3 s here): a logout or
password reset shuts a token out of the edge once the authorisation it cached has expired."""

from __future__ import annotations

import asyncio
import http.server
import os
import shutil
import signal
import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from minio import Minio
from minio.credentials import Credentials
from minio.signer import sign_v4_s3

from catalog.media import serving_rendition
from stack.backing import S3Server
from stack.edge import TEMPLATE, EdgeOptions, EdgeProcess, EdgeUnavailable, find_nginx, render
from tests.support.http import assert_json_error, free_port
from tests.support.integration import ADMIN_EMAIL, ADMIN_PASSWORD, ORIGIN, Stack
from tests.support.media import make_clip
from tests.support.services import skip_or_fail
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration
AUTH_SECONDS = 2
BOUND_SECONDS = AUTH_SECONDS + 1  # what docs/operations.md states: EDGE_AUTH_SECONDS + 1 s
PASSWORD = "edge viewer passphrase"
NEW_PASSWORD = "edge viewer new passphrase"
# what the gateway and the edge may differ in: the connection and the moment
TRANSPORT_HEADERS = {"date", "server", "connection", "keep-alive", "x-request-id"}


def _nginx_or_skip() -> None:
    try:
        find_nginx()
    except EdgeUnavailable as exc:
        skip_or_fail(str(exc))


@pytest.fixture
def stack_edge() -> EdgeOptions:
    _nginx_or_skip()
    return EdgeOptions(auth_seconds=AUTH_SECONDS)


# ---------------------------------------------------------------------- helpers


def client(base_url: str, origin: str = ORIGIN) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=base_url, headers={"Origin": origin}, timeout=60)


async def login(http: httpx.AsyncClient, email: str, password: str) -> str:
    answer = await http.post("/api/login/", json={"email": email, "password": password})
    assert answer.status_code == 200, answer.text
    http.headers["X-CSRFToken"] = http.cookies["csrftoken"]
    return http.cookies["access_token"]


async def register(stack: Stack, http: httpx.AsyncClient, email: str) -> None:
    body = {"email": email, "password": PASSWORD, "confirmed_password": PASSWORD}
    assert (await http.post("/api/register/", json=body)).status_code == 201
    uid, token = (await stack.mails_to(email, 1))[0].uid_and_token()
    assert (await http.get(f"/api/activate/{uid}/{token}/")).status_code == 200


async def ready_video(admin: httpx.AsyncClient, clip: Path) -> tuple[int, list[str]]:
    with clip.open("rb") as fh:
        created = await admin.post(
            "/api/admin/videos/",
            data={"title": "Edge", "description": "Through nginx", "category": "Tests"},
            files={"file": ("edge.mp4", fh, "video/mp4")},
        )
    assert created.status_code == 201, created.text
    video_id = created.json()["id"]

    async def detail() -> dict[str, Any]:
        body: dict[str, Any] = (await admin.get(f"/api/admin/videos/{video_id}/")).json()
        assert body["status"] != "failed", body
        return body

    return video_id, (
        await eventually(
            detail,
            lambda body: body["status"] == "ready",
            within=180,
            interval=0.5,
            failure=lambda body: f"video {video_id} not ready: {body}",
        )
    )["renditions"]


def stored(stack: Stack, key: str) -> bytes:
    s3 = stack.s3
    minio = Minio(s3.endpoint, access_key=s3.access_key, secret_key=s3.secret_key, secure=False)
    answer = minio.get_object(s3.bucket, key)
    try:
        return answer.read()
    finally:
        answer.close()
        answer.release_conn()


def remove_stored(stack: Stack, key: str) -> None:
    s3 = stack.s3
    minio = Minio(s3.endpoint, access_key=s3.access_key, secret_key=s3.secret_key, secure=False)
    minio.remove_object(s3.bucket, key)


def headers_of(response: httpx.Response) -> dict[str, str]:
    """Every header but the transport's, names lower-case, repeated ones joined."""
    seen: dict[str, list[str]] = {}
    for name, value in response.headers.multi_items():
        if name.lower() not in TRANSPORT_HEADERS:
            seen.setdefault(name.lower(), []).append(value)
    return {name: ", ".join(values) for name, values in seen.items()}


async def same_answer(
    edge: httpx.AsyncClient, gateway: httpx.AsyncClient, method: str, path: str, **kw: Any
) -> httpx.Response:
    """The edge's answer, asserted equal to the gateway's: status, headers, body."""
    through_edge = await edge.request(method, path, **kw)
    direct = await gateway.request(method, path, **kw)
    assert through_edge.status_code == direct.status_code, (path, through_edge.text)
    assert headers_of(through_edge) == headers_of(direct), (
        path,
        through_edge.headers,
        direct.headers,
    )
    assert through_edge.content == direct.content, path
    assert through_edge.headers.get("x-request-id"), path
    return through_edge


def auth_headers(token: str) -> dict[str, str]:
    return {"Origin": ORIGIN, "Authorization": f"Bearer {token}"}


def segment_names(playlist: str) -> list[str]:
    return [line for line in playlist.splitlines() if line.endswith(".ts")]


# ---------------------------------------------------------------------- the edge in a stack


async def test_the_edge_serves_what_the_gateway_would(stack: Stack, tmp_path: Path) -> None:
    clip = await asyncio.to_thread(make_clip, tmp_path / "edge.mp4", size="854x480", seconds=3)
    edge_url = stack.public_url
    assert edge_url != stack.gateway_url
    async with (
        client(edge_url) as admin,
        client(edge_url) as viewer,
        client(stack.gateway_url) as direct,
        client(edge_url) as anonymous,
        client(stack.gateway_url) as anonymous_direct,
    ):
        await login(admin, ADMIN_EMAIL, ADMIN_PASSWORD)  # through the edge, uploads too
        await register(stack, viewer, "edge-viewer@example.com")
        token = await login(viewer, "edge-viewer@example.com", PASSWORD)
        direct.cookies.set("access_token", token)
        video_id, renditions = await ready_video(admin, clip)
        base = f"/api/video/{video_id}"

        # playlists and segments: the stored bytes, with exactly the gateway's headers
        for resolution in ("480p", "720p", "1080p"):
            served = serving_rendition(resolution, renditions)
            assert served is not None
            playlist = await same_answer(viewer, direct, "GET", f"{base}/{resolution}/index.m3u8")
            assert playlist.status_code == 200
            assert playlist.content == stored(stack, f"hls/{video_id}/{served}/index.m3u8")
            assert playlist.headers["content-type"] == "application/vnd.apple.mpegurl"
            for name in segment_names(playlist.text):
                for path in (f"{base}/{resolution}/{name}", f"{base}/{resolution}/{name}/"):
                    segment = await same_answer(viewer, direct, "GET", path)
                    assert segment.status_code == 200
                    assert segment.content == stored(stack, f"hls/{video_id}/{served}/{name}")
                    assert segment.headers["content-type"] == "video/MP2T"
                    assert segment.headers["access-control-allow-origin"] == ORIGIN
                    assert not any(h.startswith("x-amz") for h in segment.headers)

        first = segment_names((await viewer.get(f"{base}/480p/index.m3u8")).text)[0]
        segment_path = f"{base}/480p/{first}"
        whole = stored(stack, f"hls/{video_id}/480p/{first}")

        # ranges, HEAD, ETags: answered from the edge's cache like the gateway answers them
        for spec in ("bytes=10-99", "bytes=-50", f"bytes=100-{len(whole) + 500}"):
            ranged = await same_answer(viewer, direct, "GET", segment_path, headers={"Range": spec})
            assert ranged.status_code == 206
        assert (await viewer.get(segment_path, headers={"Range": "bytes=10-99"})).content == (
            whole[10:100]
        )
        unsatisfiable = await same_answer(
            viewer, direct, "GET", segment_path, headers={"Range": f"bytes={len(whole)}-"}
        )
        assert_json_error(unsatisfiable, 416, detail=True)
        assert unsatisfiable.headers["content-range"] == f"bytes */{len(whole)}"
        head = await viewer.head(segment_path)
        assert (head.status_code, head.content) == (200, b"")
        assert head.headers["content-length"] == str(len(whole))
        etag = head.headers["etag"]
        unchanged = await viewer.get(segment_path, headers={"If-None-Match": etag})
        assert (unchanged.status_code, unchanged.content) == (304, b"")

        # a bearer token works as well as the cookie; a foreign origin gets no CORS
        async with client(edge_url, origin="http://evil.example") as other:
            bearer = await other.get(segment_path, headers={"Authorization": f"Bearer {token}"})
        assert bearer.status_code == 200 and bearer.content == whole
        assert "access-control-allow-origin" not in bearer.headers

        # refusals are the gateway's own JSON, CORS included
        unauthenticated = await same_answer(anonymous, anonymous_direct, "GET", segment_path)
        assert_json_error(unauthenticated, 401, detail=True)
        assert unauthenticated.headers["access-control-allow-origin"] == ORIGIN
        assert unauthenticated.headers["www-authenticate"].startswith("Bearer")
        for path in (
            f"/api/video/{video_id + 1000}/480p/index.m3u8",  # no such video
            f"/api/video/{video_id + 1000}/480p/{first}",
            f"{base}/480p/segment_99999.ts",  # no such object
            f"{base}/480p/segment_1.ts",  # not a segment name
            f"{base}/2160p/{first}",  # not a rendition
        ):
            assert_json_error(await same_answer(viewer, direct, "GET", path), 404, detail=True)
        # other methods on a segment's URL, preflights included, are the gateway's
        preflight = {
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "range",
        }
        answer = await same_answer(viewer, direct, "OPTIONS", segment_path, headers=preflight)
        assert answer.headers["access-control-allow-origin"] == ORIGIN
        assert_json_error(await same_answer(viewer, direct, "DELETE", segment_path), 405)
        # a target with a dot segment is judged by the gateway, not resolved by nginx
        # (encoded: httpx would resolve a plain one before sending)
        dotted = f"{base}/480p/%2e%2e/480p/{first}"
        async with httpx.AsyncClient() as raw:
            request = raw.build_request("GET", f"{edge_url}{dotted}", headers=auth_headers(token))
            request.url = request.url.copy_with(raw_path=dotted.encode())
            assert_json_error(await raw.send(request), 404)
        # not for anyone outside: the gateways' internal routes
        for path in (
            f"/internal/edge/authorize?video_id={video_id}&resolution=480p",
            f"/internal/edge/{video_id}/480p",
        ):
            assert_json_error(await viewer.get(path), 404, detail=True)

        # a video still processing is 404 at the edge as at the gateway
        with clip.open("rb") as fh:
            pending = await admin.post(
                "/api/admin/videos/",
                data={"title": "Pending", "description": "", "category": "Tests"},
                files={"file": ("pending.mp4", fh, "video/mp4")},
            )
        pending_id = pending.json()["id"]
        for path in (
            f"/api/video/{pending_id}/480p/index.m3u8",
            f"/api/video/{pending_id}/480p/segment_00000.ts",
        ):
            assert_json_error(await viewer.get(path), 404, detail=True)

        # a segment once served comes from the edge's cache: the object store is not asked
        # again (gone from it, the edge still has it, while the gateway has nothing to send)
        cached = (
            f"{base}/480p/{segment_names((await viewer.get(f'{base}/480p/index.m3u8')).text)[-1]}"
        )
        cached_bytes = (await viewer.get(cached)).content
        remove_stored(stack, f"hls/{video_id}/480p/{cached.rsplit('/', 1)[1]}")
        assert_json_error(await direct.get(cached), 404)
        again = await viewer.get(cached)
        assert (again.status_code, again.content) == (200, cached_bytes)


async def test_logout_and_password_reset_reach_the_edge_within_the_bound(
    stack: Stack, tmp_path: Path
) -> None:
    clip = await asyncio.to_thread(make_clip, tmp_path / "edge.mp4", size="854x480", seconds=2)
    email = "edge-revoked@example.com"
    async with client(stack.public_url) as admin, client(stack.public_url) as viewer:
        await login(admin, ADMIN_EMAIL, ADMIN_PASSWORD)
        await register(stack, viewer, email)
        video_id, _ = await ready_video(admin, clip)
        segment = f"/api/video/{video_id}/480p/segment_00000.ts"

        async def revoked_within_the_bound(token: str, revoke: Any) -> None:
            auth = {"Authorization": f"Bearer {token}"}
            async with client(stack.public_url) as fresh:
                assert (await fresh.get(segment, headers=auth)).status_code == 200  # cached now
                await revoke()
                revoked_at = time.monotonic()
                # a cached authorisation lasts less than EDGE_AUTH_SECONDS + 1 (nginx counts
                # whole seconds); then the gateway is asked again, and refuses
                await asyncio.sleep(max(0.0, revoked_at + BOUND_SECONDS - time.monotonic()))
                assert_json_error(await fresh.get(segment, headers=auth), 401, detail=True)

        # logout
        token = await login(viewer, email, PASSWORD)

        async def logout() -> None:
            answer = await viewer.post("/api/logout/")
            assert answer.status_code == 200, answer.text

        await revoked_within_the_bound(token, logout)

        # password reset: every session of the account
        token = await login(viewer, email, PASSWORD)

        async def reset() -> None:
            # a reset revokes the tokens issued before its second: not one from the same
            await asyncio.sleep(1.1)
            assert (
                await viewer.post("/api/password_reset/", json={"email": email})
            ).status_code == 200
            uid, key = (await stack.mails_to(email, 2))[-1].uid_and_token()
            body = {"new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD}
            confirmed = await viewer.post(f"/api/password_confirm/{uid}/{key}/", json=body)
            assert confirmed.status_code == 200, confirmed.text

        await revoked_within_the_bound(token, reset)


# ---------------------------------------------------------------------- the S3 signature


class Recorder(http.server.BaseHTTPRequestHandler):
    """Plays a gateway (authorises everything, names `hls/7/720p`) and an object store
    (records each request, answers with a fixed body)."""

    requests: list[tuple[str, dict[str, str]]]
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        if self.path.startswith("/internal/edge/authorize"):
            self._answer(204, {"X-Edge-Object-Prefix": "hls/7/720p"}, b"")
        elif self.path == "/readyz":
            self._answer(200, {"Content-Type": "application/json"}, b"{}")
        else:
            self.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
            self._answer(200, {"Content-Type": "video/MP2T", "ETag": '"e1"'}, b"G" * 188)

    def _answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for name, value in {**headers, "Content-Length": str(len(body))}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[tuple[str, list[tuple[str, dict[str, str]]]]]:
    seen: list[tuple[str, dict[str, str]]] = []
    handler = type("Handler", (Recorder,), {"requests": seen})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
async def lone_edge(
    recorder: tuple[str, list[tuple[str, dict[str, str]]]], tmp_path: Path
) -> AsyncIterator[str]:
    _nginx_or_skip()
    address, _ = recorder
    edge = EdgeProcess(
        nginx=find_nginx(),
        gateways=[f"http://{address}"],
        s3=S3Server(address, "AKIAEDGETEST", "edge/secret+key=="),
        bucket="edge-bucket",
        region="eu-central-1",
        options=EdgeOptions(auth_seconds=AUTH_SECONDS),
        work_dir=tmp_path / "edge",
        log_dir=tmp_path,
    )
    edge.start()
    try:
        await asyncio.to_thread(edge.wait_ready, 30)
        yield edge.url
    finally:
        await asyncio.to_thread(edge.stop)


async def test_the_s3_signature_is_the_one_minio_computes(
    lone_edge: str, recorder: tuple[str, list[tuple[str, dict[str, str]]]]
) -> None:
    """moto checks no signature: this is what shows MinIO (or S3) accepts the edge's."""
    address, seen = recorder
    async with httpx.AsyncClient(base_url=lone_edge) as http:
        answer = await http.get(
            "/api/video/7/1080p/segment_00042.ts", headers={"Range": "bytes=0-9"}
        )
    assert (answer.status_code, answer.content) == (206, b"G" * 10)
    [(path, headers)] = seen
    assert path == "/edge-bucket/hls/7/720p/segment_00042.ts"
    assert headers["host"] == address
    assert headers["x-amz-content-sha256"] == "UNSIGNED-PAYLOAD"
    assert "cookie" not in headers and "range" not in headers  # nothing of the client's
    date = datetime.strptime(headers["x-amz-date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    expected = sign_v4_s3(
        method="GET",
        url=urlsplit(f"http://{address}{path}"),
        region="eu-central-1",
        headers={
            "Host": address,
            "x-amz-content-sha256": "UNSIGNED-PAYLOAD",
            "x-amz-date": headers["x-amz-date"],
        },
        credentials=Credentials("AKIAEDGETEST", "edge/secret+key=="),
        content_sha256="UNSIGNED-PAYLOAD",
        date=date,
    )["Authorization"]
    assert headers["authorization"] == expected


def test_the_template_needs_every_placeholder() -> None:
    template = TEMPLATE.read_text()
    values = {name: "x" for name in ("EDGE_LISTEN", "S3_BUCKET")}
    with pytest.raises(ValueError, match="EDGE_AUTH_SECONDS"):
        render(template, values)
    assert render("a ${A} $b ${B}", {"A": "1", "B": "2"}) == "a 1 $b 2"


def test_without_nginx_make_stack_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import stack.__main__ as command

    monkeypatch.setattr(shutil, "which", lambda _name: None)
    monkeypatch.setattr(os, "access", lambda *_args: False)
    with pytest.raises(EdgeUnavailable, match="apt-get install nginx libnginx-mod-http-js"):
        find_nginx()
    monkeypatch.setenv("STACK_DATA_DIR", str(tmp_path / "stack"))
    handlers = {
        sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    }
    try:
        assert command.main([]) == 1  # before it makes or starts anything
    finally:
        for sig, handler in handlers.items():  # main() installed its own
            signal.signal(sig, handler)
    out = capsys.readouterr().out
    assert "apt-get install nginx libnginx-mod-http-js" in out and "--no-edge" in out
    assert "making the databases" not in out
