"""Account setup: パスワード変更 and ユーザID設定 (the user's email address, proven by a mailed code).

An address becomes the user ID and contact address only once the code mailed to it is entered, so a
typo or a colleague's address never reroutes anyone's mail; whether an address is taken is told only
after that proof. The address the account's mail already goes to (where the temporary password was
sent) is proven already and is taken at once.
"""

import logging
from datetime import timedelta

from identity import errors
from identity.context import EMAIL_PATTERN, Context, Sessions, StepResult, check_code_format, require_stage
from identity.models import Account, EmailChallenge, Session, SmsVerdict, Stage
from identity.passwords import policy_error
from identity.repository import DuplicateAccount
from shared.events import AccountEmailChanged, NotificationRequested

log = logging.getLogger(__name__)

LOGIN_ID_TAKEN = "このユーザIDはすでに使用されています。別のメールアドレスを入力してください。"
EMAIL_TEMPLATE = "login_id_verification"
MAILS_PER_HOUR = 10


class AccountSetup:
    """The first-login setup steps ③ and ④, also reached later from ユーザ情報."""

    def __init__(self, ctx: Context, sessions: Sessions) -> None:
        self.ctx = ctx
        self.sessions = sessions

    async def change_password(
        self, session_id: str | None, new_password: str, confirmation: str
    ) -> StepResult:
        """パスワード変更: the temporary (or current) password is replaced; other sessions end."""
        session, account = await self.sessions.load(session_id)
        require_stage(session, Stage.PASSWORD_CHANGE, Stage.ACTIVE)
        errs: dict[str, str] = {}
        if not new_password:
            errs["new_password"] = "新しいパスワードを入力してください。"
        elif (problem := policy_error(new_password)) is not None:
            errs["new_password"] = problem
        elif new_password.lower() == account.login_id.lower():
            errs["new_password"] = "ユーザIDと同じパスワードは設定できません。"
        elif self.ctx.hasher.verify(account.password_hash, new_password):
            errs["new_password"] = (
                "仮パスワードと同じパスワードは設定できません。"
                if account.temporary
                else "現在のパスワードと同じパスワードは設定できません。"
            )
        if not confirmation:
            errs["new_password_confirm"] = "新しいパスワード(確認)を入力してください。"
        elif "new_password" not in errs and new_password != confirmation:
            errs["new_password_confirm"] = "新しいパスワードと新しいパスワード(確認)が一致しません。"
        if errs:
            raise errors.InvalidInput("invalid_password", next(iter(errs.values())), errors=errs)
        now = self.ctx.clock()
        account = account.model_copy(
            update={
                "password_hash": self.ctx.hasher.hash(new_password),
                "temporary": False,
                "temporary_expires_at": None,
                "reissued": None,
                "updated_at": now,
            }
        )
        await self.ctx.repo.save_account(account)
        await self.ctx.repo.delete_sessions_of(account.account_id, keep=session.session_hash)
        log.info("password changed", extra={"account_id": account.account_id})
        session = session.model_copy(update={"reissued": False})
        if session.stage is Stage.ACTIVE:
            return await self.sessions.renew(session)
        return await self.sessions.advance(session, account, now=now)

    async def request_login_id(self, session_id: str | None, new_login_id: str) -> StepResult | str:
        """ユーザID設定: mail a code to the address (returns it), or set it at once when already proven."""
        session, account = await self.sessions.load(session_id)
        require_stage(session, Stage.USER_ID_SETUP, Stage.ACTIVE)
        value = new_login_id.strip()
        if not value:
            message = "新しいユーザIDを入力してください。"
            raise errors.InvalidInput("invalid_login_id", message, errors={"new_login_id": message})
        if len(value) > 254 or not EMAIL_PATTERN.match(value):
            message = "ユーザIDにはメールアドレスを正しい形式で入力してください。"
            raise errors.InvalidInput("invalid_login_id", message, errors={"new_login_id": message})
        if value.lower() == account.email.lower():
            return await self._set(session, account, value)
        now = self.ctx.clock()
        issued_recently = session.email is not None and now - (
            session.email.expires_at - self._code_ttl
        ) < timedelta(seconds=30)
        mailed = await self.ctx.repo.hit(
            f"user-id-mail:{account.account_id}", now=now, window=timedelta(hours=1)
        )
        if issued_recently or mailed > MAILS_PER_HOUR:
            raise errors.Throttled(
                "resend_limited",
                "確認コードの送信回数が多すぎるか、間隔が短すぎます。しばらくしてからお試しください。",
            )
        challenge, code = EmailChallenge.issue(address=value, now=now, ttl=self._code_ttl)
        await self.ctx.repo.save_session(session.model_copy(update={"email": challenge}))
        await self.ctx.publish(
            NotificationRequested(
                channel="email",
                template=EMAIL_TEMPLATE,
                recipient=value,
                company_id=account.company_id,
                context={
                    "name": account.name,
                    "new_login_id": value,
                    "minutes": self.ctx.settings.email_code_minutes,
                    "sealed_code": self.ctx.sealer.seal(code),
                },
            ),
            account.company_id,
        )
        log.info("user ID confirmation code mailed", extra={"account_id": account.account_id})
        return value

    @property
    def _code_ttl(self) -> timedelta:
        return timedelta(minutes=self.ctx.settings.email_code_minutes)

    async def confirm_login_id(self, session_id: str | None, code: str) -> StepResult:
        """確認コード入力: the mailed code proves the address; it becomes the user ID and contact address."""
        session, account = await self.sessions.load(session_id)
        require_stage(session, Stage.USER_ID_SETUP, Stage.ACTIVE)
        if session.email is None:
            raise errors.Conflict("no_pending_login_id", "ユーザID設定画面から設定をやり直してください。")
        check_code_format(code)
        now = self.ctx.clock()
        challenge, verdict = session.email.check(code, now=now)
        session = session.model_copy(update={"email": challenge})
        await self.ctx.repo.save_session(session)
        if verdict is not SmsVerdict.OK:
            messages = {
                SmsVerdict.WRONG: "確認コードが正しくありません。",
                SmsVerdict.EXPIRED: "確認コードの有効期限が切れました。ユーザIDを入力し直してください。",
                SmsVerdict.EXHAUSTED: "確認コードの入力回数の上限に達しました。"
                "ユーザIDを入力し直してください。",
            }
            raise errors.invalid_code(messages[verdict])
        return await self._set(session.model_copy(update={"email": None}), account, challenge.address)

    async def _set(self, session: Session, account: Account, address: str) -> StepResult:
        if await self.ctx.repo.login_id_taken(address, except_account=account.account_id):
            raise errors.Conflict("login_id_taken", LOGIN_ID_TAKEN, errors={"new_login_id": LOGIN_ID_TAKEN})
        now = self.ctx.clock()
        email_changed = address.lower() != account.email.lower()
        account = account.model_copy(
            update={
                "login_id": address.lower(),
                "user_id_set": True,
                "email": address if email_changed else account.email,
                "updated_at": now,
            }
        )
        try:
            await self.ctx.repo.save_account(account)
        except DuplicateAccount as exc:
            raise errors.Conflict(
                "login_id_taken", LOGIN_ID_TAKEN, errors={"new_login_id": LOGIN_ID_TAKEN}
            ) from exc
        if email_changed:
            await self.ctx.publish(
                AccountEmailChanged(
                    company_id=account.company_id,
                    account_id=account.account_id,
                    name=account.name,
                    email=account.email,
                ),
                account.company_id,
            )
        log.info("user id set", extra={"account_id": account.account_id})
        if session.stage is Stage.ACTIVE:
            await self.ctx.repo.save_session(session)
            return StepResult(stage=Stage.ACTIVE)
        return await self.sessions.advance(session, account, now=now)
