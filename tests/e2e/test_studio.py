"""The admin studio (/studio/ on the gateway) in a real browser against the all-in-one: login
and the refusal of non-admins, a resumable upload that survives a cut connection and a page
reload, live progress to ready, preview playback, edit, delete, retry of a failing file and
the users page. The pieces are in tests/e2e/studio.py; the platform and browser fixtures are
the other browser tests' (conftest.py).

`STUDIO_SCREENSHOT=1` also saves docs/studio.png (the README's picture) on the way.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.e2e.harness import (
    ADMIN_EMAIL,
    Account,
    E2EPlatform,
    Mailbox,
    SeededVideo,
    admin_client,
    make_thumbnail,
    sign_up_and_activate,
)
from tests.e2e.studio import (
    CutOnce,
    HoldFrom,
    TusTraffic,
    check_clean,
    fill_upload,
    log_in,
    log_in_as_admin,
    make_clip,
    make_non_video,
    open_studio,
    save_screenshot,
    seen,
    video_row,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")

OpenPage = Callable[[], Awaitable[Page]]
UPLOADS = "**/api/admin/uploads/**"
TRANSCODE_TIMEOUT_MS = 180_000
UPLOAD_TIMEOUT_MS = 60_000  # a dozen small chunks, on a busy machine
TUS_KEYS = "() => Object.keys(localStorage).filter((k) => k.startsWith('tus::'))"


def unique(kind: str) -> str:
    return f"{kind} {uuid.uuid4().hex[:6]}"


def check_contiguous(calls: list, start: int, end: int) -> None:  # type: ignore[type-arg]
    """The PATCHes the server took cover [start, end) once, each at the offset it held."""
    offset = start
    for call in calls:
        assert call.request_offset == offset, f"a PATCH at {call.request_offset}, not {offset}"
        offset += call.body_bytes
        assert call.offset == offset
    assert offset == end


# ---------------------------------------------------------------- who may enter


async def test_a_login_form_until_an_admin_logs_in(open_page: OpenPage, platform: E2EPlatform):
    page = await open_studio(open_page, platform)
    await expect(page.get_by_label("Email", exact=True)).to_have_attribute(
        "data-testid", "login-email"
    )
    await expect(page.get_by_label("Password", exact=True)).to_have_attribute(
        "data-testid", "login-password"
    )
    await expect(page.locator("#videos-view")).to_be_hidden()

    await log_in(page, ADMIN_EMAIL, "not the admin's password")
    await expect(page.locator("#login-error")).to_have_text(re.compile(r"\S"))
    await expect(page.locator("#videos-view")).to_be_hidden()

    await log_in_as_admin(page)
    await expect(page.get_by_test_id("upload-file")).to_be_visible()
    await page.reload()  # the cookies keep the admin in
    await expect(page.locator("#videos-view")).to_be_visible()

    await page.get_by_role("button", name="Log out").click()
    await expect(page.get_by_test_id("login-email")).to_be_focused()
    await page.reload()  # logged out on the server too: the cookies are gone
    await expect(page.get_by_test_id("login-email")).to_be_visible()
    assert {c["name"] for c in await page.context.cookies()} & {
        "access_token",
        "csrftoken",
    } == set()
    await check_clean(page)


async def test_a_member_is_told_the_account_is_not_an_administrator(
    open_page: OpenPage, platform: E2EPlatform, member: Account
) -> None:
    page = await open_studio(open_page, platform)
    await expect(page.get_by_test_id("login-email")).to_be_visible()  # its own 401 is behind
    statuses: list[int] = []
    page.on(
        "response",
        lambda r: statuses.append(r.status) if "/api/admin/videos" in r.url else None,
    )
    await log_in(page, member.email, member.password)
    refusal = page.locator("#refusal-text")
    await expect(refusal).to_be_visible()
    await expect(refusal).to_have_text("This account is not an administrator.")
    await expect(page.locator("#videos-view")).to_be_hidden()
    await expect(page.get_by_test_id("video-row")).to_have_count(0)
    assert statuses == [403], statuses
    await check_clean(page)


# ---------------------------------------------------------------- one video's life


async def test_a_cut_upload_resumes_goes_live_to_ready_plays_is_edited_and_deleted(
    open_page: OpenPage,
    platform: E2EPlatform,
    seeded_videos: list[SeededVideo],
    tmp_path: Path,
) -> None:
    clip = make_clip(tmp_path)
    size = clip.stat().st_size
    page = await open_studio(open_page, platform)
    await log_in_as_admin(page)
    traffic = TusTraffic()
    traffic.attach(page)
    cut = CutOnce(at=size // 2)
    await page.route(UPLOADS, cut)

    title = unique("Studio clip")
    await fill_upload(page, clip, title, "Studio", "Uploaded through the studio.")
    await page.get_by_test_id("upload-submit").click()
    await expect(page.locator("#upload-message")).to_contain_text(
        "being processed", timeout=UPLOAD_TIMEOUT_MS
    )

    # the cut cost one chunk: the browser asked the server where it was and went on from there
    assert cut.cut_offset is not None, traffic.describe()
    (created,) = traffic.of("POST")
    assert created.status == 201
    taken = [c for c in traffic.of("PATCH") if c.status == 204]
    check_contiguous(taken, 0, size)
    cut_calls = [c for c in traffic.of("PATCH") if c.status is None]
    assert [c.request_offset for c in cut_calls] == [cut.cut_offset]
    asked = [c for c in traffic.of("HEAD") if c.status == 200]
    assert [c.offset for c in asked] == [cut.cut_offset], traffic.describe()
    assert sum(c.body_bytes for c in taken) == size  # no byte went twice
    progress = await page.evaluate("() => window.studioUploadProgress")
    assert progress[-1] == 100 and any(0 < p < 100 for p in progress), progress
    bar = page.get_by_test_id("upload-progress")
    await expect(bar).to_have_attribute("role", "progressbar")
    await expect(bar).to_have_attribute("aria-valuenow", "100")

    # live: processing with its progress, then ready, without a reload
    video_id = traffic.video_id()
    row = video_row(page, video_id)
    await expect(row.locator(".video-title")).to_have_text(title)
    await expect(row.get_by_test_id("video-status")).to_have_text(
        "ready", timeout=TRANSCODE_TIMEOUT_MS
    )
    await expect(row.get_by_test_id("video-progress")).to_have_attribute("aria-valuenow", "100")
    history = await seen(page, video_id)
    statuses = [h["status"] for h in history]
    assert statuses[0] == "processing" and statuses[-1] == "ready", history
    assert any(h["progress"] < 100 for h in history if h["status"] == "processing"), history
    with contextlib.closing(admin_client(platform)) as api:
        detail = api.get(f"/api/admin/videos/{video_id}/").json()
    assert detail["status"] == "ready"
    previews = row.get_by_test_id("video-preview")
    assert (
        await previews.evaluate_all("(bs) => bs.map((b) => b.dataset.rendition)")
        == detail["renditions"]
    )
    await expect(row.locator("img.thumb")).to_be_visible()
    assert await row.locator("img.thumb").evaluate("(img) => img.decode().then(() => true)")

    # preview: hls.js plays the rendition inline
    await previews.first.click()
    player = page.get_by_test_id("preview-player")
    await expect(player).to_be_visible()
    await page.wait_for_function(
        "() => document.querySelector('[data-testid=preview-player]').currentTime > 1",
        timeout=30_000,
    )
    assert int(await player.get_attribute("data-fragments") or 0) >= 1
    await page.get_by_role("button", name="Close preview").click()
    await expect(player).to_have_count(0)

    # edit: a keyboard-operable dialog; a refused title keeps it open with the reason
    edit = row.get_by_test_id("video-edit")
    dialog = page.locator("#edit-dialog")
    await edit.click()
    await expect(dialog).to_be_visible()
    await expect(page.get_by_test_id("edit-title")).to_be_focused()
    await expect(page.get_by_test_id("edit-title")).to_have_value(title)
    await page.keyboard.press("Escape")
    await expect(dialog).to_be_hidden()
    await expect(edit).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(dialog).to_be_visible()
    await page.get_by_test_id("edit-title").fill("<b>bold</b>")
    await page.get_by_test_id("edit-save").click()
    await expect(page.locator("#edit-title-error")).to_have_text(re.compile(r"\S"))
    await expect(dialog).to_be_visible()
    new_title = unique("Studio clip, renamed")
    await page.get_by_test_id("edit-title").fill(new_title)
    old_thumbnail = await row.locator("img.thumb").get_attribute("src")
    await page.get_by_label("New thumbnail").set_input_files(str(make_thumbnail(tmp_path)))
    await page.get_by_test_id("edit-save").click()
    await expect(dialog).to_be_hidden()
    await expect(row.locator(".video-title")).to_have_text(new_title)
    with contextlib.closing(admin_client(platform)) as api:
        edited = api.get(f"/api/admin/videos/{video_id}/").json()
    assert edited["title"] == new_title
    assert edited["thumbnail_url"] != old_thumbnail  # a new version, a new URL
    await expect(row.locator("img.thumb")).to_have_attribute("src", edited["thumbnail_url"])
    assert await row.locator("img.thumb").evaluate("(img) => img.decode().then(() => true)")
    await save_screenshot(page)

    # delete: Escape keeps it, the confirmation deletes it
    delete = row.get_by_test_id("video-delete")
    confirm = page.locator("#delete-dialog")
    await delete.click()
    await expect(confirm).to_be_visible()
    await expect(confirm).to_contain_text(new_title)
    await page.keyboard.press("Escape")
    await expect(confirm).to_be_hidden()
    await expect(row).to_have_count(1)
    with contextlib.closing(admin_client(platform)) as api:
        assert api.get(f"/api/admin/videos/{video_id}/").status_code == 200
    await delete.click()
    await page.get_by_test_id("confirm-delete").click()
    await expect(row).to_have_count(0)
    with contextlib.closing(admin_client(platform)) as api:
        assert api.get(f"/api/admin/videos/{video_id}/").status_code == 404
    await check_clean(page)


async def test_a_reload_mid_upload_resumes_from_the_servers_offset(
    open_page: OpenPage, platform: E2EPlatform, tmp_path: Path
) -> None:
    source = make_non_video(tmp_path, size=1_000_000)
    size = source.stat().st_size
    page = await open_studio(open_page, platform)
    await log_in_as_admin(page)
    traffic = TusTraffic()
    traffic.attach(page)
    hold = HoldFrom(at=size // 2)
    await page.route(UPLOADS, hold)
    title = unique("Studio reload")
    await fill_upload(page, source, title, "Studio")
    await page.get_by_test_id("upload-submit").click()
    await asyncio.wait_for(hold.stalled.wait(), timeout=30)
    assert hold.held_offset is not None
    before = [c for c in traffic.of("PATCH") if c.status == 204]
    check_contiguous(before, 0, hold.held_offset)

    await page.reload()
    hold.release.set()
    await expect(page.locator("#videos-view")).to_be_visible()
    kept = await page.evaluate(TUS_KEYS)
    assert len(kept) == 1, kept
    reloaded_at = len(traffic.calls)

    await fill_upload(page, source, title, "Studio")  # the same file again
    await page.get_by_test_id("upload-submit").click()
    await expect(page.locator("#upload-message")).to_contain_text(
        "being processed", timeout=UPLOAD_TIMEOUT_MS
    )

    after = traffic.calls[reloaded_at:]
    assert [c.method for c in after if c.method != "PATCH"] == ["HEAD"], traffic.describe()
    (asked,) = [c for c in after if c.method == "HEAD"]
    assert asked.offset == hold.held_offset
    check_contiguous([c for c in after if c.method == "PATCH"], hold.held_offset, size)
    assert sum(c.body_bytes for c in after if c.method == "PATCH") == size - hold.held_offset
    assert [c.method for c in traffic.calls].count("POST") == 1  # never created anew
    video_id = traffic.video_id()
    await expect(video_row(page, video_id)).to_have_count(1)
    await expect(video_row(page, video_id).locator(".video-title")).to_have_text(title)
    assert await page.evaluate(TUS_KEYS) == []  # forgotten once done
    await check_clean(page)


async def test_a_file_that_is_no_video_fails_with_a_reason_and_a_retry_fails_again(
    open_page: OpenPage, platform: E2EPlatform, tmp_path: Path
) -> None:
    source = make_non_video(tmp_path, size=200_000)
    page = await open_studio(open_page, platform)
    await log_in_as_admin(page)
    traffic = TusTraffic()
    traffic.attach(page)
    await fill_upload(page, source, unique("Studio not a video"), "Studio")
    await page.get_by_test_id("upload-submit").click()
    await expect(page.locator("#upload-message")).to_contain_text(
        "being processed", timeout=UPLOAD_TIMEOUT_MS
    )
    video_id = traffic.video_id()
    row = video_row(page, video_id)
    status = row.get_by_test_id("video-status")
    await expect(status).to_have_text("failed", timeout=TRANSCODE_TIMEOUT_MS)
    reason = row.locator(".video-error")
    await expect(reason).to_have_text(re.compile(r"\S"))
    with contextlib.closing(admin_client(platform)) as api:
        detail = api.get(f"/api/admin/videos/{video_id}/").json()
    assert detail["status"] == "failed" and detail["error"], detail
    await expect(reason).to_have_text(detail["error"])
    retry = row.get_by_test_id("video-retry")
    await expect(row.get_by_test_id("video-preview")).to_have_count(0)
    failures_before = [h["status"] for h in await seen(page, video_id)].count("failed")

    await retry.click()
    await page.wait_for_function(
        """([id, before]) => (window.studioSeen[String(id)] || [])
               .filter((h) => h.status === "failed").length > before""",
        arg=[video_id, failures_before],
        timeout=TRANSCODE_TIMEOUT_MS,
    )
    statuses = [h["status"] for h in await seen(page, video_id)]
    again = statuses[statuses.index("failed") :]
    assert again[:1] == ["failed"] and "processing" in again, statuses
    assert again.index("processing") < len(again) - 1 and again[-1] == "failed", statuses
    await expect(status).to_have_text("failed")
    await expect(retry).to_be_visible()
    await check_clean(page)


# ---------------------------------------------------------------- users


async def test_the_users_page_searches_deactivates_reactivates_and_resends_activation(
    open_page: OpenPage, platform: E2EPlatform, mailbox: Mailbox
) -> None:
    tag = uuid.uuid4().hex[:8]
    active = Account(f"studio-active-{tag}@example.com", "studio member passphrase 5")
    signup_page = await open_page()
    await sign_up_and_activate(signup_page, platform, mailbox, active)
    waiting = f"studio-waiting-{tag}@example.com"
    http = httpx.AsyncClient(base_url=platform.url, timeout=30)
    registered = await http.post(
        "/api/register/",
        json={
            "email": waiting,
            "password": "a waiting passphrase 9",
            "confirmed_password": "a waiting passphrase 9",
        },
    )
    assert registered.status_code == 201, registered.text
    await mailbox.wait_for(waiting, 1)

    page = await open_studio(open_page, platform)
    await log_in_as_admin(page)
    await page.get_by_role("link", name="Users").click()
    await expect(page.locator("#users-view")).to_be_visible()
    rows = page.get_by_test_id("user-row")
    await expect(rows.filter(has_text=ADMIN_EMAIL)).to_have_count(1)

    await page.get_by_label("Search by email").fill(tag)
    await expect(rows).to_have_count(2)
    await expect(rows.nth(0).locator(".user-email")).to_have_text(active.email)
    await expect(rows.nth(1).locator(".user-email")).to_have_text(waiting)
    await page.get_by_label("Search by email").fill(f"studio-active-{tag}")
    await expect(rows).to_have_count(1)
    row = rows.first
    await expect(row.locator(".user-active")).to_have_text("Active")

    toggle = row.get_by_test_id("user-toggle-active")
    await expect(toggle).to_have_text("Deactivate")
    await toggle.click()
    await expect(row.locator(".user-active")).to_have_text("Deactivated")
    await expect(toggle).to_have_text("Reactivate")
    login = {"email": active.email, "password": active.password}
    refused = await http.post("/api/login/", json=login)
    assert refused.status_code in (401, 403), refused.text
    await toggle.click()
    await expect(row.locator(".user-active")).to_have_text("Active")
    accepted = await http.post("/api/login/", json=login)
    await http.aclose()
    assert accepted.status_code == 200, accepted.text

    await page.get_by_label("Search by email").fill(waiting)
    await expect(rows).to_have_count(1)
    await expect(rows.first.locator(".user-activated")).to_have_text("Not activated")
    await rows.first.get_by_role("button", name=f"Resend activation to {waiting}").click()
    await mailbox.wait_for(waiting, 2)
    with contextlib.suppress(Exception):
        await signup_page.close()
    await check_clean(page)
