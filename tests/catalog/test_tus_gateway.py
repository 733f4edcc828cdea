"""tus through the gateway of the all-in-one, as the studio and the command line use it: an
admin's cookie session with its CSRF header, the Location path resolved against the URL, and
a PATCH whose connection really drops (a socket closed mid-body on a running server) resumed
from the offset HEAD gives, into a video whose stored source is every byte sent."""

from __future__ import annotations

import socket
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx

from catalog.config import CatalogSettings
from tests.support.accounts import ADMIN_EMAIL, ADMIN_PASSWORD, admin_login
from tests.support.allinone import allinone_with_login_limit
from tests.support.http import assert_json_error
from tests.support.media import pattern
from tests.support.platform import BASE_URL, ORIGIN, Platform
from tests.support.tus import MiB, create, head, metadata, patch
from tests.support.waiting import eventually_blocking

FIELDS = {"filename": "talk.mp4", "filetype": "video/mp4", "title": "Talk", "category": "Talks"}


async def test_an_upload_through_the_gateway_with_a_cookie_session(
    platform: Platform,
) -> None:
    client = httpx.AsyncClient(
        transport=platform.client._transport, base_url=BASE_URL, headers={"Origin": ORIGIN}
    )
    async with client:
        await admin_login(client)
        data = pattern(6 * MiB + 321)
        assert_json_error(await create(client, len(data), **FIELDS), 403, detail=True)  # no CSRF
        csrf = {"X-CSRFToken": client.cookies["csrftoken"]}
        created = await create(client, len(data), headers=csrf, **FIELDS)
        assert created.status_code == 201, created.text
        assert created.headers["tus-resumable"] == "1.0.0"
        url = urljoin(f"{BASE_URL}/api/admin/uploads/", created.headers["location"])

        half = await patch(client, url, 0, data[: 3 * MiB], csrf)
        assert half.status_code == 204, half.text
        state = await head(client, url)  # a safe method: no CSRF header
        assert (state.status_code, state.headers["upload-offset"]) == (200, str(3 * MiB))
        assert state.headers["cache-control"] == "no-store"
        assert_json_error(await patch(client, url, 3 * MiB, data[3 * MiB :]), 403, detail=True)
        last = await patch(client, url, 3 * MiB, data[3 * MiB :], csrf)
        assert last.status_code == 204, last.text
        video_id = int(last.headers["videoflix-video-id"])
        video = await client.get(f"/api/admin/videos/{video_id}/")
        assert video.json()["title"] == "Talk" and video.json()["category"] == "Talks"
    objects = platform.settings.data_dir / "objects"
    assert (objects / "sources" / str(video_id) / "talk.mp4").read_bytes() == data
    assert not (objects / "resumable").exists() or not any((objects / "resumable").rglob("*"))


async def test_the_gateways_own_answers_on_tus_routes_speak_tus(platform: Platform) -> None:
    """tus wants `Tus-Resumable` on every answer: the gateway's refusals (401, 405) too; and
    OPTIONS, not a CORS preflight, is tus's discovery, answered by the catalog."""
    async with platform.new_client() as client:
        anonymous = await client.options("/api/admin/uploads/")
        assert_json_error(anonymous, 401, detail=True)
        assert anonymous.headers["tus-resumable"] == "1.0.0"
        wrong_method = await client.get("/api/admin/uploads/" + "0" * 32)
        assert_json_error(wrong_method, 405, detail=True)
        assert wrong_method.headers["tus-resumable"] == "1.0.0"
        assert wrong_method.headers["allow"] == "DELETE, HEAD, PATCH"

        await admin_login(client)
        discovery = await client.options("/api/admin/uploads")
        assert discovery.status_code == 204, discovery.text
        assert discovery.headers["tus-version"] == "1.0.0"
        assert discovery.headers["tus-max-size"] == str(CatalogSettings().max_upload_bytes)
        assert discovery.headers["access-control-allow-origin"] == ORIGIN

        preflight = await client.options(
            "/api/admin/uploads/" + "0" * 32,
            headers={
                "Access-Control-Request-Method": "PATCH",
                "Access-Control-Request-Headers": "tus-resumable,upload-offset,upload-checksum",
            },
        )
        assert preflight.status_code == 200
        allowed = {
            h.strip().lower() for h in preflight.headers["access-control-allow-headers"].split(",")
        }
        assert {"tus-resumable", "upload-offset", "upload-checksum", "upload-length"} <= allowed
        assert "HEAD" in preflight.headers["access-control-allow-methods"]
        exposed = {
            h.strip().lower() for h in discovery.headers["access-control-expose-headers"].split(",")
        }
        assert {"location", "upload-offset", "tus-resumable", "videoflix-video-id"} <= exposed


def cut_patch(base: str, path: str, token: str, body: bytes, declared: int) -> None:
    """A PATCH announcing `declared` bytes that sends `body` and then drops the connection."""
    host, port = urlsplit(base).hostname, urlsplit(base).port
    assert host and port
    head_lines = [
        f"PATCH {path} HTTP/1.1",
        f"Host: {host}:{port}",
        f"Authorization: Bearer {token}",
        "Tus-Resumable: 1.0.0",
        "Content-Type: application/offset+octet-stream",
        "Upload-Offset: 0",
        f"Content-Length: {declared}",
    ]
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(("\r\n".join(head_lines) + "\r\n\r\n").encode())
        sock.sendall(body)


def test_a_dropped_connection_resumes_from_the_servers_offset(tmp_path: Path) -> None:
    data = pattern(12 * MiB + 5, seed=9)
    sent = 7 * MiB + 12345  # past the first 8 MiB part's middle: a part-less tail
    with allinone_with_login_limit(
        tmp_path, ADMIN_EMAIL=ADMIN_EMAIL, ADMIN_PASSWORD=ADMIN_PASSWORD
    ) as base:
        with httpx.Client(base_url=base, timeout=30) as client:
            login = client.post(
                "/api/login/", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
            )
            token = login.cookies["access_token"]
            client.cookies.clear()  # the Bearer token alone: no CSRF header needed
            bearer = {"Authorization": f"Bearer {token}", "Tus-Resumable": "1.0.0"}
            created = client.post(
                "/api/admin/uploads/",
                headers={
                    **bearer,
                    "Upload-Length": str(len(data)),
                    "Upload-Metadata": metadata(**FIELDS),
                },
            )
            assert created.status_code == 201, created.text
            path = created.headers["location"]
            cut_patch(base, path, token, data[:sent], len(data))

            offsets: list[int] = []

            def resume() -> httpx.Response:
                offset = int(client.head(path, headers=bearer).headers["upload-offset"])
                offsets.append(offset)
                return client.patch(
                    path,
                    content=data[offset:],
                    headers={
                        **bearer,
                        "Upload-Offset": str(offset),
                        "Content-Type": "application/offset+octet-stream",
                    },
                )

            # the catalog lets go of the upload once it saw the disconnect (409 until then)
            finished = eventually_blocking(resume, lambda r: r.status_code != 409, within=30)
            assert finished.status_code == 204, finished.text
            assert 0 < offsets[-1] <= sent, offsets  # what arrived before the cut was kept
            held = int(client.head(path, headers=bearer).headers["upload-offset"])
            assert held == len(data)
            video_id = finished.headers["videoflix-video-id"]
        source = tmp_path / "data" / "objects" / "sources" / video_id / "talk.mp4"
        assert source.read_bytes() == data
