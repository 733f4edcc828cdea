"""Without SMTP_HOST: the text goes to the log and the whole mail to data_dir/outbox."""

from __future__ import annotations

import logging

import pytest

from common.config import Settings
from common.kv.memory import InMemoryKeyValueStore
from mailer.consumer import MailConsumer
from mailer.delivery import ConsoleSender, create_sender
from tests.support.mailer import ACTIVATION_LINK, RESET_LINK, activation, parse, parts
from tests.support.mailer import password_reset as reset_request


async def test_console_mode_writes_a_parseable_eml(
    console_settings: Settings, kv: InMemoryKeyValueStore, caplog: pytest.LogCaptureFixture
) -> None:
    sender = create_sender(console_settings)
    assert isinstance(sender, ConsoleSender)
    envelope = activation("dev@example.com")
    with caplog.at_level(logging.INFO, logger="mailer"):
        await MailConsumer(console_settings, kv, sender).handle(envelope)

    outbox = console_settings.data_dir / "outbox"
    [eml] = list(outbox.iterdir())  # no temporary file left behind
    assert eml.name.endswith(f"-activation-{envelope.id}.eml")
    message = parse(eml.read_bytes())
    assert message["To"] == "dev@example.com"
    assert message["Subject"] == "Confirm your email"
    body = parts(message)
    assert ACTIVATION_LINK in body.text and ACTIVATION_LINK in body.html
    assert len(body.images) == 1
    assert ACTIVATION_LINK in caplog.text  # the developer finds the link in the console


async def test_console_mode_is_idempotent_too(
    console_settings: Settings, kv: InMemoryKeyValueStore
) -> None:
    handler = MailConsumer(console_settings, kv, create_sender(console_settings))
    envelope = reset_request()
    await handler.handle(envelope)
    await handler.handle(envelope.model_copy())
    [eml] = list((console_settings.data_dir / "outbox").glob("*.eml"))
    assert "-password_reset-" in eml.name
    assert RESET_LINK in parts(parse(eml.read_bytes())).text
