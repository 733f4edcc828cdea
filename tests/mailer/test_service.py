"""The handler's failure rules: what is permanent, what is retried, what is swallowed."""

from __future__ import annotations

import logging
from email.message import EmailMessage

import pytest

from common.bus import PermanentError
from common.config import Settings
from common.events import Envelope
from common.kv.memory import InMemoryKeyValueStore
from common.security.sealing import Sealer, generate_key
from mailer.consumer import MailConsumer
from mailer.service import sent_key
from tests.support.mailer import ACTIVATION_LINK, LINK_SEALER, activation

SEALED_LINK = LINK_SEALER.seal(ACTIVATION_LINK)


class RecordingSender:
    max_seconds = 1.0

    def __init__(self) -> None:
        self.sent: list[tuple[EmailMessage, str, str]] = []

    async def send(self, message: EmailMessage, *, kind: str, mail_id: str) -> None:
        self.sent.append((message, kind, mail_id))


class ForgetfulKV(InMemoryKeyValueStore):
    """A store that fails on plain `set`, like Redis going away right after the send."""

    async def set(self, key: str, value: str, *, ttl_seconds: float | None = None) -> None:
        raise ConnectionError("kv is gone")


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"kind": "activation", "address": "a@example.com"},
        {"kind": "newsletter", "address": "a@example.com", "sealed_link": SEALED_LINK},
        {"kind": "activation", "address": ["a@example.com"], "sealed_link": SEALED_LINK},
        {"kind": "activation", "address": "not-an-address", "sealed_link": SEALED_LINK},
        {
            "kind": "activation",
            "address": "a@example.com",
            "sealed_link": LINK_SEALER.seal("javascript:alert(1)"),
        },
        # a link in the clear (what older identities sent) is no request any more
        {"kind": "activation", "address": "a@example.com", "link": ACTIVATION_LINK},
    ],
)
async def test_bad_payload_is_permanent(
    console_settings: Settings, kv: InMemoryKeyValueStore, payload: dict
) -> None:  # type: ignore[type-arg]
    sender = RecordingSender()
    envelope = Envelope(routing_key="mail.activation", payload=payload)
    with pytest.raises(PermanentError) as caught:
        await MailConsumer(console_settings, kv, sender).handle(envelope)
    assert "token" not in str(caught.value)  # no link (secret) in the error text
    assert sender.sent == []


async def test_a_failed_mark_after_sending_is_not_retried(
    console_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    sender = RecordingSender()
    with caplog.at_level(logging.ERROR, logger="mailer"):
        await MailConsumer(console_settings, ForgetfulKV(), sender).handle(activation())
    assert len(sender.sent) == 1
    assert "not marked as sent" in caplog.text


async def test_kv_down_before_sending_raises_for_a_retry(console_settings: Settings) -> None:
    class DownKV(InMemoryKeyValueStore):
        async def get(self, key: str) -> str | None:
            raise ConnectionError("kv is down")

    sender = RecordingSender()
    with pytest.raises(ConnectionError):
        await MailConsumer(console_settings, DownKV(), sender).handle(activation())
    assert sender.sent == []


async def test_sender_gets_kind_and_envelope_id(
    console_settings: Settings, kv: InMemoryKeyValueStore
) -> None:
    sender = RecordingSender()
    envelope = activation()
    await MailConsumer(console_settings, kv, sender).handle(envelope)
    [(message, kind, mail_id)] = sender.sent
    assert (kind, mail_id) == ("activation", str(envelope.id))
    assert message["Message-ID"] == f"<{envelope.id}@videoflix.test>"
    assert await kv.get(sent_key(str(envelope.id))) is not None


def test_bad_mail_from_fails_at_start(console_settings: Settings) -> None:
    settings = console_settings.model_copy(update={"mail_from": "nobody"})
    with pytest.raises(ValueError, match="MAIL_FROM"):
        MailConsumer(settings, InMemoryKeyValueStore(), RecordingSender())


@pytest.mark.parametrize(
    "sealed_link",
    [
        Sealer([generate_key()]).seal(ACTIVATION_LINK),  # another key than identity's
        SEALED_LINK[:30] + ("A" if SEALED_LINK[30] != "A" else "B") + SEALED_LINK[31:],
        ACTIVATION_LINK,  # not sealed at all
        "",
    ],
    ids=["other-key", "altered", "clear", "empty"],
)
async def test_a_link_that_cannot_be_unsealed_is_permanent_and_not_quoted(
    console_settings: Settings,
    kv: InMemoryKeyValueStore,
    caplog: pytest.LogCaptureFixture,
    sealed_link: str,
) -> None:
    sender = RecordingSender()
    envelope = Envelope(
        routing_key="mail.activation",
        payload={"kind": "activation", "address": "a@example.com", "sealed_link": sealed_link},
    )
    with caplog.at_level(logging.DEBUG), pytest.raises(PermanentError) as caught:
        await MailConsumer(console_settings, kv, sender).handle(envelope)
    assert "MAIL_LINK_KEY" in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    for text in (str(caught.value), caplog.text):
        assert "token" not in text
        if sealed_link:
            assert sealed_link not in text
    assert sender.sent == []


async def test_rotated_keys_still_unseal(console_settings: Settings) -> None:
    """MAIL_LINK_KEY=new,old: mails sealed with the old key before the switch still go."""
    settings = console_settings.model_copy(
        update={"mail_link_key": f"{generate_key()},{console_settings.mail_link_key}"}
    )
    sender = RecordingSender()
    await MailConsumer(settings, InMemoryKeyValueStore(), sender).handle(activation())
    [(message, _kind, _id)] = sender.sent
    assert ACTIVATION_LINK in message.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def test_no_link_key_fails_at_start(console_settings: Settings) -> None:
    """The mailer never makes a key of its own: it could unseal nothing."""
    settings = console_settings.model_copy(update={"mail_link_key": ""})
    with pytest.raises(ValueError, match="MAIL_LINK_KEY"):
        MailConsumer(settings, InMemoryKeyValueStore(), RecordingSender())
    assert not (settings.data_dir / "keys").exists()
