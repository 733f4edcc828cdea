"""The admin studio: a static web panel (HTML, JS modules, CSS and two vendored libraries)
served by the gateway at `/studio/`, on the same origin as the API it calls.

The files are read once at start-up into memory (a few hundred KiB) with their ETag; only the
web files of this folder are served, never the Python beside them. Every answer carries a
strict Content-Security-Policy: scripts, styles and calls only from this origin, thumbnails
also from PUBLIC_BASE_URL, and `blob:` for what hls.js needs (its MediaSource URL and its
transmuxing worker). The studio is not under `/api/`, so it is not in the route table; it is
public like any login page: what it shows comes from the admin API, which checks the caller.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from common.errors import STATUS_MESSAGES

STUDIO_DIR = Path(__file__).resolve().parent
PREFIX = "/studio"

MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".txt": "text/plain; charset=utf-8",
}
# no versioned file names, so the browser revalidates every time (a 304 while unchanged)
CACHE_CONTROL = "no-cache"


@dataclass(frozen=True)
class Asset:
    body: bytes
    media_type: str
    etag: str


def load_assets(directory: Path = STUDIO_DIR) -> dict[str, Asset]:
    """The web files under `directory`, keyed by their path relative to it (`js/api.js`)."""
    assets: dict[str, Asset] = {}
    for path in sorted(directory.rglob("*")):
        relative = path.relative_to(directory)
        media_type = MEDIA_TYPES.get(path.suffix)
        if media_type is None or not path.is_file() or "__pycache__" in relative.parts:
            continue
        body = path.read_bytes()
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        assets[relative.as_posix()] = Asset(body, media_type, etag)
    return assets


def content_security_policy(public_base_url: str) -> str:
    parts = urlsplit(public_base_url)
    thumbnails = f" {parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src 'self'{thumbnails}",
            "media-src 'self' blob:",
            "worker-src 'self' blob:",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


def security_headers(public_base_url: str) -> dict[str, str]:
    return {
        "Content-Security-Policy": content_security_policy(public_base_url),
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "same-origin",
    }


class Studio:
    """Answers GET/HEAD for the studio's files; `/studio` and `/studio/` are its page."""

    def __init__(self, assets: Mapping[str, Asset], public_base_url: str) -> None:
        self.assets = dict(assets)
        self.headers = security_headers(public_base_url)

    async def page(self, request: Request) -> Response:
        return self._answer(request, "index.html")

    async def file(self, request: Request) -> Response:
        return self._answer(request, request.path_params["path"] or "index.html")

    def _answer(self, request: Request, name: str) -> Response:
        asset = self.assets.get(name)
        if asset is None:
            return JSONResponse(
                {"detail": STATUS_MESSAGES[404]}, status_code=404, headers=self.headers
            )
        headers = {**self.headers, "ETag": asset.etag, "Cache-Control": CACHE_CONTROL}
        if asset.etag in _etags(request.headers.get("if-none-match", "")):
            return Response(status_code=304, headers=headers)
        headers["Content-Type"] = asset.media_type
        headers["Content-Length"] = str(len(asset.body))
        body = b"" if request.method == "HEAD" else asset.body
        return Response(body, headers=headers)


def _etags(header: str) -> set[str]:
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}


def mount_studio(app: FastAPI, public_base_url: str, directory: Path = STUDIO_DIR) -> None:
    studio = Studio(load_assets(directory), public_base_url)
    methods = ["GET", "HEAD"]
    app.add_route(PREFIX, studio.page, methods=methods, name="studio", include_in_schema=False)
    app.add_route(
        PREFIX + "/{path:path}",
        studio.file,
        methods=methods,
        name="studio_file",
        include_in_schema=False,
    )
