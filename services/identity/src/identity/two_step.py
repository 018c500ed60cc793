"""2-step verification: choosing and confirming the authenticator app or SMS, the second factor at
login, and the operator-assisted reset when a user lost their second factor (audited).

TOTP secrets are stored sealed (AES-GCM, identity.crypto); a secret stored in clear by an earlier
version is still read and sealed at its next use.
"""

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from uuid import uuid4

from identity import errors, totp
from identity.context import (
    PHONE_PATTERN,
    Context,
    Sessions,
    StepResult,
    check_code_format,
    mask_phone,
    require_stage,
)
from identity.crypto import PREFIX as SEALED_PREFIX
from identity.models import Account, Session, SmsChallenge, SmsVerdict, Stage, TwoStep
from identity.throttle import Throttle
from shared.auth import Principal
from shared.events import SendSmsCode

log = logging.getLogger(__name__)

OPERATOR_TOTP_ONLY = "運用担当者は認証アプリケーションによる2段階認証が必須です。"
SETUP_AGAIN = "2段階認証設定画面から設定をやり直してください。"


@dataclass(frozen=True, slots=True)
class TotpSetup:
    """What the 認証アプリケーションの設定 page shows."""

    secret: str
    otpauth_uri: str
    qr_data_url: str


class TwoStepFlow:
    """2段階認証設定 and 認証コード入力."""

    def __init__(self, ctx: Context, sessions: Sessions, throttle: Throttle) -> None:
        self.ctx = ctx
        self.sessions = sessions
        self.throttle = throttle

    # --- sealing -------------------------------------------------------------------------------

    def _seal(self, account: Account, secret: str) -> str:
        return self.ctx.box.seal(secret, bound_to=account.account_id)

    def _open(self, account: Account, stored: str | None) -> str | None:
        if stored is None:
            return None
        if not stored.startswith(f"{SEALED_PREFIX}:"):
            return stored  # stored in clear before secrets were sealed
        return self.ctx.box.open(stored, bound_to=account.account_id)

    # --- setup ---------------------------------------------------------------------------------

    async def choose(
        self,
        session_id: str | None,
        *,
        use: bool,
        method: Literal["totp", "sms"] | None = None,
        phone: str = "",
    ) -> StepResult | TotpSetup | str:
        """Start the authenticator or SMS setup, or turn 2-step verification off.

        Returns the TOTP setup, the masked phone an SMS was sent to, or the session's new step.
        """
        session, account = await self.sessions.load(session_id)
        require_stage(session, Stage.TWO_STEP_SETUP, Stage.ACTIVE)
        now = self.ctx.clock()
        if not use:
            if account.role == "operator":
                raise errors.InvalidInput("totp_required", OPERATOR_TOTP_ONLY)
            account = account.model_copy(update={"two_step": TwoStep(method="none"), "updated_at": now})
            await self.ctx.repo.save_account(account)
            log.info("2-step verification turned off", extra={"account_id": account.account_id})
            return await self._done(session, account, now)
        if method == "totp":
            secret = totp.new_secret()
            pending = account.two_step.model_copy(update={"pending_totp_secret": self._seal(account, secret)})
            await self.ctx.repo.save_account(account.model_copy(update={"two_step": pending}))
            return self._totp_setup(account, secret)
        if method == "sms":
            if account.role == "operator":
                raise errors.InvalidInput("totp_required", OPERATOR_TOTP_ONLY)
            digits = re.sub(r"[\s\-]", "", phone or "")
            if not digits:
                message = "電話番号を入力してください。"
                raise errors.InvalidInput("invalid_phone", message, errors={"phone": message})
            if not PHONE_PATTERN.match(digits):
                message = "SMSを受信できる携帯電話番号を半角数字11桁で入力してください。"
                raise errors.InvalidInput("invalid_phone", message, errors={"phone": message})
            session = await self.send_sms(session, account, purpose="setup", phone=digits, now=now)
            await self.ctx.repo.save_session(session)
            return mask_phone(digits)
        message = "2段階認証の利用方法を選択してください。"
        raise errors.InvalidInput("invalid_method", message, errors={"method": message})

    async def _done(self, session: Session, account: Account, now: datetime) -> StepResult:
        if session.stage is Stage.ACTIVE:
            return StepResult(stage=Stage.ACTIVE)
        return await self.sessions.advance(session, account, now=now)

    def _totp_setup(self, account: Account, secret: str) -> TotpSetup:
        uri = totp.provisioning_uri(secret, account.login_id)
        return TotpSetup(secret=secret, otpauth_uri=uri, qr_data_url=totp.qr_data_url(uri))

    async def pending_totp(self, session_id: str | None) -> TotpSetup:
        """The authenticator setup shown again (page reload)."""
        session, account = await self.sessions.load(session_id)
        require_stage(session, Stage.TWO_STEP_SETUP, Stage.ACTIVE)
        secret = self._open(account, account.two_step.pending_totp_secret)
        if secret is None:
            raise errors.Conflict("no_pending_totp", SETUP_AGAIN)
        return self._totp_setup(account, secret)

    async def confirm_totp(self, session_id: str | None, code: str) -> StepResult:
        """認証アプリケーションの設定: the first code proves the app holds the new secret."""
        session, account = await self.sessions.load(session_id)
        require_stage(session, Stage.TWO_STEP_SETUP, Stage.ACTIVE)
        secret = self._open(account, account.two_step.pending_totp_secret)
        if secret is None:
            raise errors.Conflict("no_pending_totp", SETUP_AGAIN)
        now = self.ctx.clock()
        check_code_format(code)
        step = totp.matching_step(secret, code, now=now)
        if step is None:
            raise errors.invalid_code(
                "認証コードが正しくありません。認証アプリケーションに表示されている最新の認証コードを入力してください。"
            )
        account = account.model_copy(
            update={
                "two_step": TwoStep(
                    method="totp", totp_secret=self._seal(account, secret), totp_last_step=step
                ),
                "updated_at": now,
            }
        )
        await self.ctx.repo.save_account(account)
        log.info("authenticator app configured", extra={"account_id": account.account_id})
        return await self._done(session, account, now)

    async def confirm_sms_setup(self, session_id: str | None, code: str) -> StepResult:
        """認証コード入力 (SMS setup): the code proves the phone receives SMS."""
        session, account = await self.sessions.load(session_id)
        require_stage(session, Stage.TWO_STEP_SETUP, Stage.ACTIVE)
        if session.sms is None or session.sms.purpose != "setup":
            raise errors.Conflict("no_pending_sms", SETUP_AGAIN)
        now = self.ctx.clock()
        session = await self._check_sms(session, code, now=now)
        assert session.sms is not None
        account = account.model_copy(
            update={"two_step": TwoStep(method="sms", phone=session.sms.phone), "updated_at": now}
        )
        await self.ctx.repo.save_account(account)
        log.info("SMS verification configured", extra={"account_id": account.account_id})
        return await self._done(session, account, now)

    async def resend_sms(self, session_id: str | None) -> str:
        """Send a new SMS code (limited in number and frequency)."""
        session, account = await self.sessions.load(session_id)
        if session.sms is None:
            raise errors.Conflict(
                "no_pending_sms", "認証コードの送信先がありません。最初からやり直してください。"
            )
        now = self.ctx.clock()
        if not session.sms.can_resend(now):
            raise errors.Throttled(
                "resend_limited",
                "認証コードの再送信回数の上限に達したか、間隔が短すぎます。しばらくしてからお試しください。",
            )
        sms, code = session.sms.reissue(now=now)
        await self._publish_sms(account, sms, code)
        await self.ctx.repo.save_session(session.model_copy(update={"sms": sms}))
        return mask_phone(sms.phone)

    # --- at login ------------------------------------------------------------------------------

    async def verify(self, session_id: str | None, code: str) -> StepResult:
        """認証コード入力 at login: the authenticator's or the SMS code. Wrong codes count as failed
        logins of the user ID and client; too many end the session."""
        session, account = await self.sessions.load(session_id)
        require_stage(session, Stage.SECOND_FACTOR)
        now = self.ctx.clock()
        check_code_format(code)
        if account.two_step.method == "sms":
            if session.sms is None:
                raise errors.NoSession()
            session = await self._check_sms(session, code, now=now)
        else:
            secret = self._open(account, account.two_step.totp_secret) or ""
            step = totp.matching_step(secret, code, now=now, last_used_step=account.two_step.totp_last_step)
            if step is None:
                await self._wrong_code(session, now)
                raise errors.invalid_code(
                    "認証コードが正しくないか、すでに使用されています。最新の認証コードを入力してください。"
                )
            update: dict[str, object] = {"totp_last_step": step}
            if secret and not self.ctx.box.is_current(account.two_step.totp_secret or ""):
                update["totp_secret"] = self._seal(account, secret)  # clear or old key: seal anew
            account = account.model_copy(update={"two_step": account.two_step.model_copy(update=update)})
            await self.ctx.repo.save_account(account)
        log.info("second factor verified", extra={"account_id": account.account_id})
        return await self.sessions.advance(session, account, now=now)

    async def _wrong_code(self, session: Session, now: datetime) -> None:
        await self.throttle.record_failure(session.login_id, session.client or "unknown", now)
        failures = session.second_factor_failures + 1
        if failures >= self.ctx.settings.second_factor_attempts:
            await self.ctx.repo.delete_session(session.session_hash)
            raise errors.Throttled("rate_limited", errors.TOO_MANY_ATTEMPTS)
        await self.ctx.repo.save_session(session.model_copy(update={"second_factor_failures": failures}))

    async def _check_sms(self, session: Session, code: str, *, now: datetime) -> Session:
        assert session.sms is not None
        check_code_format(code)
        sms, verdict = session.sms.check(code, now=now)
        session = session.model_copy(update={"sms": sms})
        await self.ctx.repo.save_session(session)
        if verdict is SmsVerdict.OK:
            return session
        if session.stage is Stage.SECOND_FACTOR and verdict is SmsVerdict.WRONG:
            await self.throttle.record_failure(session.login_id, session.client or "unknown", now)
        messages = {
            SmsVerdict.WRONG: "認証コードが正しくありません。",
            SmsVerdict.EXPIRED: "認証コードの有効期限が切れました。認証コードを再送信してください。",
            SmsVerdict.EXHAUSTED: "認証コードの入力回数の上限に達しました。認証コードを再送信してください。",
        }
        message = messages[verdict]
        raise errors.InvalidInput(f"sms_{verdict.value}", message, errors={"code": message})

    async def send_sms(
        self,
        session: Session,
        account: Account,
        *,
        purpose: Literal["setup", "login"],
        phone: str,
        now: datetime,
    ) -> Session:
        sms, code = SmsChallenge.issue(purpose=purpose, phone=phone, now=now)
        await self._publish_sms(account, sms, code)
        return session.model_copy(update={"sms": sms})

    async def _publish_sms(self, account: Account, sms: SmsChallenge, code: str) -> None:
        await self.ctx.publish(
            SendSmsCode(
                account_id=account.account_id,
                phone=sms.phone,
                sealed_code=self.ctx.sealer.seal(code),
                expires_at=sms.expires_at,
            ),
            account.company_id,
        )

    # --- lost second factor --------------------------------------------------------------------

    async def operator_reset(self, operator: Principal, account_id: str, reason: str) -> dict[str, object]:
        """An operator resets a customer's 2-step verification after checking who they are.

        The user sets a new second factor at their next login (password first); their sessions end.
        Recorded in the audit log with the operator and the reason.
        """
        account = await self.ctx.repo.get_account(account_id)
        if account is None or account.role == "operator":
            raise errors.NotFound("not_found", "アカウントが見つかりません。")
        reason = reason.strip()
        if not reason:
            message = "本人確認の内容(リセットの理由)を入力してください。"
            raise errors.InvalidInput("missing_reason", message, errors={"reason": message})
        now = self.ctx.clock()
        previous = account.two_step.method
        await self.ctx.repo.save_account(
            account.model_copy(update={"two_step": TwoStep(), "updated_at": now})
        )
        await self.ctx.repo.delete_sessions_of(account.account_id)
        entry: dict[str, object] = {
            "audit_id": f"AUD-{uuid4().hex[:16]}",
            "at": now,
            "action": "second_factor_reset",
            "operator_id": operator.account_id,
            "operator_name": operator.name,
            "account_id": account.account_id,
            "company_id": account.company_id,
            "previous_method": previous,
            "reason": reason,
        }
        await self.ctx.repo.add_audit(entry)
        log.warning(
            "second factor reset by an operator",
            extra={"account_id": account.account_id, "operator_id": operator.account_id},
        )
        return entry
