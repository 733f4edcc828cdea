"""The whole platform in the all-in-one wiring, in the test's event loop, with an httpx client
that talks to the gateway like the browser client does, and the mails it sent."""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI

from common.config import Settings
from tests.support.waiting import eventually

ORIGIN = "http://127.0.0.1:5500"
BASE_URL = "http://127.0.0.1:8000"


@dataclass
class Mail:
    to: str
    subject: str
    text: str
    html: str
    message: EmailMessage

    def link(self) -> str:
        found = re.search(r"https?://\S+?(?=[\s\"'<>]|$)", self.text)
        assert found, f"no link in mail: {self.text!r}"
        return found.group(0)

    def uid_and_token(self) -> tuple[str, str]:
        query = parse_qs(urlsplit(self.link()).query)
        return query["uid"][0], query["token"][0]


def parse_mail(raw: bytes) -> Mail:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    return Mail(
        to=str(message["To"]),
        subject=str(message["Subject"]),
        text=text.get_content() if text else "",
        html=html.get_content() if html else "",
        message=message,
    )


class Outbox:
    """The `.eml` files the mailer wrote under DATA_DIR/outbox."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def all(self) -> list[Mail]:
        if not self.directory.exists():
            return []
        return [parse_mail(p.read_bytes()) for p in sorted(self.directory.glob("*.eml"))]

    async def wait_for(self, to: str, count: int = 1, timeout: float = 10) -> list[Mail]:
        return await eventually(
            lambda: [m for m in self.all() if to.lower() in m.to.lower()],
            lambda mails: len(mails) >= count,
            within=timeout,
            interval=0.05,
            failure=lambda mails: f"{count} mail(s) to {to} expected, got {len(mails)}",
        )


@dataclass
class Platform:
    client: httpx.AsyncClient
    outbox: Outbox
    settings: Settings

    def new_client(self, **kwargs) -> httpx.AsyncClient:  # type: ignore[no-untyped-def]
        return httpx.AsyncClient(
            transport=self.client._transport,
            base_url=BASE_URL,
            headers={"Origin": ORIGIN, "Content-Type": "application/json"},
            **kwargs,
        )

    def service(self, name: str) -> FastAPI:
        """One service's app inside the all-in-one ("identity", "catalog"), for its state."""
        app = self.client._transport.app  # type: ignore[attr-defined]
        service: FastAPI = app.state.services[name]
        return service


def make_settings(tmp_path: Path, **overrides) -> Settings:  # type: ignore[no-untyped-def]
    values = {
        "data_dir": tmp_path / "data",
        "admin_email": "admin@example.com",
        "admin_password": "adminpassword",
        "bus_retry_delays_ms": [50, 100],
        "log_json": False,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def platform_settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
async def platform(platform_settings: Settings) -> AsyncIterator[Platform]:
    from allinone.app import build_app

    app = build_app(platform_settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(
            transport=transport,
            base_url=BASE_URL,
            headers={"Origin": ORIGIN, "Content-Type": "application/json"},
        ) as client:
            yield Platform(client, Outbox(platform_settings.data_dir / "outbox"), platform_settings)
