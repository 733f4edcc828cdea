"""The mailer's bus consumer: a `MailRequested` envelope in, a mail out (`mailer.service`).

A request that can never become a mail (a malformed payload, a link that cannot be unsealed,
an address or sender the composer refuses) is parked at once (`PermanentError`); anything
else propagates, so the bus retries it.
"""

from __future__ import annotations

from pydantic import ValidationError

from common.bus import PermanentError
from common.config import Settings
from common.events import Envelope, MailRequested
from common.kv import KeyValueStore
from common.security.sealing import Sealer, Unsealable, mail_link_sealer
from mailer.compose import InvalidMail, Mail, check_mail_from, compose
from mailer.delivery import Sender
from mailer.service import Mailer


class MailConsumer:
    """`handle` is what the bus calls for each message of the mailer's queue."""

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
        self.mailer = Mailer(
            kv, sender, claim_ttl_seconds=claim_ttl_seconds, poll_seconds=poll_seconds
        )

    async def handle(self, envelope: Envelope) -> None:
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
        await self.mailer.deliver_once(message, kind=mail.kind, mail_id=mail_id)
