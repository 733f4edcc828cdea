"""The distributed wiring of the integration tests (every service its own process) as the
tests see it; the `stack` fixture that starts it is in tests/integration/conftest.py."""

from __future__ import annotations

from dataclasses import dataclass

from tests.support.platform import Mail, parse_mail
from tests.support.processes import ServiceProcess
from tests.support.services import S3Target, SmtpCapture
from tests.support.waiting import eventually

ORIGIN = "http://127.0.0.1:5500"
ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "integration admin secret"


@dataclass
class Stack:
    processes: dict[str, ServiceProcess]
    smtp: SmtpCapture
    s3: S3Target

    @property
    def gateway_url(self) -> str:
        return self.processes["gateway"].url

    @property
    def public_url(self) -> str:
        """The edge when the stack has one (tests/integration/test_edge.py), else the gateway."""
        return self.processes["edge" if "edge" in self.processes else "gateway"].url

    async def mails_to(self, address: str, count: int, timeout: float = 20) -> list[Mail]:
        mails = await eventually(
            lambda: [m for m in self.smtp.messages if address in m.recipients],
            lambda mails: len(mails) >= count,
            within=timeout,
            interval=0.1,
            failure=lambda mails: f"expected {count} mail(s) to {address}, got {len(mails)}",
        )
        return [parse_mail(m.data) for m in mails]
