"""An address the mailer cannot deliver to is refused at registration (400 in the contract's
field shape), never an account that can never be activated while its mail sits parked.

Over SMTP the mailer speaks plain SMTP: a server without SMTPUTF8 (aiosmtpd's default, like
many relays) takes no address with a character outside ASCII, and the mailer's composer
refuses a non-ASCII local part outright. The platform here sends over real SMTP.
"""

from __future__ import annotations

from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtplib import SMTPNotSupported
from pydantic import TypeAdapter

from common.config import Settings
from identity.schemas import Email
from mailer.compose import InvalidMail, recipient
from mailer.delivery import SmtpSender
from tests.support.platform import Platform, make_settings
from tests.support.services import SmtpCapture
from tests.support.waiting import eventually

PASSWORD = "correct horse battery"

UNDELIVERABLE = [
    "jösé@example.com",  # non-ASCII local part: the composer refuses it
    "jose@exämple.com",  # IDN domain: needs SMTPUTF8 on the way out
    "user@xn--exmple-cua.com",  # the same domain typed as punycode (normalised to Unicode)
    "\uff46\uff55\uff4c\uff4c@example.com",  # full-width letters
]
DELIVERABLE = ["o'brien+tag@example.com", "x_y-z@sub-domain.example.co.uk"]


class PlainRelay(SmtpCapture):
    """The capture server, as a relay that does not offer SMTPUTF8 (aiosmtpd's Controller
    offers it unless told otherwise)."""

    def __init__(self) -> None:
        super().__init__()
        self.controller = Controller(
            self.controller.handler,
            hostname="127.0.0.1",
            port=self.controller.port,
            enable_SMTPUTF8=False,
        )


@pytest.fixture
def smtp() -> Iterator[SmtpCapture]:
    capture = PlainRelay().start()
    try:
        yield capture
    finally:
        capture.stop()


@pytest.fixture
def platform_settings(tmp_path: Path, smtp: SmtpCapture) -> Settings:
    return make_settings(tmp_path, smtp_host=smtp.host, smtp_port=smtp.port)


async def register(platform: Platform, email: str):  # type: ignore[no-untyped-def]
    return await platform.client.post(
        "/api/register/",
        json={"email": email, "password": PASSWORD, "confirmed_password": PASSWORD},
    )


@pytest.mark.parametrize("address", UNDELIVERABLE)
async def test_the_real_mailer_cannot_deliver_these(address: str, smtp: SmtpCapture) -> None:
    """What the refusal below is about: the mailer's composer refuses the recipient, or its
    SMTP sender cannot hand the mail to a server without SMTPUTF8 (and it would be parked)."""
    stored = TypeAdapter(Email).validate_python(address)  # what identity would store
    try:
        to = recipient(stored)
    except InvalidMail:
        return
    message = EmailMessage()
    message["From"] = "noreply@videoflix.test"
    message["To"] = to
    message["Subject"] = "Confirm your email"
    message.set_content("hello")
    with pytest.raises(SMTPNotSupported):
        await SmtpSender(host=smtp.host, port=smtp.port, timeout=5).send(
            message, kind="activation", mail_id="m1"
        )
    assert not smtp.messages


@pytest.mark.parametrize("address", UNDELIVERABLE)
async def test_registration_refuses_an_undeliverable_address(
    platform: Platform, smtp: SmtpCapture, address: str
) -> None:
    response = await register(platform, address)
    assert response.status_code == 400, response.text
    body = response.json()
    assert list(body) == ["email"]
    assert all(isinstance(m, str) and m for m in body["email"])
    assert address not in response.text  # no echoed input
    # no account was made: the address is as unknown as any other
    login = await platform.client.post("/api/login/", json={"email": address, "password": PASSWORD})
    assert login.status_code == 401


async def test_deliverable_unusual_addresses_register_and_get_their_mail(
    platform: Platform, smtp: SmtpCapture
) -> None:
    for address in DELIVERABLE:
        response = await register(platform, address)
        assert response.status_code == 201, response.text
    received = await eventually(
        lambda: sorted(r for m in smtp.messages for r in m.recipients),
        lambda got: len(got) >= len(DELIVERABLE),
        within=10,
        failure="every activation mail arrives over SMTP",
    )
    assert received == sorted(DELIVERABLE)
