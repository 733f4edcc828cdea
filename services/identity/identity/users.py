"""The admin's use cases on accounts: find them, deactivate and reactivate them, send an
activation link again. No HTTP here (`identity.admin` is the edge).

Deactivating ends every session of the account the way a password reset does
(`AccountService.end_sessions` / `revoke_tokens`): refresh tokens die in the database, access
tokens at the gateway. While deactivated, a login with the right password is refused with 403
and says why; a wrong password gets the usual 401, so the refusal tells nothing to whoever
does not know the password.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy import select, update

from identity.models import User
from identity.refusals import (
    ActivationMailLimit,
    AlreadyActivated,
    CannotDeactivateYourself,
    UserNotFound,
)
from identity.service import ACTIVATION, AccountService

log = logging.getLogger(__name__)


class UserAdmin:
    def __init__(self, accounts: AccountService) -> None:
        self.accounts = accounts
        self.sessionmaker = accounts.sessionmaker

    async def search(self, part_of_email: str, limit: int) -> Sequence[User]:
        """Accounts whose email contains `part_of_email` (any case), sorted by email."""
        query = select(User).order_by(User.email).limit(limit)
        needle = part_of_email.strip().lower()  # emails are stored lower-cased
        if "\x00" in needle:  # in no address, and PostgreSQL refuses it in a query
            return []
        if needle:
            query = query.where(User.email.contains(needle, autoescape=True))
        async with self.sessionmaker() as db:
            return (await db.scalars(query)).all()

    async def get(self, user_id: int) -> User:
        async with self.sessionmaker() as db:
            user = await db.get(User, user_id)
        if user is None:
            raise UserNotFound
        return user

    async def set_active(self, user_id: int, active: bool, *, by_admin: int) -> User:
        """Reactivate, or deactivate and log out everywhere (again, if it already was: a
        session that slipped in is ended too). An admin cannot lock themself out."""
        if not active and user_id == by_admin:
            raise CannotDeactivateYourself
        ended: list[str] = []
        async with self.sessionmaker() as db:
            result = await db.execute(
                update(User)
                .where(User.id == user_id)
                .values(is_active=active)
                .execution_options(synchronize_session=False)
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                raise UserNotFound
            if not active:
                ended = await self.accounts.end_sessions(db, user_id)
            await db.commit()
        if not active:
            await self.accounts.revoke_tokens(user_id, ended)
        log.info(
            "account reactivated" if active else "account deactivated",
            extra={"user_id": user_id, "admin_id": by_admin, "sessions_revoked": len(ended)},
        )
        return await self.get(user_id)

    async def resend_activation(self, user_id: int) -> None:
        """A new activation link by mail, within the per-recipient mail limit (429 beyond)."""
        user = await self.get(user_id)
        if user.activated:
            raise AlreadyActivated
        quota = self.accounts.mail_quota
        if not await quota.take(ACTIVATION, user.email):
            raise ActivationMailLimit(await quota.seconds_left(ACTIVATION, user.email))
        async with self.sessionmaker() as db:
            current = await db.get(User, user_id)
            if current is None:
                raise UserNotFound
            if current.activated:  # activated meanwhile
                raise AlreadyActivated
            await self.accounts.send_link(db, current, ACTIVATION)
            await db.commit()
        self.accounts.on_outbox_commit()
        log.info("activation link sent again", extra={"user_id": user_id})
