"""Login and sessions: password check with brute-force waits, logout, session state, access tokens.

Brute force is slowed by identity.throttle; known and unknown user IDs go through the same counters,
the same argon2 work and the same answers.
"""

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta

from identity import errors
from identity.context import Context, Sessions, mask_phone
from identity.models import Account, Session, Stage
from identity.throttle import UNKNOWN_CLIENT, Throttle
from identity.two_step import TwoStepFlow
from shared.auth import Principal, issue_token

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LoginResult:
    """A session id and where it stands."""

    session_id: str
    next_step: Stage
    second_factor: str | None = None
    phone_hint: str | None = None


@dataclass(frozen=True, slots=True)
class TokenGrant:
    """An access token and the account it names."""

    access_token: str
    expires_in: int
    account: Account


class LoginFlow:
    """ログイン, ログアウト and the exchange of a session for access tokens."""

    def __init__(self, ctx: Context, sessions: Sessions, throttle: Throttle, two_step: TwoStepFlow) -> None:
        self.ctx = ctx
        self.sessions = sessions
        self.throttle = throttle
        self.two_step = two_step

    async def login(self, login_id: str, password: str, *, client: str) -> LoginResult:
        """Check the user ID and password; open a session at its next step."""
        now = self.ctx.clock()
        login_id = login_id.strip().lower()
        client = client or UNKNOWN_CLIENT
        if not login_id or not password:
            raise errors.MissingFields("missing_fields", "ユーザIDとパスワードを入力してください。")
        await self.throttle.check_allowed(login_id, client, now)
        account = await self.ctx.repo.account_by_login_id(login_id)
        verify = self.ctx.hasher.verify
        reissued = False
        # argon2 runs in a worker thread so that the event loop keeps serving other requests.
        password_ok = await asyncio.to_thread(verify, account.password_hash if account else None, password)
        if not password_ok:
            # A second argon2 verification every time (against a dummy when nothing is pending), so
            # a pending reissue is not told apart by time either.
            pending = (
                account.reissued if account and account.reissued and account.reissued.valid(now) else None
            )
            reissued = await asyncio.to_thread(verify, pending.password_hash if pending else None, password)
        if account is None or not (password_ok or reissued):
            await self.throttle.record_failure(login_id, client, now)
            raise errors.BadCredentials("invalid_credentials", errors.INVALID_CREDENTIALS)
        if account.temporary_expired(now) and not reissued:
            raise errors.Expired(
                "credentials_expired",
                "ユーザID・仮パスワードの有効期限が切れています。"
                "「パスワードをお忘れの方・パスワードの再発行はこちら」からパスワードを再発行してください。",
            )
        await self.ctx.repo.clear_login_failures(login_id)
        if password_ok and self.ctx.hasher.needs_rehash(account.password_hash):
            account = await self._rehash(account, password)
        stage = account.stage_after_password(reissued=reissued)
        session_id, session = self.sessions.new(
            account, stage, now, client=client, login_id=login_id, reissued=reissued
        )
        phone_hint = None
        if stage is Stage.SECOND_FACTOR and account.two_step.method == "sms" and account.two_step.phone:
            session = await self.two_step.send_sms(
                session, account, purpose="login", phone=account.two_step.phone, now=now
            )
            phone_hint = mask_phone(account.two_step.phone)
        await self.ctx.repo.insert_session(session)
        log.info(
            "login",
            extra={"account_id": account.account_id, "next_step": stage.value, "reissued": reissued},
        )
        second = account.two_step.method if stage is Stage.SECOND_FACTOR else None
        return LoginResult(
            session_id=session_id, next_step=stage, second_factor=second, phone_hint=phone_hint
        )

    async def _rehash(self, account: Account, password: str) -> Account:
        """Store the password hashed with the current parameters (it was made with older ones)."""
        new_hash = await asyncio.to_thread(self.ctx.hasher.hash, password)
        account = account.model_copy(update={"password_hash": new_hash})
        await self.ctx.repo.save_account(account)
        log.info("password re-hashed", extra={"account_id": account.account_id})
        return account

    async def logout(self, session_id: str | None) -> None:
        """End the session (no error when it is already gone)."""
        if session_id and len(session_id) <= 128:
            await self.ctx.repo.delete_session(Session.hash_id(session_id))

    async def grant_token(self, session_id: str | None) -> TokenGrant:
        """A short-lived access token for a logged-in session (checked anew at every call)."""
        session, account = await self.sessions.load(session_id)
        return self._grant(session, account)

    async def grant_for(self, session: Session) -> TokenGrant:
        """``grant_token`` for a live session just read (a browser handle's): its account read anew."""
        account = await self.ctx.repo.get_account(session.account_id)
        if account is None:
            raise errors.NoSession()
        return self._grant(session, account)

    def _grant(self, session: Session, account: Account) -> TokenGrant:
        if session.stage is not Stage.ACTIVE:
            raise errors.WrongStep(
                "setup_required", "初期設定が完了していません。", next_step=session.stage.value
            )
        ttl = timedelta(seconds=self.ctx.settings.access_token_ttl_seconds)
        principal = Principal(
            account_id=account.account_id,
            company_id=account.company_id,
            role=account.role,
            name=account.name,
            email=account.email,
        )
        token = issue_token(principal, private_key=self.ctx.settings.token_private_key, ttl=ttl)
        return TokenGrant(access_token=token, expires_in=int(ttl.total_seconds()), account=account)
