"""Why an account use case said no, in the contract's words (kinds from `common.refusals`)."""

from __future__ import annotations

from common.refusals import (
    Conflict,
    Fields,
    Forbidden,
    Invalid,
    NotFound,
    RateLimited,
    Unauthorized,
)


class InputRejected(Invalid):
    """Field-level problems with the input, as `{field: [messages]}`."""

    def __init__(self, fields: Fields) -> None:
        super().__init__(fields=fields)


class EmailUnavailable(Invalid):
    """Registration with an email that already has an active account (answered generically,
    so the answer does not tell whether the address has an account)."""

    default_message = "Please check your input and try again."


class InvalidCredentials(Unauthorized):
    default_message = "Invalid email or password."


class AccountInactive(Forbidden):
    default_message = "Your account is not activated yet. Please check your email."


class AccountDeactivated(Forbidden):
    """The right password, for an account an admin has deactivated."""

    default_message = "This account has been deactivated. Please contact the site administrator."


class InvalidLink(Invalid):
    """An activation or reset link that is unknown, expired, used or for another purpose."""

    default_message = "The link is invalid or has expired."


class InvalidActivationLink(InvalidLink):
    """`InvalidLink` on activation, which the contract words differently."""

    default_message = "Activation link is invalid or expired."
    message_key = "message"


class InvalidRefreshToken(Unauthorized):
    default_message = "Refresh token is invalid or expired."


class CsrfRefused(Forbidden):
    """Logout with an X-CSRFToken that is not the csrftoken of the refresh token's session."""

    default_message = "CSRF token missing or incorrect."


class _WaitSeconds(RateLimited):
    """A rate limit that always says how long to wait (at least a second)."""

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__()
        self.retry_after_seconds = max(1, retry_after_seconds)


class TooManyAttempts(_WaitSeconds):
    """Too many failed logins for this account (from this address, or from everywhere)."""


class UserNotFound(NotFound):
    default_message = "User not found."


class CannotDeactivateYourself(Invalid):
    default_message = "You cannot deactivate your own account."


class AlreadyActivated(Conflict):
    default_message = "This account is already activated."


class ActivationMailLimit(_WaitSeconds):
    """Activation mails to this address reached their per-recipient limit for now."""

    default_message = "Too many activation emails were sent to this address. Try again later."
