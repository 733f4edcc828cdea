"""The account use cases: register, activate, log in, refresh, log out, reset a password.

No HTTP here: a use case that refuses raises a `Refusal` carrying the contract's message;
`common.errors` answers it with the status of its kind.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from common.config import Settings
from common.events import MailKind, MailRequested
from common.kv import KeyValueStore
from common.metrics import login_attempt
from common.outbox import add_to_outbox
from common.security import csrf, revocation
from common.security.sealing import Sealer, mail_link_sealer
from common.security.tokens import TokenSigner
from identity import links, sessions
from identity.addresses import undeliverable
from identity.deferred import Deferred
from identity.models import LoginSession, OneTimeToken, User, utcnow
from identity.passwords import hashing_pool, needs_rehash, password_problems
from identity.refusals import (
    AccountDeactivated,
    AccountInactive,
    CsrfRefused,
    EmailUnavailable,
    InputRejected,
    InvalidActivationLink,
    InvalidCredentials,
    InvalidLink,
    InvalidRefreshToken,
)
from identity.throttle import LoginThrottle, MailQuota

log = logging.getLogger(__name__)

ACTIVATION = "activation"
PASSWORD_RESET = "password_reset"


@dataclass(frozen=True)
class IssuedSession:
    """What login and refresh hand out: the three cookies' values, and how long the refresh
    token (and the csrftoken, which must outlive it) may live."""

    user: User
    access_token: str
    refresh_token: str | None  # None: the caller keeps the one it has (a concurrent refresh)
    csrf_token: str
    refresh_seconds: int


def normalize_email(email: str) -> str:
    return email.strip().lower()


class AccountService:
    def __init__(
        self,
        settings: Settings,
        sessionmaker: async_sessionmaker[AsyncSession],
        kv: KeyValueStore,
        signer: TokenSigner,
        *,
        on_outbox_commit: Callable[[], None] = lambda: None,
        link_sealer: Sealer | None = None,
    ) -> None:
        self.settings = settings
        self.link_sealer = link_sealer or mail_link_sealer(settings, create=True)
        self.sessionmaker = sessionmaker
        self.kv = kv
        self.signer = signer
        self.on_outbox_commit = on_outbox_commit
        self.login_throttle = LoginThrottle.from_settings(kv, settings)
        self.mail_quota = MailQuota.from_settings(kv, settings)
        self.deferred = Deferred()
        self.csrf_key = csrf.csrf_key(signer.private_pem)
        self.passwords = hashing_pool(settings)  # hashes run off the event loop

    @property
    def access_seconds(self) -> int:
        return self.settings.access_token_minutes * 60

    # ------------------------------------------------------------------ registration

    async def register(self, email: str, password: str, confirmed_password: str) -> User:
        email = normalize_email(email)
        problems: dict[str, list[str]] = {}
        if cannot_mail := undeliverable(email):
            problems["email"] = cannot_mail  # else the account could never be activated
        if password != confirmed_password:
            problems["confirmed_password"] = ["Passwords do not match."]
        elif weak := password_problems(password, email=email):
            problems["password"] = weak
        if problems:
            raise InputRejected(problems)

        password_hash = await self.passwords.hash(password)
        mail = await self.mail_quota.take(ACTIVATION, email)
        async with self.sessionmaker() as db:
            existing = await self._user_by_email(db, email)
            if existing is None:
                user = User(email=email, password_hash=password_hash, activated=False)
                db.add(user)
                try:
                    await db.flush()
                except IntegrityError as exc:  # a concurrent registration won the race
                    raise EmailUnavailable from exc
            else:
                user = existing
                await self._take_over_pending(db, user, password_hash, new_link=mail)
            if mail:
                await self.send_link(db, user, ACTIVATION)
            await db.commit()
        if mail:
            self.on_outbox_commit()
        log.info("user registered", extra={"user_id": user.id})
        return user

    @staticmethod
    async def _take_over_pending(
        db: AsyncSession, user: User, password_hash: str, *, new_link: bool
    ) -> None:
        """A registration for an address that was never activated replaces the pending one:
        whoever registered first may not be the mailbox's owner, and only the owner reads the
        mail. The new password takes over and, when a new link goes out, the earlier links
        die, so the link of this registration activates this password. Past the mail quota
        no link goes out and the earlier ones stay: every one of them is in the owner's
        mailbox and activates the latest password. Answered like a first registration."""
        if user.activated:
            raise EmailUnavailable
        taken = await db.execute(  # not if the account was activated in the meantime
            update(User)
            .where(User.id == user.id, User.activated.is_(False))
            .values(password_hash=password_hash)
            .execution_options(synchronize_session=False)
        )
        if taken.rowcount != 1:  # type: ignore[attr-defined]
            raise EmailUnavailable
        if not new_link:
            return
        await db.execute(
            update(OneTimeToken)
            .where(
                OneTimeToken.user_id == user.id,
                OneTimeToken.purpose == ACTIVATION,
                OneTimeToken.used_at.is_(None),
            )
            .values(used_at=utcnow())
        )

    async def activate(self, uidb64: str, token: str) -> None:
        try:
            async with self.sessionmaker() as db:
                link, user = await self._find_link(db, uidb64, token, ACTIVATION)
                if user.activated:
                    raise InvalidLink
                await self._use_link(db, link)
                user.activated = True
                user.activated_at = utcnow()
                await db.commit()
        except InvalidLink:
            raise InvalidActivationLink from None
        log.info("user activated", extra={"user_id": user.id})

    # ------------------------------------------------------------------ sessions

    async def login(self, email: str, password: str, *, client: str = "unknown") -> IssuedSession:
        """`client` is the caller's address, for the failed-login limits."""
        email = normalize_email(email)
        await self.login_throttle.check(email, client)
        async with self.sessionmaker() as db:
            user = await self._user_by_email(db, email)
            if not await self.passwords.verify(user.password_hash if user else None, password):
                await self.login_throttle.failed(email, client)
                login_attempt("invalid_credentials")
                raise InvalidCredentials
            assert user is not None
            if not user.is_active:  # told only to whoever knows the password
                login_attempt("deactivated")
                raise AccountDeactivated
            if not user.activated:
                login_attempt("inactive")
                raise AccountInactive
            if needs_rehash(user.password_hash):
                user.password_hash = await self.passwords.hash(password)
            if not await _stamp_login(db, user.id):  # deactivated since it was read
                login_attempt("deactivated")
                raise AccountDeactivated
            session, refresh_token = sessions.open_session(
                user.id, timedelta(days=self.settings.refresh_token_days)
            )
            db.add(session)
            await db.commit()
        await self.login_throttle.succeeded(email, client)
        login_attempt("succeeded")
        return self._issue(user, session, refresh_token)

    async def refresh(self, refresh_token: str) -> IssuedSession:
        """Rotate: a new access token and a new refresh token for a live session. A refresh
        token that was rotated away revokes its whole session, unless a concurrent refresh
        spent it, which gets an access token only (identity.sessions)."""
        grace = timedelta(seconds=self.settings.refresh_reuse_grace_seconds)
        async with self.sessionmaker() as db:
            found = await sessions.find(db, refresh_token)
            if found is None:
                raise InvalidRefreshToken
            session = found.session
            if found.spent and not sessions.within_grace(found, grace):
                await self._revoke_reused(db, session)
                raise InvalidRefreshToken
            user = await db.get(User, session.user_id)
            if not sessions.is_live(session) or user is None or not _may_log_in(user):
                raise InvalidRefreshToken
            if found.spent:  # its twin's refresh rotated it a moment ago
                return self._issue(user, session, None)
            new_token = await sessions.rotate(db, session, refresh_token)
            if new_token is None:  # a concurrent refresh with this very token won just now
                if grace:
                    return self._issue(user, session, None)
                await self._revoke_reused(db, session)
                raise InvalidRefreshToken
            await db.commit()
        return self._issue(user, session, new_token)

    async def logout(self, refresh_token: str, csrf_header: str) -> None:
        """Revoke the session of this refresh token, and with it its access tokens, if
        `csrf_header` is that session's csrftoken. Logging out of a session that is already
        gone, or that nobody knows, is not an error."""
        async with self.sessionmaker() as db:
            found = await sessions.find(db, refresh_token)
            if found is None:
                return
            expected = csrf.csrf_token(self.csrf_key, found.session.id)
            if not hmac.compare_digest(csrf_header.encode(), expected.encode()):
                raise CsrfRefused
            if not await sessions.revoke(db, found.session.id):
                return
            await db.commit()
        await self._revoke_access(found.session.id)

    async def prune_sessions(self) -> int:
        """Remove expired sessions and their spent refresh tokens (housekeeping)."""
        async with self.sessionmaker() as db:
            pruned = await sessions.prune_expired(db, utcnow())
            await db.commit()
        if pruned:
            log.info("pruned %d expired login sessions", pruned)
        return pruned

    async def _revoke_reused(self, db: AsyncSession, session: LoginSession) -> None:
        if await sessions.revoke(db, session.id):
            await db.commit()
            log.warning(
                "a rotated refresh token came back: session revoked",
                extra={"user_id": session.user_id},
            )
        await self._revoke_access(session.id)

    async def _revoke_access(self, session_id: str) -> None:
        await revocation.revoke_session(self.kv, session_id, ttl_seconds=self.access_seconds + 60)

    def _issue(self, user: User, session: LoginSession, refresh_token: str | None) -> IssuedSession:
        csrf_token = csrf.csrf_token(self.csrf_key, session.id)
        access = self.signer.issue(
            user_id=user.id,
            email=user.email,
            admin=user.is_admin,
            session_id=session.id,
            csrf=csrf_token,
        )
        return IssuedSession(
            user, access, refresh_token, csrf_token, sessions.seconds_left(session)
        )

    # ------------------------------------------------------------------ password reset

    async def request_password_reset(self, email: str) -> None:
        """Mail a reset link if the account exists, after the answer: the caller answers the
        same either way, in the same time (identity.deferred)."""
        self.deferred.submit(self._mail_reset_link, normalize_email(email))

    async def _mail_reset_link(self, email: str) -> None:
        async with self.sessionmaker() as db:
            user = await self._user_by_email(db, email)
            if user is None or not await self.mail_quota.take(PASSWORD_RESET, user.email):
                return
            await self.send_link(db, user, PASSWORD_RESET)
            await db.commit()
        self.on_outbox_commit()

    async def confirm_password_reset(
        self, uidb64: str, token: str, new_password: str, confirm_password: str
    ) -> None:
        async with self.sessionmaker() as db:
            link, user = await self._find_link(db, uidb64, token, PASSWORD_RESET)
            if new_password != confirm_password:
                raise InputRejected({"confirm_password": ["Passwords do not match."]})
            if weak := password_problems(new_password, email=user.email):
                raise InputRejected({"new_password": weak})
            password_hash = await self.passwords.hash(new_password)  # before the row lock
            await self._use_link(db, link)
            now = utcnow()
            user.password_hash = password_hash
            user.password_changed_at = now
            # following the link proved the mailbox, just as activation would have
            if not user.activated:
                user.activated, user.activated_at = True, now
            await db.execute(  # every other reset link of this user dies with this one
                update(OneTimeToken)
                .where(
                    OneTimeToken.user_id == user.id,
                    OneTimeToken.purpose == PASSWORD_RESET,
                    OneTimeToken.used_at.is_(None),
                )
                .values(used_at=now)
            )
            live = await self.end_sessions(db, user.id)
            await db.commit()
        await self.revoke_tokens(user.id, live)
        log.info("password reset", extra={"user_id": user.id, "sessions_revoked": len(live)})

    async def end_sessions(self, db: AsyncSession, user_id: int) -> list[str]:
        """Revoke every live session of the user, in the caller's transaction; their ids, for
        `revoke_tokens` once it is committed."""
        live = list(
            (
                await db.scalars(
                    select(LoginSession.id).where(
                        LoginSession.user_id == user_id, LoginSession.revoked_at.is_(None)
                    )
                )
            ).all()
        )
        await db.execute(
            update(LoginSession)
            .where(LoginSession.user_id == user_id, LoginSession.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
        return live

    async def revoke_tokens(self, user_id: int, session_ids: list[str]) -> None:
        """Tell the gateway: the access tokens of these sessions, and every token of the user
        issued before now, are refused (`common.security.revocation`)."""
        ttl = self.access_seconds + 60
        for session_id in session_ids:
            await revocation.revoke_session(self.kv, session_id, ttl_seconds=ttl)
        await revocation.revoke_user(self.kv, user_id, ttl_seconds=ttl)

    # ------------------------------------------------------------------ admin

    async def ensure_admin(self, email: str, password: str) -> User:
        """Create the configured admin account, or make sure it is an active admin. An
        existing account keeps its password (it may have been changed since)."""
        email = normalize_email(email)
        async with self.sessionmaker() as db:
            user = await self._user_by_email(db, email)
            if user is None:
                user = User(email=email, password_hash=await self.passwords.hash(password))
                db.add(user)
                log.info("admin account created", extra={"email": email})
            user.is_admin = True
            user.is_active = True  # a restart lets the configured admin in again
            if not user.activated:
                user.activated, user.activated_at = True, utcnow()
            try:
                await db.commit()
            except IntegrityError:  # another replica created it at the same moment
                await db.rollback()
                user = await self._user_by_email(db, email)
                assert user is not None
        return user

    # ------------------------------------------------------------------ helpers

    @staticmethod
    async def _user_by_email(db: AsyncSession, email: str) -> User | None:
        return await db.scalar(select(User).where(User.email == email))

    async def send_link(self, db: AsyncSession, user: User, purpose: str) -> None:
        secret = links.new_secret()
        hours = (
            self.settings.activation_token_hours
            if purpose == ACTIVATION
            else self.settings.reset_token_hours
        )
        db.add(
            OneTimeToken(
                user_id=user.id,
                purpose=purpose,
                token_hash=links.digest(secret),
                expires_at=utcnow() + timedelta(hours=hours),
            )
        )
        page = "activate.html" if purpose == ACTIVATION else "confirm_password.html"
        link = (
            f"{self.settings.frontend_url}/pages/auth/{page}"
            f"?uid={links.encode_uid(user.id)}&token={secret}"
        )
        kind: MailKind = "activation" if purpose == ACTIVATION else "password_reset"
        # sealed: the event waits in the outbox table, which must never hold a live token
        sealed_link = self.link_sealer.seal(link)
        add_to_outbox(db, MailRequested(kind=kind, address=user.email, sealed_link=sealed_link))

    async def _find_link(
        self, db: AsyncSession, uidb64: str, token: str, purpose: str
    ) -> tuple[OneTimeToken, User]:
        user_id = links.decode_uid(uidb64)
        if user_id is None or not token or len(token) > 128:
            raise InvalidLink
        row = await db.scalar(
            select(OneTimeToken).where(
                OneTimeToken.token_hash == links.digest(token),
                OneTimeToken.user_id == user_id,
                OneTimeToken.purpose == purpose,
            )
        )
        if row is None or row.used_at is not None or row.expires_at <= utcnow():
            raise InvalidLink
        user = await db.get(User, user_id)
        if user is None:
            raise InvalidLink
        return row, user

    @staticmethod
    async def _use_link(db: AsyncSession, link: OneTimeToken) -> None:
        """Mark the link used; of two concurrent uses of one link, one loses."""
        result = await db.execute(
            update(OneTimeToken)
            .where(OneTimeToken.id == link.id, OneTimeToken.used_at.is_(None))
            .values(used_at=utcnow())
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise InvalidLink


def _may_log_in(user: User) -> bool:
    return user.activated and user.is_active


async def _stamp_login(db: AsyncSession, user_id: int) -> bool:
    """Note the login, only while the account is not deactivated. The UPDATE locks the row,
    so a concurrent deactivation either comes first (and this login is refused) or waits for
    this login's session to commit (and then revokes it with the others)."""
    result = await db.execute(
        update(User)
        .where(User.id == user_id, User.is_active.is_(True))
        .values(last_login_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]
