"""The SMTP relay down for a long time while people register and reset their password.

The mailer talks to the test's SMTP capture server through a `FaultProxy` (tests/support/
faults.py): `cut()` is the relay going away (sessions reset, connections refused), which is
what the mailer sees of a relay that is down or unreachable.

Time is compressed: the mailer queue's production schedule (`MAIL_RETRY_DELAYS_MS`, 1 s growing
to 30 min, over 24 h in all) runs 1000 times faster, so 8 s of outage stand for over two hours,
where the old schedule (1 s, 5 s, 30 s: 36 ms compressed) parked every mail at once.
"""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import Iterator

import pytest

from common.bus.rabbitmq import RabbitMQBus
from common.bus.topology import MAIL_RETRY_DELAYS_MS, MAILER
from tests.support.faults import (
    FaultProxy,
    StackEnv,
    browser,
    fault_proxy,
    mail_counts,
    quiet,
    register,
)
from tests.support.integration import ADMIN_EMAIL, ORIGIN, Stack
from tests.support.services import SmtpCapture
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration
LIMIT = 60
COMPRESSION = 1000
OUTAGE_SECONDS = 8.0  # 8000 s, over two hours, at production pace
SHORT_SCHEDULE_MS = [50, 100]  # for the parking scenario: exhausted in 150 ms


@pytest.fixture
def smtp_proxy(smtp_capture: SmtpCapture) -> Iterator[FaultProxy]:
    with fault_proxy(f"{smtp_capture.host}:{smtp_capture.port}", name="smtp") as proxy:
        yield proxy


def through_proxy(proxy: FaultProxy, schedule_ms: list[int]) -> StackEnv:
    delays = ",".join(str(d) for d in schedule_ms)

    def env(service: str, _current: dict[str, str]) -> dict[str, str]:
        return {
            "SMTP_PORT": str(proxy.port),
            "SMTP_TIMEOUT_SECONDS": "2",
            # the same for every service: the one declaring the queues first wins nothing
            "BUS_QUEUE_RETRY_DELAYS_MS": f"{MAILER.name}={delays}",
        }

    return env


class TestLongOutage:
    @pytest.fixture
    def stack_env(self, smtp_proxy: FaultProxy) -> StackEnv:
        compressed = [max(1, d // COMPRESSION) for d in MAIL_RETRY_DELAYS_MS]
        return through_proxy(smtp_proxy, compressed)

    async def test_mails_wait_out_the_outage_and_arrive_once(
        self, stack: Stack, smtp_proxy: FaultProxy
    ) -> None:
        people = [f"patient{i}@example.com" for i in range(3)]
        async with asyncio.timeout(LIMIT), browser(stack.gateway_url, ORIGIN) as client:
            smtp_proxy.cut()
            for email in people:
                assert (await register(client, email)).status_code == 201
            reset = await client.post("/api/password_reset/", json={"email": ADMIN_EMAIL})
            assert reset.status_code == 200
            await asyncio.sleep(OUTAGE_SECONDS)  # the outage itself: nothing to wait for
            retries = full_log(stack, "mailer").count("retrying in")
            assert retries >= 4 * 5, "the mailer kept trying through the outage"
            assert stack.smtp.messages == []

            smtp_proxy.restore()
            for email in [*people, ADMIN_EMAIL]:
                await stack.mails_to(email, 1, timeout=15)
            await quiet(lambda: len(stack.smtp.messages))
            assert mail_counts(stack) == {email: 1 for email in [*people, ADMIN_EMAIL]}
            assert "parking it" not in full_log(stack, "mailer")


class TestParkedMail:
    @pytest.fixture
    def stack_env(self, smtp_proxy: FaultProxy) -> StackEnv:
        return through_proxy(smtp_proxy, SHORT_SCHEDULE_MS)

    async def test_parked_mail_is_logged_counted_and_replayed(
        self, stack: Stack, smtp_proxy: FaultProxy, rabbitmq_url: str
    ) -> None:
        """Retries exhausted: each parked mail is named in an ERROR line and counted; an
        operator's `python -m mailer replay-parked` sends it once the relay is back."""
        mailer = stack.processes["mailer"]
        people = ["parked0@example.com", "parked1@example.com"]
        bus = RabbitMQBus(rabbitmq_url, queue_retry_delays_ms={MAILER.name: SHORT_SCHEDULE_MS})
        await bus.start()
        try:
            async with asyncio.timeout(LIMIT), browser(stack.gateway_url, ORIGIN) as client:
                smtp_proxy.cut()
                for email in people:
                    assert (await register(client, email)).status_code == 201
                await eventually(
                    lambda: bus.dead_letter_count(MAILER.name),
                    lambda count: count == len(people),
                    within=20,
                    interval=0.2,
                    failure=lambda count: f"{count} parked mail(s):\n{mailer.logs()}",
                )
                parked_ids = {str(e.id) for e in await bus.dead_letters(MAILER.name)}
                logged = {
                    match
                    for line in full_log(stack, "mailer").splitlines()
                    if " ERROR " in line and "parking it" in line and MAILER.name in line
                    for match in re.findall(r"[0-9a-f]{8}-[0-9a-f-]{27}", line)
                }
                assert parked_ids <= logged

                listed = await run_mailer(mailer.env, "parked")
                assert f"{len(people)} parked message(s)" in listed
                assert all(i in listed for i in parked_ids)
                assert "http" not in listed  # ids only: the links stay out of the terminal

                smtp_proxy.restore()
                replayed = await run_mailer(mailer.env, "replay-parked")
                assert f"replayed {len(people)} parked message(s)" in replayed
                for email in people:
                    await stack.mails_to(email, 1, timeout=15)
                await quiet(lambda: len(stack.smtp.messages))
                assert mail_counts(stack) == {email: 1 for email in people}
                assert await bus.dead_letter_count(MAILER.name) == 0
        finally:
            await bus.close()


def full_log(stack: Stack, service: str) -> str:
    return stack.processes[service].log_path.read_text(errors="replace")


async def run_mailer(env: dict[str, str], *args: str) -> str:
    """The operator's command, as they would run it: `python -m mailer <args>`."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mailer",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 30)
    text = output.decode()
    assert process.returncode == 0, text
    return text
