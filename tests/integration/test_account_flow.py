"""The account journey in the distributed wiring: gateway, identity, mailer and catalog as
separate processes over real PostgreSQL, RabbitMQ, Redis and S3, mail over real SMTP."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from common.security.keys import generate_keypair
from tests.support.platform import parse_mail
from tests.support.processes import ServiceProcess
from tests.support.services import RedisTarget, S3Target, SmtpCapture

pytestmark = pytest.mark.integration
ORIGIN = "http://127.0.0.1:5500"
PASSWORD = "integration passphrase"


@pytest.fixture
async def stack(
    tmp_path: Path,
    postgres_databases,  # type: ignore[no-untyped-def]
    rabbitmq_url: str,
    redis_target: RedisTarget,
    s3_target: S3Target,
    smtp_capture: SmtpCapture,
) -> Iterator[dict[str, ServiceProcess]]:
    keys = generate_keypair()
    shared = {
        "RABBITMQ_URL": rabbitmq_url,
        "REDIS_URL": redis_target.url,
        "REDIS_KEY_PREFIX": redis_target.prefix,
        "S3_ENDPOINT": s3_target.endpoint,
        "S3_ACCESS_KEY": s3_target.access_key,
        "S3_SECRET_KEY": s3_target.secret_key,
        "S3_BUCKET": s3_target.bucket,
        "JWT_PUBLIC_KEY": keys.public_pem,
        "DATA_DIR": str(tmp_path / "data"),
        "BUS_RETRY_DELAYS_MS": "200,500",
        "ENVIRONMENT": "test",
    }
    identity = ServiceProcess(
        "identity",
        {**shared, "DATABASE_URL": await postgres_databases(), "JWT_PRIVATE_KEY": keys.private_pem},
        tmp_path,
    )
    catalog = ServiceProcess(
        "catalog", {**shared, "DATABASE_URL": await postgres_databases()}, tmp_path
    )
    mailer = ServiceProcess(
        "mailer",
        {**shared, "SMTP_HOST": smtp_capture.host, "SMTP_PORT": str(smtp_capture.port)},
        tmp_path,
    )
    for service in (identity, catalog):
        await asyncio.to_thread(service.run, "migrate")
    gateway = ServiceProcess(
        "gateway",
        {**shared, "IDENTITY_URL": identity.url, "CATALOG_URL": catalog.url},
        tmp_path,
    )
    processes = {"identity": identity, "catalog": catalog, "mailer": mailer, "gateway": gateway}
    try:
        for p in processes.values():
            p.start()
        for p in processes.values():
            await asyncio.to_thread(p.wait_ready)
        yield processes
    finally:
        for p in reversed(processes.values()):
            p.stop()


async def wait_for_mail(smtp: SmtpCapture, to: str, count: int, timeout: float = 20):  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        mails = [m for m in smtp.messages if to in m.recipients]
        if len(mails) >= count:
            return [parse_mail(m.data) for m in mails]
        await asyncio.sleep(0.1)
    raise AssertionError(f"no mail to {to}")


async def test_sign_up_activate_login_refresh_logout(
    stack: dict[str, ServiceProcess], smtp_capture: SmtpCapture
) -> None:
    gateway = stack["gateway"]
    async with httpx.AsyncClient(
        base_url=gateway.url,
        headers={"Origin": ORIGIN, "Content-Type": "application/json"},
        timeout=20,
    ) as client:
        email = "walker@example.com"
        registered = await client.post(
            "/api/register/",
            json={"email": email, "password": PASSWORD, "confirmed_password": PASSWORD},
        )
        assert registered.status_code == 201, registered.text
        assert registered.headers["access-control-allow-origin"] == ORIGIN

        (mail,) = await wait_for_mail(smtp_capture, email, 1)
        assert mail.subject == "Confirm your email"
        uid, token = mail.uid_and_token()
        activated = await client.get(f"/api/activate/{uid}/{token}/")
        assert activated.status_code == 200, activated.text

        login = await client.post("/api/login/", json={"email": email, "password": PASSWORD})
        assert login.status_code == 200, login.text
        assert {"access_token", "refresh_token", "csrftoken"} <= set(client.cookies.keys())

        # authenticated request reaches the catalog through the gateway
        video = await client.get("/api/video/")
        assert video.status_code != 401

        refreshed = await client.post("/api/token/refresh/")
        assert refreshed.status_code == 200, refreshed.text
        assert client.cookies["access_token"] == refreshed.json()["access"]

        access = client.cookies["access_token"]
        logout = await client.post(
            "/api/logout/", headers={"X-CSRFToken": client.cookies["csrftoken"]}
        )
        assert logout.status_code == 200, logout.text
        revoked = await client.get("/api/video/", headers={"Authorization": f"Bearer {access}"})
        assert revoked.status_code == 401

        # password reset mail also travels over the real bus and SMTP
        reset = await client.post("/api/password_reset/", json={"email": email})
        assert reset.status_code == 200
        mails = await wait_for_mail(smtp_capture, email, 2)
        assert "24 hours" in mails[-1].text
