"""The mailer's one use case: a composed mail goes out, once per envelope id.

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
from email.message import EmailMessage

from common.kv import KeyValueStore
from common.metrics import mail_sent
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
    """Sends a composed mail at most once per envelope id (see the module docstring)."""

    def __init__(
        self,
        kv: KeyValueStore,
        sender: Sender,
        *,
        claim_ttl_seconds: float | None = None,
        poll_seconds: float = 0.25,
    ) -> None:
        self.kv = kv
        self.sender = sender
        self.claim_ttl = claim_ttl_seconds or sender.max_seconds + 15
        self.poll = poll_seconds

    async def deliver_once(self, message: EmailMessage, *, kind: str, mail_id: str) -> None:
        """Returns when the mail is out (or was already); raises to have the bus retry."""
        if not await self._claim(mail_id):
            log.info("mail already sent; skipped", extra={"mail_id": mail_id, "kind": kind})
            mail_sent(kind, "duplicate")
            return
        try:
            await self.sender.send(message, kind=kind, mail_id=mail_id)
        except BaseException:
            mail_sent(kind, "failed")
            with contextlib.suppress(Exception):
                await self.kv.delete(claim_key(mail_id))  # let the retry send right away
            raise
        mail_sent(kind, "sent")
        try:
            await self.kv.set(
                sent_key(mail_id), datetime.now(UTC).isoformat(), ttl_seconds=SENT_TTL_SECONDS
            )
            await self.kv.delete(claim_key(mail_id))
        except Exception:
            log.exception(
                "mail sent but not marked as sent; a redelivery would send it again",
                extra={"mail_id": mail_id, "kind": kind},
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
