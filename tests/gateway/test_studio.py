"""The admin studio's files as the gateway serves them at /studio/: types, caching, the
Content-Security-Policy, nothing but the web files, and what the page promises (the issue's
data-testids, no markup built from strings, no inline code the policy would block)."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from gateway.routes import is_routed
from gateway.studio import STUDIO_DIR, load_assets
from tests.support.gateway import GatewayClient

TESTIDS = [
    "login-email",
    "login-password",
    "login-submit",
    "upload-file",
    "upload-title",
    "upload-description",
    "upload-category",
    "upload-submit",
    "upload-progress",
    "video-row",
    "video-status",
    "video-progress",
    "video-edit",
    "edit-title",
    "edit-save",
    "video-delete",
    "confirm-delete",
    "video-retry",
    "video-preview",
    "user-row",
    "user-toggle-active",
]

SCRIPTS = sorted((STUDIO_DIR / "js").glob("*.js"))


def directives(policy: str) -> dict[str, list[str]]:
    parsed: dict[str, list[str]] = {}
    for part in policy.split(";"):
        name, *values = part.split()
        assert name not in parsed, f"{name} twice in {policy!r}"
        parsed[name] = values
    return parsed


def check_security_headers(response: Any, public_origin: str = "http://127.0.0.1:8000") -> None:
    policy = directives(response.headers["content-security-policy"])
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["img-src"] == ["'self'", public_origin]
    assert policy["media-src"] == ["'self'", "blob:"]  # hls.js: a MediaSource blob URL
    assert policy["worker-src"] == ["'self'", "blob:"]  # hls.js: its transmuxing worker
    assert policy["connect-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("path", ["/studio", "/studio/"])
async def test_the_page_answers_with_and_without_slash(client: GatewayClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.content == (STUDIO_DIR / "index.html").read_bytes()
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["etag"]
    check_security_headers(response)


@pytest.mark.parametrize(
    ("path", "media_type"),
    [
        ("/studio/studio.css", "text/css; charset=utf-8"),
        ("/studio/js/main.js", "text/javascript; charset=utf-8"),
        ("/studio/vendor/tus.min.js", "text/javascript; charset=utf-8"),
        ("/studio/vendor/hls.min.js", "text/javascript; charset=utf-8"),
        ("/studio/vendor/hls.js.LICENSE.txt", "text/plain; charset=utf-8"),
    ],
)
async def test_files_have_their_type(client: GatewayClient, path: str, media_type: str) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == media_type
    assert response.content == (STUDIO_DIR / path.removeprefix("/studio/")).read_bytes()
    check_security_headers(response)


async def test_revalidation_answers_304_while_unchanged(client: GatewayClient) -> None:
    first = await client.get("/studio/js/api.js")
    again = await client.get("/studio/js/api.js", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == first.headers["etag"]
    other = await client.get("/studio/js/api.js", headers={"If-None-Match": '"something else"'})
    assert other.status_code == 200


async def test_head_has_the_length_and_no_body(client: GatewayClient) -> None:
    response = await client.head("/studio/")
    assert response.status_code == 200
    assert response.content == b""
    assert int(response.headers["content-length"]) == (STUDIO_DIR / "index.html").stat().st_size


@pytest.mark.parametrize(
    "path",
    [
        "/studio/__init__.py",
        "/studio/js/../__init__.py",
        "/studio/%2e%2e/app.py",
        "/studio/missing.js",
        "/studio/vendor/",
        "/studio//etc/passwd",
    ],
)
async def test_nothing_but_the_web_files(client: GatewayClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}
    check_security_headers(response)


async def test_only_reads(client: GatewayClient) -> None:
    response = await client.post("/studio/", json={})
    assert response.status_code == 405
    assert set(response.json()) == {"detail"}


async def test_thumbnails_may_come_from_the_public_base_url(gateway_factory: Any) -> None:
    async with gateway_factory(public_base_url="https://media.example.org/") as client:
        response = await client.get("/studio/")
    check_security_headers(response, public_origin="https://media.example.org")


def test_the_studio_is_not_part_of_the_api_route_table() -> None:
    assert not is_routed("/studio/")
    assert not is_routed("/studio")


def test_only_web_files_are_loaded() -> None:
    names = set(load_assets())
    assert "index.html" in names
    assert {"vendor/tus.min.js", "vendor/hls.min.js"} <= names
    assert not [n for n in names if n.endswith((".py", ".pyc"))]


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.references: list[str] = []
        self.inline_scripts = 0
        self.style_attributes = 0
        self.handlers: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "script":
            if attributes.get("src"):
                self.references.append(str(attributes["src"]))
            else:
                self.inline_scripts += 1
        if tag == "link" and attributes.get("href"):
            self.references.append(str(attributes["href"]))
        self.style_attributes += "style" in attributes
        self.handlers += [name for name in attributes if name.startswith("on")]


def test_the_page_has_nothing_inline_the_policy_would_block() -> None:
    page = _Page()
    page.feed((STUDIO_DIR / "index.html").read_text())
    assert page.inline_scripts == 0
    assert page.style_attributes == 0
    assert page.handlers == []
    names = set(load_assets())
    for reference in page.references:
        assert reference.startswith("/studio/"), reference  # absolute: /studio has no slash
        assert reference.removeprefix("/studio/") in names, reference


def test_module_imports_resolve() -> None:
    for script in SCRIPTS:
        for target in re.findall(r'from "(\./[^"]+)"', script.read_text()):
            assert (script.parent / target).is_file(), f"{script.name} imports {target}"


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: Path(p).name)
def test_text_from_the_api_never_becomes_markup(script: Path) -> None:
    source = script.read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in source, f"{script.name} uses {sink}"


def test_every_testid_of_the_issue_is_there() -> None:
    sources = (STUDIO_DIR / "index.html").read_text() + "".join(p.read_text() for p in SCRIPTS)
    missing = [testid for testid in TESTIDS if f'"{testid}"' not in sources]
    assert not missing  # the browser tests (tests/e2e/test_studio.py) use them all
