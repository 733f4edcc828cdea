"""A tiny in-memory stand-in for the gateway's admin API (login, refresh, tus uploads, videos),
for the CLI's protocol tests: it is an `httpx.MockTransport`, and it can break a PATCH's
connection after a given number of bytes (keeping those, as a tus server does)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

import httpx

URL = "http://videoflix.test"
EMAIL, PASSWORD = "admin@example.com", "adminpassword"


@dataclass
class Upload:
    length: int
    metadata: dict[str, str]
    data: bytearray = field(default_factory=bytearray)
    video_id: int | None = None


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


class FakeAdminApi:
    def __init__(self) -> None:
        self.access, self.refresh, self.generation = "access-1", "refresh-1", 1
        self.uploads: dict[str, Upload] = {}
        self.created = 0
        self.videos: dict[int, dict[str, Any]] = {}
        self.cut_after: int | None = None  # the next PATCH breaks after this many bytes
        self.cut_raises: type[BaseException] = httpx.WriteError  # KeyboardInterrupt: Ctrl-C
        self.patched: list[tuple[int, int]] = []  # (offset, bytes received) per PATCH
        self.requests: list[httpx.Request] = []
        self.events: list[tuple[str, dict[str, Any]]] | None = None  # None: no event stream
        self.states: dict[int, list[dict[str, Any]]] = {}  # what each GET of a video shows next

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def expire_access(self) -> None:
        self.access = "access-expired-" + self.access

    # ------------------------------------------------------------------ routing

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path, method = request.url.path, request.method
        if path == "/api/login/":
            body = json.loads(request.content)
            if (body["email"], body["password"]) != (EMAIL, PASSWORD):
                return _json(401, {"detail": "Wrong email or password."})
            return self._session({"detail": "Login successful", "user": {"id": 1}})
        if path == "/api/token/refresh/":
            if f"refresh_token={self.refresh}" not in request.headers.get("cookie", ""):
                return _json(401, {"detail": "Refresh token invalid."})
            self.generation += 1
            self.access, self.refresh = f"access-{self.generation}", f"refresh-{self.generation}"
            return self._session({"detail": "Token refreshed", "access": self.access})
        if "access_token=" in request.headers.get("cookie", ""):
            return _json(403, {"detail": "CSRF token missing or incorrect."})
        if request.headers.get("authorization") != f"Bearer {self.access}":
            return _json(401, {"detail": "The access token is invalid or has expired."})
        if path == "/api/admin/uploads/" and method == "POST":
            return self._create(request)
        if path.startswith("/api/admin/uploads/"):
            return self._upload(request, path.rsplit("/", 1)[1])
        if path == "/api/admin/videos/":
            return _json(200, list(self.videos.values()))
        if path == "/api/admin/events/":
            if self.events is None:
                return _json(404, {"detail": "Not found."})
            text = "".join(
                f": keep-alive\nevent: {e}\ndata: {json.dumps(d)}\n\n" for e, d in self.events
            )
            return httpx.Response(200, text=text, headers={"Content-Type": "text/event-stream"})
        video_id = int(path.strip("/").split("/")[3])
        if video_id not in self.videos:
            return _json(404, {"detail": "Not found."})
        if method == "DELETE":
            del self.videos[video_id]
            return httpx.Response(204)
        if self.states.get(video_id):  # the next state of a video being followed
            self.videos[video_id] = {**self.videos[video_id], **self.states[video_id].pop(0)}
        return _json(200, self.videos[video_id])

    def _session(self, body: dict[str, Any]) -> httpx.Response:
        cookies = [
            ("set-cookie", f"access_token={self.access}; HttpOnly; Path=/"),
            ("set-cookie", f"refresh_token={self.refresh}; HttpOnly; Secure; Path=/"),
            ("set-cookie", f"csrftoken=csrf-{self.generation}; Path=/"),
        ]
        return httpx.Response(200, json=body, headers=cookies)

    # ------------------------------------------------------------------ tus

    def _create(self, request: httpx.Request) -> httpx.Response:
        assert request.headers["tus-resumable"] == "1.0.0"
        metadata = {}
        for pair in request.headers.get("upload-metadata", "").split(","):
            key, _, value = pair.strip().partition(" ")
            if key:
                metadata[key] = base64.b64decode(value).decode()
        if not metadata.get("title"):
            return _json(400, {"title": ["This field may not be blank."]})
        self.created += 1
        upload_id = f"u{self.created}"
        self.uploads[upload_id] = Upload(int(request.headers["upload-length"]), metadata)
        return httpx.Response(201, headers={"Location": f"/api/admin/uploads/{upload_id}"})

    def _upload(self, request: httpx.Request, upload_id: str) -> httpx.Response:
        upload = self.uploads.get(upload_id)
        if upload is None:
            return _json(404, {"detail": "Upload not found."})
        headers = {"Tus-Resumable": "1.0.0", "Upload-Offset": str(len(upload.data))}
        if upload.video_id is not None:
            headers["Videoflix-Video-Id"] = str(upload.video_id)
        if request.method == "HEAD":
            return httpx.Response(200, headers={**headers, "Upload-Length": str(upload.length)})
        if request.method == "DELETE":
            del self.uploads[upload_id]
            return httpx.Response(204)
        assert request.headers["content-type"] == "application/offset+octet-stream"
        offset = int(request.headers["upload-offset"])
        if offset != len(upload.data):
            return _json(409, {"detail": "Upload-Offset does not match."}, headers)
        received = 0
        for piece in request.stream:  # type: ignore[union-attr]
            if self.cut_after is not None and received + len(piece) > self.cut_after:
                upload.data += piece[: self.cut_after - received]
                self.patched.append((offset, self.cut_after))
                self.cut_after = None
                raise self.cut_raises("connection reset by peer")
            upload.data += piece
            received += len(piece)
        self.patched.append((offset, received))
        if len(upload.data) == upload.length:
            upload.video_id = max(self.videos, default=0) + 1
            self.videos[upload.video_id] = {
                "id": upload.video_id,
                "title": upload.metadata["title"],
                "status": "processing",
                "progress": 0,
            }
            headers["Videoflix-Video-Id"] = str(upload.video_id)
        headers["Upload-Offset"] = str(len(upload.data))
        return httpx.Response(204, headers=headers)
