"""The account journey in the distributed wiring: gateway, identity, mailer and catalog as
separate processes over real PostgreSQL, RabbitMQ, Redis and S3, mail over real SMTP."""

from __future__ import annotations

import httpx
import pytest

from tests.support.integration import ORIGIN, Stack

pytestmark = pytest.mark.integration
PASSWORD = "integration passphrase"


async def test_sign_up_activate_login_refresh_logout(stack: Stack) -> None:
    async with httpx.AsyncClient(
        base_url=stack.gateway_url,
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

        (mail,) = await stack.mails_to(email, 1)
        assert mail.subject == "Confirm your email"
        uid, token = mail.uid_and_token()
        activated = await client.get(f"/api/activate/{uid}/{token}/")
        assert activated.status_code == 200, activated.text

        login = await client.post("/api/login/", json={"email": email, "password": PASSWORD})
        assert login.status_code == 200, login.text
        assert {"access_token", "refresh_token", "csrftoken"} <= set(client.cookies.keys())

        # an authenticated request reaches the catalog through the gateway
        videos = await client.get("/api/video/")
        assert videos.status_code == 200 and videos.json() == []

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

        # the password reset mail also travels over the real bus and SMTP
        reset = await client.post("/api/password_reset/", json={"email": email})
        assert reset.status_code == 200
        mails = await stack.mails_to(email, 2)
        assert "24 hours" in mails[-1].text
