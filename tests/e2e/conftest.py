"""Real-browser end-to-end tests: headless Chromium (Debian's, driven by Playwright) runs the
static test client in `client/` against the whole platform, started like `make dev`.

Once per session (see harness.py for the pieces):
- `python -m allinone` as a subprocess on a free port, with its own DATA_DIR and mail going
  over SMTP into an aiosmtpd capture server;
- the test client, served from another port on 127.0.0.1 (another origin, same site: like the
  real client on :5500 and the API on :8000), which is FRONTEND_URL and CORS_ORIGINS, and the
  same client once more from a port that is NOT in CORS_ORIGINS;
- Chromium from /usr/bin/chromium (never `playwright install`);
- the admin's upload of two generated clips, transcoded before the first video test.

Playwright's async API runs in pytest-asyncio's session loop (the tests are async with
`loop_scope="session"`): the sync API marks its own event loop as running in the main thread
between calls, which would break every asyncio test that runs after it in the same session.

When a test fails, screenshots of every page it opened and of the player, the client's
recorded state (`window.e2e`), the browser console and the platform log are saved under
test-artifacts/e2e/<test>/.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, async_playwright

from tests.e2e.harness import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    Account,
    E2EPlatform,
    Mailbox,
    OpenedContext,
    SeededVideo,
    check_browser_requirements,
    new_context,
    running_platform,
    save_artifacts,
    seed_videos,
    sign_up_and_activate,
)

PHASE_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    """Keeps each phase's report on the item, for the fixtures' teardown to look at."""
    report = yield
    item.stash.setdefault(PHASE_REPORTS, {})[report.when] = report
    return report


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2EPlatform]:
    with running_platform(tmp_path_factory.mktemp("e2e-platform")) as running:
        yield running


@pytest.fixture(scope="session")
def mailbox(platform: E2EPlatform) -> Mailbox:
    return Mailbox(platform.smtp)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    check_browser_requirements()
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest_asyncio.fixture(loop_scope="session")
async def open_page(
    browser: Browser, platform: E2EPlatform, request: pytest.FixtureRequest
) -> AsyncIterator[Callable[[], Awaitable[Page]]]:
    """A factory of pages, each in a fresh browser context (its own cookie jar). When the
    test fails, their screenshots and state go to test-artifacts/e2e/<test>/."""
    opened: list[OpenedContext] = []

    async def open_() -> Page:
        item = await new_context(browser)
        opened.append(item)
        return await item.context.new_page()

    try:
        yield open_
    finally:
        reports = request.node.stash.get(PHASE_REPORTS, {})
        if any(r.failed for r in reports.values()):
            name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
            await save_artifacts(ARTIFACTS / name, opened, platform.log_tail(500_000))
        for item in opened:
            await item.context.close()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def member(browser: Browser, platform: E2EPlatform, mailbox: Mailbox) -> Account:
    """An activated account, signed up through the client once for the session."""
    account = Account(f"member-{uuid.uuid4().hex[:8]}@example.com", "e2e member passphrase 3")
    item = await new_context(browser)
    try:
        page = await item.context.new_page()
        await sign_up_and_activate(page, platform, mailbox, account)
    finally:
        await item.context.close()
    return account


@pytest.fixture(scope="session")
def seeded_videos(
    platform: E2EPlatform, tmp_path_factory: pytest.TempPathFactory
) -> list[SeededVideo]:
    """Two clips the admin uploaded and the platform transcoded; oldest first."""
    return seed_videos(platform, tmp_path_factory.mktemp("e2e-clips"))
