import os

import pytest

# the helpers in tests/support assert too: give them pytest's detailed assertion messages
pytest.register_assert_rewrite("tests.support")

pytest_plugins = ["tests.support.services", "tests.support.platform"]


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """With VIDEOFLIX_REQUIRE_SERVICES=1 (CI) a skipped test fails the run: a green run that
    skipped the real services is a red run."""
    if os.environ.get("VIDEOFLIX_REQUIRE_SERVICES") != "1":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if skipped:
        if reporter:
            reporter.write_line(
                f"FAILED: {skipped} test(s) skipped under VIDEOFLIX_REQUIRE_SERVICES=1"
            )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
