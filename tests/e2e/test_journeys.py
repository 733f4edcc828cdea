"""What a person does with the Videoflix client, in a real browser: sign up, activate, log in,
browse, watch in every resolution, stay logged in while watching, log out, reset a forgotten
password, and what a page from an origin outside CORS_ORIGINS can (not) do.

The client under test is tests/e2e/client/ (see conftest.py); it behaves like the real one
in ../shared/CONTRACT.md.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from playwright.async_api import BrowserContext, Page, expect
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

from tests.e2e.harness import (
    Account,
    E2EPlatform,
    Mailbox,
    SeededVideo,
    expect_message,
    link_to,
    sign_up_and_activate,
)
from tests.support.waiting import eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")

HEIGHTS = {"480p": 480, "720p": 720, "1080p": 1080}
ACCOUNT_COOKIES = {"access_token", "refresh_token", "csrftoken"}


def new_email(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex[:8]}@example.com"


# ---------------------------------------------------------------- steps


async def log_in(page: Page, platform: E2EPlatform, account: Account) -> None:
    """Through the login page; ends on the video page once the list request is answered."""
    await page.goto(platform.client.url("pages/auth/login.html"))
    await page.fill("#email", account.email)
    await page.fill("#password", account.password)
    await page.click("#login-button")
    await page.wait_for_url("**/pages/video/video.html")
    await page.wait_for_function("() => window.e2e && window.e2e.list !== 'loading'")


async def api_status(page: Page, path: str, method: str = "GET") -> int | str:
    """The status the page's own fetch (credentials, JSON content type) gets, or the error
    name when the browser rejects it."""
    return await page.evaluate(
        """([path, method]) => apiFetch(path, {method}).then(
               (r) => r.status, (e) => e.name)""",
        [path, method],
    )


async def cookie_map(context: BrowserContext) -> dict[str, dict[str, Any]]:
    return {c["name"]: dict(c) for c in await context.cookies()}


PLAYER_STATE = """() => {
  const v = document.getElementById("player");
  return {
    source: e2e.source, engine: e2e.engine, levels: e2e.levels, errors: e2e.errors,
    fragments: e2e.fragments, playErrors: e2e.playErrors,
    currentTime: v.currentTime, paused: v.paused, ended: v.ended,
    videoWidth: v.videoWidth, videoHeight: v.videoHeight,
    mediaError: v.error ? `${v.error.code} ${v.error.message}` : null,
    autoLevelEnabled: window.hls ? window.hls.autoLevelEnabled : null,
  };
}"""


def _summary(state: dict[str, Any]) -> str:
    keys = ("source", "engine", "currentTime", "paused", "videoHeight", "mediaError", "playErrors")
    errors = [e for e in state["errors"] if e["source"] == state["source"]]
    return f"{ {k: state[k] for k in keys} } hls.js errors: {errors[-5:]}"


async def wait_until_playing(
    page: Page, source_suffix: str, height: int | None = None, timeout: float = 30
) -> dict[str, Any]:
    """Until the player plays `source_suffix` past 1 s (at `height` lines), then check that
    currentTime keeps advancing. A fatal hls.js error or a media error fails at once."""

    async def player() -> dict[str, Any]:
        state = await page.evaluate(PLAYER_STATE)
        assert state["engine"] == "hls.js", state["engine"]
        current = state["source"] or ""
        fatal = [e for e in state["errors"] if e["fatal"] and e["source"] == current]
        assert not fatal, f"hls.js fatal error playing {current}: {fatal}"
        assert state["mediaError"] is None, _summary(state)
        return state

    def playing(state: dict[str, Any]) -> bool:
        return (
            (state["source"] or "").endswith(source_suffix)
            and state["currentTime"] >= 1.0
            and not state["paused"]
            and (height is None or state["videoHeight"] == height)
        )

    state = await eventually(
        player,
        playing,
        within=timeout,
        interval=0.2,
        failure=lambda state: f"not playing {source_suffix}: {_summary(state)}",
    )
    await asyncio.sleep(0.6)  # playback time has to pass to show that it advances
    later = await page.evaluate(PLAYER_STATE)
    assert later["source"] == state["source"]
    assert later["currentTime"] > state["currentTime"] + 0.2, f"stalled: {_summary(later)}"
    assert not [e for e in later["errors"] if e["fatal"]], _summary(later)
    return later


async def assert_all_thumbnails_loaded(page: Page, expected: int) -> None:
    images = page.locator("#categories img")
    await expect(images).to_have_count(expected)
    await page.wait_for_function(
        "() => [...document.querySelectorAll('#categories img')].every((i) => i.complete)"
    )
    broken = await page.evaluate(
        """() => [...document.querySelectorAll('#categories img')]
                 .filter((i) => !(i.naturalWidth > 0)).map((i) => i.src)"""
    )
    assert not broken, f"thumbnails that did not load: {broken}"


def by_height(videos: list[SeededVideo], height: int) -> SeededVideo:
    return next(v for v in videos if v.clip.height == height)


# ---------------------------------------------------------------- journeys


async def test_sign_up_activate_log_in_and_see_every_thumbnail(
    open_page, platform: E2EPlatform, mailbox: Mailbox, seeded_videos: list[SeededVideo]
) -> None:
    page = await open_page()
    account = Account(new_email("newcomer"), "newcomer passphrase 5")
    await sign_up_and_activate(page, platform, mailbox, account)

    # the link is single-use: the same page now shows the refusal
    (mail,) = mailbox.to(account.email)
    await page.goto(link_to(mail, "activate.html"))
    await expect_message(page, "error")

    await log_in(page, platform, account)
    assert await page.evaluate("() => e2e.list") == "loaded"

    cookies = await cookie_map(page.context)
    assert set(cookies) >= ACCOUNT_COOKIES, cookies.keys()
    for name in ACCOUNT_COOKIES:
        assert cookies[name]["sameSite"] == "Lax", cookies[name]
        assert cookies[name]["path"] == "/", cookies[name]
        assert cookies[name]["domain"] == "127.0.0.1", cookies[name]  # host-only
        assert cookies[name]["httpOnly"] is (name != "csrftoken"), cookies[name]
    readable = await page.evaluate("() => document.cookie")
    assert "csrftoken=" in readable
    assert "access_token" not in readable
    assert "refresh_token" not in readable

    # newest first, in "New on Videoflix" and in a row per (lower-cased) category
    newest_first = [v.clip.title for v in reversed(seeded_videos)]
    await expect(page.locator("#newest .video-title")).to_have_text(newest_first)
    for video in seeded_videos:
        row = page.locator(f"#{video.clip.category.lower()} .video-card")
        await expect(row).to_have_count(1)
        await expect(row.locator(".video-title")).to_have_text(video.clip.title)
    await assert_all_thumbnails_loaded(page, expected=2 * len(seeded_videos))


async def test_newest_video_plays_in_every_resolution_and_adaptively(
    open_page, platform: E2EPlatform, member: Account, seeded_videos: list[SeededVideo]
) -> None:
    newest = seeded_videos[-1]
    assert newest.clip.height == 1080
    assert sorted(newest.renditions, key=HEIGHTS.__getitem__) == ["480p", "720p", "1080p"]
    page = await open_page()
    await log_in(page, platform, member)

    await page.locator("#newest .video-card").first.click()  # opens at 480p
    state = await wait_until_playing(page, f"/video/{newest.id}/480p/index.m3u8", height=480)
    assert abs(state["videoWidth"] / state["videoHeight"] - 16 / 9) < 0.02, state["videoWidth"]
    assert state["fragments"], "no segment loaded"
    assert all(f"/video/{newest.id}/480p/" in f for f in state["fragments"]), state["fragments"]

    for resolution in ("720p", "1080p"):
        await page.click(f"#resolutions button[data-resolution='{resolution}']")
        state = await wait_until_playing(
            page, f"/video/{newest.id}/{resolution}/index.m3u8", height=HEIGHTS[resolution]
        )
        assert abs(state["videoWidth"] / state["videoHeight"] - 16 / 9) < 0.02

    await page.click("#resolutions button[data-resolution='auto']")
    state = await wait_until_playing(page, f"/video/{newest.id}/master.m3u8")
    assert sorted(level["height"] for level in state["levels"]) == [480, 720, 1080]
    assert state["autoLevelEnabled"] is True
    assert state["videoHeight"] in (480, 720, 1080)
    assert not [e for e in state["errors"] if e["fatal"]], state["errors"]


async def test_resolution_above_the_source_plays_its_highest_rendition(
    open_page, platform: E2EPlatform, member: Account, seeded_videos: list[SeededVideo]
) -> None:
    smaller = by_height(seeded_videos, 720)
    assert sorted(smaller.renditions, key=HEIGHTS.__getitem__) == ["480p", "720p"]
    page = await open_page()
    await log_in(page, platform, member)
    await page.locator(f"#{smaller.clip.category.lower()} .video-card").click()
    await wait_until_playing(page, f"/video/{smaller.id}/480p/index.m3u8", height=480)
    await page.click("#resolutions button[data-resolution='1080p']")
    await wait_until_playing(page, f"/video/{smaller.id}/1080p/index.m3u8", height=720)
    await page.click("#resolutions button[data-resolution='auto']")
    state = await wait_until_playing(page, f"/video/{smaller.id}/master.m3u8")
    assert sorted(level["height"] for level in state["levels"]) == [480, 720]


async def test_token_refresh_while_playing_keeps_playing(
    open_page, platform: E2EPlatform, member: Account, seeded_videos: list[SeededVideo]
) -> None:
    newest = seeded_videos[-1]
    page = await open_page()
    await log_in(page, platform, member)
    await page.locator("#newest .video-card").first.click()
    before = await wait_until_playing(page, f"/video/{newest.id}/480p/index.m3u8", height=480)

    # what the client's 20-minute timer calls, now
    assert await page.evaluate("() => refreshToken()") == 200
    refresh = await page.evaluate("() => e2e.refreshes.at(-1)")
    assert refresh["data"]["detail"] == "Token refreshed", refresh
    cookies = await cookie_map(page.context)
    assert cookies["access_token"]["value"] == refresh["data"]["access"]
    assert cookies["access_token"]["httpOnly"] is True

    after = await page.evaluate(PLAYER_STATE)
    assert after["currentTime"] > before["currentTime"], _summary(after)
    assert not after["paused"], _summary(after)
    assert not [e for e in after["errors"] if e["fatal"]], after["errors"]
    # the renewed cookie opens playlists and segments too
    await page.click("#resolutions button[data-resolution='720p']")
    await wait_until_playing(page, f"/video/{newest.id}/720p/index.m3u8", height=720)
    assert await api_status(page, "video/") == 200


async def test_logout_then_the_api_answers_401(
    open_page, platform: E2EPlatform, member: Account
) -> None:
    page = await open_page()
    await log_in(page, platform, member)
    context = page.context
    session = [c for c in await context.cookies() if c["name"] in ACCOUNT_COOKIES]
    assert {c["name"] for c in session} == ACCOUNT_COOKIES
    assert await api_status(page, "video/") != 401

    assert "csrftoken=" in await page.evaluate("() => document.cookie"), (
        "the page cannot read csrftoken: the client's logout throws before sending anything"
    )
    answers: list[int] = []
    page.on(
        "response",
        lambda r: (
            answers.append(r.status)
            if "/api/logout" in r.url and r.request.method == "POST"
            else None
        ),
    )
    await page.click("#logout-button")
    # the client goes on to the login page only after a 2xx answer that parsed as JSON
    try:
        await page.wait_for_url("**/pages/auth/login.html", timeout=10_000)
    except PlaywrightTimeoutError:
        seen = await page.evaluate(
            "() => [e2e.logoutError, document.getElementById('messages').innerText]"
        )
        raise AssertionError(f"logout did not finish: {seen}, answers {answers}") from None
    assert answers == [200], answers
    assert not ACCOUNT_COOKIES & set(await cookie_map(context)), "logout left cookies behind"
    assert await api_status(page, "video/") == 401
    assert await api_status(page, "token/refresh/", "POST") == 400  # no refresh cookie

    # the old tokens are revoked on the server, not only forgotten by the browser
    await context.add_cookies(
        [
            {k: c[k] for k in ("name", "value", "domain", "path", "httpOnly", "sameSite")}
            for c in session
        ]
    )
    assert await api_status(page, "video/") == 401
    assert await api_status(page, "token/refresh/", "POST") == 401


async def test_forgot_password_then_log_in_with_the_new_one(
    open_page, platform: E2EPlatform, mailbox: Mailbox
) -> None:
    old = Account(new_email("forgetful"), "forgetful passphrase 1")
    new = Account(old.email, "remembered passphrase 2")
    page = await open_page()
    await sign_up_and_activate(page, platform, mailbox, old)
    elsewhere = await open_page()  # a session on another device
    await log_in(elsewhere, platform, old)
    assert await api_status(elsewhere, "video/") != 401

    await page.goto(platform.client.url("pages/auth/forgot_password.html"))
    await page.fill("#email", old.email.upper())  # compared case-insensitively
    await page.click("#forgot-button")
    await expect_message(page, "success", "An email has been sent to reset your password.")
    reset_mail = (await mailbox.wait_for(old.email, 2))[-1]
    assert "24 hours" in reset_mail.text
    link = link_to(reset_mail, "confirm_password.html")
    assert link.startswith(platform.client.url("pages/auth/confirm_password.html?")), link

    await page.goto(link)
    await page.fill("#new-password", new.password)
    await page.fill("#confirm-password", new.password)
    async with page.expect_response(lambda r: "/api/password_confirm/" in r.url) as answer:
        await page.click("#confirm-button")
    assert (await answer.value).status == 200
    await expect_message(page, "success", "Your Password has been successfully reset.")
    await page.wait_for_url("**/pages/auth/login.html")

    # the old password no longer works, and the other device's session is over
    await page.fill("#email", old.email)
    await page.fill("#password", old.password)
    await page.click("#login-button")
    refused = await expect_message(page, "error")
    assert refused != "The server cannot be reached.", "expected the API's 401 message"
    assert page.url.endswith("/pages/auth/login.html")
    assert await api_status(elsewhere, "video/") == 401

    await log_in(page, platform, new)
    assert await api_status(page, "video/") != 401

    # the reset link was single-use
    await page.goto(link)
    await page.fill("#new-password", "third passphrase 33")
    await page.fill("#confirm-password", "third passphrase 33")
    await page.click("#confirm-button")
    await expect_message(page, "error")


async def test_a_disallowed_origin_gets_no_credentialed_access(
    open_page, platform: E2EPlatform, member: Account
) -> None:
    foreign = platform.foreign

    # logging in from there: the preflight is refused, the browser sends nothing
    stranger = await open_page()
    await stranger.goto(foreign.url("pages/auth/login.html"))
    await stranger.fill("#email", member.email)
    await stranger.fill("#password", member.password)
    await stranger.click("#login-button")
    await expect_message(stranger, "error", "The server cannot be reached.")
    assert not ACCOUNT_COOKIES & set(await cookie_map(stranger.context))

    # a browser logged in through the client: same site, so its cookies go along to requests
    # of the foreign page, but the foreign page must never read an answer or act
    page = await open_page()
    await log_in(page, platform, member)
    assert await api_status(page, "video/") != 401

    intruder = await page.context.new_page()
    await intruder.goto(foreign.url("pages/video/video.html"))
    await intruder.wait_for_function("() => e2e.list !== 'loading'")
    assert await intruder.evaluate("() => e2e.list") == "failed"
    await expect(intruder.locator(".video-card")).to_have_count(0)
    assert await api_status(intruder, "video/") == "TypeError"
    # without the JSON content type (no preflight) the request goes out, the answer stays shut
    simple = await intruder.evaluate(
        """() => fetch(API_BASE_URL + "video/", {credentials: "include"}).then(
               (r) => r.status, (e) => e.name)"""
    )
    assert simple == "TypeError"

    # it can read csrftoken (cookies ignore ports) but still cannot log the user out
    await intruder.click("#logout-button")
    await intruder.wait_for_function("() => e2e.logoutError !== null")
    assert "TypeError" in await intruder.evaluate("() => e2e.logoutError")
    await intruder.evaluate(
        """() => fetch(API_BASE_URL + "logout/", {method: "POST", credentials: "include"})
                 .catch(() => null)"""
    )
    assert await api_status(page, "video/") != 401, "the foreign page ended the session"
    assert set(await cookie_map(page.context)) >= ACCOUNT_COOKIES


async def test_a_disallowed_origin_cannot_stream(
    open_page, platform: E2EPlatform, member: Account, seeded_videos: list[SeededVideo]
) -> None:
    newest = seeded_videos[-1]
    page = await open_page()
    await log_in(page, platform, member)
    intruder = await page.context.new_page()
    await intruder.goto(platform.foreign.url("pages/video/video.html"))
    await intruder.wait_for_function("() => e2e.list !== 'loading'")
    await intruder.evaluate(f"() => {{ currentVideoId = {newest.id}; playResolution('480p'); }}")
    await intruder.wait_for_function(
        "() => e2e.errors.some((e) => e.fatal)", polling=200, timeout=30_000
    )
    state = await intruder.evaluate(PLAYER_STATE)
    assert state["fragments"] == [], state["fragments"]
    assert state["currentTime"] == 0
    # the same player on the client's own origin plays it
    await page.evaluate(f"() => {{ currentVideoId = {newest.id}; playResolution('480p'); }}")
    await wait_until_playing(page, f"/video/{newest.id}/480p/index.m3u8", height=480)
