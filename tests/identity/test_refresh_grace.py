"""Two tabs of one browser share its cookies, so when the access token runs out both may send
the same refresh token at once. Reuse detection would take the second for a thief and log the
user out of both; within `REFRESH_REUSE_GRACE_SECONDS` the token the latest refresh spent gets
an access token instead, and no refresh token (the jar keeps the one its twin set). Any other
spent token, or the same one after the grace, still revokes the session.
"""

from __future__ import annotations

import asyncio

import httpx

from tests.support.accounts import logged_in, past_the_grace
from tests.support.platform import Platform


def set_cookies(response: httpx.Response) -> set[str]:
    return {header.split("=", 1)[0] for header in response.headers.get_list("set-cookie")}


async def test_two_tabs_refreshing_at_once_both_stay_logged_in(platform: Platform) -> None:
    tab = await logged_in(platform, "tab@example.com")
    twin = platform.new_client(cookies=dict(tab.cookies))  # the same browser's cookie jar
    first, second = await asyncio.gather(
        tab.post("/api/token/refresh/"), twin.post("/api/token/refresh/")
    )
    assert (first.status_code, second.status_code) == (200, 200), (first.text, second.text)
    answers = sorted([first, second], key=lambda r: len(set_cookies(r)))
    assert set_cookies(answers[0]) == {"access_token"}  # the twin keeps its refresh token
    assert set_cookies(answers[1]) == {"access_token", "refresh_token", "csrftoken"}
    for answer in answers:
        assert answer.json()["detail"] == "Token refreshed"
        headers = {"Authorization": f"Bearer {answer.json()['access']}"}
        assert (await tab.get("/api/video/", headers=headers)).status_code == 200

    rotated = answers[1].cookies["refresh_token"]
    browser = platform.new_client(cookies={"refresh_token": rotated})
    assert (await browser.post("/api/token/refresh/")).status_code == 200  # session alive


async def test_the_spent_token_past_the_grace_revokes_the_session(platform: Platform) -> None:
    owner = await logged_in(platform, "late@example.com")
    stolen = owner.cookies["refresh_token"]
    assert (await owner.post("/api/token/refresh/")).status_code == 200
    await past_the_grace(platform, "late@example.com")

    thief = platform.new_client(cookies={"refresh_token": stolen})
    assert (await thief.post("/api/token/refresh/")).status_code == 401
    assert (await owner.post("/api/token/refresh/")).status_code == 401
    assert (await owner.get("/api/video/")).status_code == 401


async def test_only_the_latest_spent_token_has_the_grace(platform: Platform) -> None:
    owner = await logged_in(platform, "twice@example.com")
    oldest = owner.cookies["refresh_token"]
    assert (await owner.post("/api/token/refresh/")).status_code == 200
    assert (await owner.post("/api/token/refresh/")).status_code == 200  # within a second

    replay = platform.new_client(cookies={"refresh_token": oldest})
    assert (await replay.post("/api/token/refresh/")).status_code == 401
    assert (await owner.post("/api/token/refresh/")).status_code == 401  # all revoked
