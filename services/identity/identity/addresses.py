"""Which addresses we can mail: only those an account could ever be activated from.

The mailer composes with the standard library, whose header parser refuses a local part
outside ASCII, and it speaks plain SMTP: a relay without SMTPUTF8 (many are) takes no
address with a character outside ASCII, and identity cannot know the relay. So an address
must be ASCII once normalised. The email validator turns a punycode domain (`xn--...`) into
its Unicode form, so such a domain is refused as well, however it was typed.
"""

from __future__ import annotations

UNDELIVERABLE = (
    "We cannot send mail to this address. "
    "Please use an address made of plain ASCII letters, digits and punctuation."
)


def undeliverable(email: str) -> list[str]:
    """Why we could never mail `email` (a normalised address); empty when we can."""
    return [] if email.isascii() else [UNDELIVERABLE]
