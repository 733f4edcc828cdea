"""The mailer's one use case: a `MailRequested` envelope arrives, a mail goes out, once.

Idempotency, per envelope id, with two key-value entries:

- `mailer:sent:<id>`  written only AFTER the SMTP server (or the outbox) accepted the mail,
  kept for a few days. A delivery that finds it acknowledges without sending.
- `mailer:sending:<id>`  an in-flight claim taken with `set_if_absent` just before sending,
  with a TTL a little longer than the sender's longest attempt. It stops two deliveries of
  the same envelope (an outbox relay publishing twice, a broker redelivering while the first
  consumer is still busy) from sending at the same time: the second one waits until the
  first has finished (then finds `sent` and skips) or its claim has expired (then sends).

What remains is the window between the send and the `sent` mark: a crash there leaves no
mark, the claim expires, and the redelivery sends the mail again, once. Delivery is
therefore at-least-once, with at most one extra copy per crash in that window; the copy keeps
the same Message-ID (derived from the envelope id), which lets mail clients fold it away.
A failing `sent` write after a successful send is logged, not raised: raising would make
the bus retry, which is exactly the duplicate we are trying to avoid.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

from pydantic import ValidationError

from common.bus import PermanentError
from common.config import Settings
from common.events import Envelope, MailRequested
from common.kv import KeyValueStore
from common.security.sealing import Sealer, Unsealable, mail_link_sealer
from mailer.compose import InvalidMail, Mail, check_mail_from, compose
from mailer.delivery import Sender

log = logging.getLogger(__name__)

SENT_TTL_SECONDS = 3 * 24 * 3600


def sent_key(mail_id: str) -> str:
    return f"mailer:sent:{mail_id}"


def claim_key(mail_id: str) -> str:
    return f"mailer:sending:{mail_id}"


class MailInFlight(Exception):
    """Another delivery of this envelope holds the claim for longer than it may; retry later."""


class Mailer:
    def __init__(
        self,
        settings: Settings,
        kv: KeyValueStore,
        sender: Sender,
        *,
        claim_ttl_seconds: float | None = None,
        poll_seconds: float = 0.25,
        link_sealer: Sealer | None = None,
    ) -> None:
        check_mail_from(settings.mail_from)
        self.link_sealer = link_sealer or mail_link_sealer(settings)  # fails at start without
        self.settings = settings
        self.kv = kv
        self.sender = sender
        self.claim_ttl = claim_ttl_seconds or sender.max_seconds + 15
        self.poll = poll_seconds

    async def handle(self, envelope: Envelope) -> None:
        """The bus handler. Returns when the mail is out (or was already); raises
        `PermanentError` for a request that can never become a mail, anything else to retry."""
        mail_id = str(envelope.id)
        try:
            request = envelope.parse(MailRequested)
            # unsealed just before composing: the link exists in the clear only in memory
            mail = Mail(request.kind, request.address, self.link_sealer.unseal(request.sealed_link))
            message = compose(mail, self.settings, mail_id=mail_id)
        except ValidationError as exc:
            # Name the fields only, and drop the cause: pydantic's message quotes the input,
            # whose link holds a token that must not end up in the logs.
            fields = ", ".join(".".join(map(str, e["loc"])) or "payload" for e in exc.errors())
            raise PermanentError(f"mail request {mail_id}: invalid payload ({fields})") from None
        except Unsealable:
            # Without the sealed text (of no use in a log) and without the cause.
            raise PermanentError(
                f"mail request {mail_id}: its link cannot be unsealed "
                "(identity and the mailer must share MAIL_LINK_KEY)"
            ) from None
        except InvalidMail as exc:
            raise PermanentError(f"mail request {mail_id}: {exc}") from exc

        if not await self._claim(mail_id):
            log.info("mail already sent; skipped", extra={"mail_id": mail_id, "kind": mail.kind})
            return
        try:
            await self.sender.send(message, kind=mail.kind, mail_id=mail_id)
        except BaseException:
            with contextlib.suppress(Exception):
                await self.kv.delete(claim_key(mail_id))  # let the retry send right away
            raise
        try:
            await self.kv.set(
                sent_key(mail_id), datetime.now(UTC).isoformat(), ttl_seconds=SENT_TTL_SECONDS
            )
            await self.kv.delete(claim_key(mail_id))
        except Exception:
            log.exception(
                "mail sent but not marked as sent; a redelivery would send it again",
                extra={"mail_id": mail_id, "kind": mail.kind},
            )

    async def _claim(self, mail_id: str) -> bool:
        """True when this delivery is the one to send; False when the mail is already out."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.claim_ttl + 5 * self.poll
        while True:
            if await self.kv.get(sent_key(mail_id)) is not None:
                return False
            if await self.kv.set_if_absent(claim_key(mail_id), "1", ttl_seconds=self.claim_ttl):
                # The holder before us marks `sent` before it drops its claim: look again.
                if await self.kv.get(sent_key(mail_id)) is not None:
                    await self.kv.delete(claim_key(mail_id))
                    return False
                return True
            if loop.time() > deadline:
                raise MailInFlight(f"mail {mail_id} is still claimed by another delivery")
            await asyncio.sleep(self.poll)
