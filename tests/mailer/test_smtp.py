"""The handler against a real SMTP server (aiosmtpd on loopback)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from common.bus import PermanentError
from common.config import Settings
from common.kv.memory import InMemoryKeyValueStore
from mailer.consumer import MailConsumer
from mailer.delivery import SmtpSender, create_sender
from mailer.service import claim_key, sent_key
from tests.support.http import free_port
from tests.support.mailer import (
    ACTIVATION_LINK,
    RESET_LINK,
    activation,
    parse,
    parts,
    password_reset,
    settings_for,
)
from tests.support.services import SmtpCapture


def mailer(settings: Settings, kv: InMemoryKeyValueStore, **kw: float) -> MailConsumer:
    return MailConsumer(settings, kv, create_sender(settings), **kw)


def test_smtp_is_picked_when_smtp_host_is_set(smtp_settings: Settings) -> None:
    assert isinstance(create_sender(smtp_settings), SmtpSender)


async def test_activation_mail_arrives(
    smtp_capture: SmtpCapture, smtp_settings: Settings, kv: InMemoryKeyValueStore
) -> None:
    await mailer(smtp_settings, kv).handle(activation("new.user@example.com"))

    [captured] = smtp_capture.messages
    assert captured.sender == "noreply@videoflix.test"
    assert captured.recipients == ["new.user@example.com"]
    message = parse(captured.data)
    assert message["From"] == "Videoflix <noreply@videoflix.test>"
    assert message["To"] == "new.user@example.com"
    assert message["Subject"] == "Confirm your email"
    body = parts(message)
    assert ACTIVATION_LINK in body.text
    assert ACTIVATION_LINK in body.html
    [logo] = body.images
    assert logo.get_content_type() == "image/png"
    assert logo.get_content().startswith(b"\x89PNG")
    assert f"cid:{logo['Content-ID'].strip('<>')}" in body.html


async def test_password_reset_mail_arrives(
    smtp_capture: SmtpCapture, smtp_settings: Settings, kv: InMemoryKeyValueStore
) -> None:
    await mailer(smtp_settings, kv).handle(password_reset("forgetful@example.com"))

    [captured] = smtp_capture.messages
    assert captured.recipients == ["forgetful@example.com"]
    message = parse(captured.data)
    assert message["Subject"] == "Reset your password"
    assert message["From"] == "Videoflix <noreply@videoflix.test>"
    body = parts(message)
    assert RESET_LINK in body.text and RESET_LINK in body.html
    assert "valid for 24 hours" in body.text and "valid for 24 hours" in body.html
    assert "ignore this mail" in body.text and "ignore this mail" in body.html
    [logo] = body.images
    assert f"cid:{logo['Content-ID'].strip('<>')}" in body.html


async def test_redelivered_envelope_is_sent_once(
    smtp_capture: SmtpCapture, smtp_settings: Settings, kv: InMemoryKeyValueStore
) -> None:
    handler = mailer(smtp_settings, kv)
    envelope = activation()
    await handler.handle(envelope)
    await handler.handle(envelope.model_copy())
    assert len(smtp_capture.messages) == 1
    assert await kv.get(sent_key(str(envelope.id))) is not None
    assert 0 < (await kv.ttl(sent_key(str(envelope.id))) or 0) <= 7 * 24 * 3600
    assert await kv.get(claim_key(str(envelope.id))) is None

    await handler.handle(activation())  # a new request (new id) is a new mail
    assert len(smtp_capture.messages) == 2


async def test_concurrent_duplicates_are_sent_once(
    smtp_capture: SmtpCapture, smtp_settings: Settings, kv: InMemoryKeyValueStore
) -> None:
    """An envelope published twice can reach two handler slots (prefetch > 1) at once."""
    handler = mailer(smtp_settings, kv, poll_seconds=0.01)
    envelope = activation()
    await asyncio.gather(*(handler.handle(envelope.model_copy()) for _ in range(3)))
    assert len(smtp_capture.messages) == 1


async def test_crash_between_send_and_mark_resends_once(
    smtp_capture: SmtpCapture, smtp_settings: Settings, kv: InMemoryKeyValueStore
) -> None:
    """A worker that sent and died before marking leaves only its claim: the redelivery
    waits for the claim to expire, sends once more, and marks."""
    handler = mailer(smtp_settings, kv, claim_ttl_seconds=0.3, poll_seconds=0.02)
    envelope = activation()
    await kv.set_if_absent(claim_key(str(envelope.id)), "1", ttl_seconds=0.3)

    await handler.handle(envelope)
    await handler.handle(envelope.model_copy())
    assert len(smtp_capture.messages) == 1


async def test_unreachable_server_raises_for_a_retry(
    tmp_path: Path, kv: InMemoryKeyValueStore
) -> None:
    settings = settings_for(tmp_path, smtp_host="127.0.0.1", smtp_port=free_port())
    envelope = activation()
    with pytest.raises(Exception) as caught:
        await mailer(settings, kv).handle(envelope)
    assert not isinstance(caught.value, PermanentError)
    # nothing is marked and the claim is gone: the retry sends right away
    assert await kv.get(sent_key(str(envelope.id))) is None
    assert await kv.get(claim_key(str(envelope.id))) is None


class _Refusing:
    def __init__(self, reply: str) -> None:
        self.reply = reply
        self.data_seen = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # type: ignore[no-untyped-def]
        return self.reply

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        self.data_seen += 1
        return "250 OK"


@pytest.fixture
def refusing_server(request: pytest.FixtureRequest) -> Iterator[tuple[int, _Refusing]]:
    handler = _Refusing(request.param)
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller.port, handler
    finally:
        controller.stop()


@pytest.mark.parametrize("refusing_server", ["550 5.1.1 No such user"], indirect=True)
async def test_recipient_refused_for_good_is_permanent(
    tmp_path: Path, kv: InMemoryKeyValueStore, refusing_server: tuple[int, _Refusing]
) -> None:
    port, handler = refusing_server
    settings = settings_for(tmp_path, smtp_host="127.0.0.1", smtp_port=port)
    with pytest.raises(PermanentError):
        await mailer(settings, kv).handle(activation("gone@example.com"))
    assert handler.data_seen == 0


@pytest.mark.parametrize("refusing_server", ["451 4.7.1 Greylisted, try later"], indirect=True)
async def test_recipient_refused_for_now_is_retried(
    tmp_path: Path, kv: InMemoryKeyValueStore, refusing_server: tuple[int, _Refusing]
) -> None:
    port, _ = refusing_server
    settings = settings_for(tmp_path, smtp_host="127.0.0.1", smtp_port=port)
    with pytest.raises(Exception) as caught:
        await mailer(settings, kv).handle(activation("later@example.com"))
    assert not isinstance(caught.value, PermanentError)


async def test_smtp_ping(smtp_capture: SmtpCapture, smtp_settings: Settings) -> None:
    assert await SmtpSender.from_settings(smtp_settings).ping() is True
    assert await SmtpSender(host="127.0.0.1", port=free_port()).ping() is False
    assert smtp_capture.messages == []
