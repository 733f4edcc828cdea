"""Address squatting: someone registers an address before its owner does. The owner's own
registration takes over the pending account: their password, a fresh link, the squatter's links
dead, and an answer that does not tell them (or the squatter) the address was known."""

from __future__ import annotations

import httpx

from tests.support.platform import Platform

VICTIM = "victim@example.com"
SQUATTER_PASSWORD = "squatter's own secret"
OWNER_PASSWORD = "owner's real passphrase"


async def register(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post(
        "/api/register/",
        json={"email": email, "password": password, "confirmed_password": password},
    )


async def login(platform: Platform, email: str, password: str) -> int:
    client = platform.new_client()
    response = await client.post("/api/login/", json={"email": email, "password": password})
    return response.status_code


async def test_the_owner_registering_after_a_squatter_gets_the_account(
    platform: Platform,
) -> None:
    squatted = await register(platform.client, VICTIM, SQUATTER_PASSWORD)
    assert squatted.status_code == 201
    (squatter_mail,) = await platform.outbox.wait_for(VICTIM)

    owner = await register(platform.new_client(), " Victim@Example.com ", OWNER_PASSWORD)
    # indistinguishable from a first registration: same status, same body shape
    assert owner.status_code == 201, owner.text
    assert owner.json() == {"user": {"id": owner.json()["user"]["id"], "email": VICTIM}}
    assert isinstance(owner.json()["user"]["id"], int)
    assert set(owner.json()) == set(squatted.json())
    assert "token" not in owner.text

    owner_mail = (await platform.outbox.wait_for(VICTIM, count=2))[-1]
    assert owner_mail.subject == "Confirm your email"

    # the squatter's link, though it sits in the owner's mailbox, activates nothing
    uid, token = squatter_mail.uid_and_token()
    stale = await platform.client.get(f"/api/activate/{uid}/{token}/")
    assert stale.status_code == 400, stale.text
    assert set(stale.json()) == {"message"}
    assert await login(platform, VICTIM, SQUATTER_PASSWORD) == 401

    uid, token = owner_mail.uid_and_token()
    activated = await platform.client.get(f"/api/activate/{uid}/{token}/")
    assert activated.status_code == 200, activated.text

    assert await login(platform, VICTIM, OWNER_PASSWORD) == 200
    assert await login(platform, VICTIM, SQUATTER_PASSWORD) == 401


async def test_an_active_address_is_still_answered_generically(platform: Platform) -> None:
    assert (await register(platform.client, VICTIM, OWNER_PASSWORD)).status_code == 201
    (mail,) = await platform.outbox.wait_for(VICTIM)
    uid, token = mail.uid_and_token()
    assert (await platform.client.get(f"/api/activate/{uid}/{token}/")).status_code == 200

    again = await register(platform.new_client(), VICTIM, SQUATTER_PASSWORD)
    assert again.status_code == 400
    assert again.json() == {"detail": "Please check your input and try again."}
    assert await login(platform, VICTIM, OWNER_PASSWORD) == 200
    assert await login(platform, VICTIM, SQUATTER_PASSWORD) == 401
    assert len(platform.outbox.all()) == 1  # no mail for an active account
