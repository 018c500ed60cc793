"""Use cases of identity: provisioning, login, first-login setup, 2-step verification, reissue, tokens."""

import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal
from uuid import uuid4

from identity import totp
from identity.models import Account, Session, SmsChallenge, SmsVerdict, Stage, TwoStep, provisioning_key
from identity.passwords import Hasher, generate_login_id, generate_temporary_password, policy_error
from identity.repository import DuplicateAccount, Repository
from identity.settings import Settings
from shared.auth import Principal, issue_token
from shared.events import (
    AccountEmailChanged,
    AccountProvisioned,
    ApplicationSubmitted,
    Event,
    PasswordReissued,
    SendSmsCode,
)
from shared.sealing import Sealer

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
Publish = Callable[[Event, str], Awaitable[None]]

EMAIL_PATTERN = re.compile(r"^[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}$")
PHONE_PATTERN = re.compile(r"^0[789]0\d{8}$")

INVALID_CREDENTIALS = "ユーザIDまたはパスワードが正しくありません。"
REISSUE_ANSWER = (
    "ご入力いただいたユーザIDまたはメールアドレスが登録されている場合、"
    "仮パスワードを記載したメールを送信しました。メールをご確認ください。"
)


class IdentityError(Exception):
    """A request that cannot be served, with an HTTP status, a code and a Japanese message."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, **self.extra}


def _no_session() -> IdentityError:
    return IdentityError(
        401, "session_invalid", "セッションの有効期限が切れました。もう一度ログインしてください。"
    )


def _wrong_step(stage: Stage) -> IdentityError:
    return IdentityError(409, "wrong_step", "この操作は現在行えません。", next_step=stage.value)


@dataclass(frozen=True, slots=True)
class LoginResult:
    """A session id and where it stands."""

    session_id: str
    next_step: Stage
    second_factor: str | None = None
    phone_hint: str | None = None


@dataclass(frozen=True, slots=True)
class TotpSetup:
    """What the 認証アプリケーションの設定 page shows."""

    secret: str
    otpauth_uri: str
    qr_data_url: str


@dataclass(frozen=True, slots=True)
class TokenGrant:
    """An access token and the account it names."""

    access_token: str
    expires_in: int
    account: Account


@dataclass
class IdentityService:
    """All identity use cases over a repository, a clock and an event publisher."""

    repo: Repository
    settings: Settings
    publish: Publish
    clock: Clock
    hasher: Hasher = field(default_factory=Hasher)

    def __post_init__(self) -> None:
        self._sealer = Sealer(self.settings.sealing_key)

    # --- provisioning ------------------------------------------------------------------------

    async def provision(self, event: ApplicationSubmitted) -> list[str]:
        """Create one account per login user of the application; returns the ids it notified.

        A user whose account already exists and whose mail already went out is skipped, so a
        redelivered event never creates a second account or a second mail.
        """
        notified = []
        for user in event.login_users:
            existing = await self.repo.account_for_application_user(event.application_number, user.email)
            if existing is not None and existing.provisioning_notified:
                continue
            now = self.clock()
            password = generate_temporary_password()
            expires_at = now + timedelta(days=self.settings.temporary_password_days)
            if existing is None:
                account = await self._insert_new_account(
                    event, user.name, user.email, user.mobile, password, now
                )
            else:
                # Created but its mail was never published: give it a fresh password and publish now.
                account = existing.model_copy(
                    update={"password_hash": self.hasher.hash(password), "temporary_expires_at": expires_at}
                )
                await self.repo.save_account(account)
            await self.publish(
                AccountProvisioned(
                    company_id=account.company_id,
                    company_name=account.company_name,
                    account_id=account.account_id,
                    name=account.name,
                    email=account.email,
                    login_id=account.login_id,
                    sealed_temporary_password=self._sealer.seal(password),
                    temporary_password_expires_at=account.temporary_expires_at or expires_at,
                    portal_url=self.settings.portal_url,
                ),
                account.company_id,
            )
            await self.repo.save_account(account.model_copy(update={"provisioning_notified": True}))
            log.info(
                "account provisioned",
                extra={"account_id": account.account_id, "company_id": account.company_id},
            )
            notified.append(account.account_id)
        return notified

    async def _insert_new_account(
        self, event: ApplicationSubmitted, name: str, email: str, mobile: str, password: str, now: datetime
    ) -> Account:
        for _ in range(5):
            account = Account(
                account_id=f"A-{uuid4().hex[:16]}",
                company_id=event.company_id,
                company_name=event.company.company_name,
                application_number=event.application_number,
                provisioning_key=provisioning_key(event.application_number, email),
                name=name,
                email=email,
                mobile=mobile,
                login_id=generate_login_id(),
                password_hash=self.hasher.hash(password),
                temporary=True,
                temporary_expires_at=now + timedelta(days=self.settings.temporary_password_days),
                created_at=now,
                updated_at=now,
            )
            try:
                await self.repo.insert_account(account)
                return account
            except DuplicateAccount:
                concurrent = await self.repo.account_for_application_user(event.application_number, email)
                if concurrent is not None:
                    return concurrent
        raise RuntimeError("could not generate a unique user ID")

    async def seed_operator(self) -> None:
        """Create the operator account from settings when it does not exist (it must set up TOTP)."""
        login_id = self.settings.operator_login.strip().lower()
        if await self.repo.account_by_login_id(login_id) is not None:
            return
        now = self.clock()
        account = Account(
            account_id="A-operator",
            company_id="operator",
            company_name="運用",
            provisioning_key=f"operator:{login_id}",
            role="operator",
            name=self.settings.operator_name,
            email=login_id if "@" in login_id else "",
            login_id=login_id,
            password_hash=self.hasher.hash(self.settings.operator_password),
            temporary=False,
            user_id_set=True,
            provisioning_notified=True,
            created_at=now,
            updated_at=now,
        )
        try:
            await self.repo.insert_account(account)
            log.info("operator account seeded", extra={"account_id": account.account_id})
        except DuplicateAccount:
            pass

    # --- login -------------------------------------------------------------------------------

    async def login(self, login_id: str, password: str, *, client: str = "") -> LoginResult:
        """Check the user ID and password; open a session at its next step."""
        now = self.clock()
        login_id = login_id.strip().lower()
        if not login_id or not password:
            raise IdentityError(400, "missing_fields", "ユーザIDとパスワードを入力してください。")
        await self._throttle(login_id, client, now)
        account = await self.repo.account_by_login_id(login_id)
        password_ok = self.hasher.verify(account.password_hash if account else None, password)
        if account is None:
            raise IdentityError(401, "invalid_credentials", INVALID_CREDENTIALS)
        if account.is_locked(now):
            raise self._locked(account)
        if not password_ok:
            updated = await self.repo.record_login_failure(
                account.account_id,
                threshold=self.settings.lockout_threshold,
                lock_until=now + timedelta(minutes=self.settings.lockout_minutes),
            )
            if updated is not None and updated.is_locked(now):
                log.warning("account locked after failed logins", extra={"account_id": account.account_id})
                raise self._locked(updated)
            raise IdentityError(401, "invalid_credentials", INVALID_CREDENTIALS)
        if account.temporary_expired(now):
            raise IdentityError(
                403,
                "credentials_expired",
                "ユーザID・仮パスワードの有効期限が切れています。"
                "「パスワードをお忘れの方・パスワードの再発行はこちら」からパスワードを再発行してください。",
            )
        if account.failed_logins or account.locked_until:
            account = account.model_copy(update={"failed_logins": 0, "locked_until": None})
            await self.repo.save_account(account)
        stage = account.stage_after_password()
        session_id, session = self._new_session(account, stage, now)
        phone_hint = None
        if stage is Stage.SECOND_FACTOR and account.two_step.method == "sms" and account.two_step.phone:
            session = await self._send_sms(
                session, account, purpose="login", phone=account.two_step.phone, now=now
            )
            phone_hint = mask_phone(account.two_step.phone)
        await self.repo.insert_session(session)
        log.info("login", extra={"account_id": account.account_id, "next_step": stage.value})
        second = account.two_step.method if stage is Stage.SECOND_FACTOR else None
        return LoginResult(
            session_id=session_id, next_step=stage, second_factor=second, phone_hint=phone_hint
        )

    def _locked(self, account: Account) -> IdentityError:
        return IdentityError(
            423,
            "account_locked",
            f"ログインに続けて失敗したため、アカウントを一時的にロックしています。"
            f"{self.settings.lockout_minutes}分ほど時間をおいてから再度お試しください。",
            locked_until=account.locked_until.isoformat() if account.locked_until else None,
        )

    async def _throttle(self, login_id: str, client: str, now: datetime) -> None:
        window = timedelta(seconds=self.settings.rate_limit_window_seconds)
        too_many = IdentityError(
            429,
            "rate_limited",
            "ログインの試行回数が多すぎます。しばらく時間をおいてから再度お試しください。",
        )
        if (
            await self.repo.hit(f"login-id:{login_id}", now=now, window=window)
            > self.settings.rate_limit_per_login_id
        ):
            raise too_many
        if (
            client
            and await self.repo.hit(f"client:{client}", now=now, window=window)
            > self.settings.rate_limit_per_client
        ):
            raise too_many

    def _new_session(self, account: Account, stage: Stage, now: datetime) -> tuple[str, Session]:
        session_id = secrets.token_urlsafe(32)
        ttl = (
            self.settings.session_ttl_seconds
            if stage is Stage.ACTIVE
            else self.settings.setup_session_ttl_seconds
        )
        return session_id, Session(
            session_hash=Session.hash_id(session_id),
            account_id=account.account_id,
            stage=stage,
            created_at=now,
            expires_at=now + timedelta(seconds=ttl),
        )

    async def _session(self, session_id: str | None) -> tuple[Session, Account]:
        if not session_id:
            raise _no_session()
        session = await self.repo.get_session(Session.hash_id(session_id))
        now = self.clock()
        if session is None or session.expires_at <= now:
            raise _no_session()
        account = await self.repo.get_account(session.account_id)
        if account is None:
            raise _no_session()
        return session, account

    async def _advance(self, session: Session, account: Account, *, now: datetime) -> Session:
        """Move the session to the account's next setup step, or to logged in."""
        stage = account.next_setup_stage() or Stage.ACTIVE
        ttl = (
            self.settings.session_ttl_seconds
            if stage is Stage.ACTIVE
            else self.settings.setup_session_ttl_seconds
        )
        session = session.model_copy(
            update={"stage": stage, "sms": None, "expires_at": now + timedelta(seconds=ttl)}
        )
        await self.repo.save_session(session)
        return session

    async def session_state(self, session_id: str | None) -> tuple[Session, Account]:
        """The session and its account (for the pages of the setup steps)."""
        return await self._session(session_id)

    async def logout(self, session_id: str | None) -> None:
        """End the session (no error when it is already gone)."""
        if session_id:
            await self.repo.delete_session(Session.hash_id(session_id))

    async def grant_token(self, session_id: str | None) -> TokenGrant:
        """A short-lived access token for a logged-in session."""
        session, account = await self._session(session_id)
        if session.stage is not Stage.ACTIVE:
            raise IdentityError(
                409, "setup_required", "初期設定が完了していません。", next_step=session.stage.value
            )
        ttl = timedelta(seconds=self.settings.access_token_ttl_seconds)
        principal = Principal(
            account_id=account.account_id,
            company_id=account.company_id,
            role=account.role,
            name=account.name,
            email=account.email,
        )
        token = issue_token(principal, private_key=self.settings.token_private_key, ttl=ttl)
        return TokenGrant(access_token=token, expires_in=int(ttl.total_seconds()), account=account)

    # --- first-login setup -------------------------------------------------------------------

    async def change_password(self, session_id: str | None, new_password: str, confirmation: str) -> Stage:
        """パスワード変更: the temporary (or current) password is replaced."""
        session, account = await self._session(session_id)
        if session.stage not in (Stage.PASSWORD_CHANGE, Stage.ACTIVE):
            raise _wrong_step(session.stage)
        errors: dict[str, str] = {}
        if not new_password:
            errors["new_password"] = "新しいパスワードを入力してください。"
        elif (problem := policy_error(new_password)) is not None:
            errors["new_password"] = problem
        elif new_password.lower() == account.login_id.lower():
            errors["new_password"] = "ユーザIDと同じパスワードは設定できません。"
        elif self.hasher.verify(account.password_hash, new_password):
            errors["new_password"] = (
                "仮パスワードと同じパスワードは設定できません。"
                if account.temporary
                else "現在のパスワードと同じパスワードは設定できません。"
            )
        if not confirmation:
            errors["new_password_confirm"] = "新しいパスワード(確認)を入力してください。"
        elif "new_password" not in errors and new_password != confirmation:
            errors["new_password_confirm"] = "新しいパスワードと新しいパスワード(確認)が一致しません。"
        if errors:
            raise IdentityError(422, "invalid_password", next(iter(errors.values())), errors=errors)
        now = self.clock()
        account = account.model_copy(
            update={
                "password_hash": self.hasher.hash(new_password),
                "temporary": False,
                "temporary_expires_at": None,
                "updated_at": now,
            }
        )
        await self.repo.save_account(account)
        log.info("password changed", extra={"account_id": account.account_id})
        if session.stage is Stage.ACTIVE:
            return Stage.ACTIVE
        return (await self._advance(session, account, now=now)).stage

    async def set_login_id(self, session_id: str | None, new_login_id: str) -> Stage:
        """ユーザID設定: the user's email address becomes the user ID."""
        session, account = await self._session(session_id)
        if session.stage not in (Stage.USER_ID_SETUP, Stage.ACTIVE):
            raise _wrong_step(session.stage)
        value = new_login_id.strip()
        if not value:
            raise IdentityError(
                422,
                "invalid_login_id",
                "新しいユーザIDを入力してください。",
                errors={"new_login_id": "新しいユーザIDを入力してください。"},
            )
        if len(value) > 254 or not EMAIL_PATTERN.match(value):
            message = "ユーザIDにはメールアドレスを正しい形式で入力してください。"
            raise IdentityError(422, "invalid_login_id", message, errors={"new_login_id": message})
        if await self.repo.login_id_taken(value, except_account=account.account_id):
            message = "このユーザIDはすでに使用されています。別のメールアドレスを入力してください。"
            raise IdentityError(409, "login_id_taken", message, errors={"new_login_id": message})
        now = self.clock()
        email_changed = value.lower() != account.email.lower()
        account = account.model_copy(
            update={
                "login_id": value.lower(),
                "user_id_set": True,
                "email": value if email_changed else account.email,
                "updated_at": now,
            }
        )
        try:
            await self.repo.save_account(account)
        except DuplicateAccount as exc:
            message = "このユーザIDはすでに使用されています。別のメールアドレスを入力してください。"
            raise IdentityError(409, "login_id_taken", message, errors={"new_login_id": message}) from exc
        if email_changed:
            await self.publish(
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
            return Stage.ACTIVE
        return (await self._advance(session, account, now=now)).stage

    # --- 2-step verification -----------------------------------------------------------------

    def _two_step_session(self, session: Session) -> None:
        if session.stage not in (Stage.TWO_STEP_SETUP, Stage.ACTIVE):
            raise _wrong_step(session.stage)

    async def choose_two_step(
        self,
        session_id: str | None,
        *,
        use: bool,
        method: Literal["totp", "sms"] | None = None,
        phone: str = "",
    ) -> Stage | TotpSetup | str:
        """2段階認証設定: start the authenticator or SMS setup, or turn 2-step verification off.

        Returns the TOTP setup, the masked phone an SMS was sent to, or the session's new stage.
        """
        session, account = await self._session(session_id)
        self._two_step_session(session)
        now = self.clock()
        if not use:
            if account.role == "operator":
                raise IdentityError(
                    422, "totp_required", "運用担当者は認証アプリケーションによる2段階認証が必須です。"
                )
            account = account.model_copy(update={"two_step": TwoStep(method="none"), "updated_at": now})
            await self.repo.save_account(account)
            log.info("2-step verification turned off", extra={"account_id": account.account_id})
            return (await self._advance(session, account, now=now)).stage
        if method == "totp":
            return await self._start_totp(account)
        if method == "sms":
            if account.role == "operator":
                raise IdentityError(
                    422, "totp_required", "運用担当者は認証アプリケーションによる2段階認証が必須です。"
                )
            digits = re.sub(r"[\s\-]", "", phone or "")
            if not digits:
                message = "電話番号を入力してください。"
                raise IdentityError(422, "invalid_phone", message, errors={"phone": message})
            if not PHONE_PATTERN.match(digits):
                message = "SMSを受信できる携帯電話番号を半角数字11桁で入力してください。"
                raise IdentityError(422, "invalid_phone", message, errors={"phone": message})
            session = await self._send_sms(session, account, purpose="setup", phone=digits, now=now)
            await self.repo.save_session(session)
            return mask_phone(digits)
        message = "2段階認証の利用方法を選択してください。"
        raise IdentityError(422, "invalid_method", message, errors={"method": message})

    async def _start_totp(self, account: Account) -> TotpSetup:
        secret = totp.new_secret()
        account = account.model_copy(
            update={"two_step": account.two_step.model_copy(update={"pending_totp_secret": secret})}
        )
        await self.repo.save_account(account)
        return self._totp_setup(account, secret)

    def _totp_setup(self, account: Account, secret: str) -> TotpSetup:
        uri = totp.provisioning_uri(secret, account.login_id)
        return TotpSetup(secret=secret, otpauth_uri=uri, qr_data_url=totp.qr_data_url(uri))

    async def pending_totp(self, session_id: str | None) -> TotpSetup:
        """The authenticator setup shown again (page reload)."""
        session, account = await self._session(session_id)
        self._two_step_session(session)
        secret = account.two_step.pending_totp_secret
        if secret is None:
            raise IdentityError(409, "no_pending_totp", "2段階認証設定画面から設定をやり直してください。")
        return self._totp_setup(account, secret)

    async def confirm_totp(self, session_id: str | None, code: str) -> Stage:
        """認証アプリケーションの設定: the first code proves the app holds the new secret."""
        session, account = await self._session(session_id)
        self._two_step_session(session)
        secret = account.two_step.pending_totp_secret
        if secret is None:
            raise IdentityError(409, "no_pending_totp", "2段階認証設定画面から設定をやり直してください。")
        now = self.clock()
        self._check_code_format(code)
        step = totp.matching_step(secret, code, now=now)
        if step is None:
            message = (
                "認証コードが正しくありません。"
                "認証アプリケーションに表示されている最新の認証コードを入力してください。"
            )
            raise IdentityError(422, "invalid_code", message, errors={"code": message})
        account = account.model_copy(
            update={
                "two_step": TwoStep(method="totp", totp_secret=secret, totp_last_step=step),
                "updated_at": now,
            }
        )
        await self.repo.save_account(account)
        log.info("authenticator app configured", extra={"account_id": account.account_id})
        return (await self._advance(session, account, now=now)).stage

    async def confirm_sms_setup(self, session_id: str | None, code: str) -> Stage:
        """認証コード入力 (SMS setup): the code proves the phone receives SMS."""
        session, account = await self._session(session_id)
        self._two_step_session(session)
        if session.sms is None or session.sms.purpose != "setup":
            raise IdentityError(409, "no_pending_sms", "2段階認証設定画面から設定をやり直してください。")
        now = self.clock()
        session = await self._check_sms(session, code, now=now)
        assert session.sms is not None
        account = account.model_copy(
            update={"two_step": TwoStep(method="sms", phone=session.sms.phone), "updated_at": now}
        )
        await self.repo.save_account(account)
        log.info("SMS verification configured", extra={"account_id": account.account_id})
        return (await self._advance(session, account, now=now)).stage

    async def resend_sms(self, session_id: str | None) -> str:
        """Send a new SMS code (limited in number and frequency)."""
        session, account = await self._session(session_id)
        if session.sms is None:
            raise IdentityError(
                409, "no_pending_sms", "認証コードの送信先がありません。最初からやり直してください。"
            )
        now = self.clock()
        if not session.sms.can_resend(now):
            raise IdentityError(
                429,
                "resend_limited",
                "認証コードの再送信回数の上限に達したか、間隔が短すぎます。しばらくしてからお試しください。",
            )
        sms, code = session.sms.reissue(now=now)
        await self._publish_sms(account, sms, code)
        await self.repo.save_session(session.model_copy(update={"sms": sms}))
        return mask_phone(sms.phone)

    async def verify_second_factor(self, session_id: str | None, code: str) -> Stage:
        """認証コード入力 at a later login: TOTP or SMS code."""
        session, account = await self._session(session_id)
        if session.stage is not Stage.SECOND_FACTOR:
            raise _wrong_step(session.stage)
        now = self.clock()
        self._check_code_format(code)
        if account.two_step.method == "sms":
            if session.sms is None:
                raise _no_session()
            session = await self._check_sms(session, code, now=now)
        else:
            secret = account.two_step.totp_secret or ""
            step = totp.matching_step(secret, code, now=now, last_used_step=account.two_step.totp_last_step)
            if step is None:
                failures = session.second_factor_failures + 1
                if failures >= self.settings.lockout_threshold:
                    await self.repo.delete_session(session.session_hash)
                    locked = await self.repo.record_login_failure(
                        account.account_id,
                        threshold=1,
                        lock_until=now + timedelta(minutes=self.settings.lockout_minutes),
                    )
                    raise self._locked(locked or account)
                await self.repo.save_session(session.model_copy(update={"second_factor_failures": failures}))
                message = (
                    "認証コードが正しくないか、すでに使用されています。最新の認証コードを入力してください。"
                )
                raise IdentityError(422, "invalid_code", message, errors={"code": message})
            account = account.model_copy(
                update={"two_step": account.two_step.model_copy(update={"totp_last_step": step})}
            )
            await self.repo.save_account(account)
        log.info("second factor verified", extra={"account_id": account.account_id})
        return (await self._advance(session, account, now=now)).stage

    def _check_code_format(self, code: str) -> None:
        if not re.fullmatch(r"\d{6}", code.strip()):
            message = "認証コードを半角数字6桁で入力してください。"
            raise IdentityError(422, "invalid_code", message, errors={"code": message})

    async def _check_sms(self, session: Session, code: str, *, now: datetime) -> Session:
        assert session.sms is not None
        self._check_code_format(code)
        sms, verdict = session.sms.check(code, now=now)
        session = session.model_copy(update={"sms": sms})
        await self.repo.save_session(session)
        if verdict is SmsVerdict.OK:
            return session
        messages = {
            SmsVerdict.WRONG: "認証コードが正しくありません。",
            SmsVerdict.EXPIRED: "認証コードの有効期限が切れました。認証コードを再送信してください。",
            SmsVerdict.EXHAUSTED: "認証コードの入力回数の上限に達しました。認証コードを再送信してください。",
        }
        raise IdentityError(
            422, f"sms_{verdict.value}", messages[verdict], errors={"code": messages[verdict]}
        )

    async def _send_sms(
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
        await self.publish(
            SendSmsCode(
                account_id=account.account_id,
                phone=sms.phone,
                sealed_code=self._sealer.seal(code),
                expires_at=sms.expires_at,
            ),
            account.company_id,
        )

    # --- reissue -----------------------------------------------------------------------------

    async def reissue(self, identifier: str) -> str:
        """パスワードの再発行: the same answer whether or not the account exists."""
        value = identifier.strip()
        if not value:
            raise IdentityError(422, "missing_identifier", "ユーザIDまたはメールアドレスを入力してください。")
        now = self.clock()
        account = await self.repo.account_by_login_id_or_email(value)
        if account is None or account.role == "operator":
            return REISSUE_ANSWER
        count = await self.repo.hit(f"reissue:{account.account_id}", now=now, window=timedelta(hours=1))
        if count > self.settings.reissue_limit_per_hour:
            log.warning("reissue limit reached", extra={"account_id": account.account_id})
            return REISSUE_ANSWER
        password = generate_temporary_password()
        expires_at = now + timedelta(days=self.settings.temporary_password_days)
        account = account.model_copy(
            update={
                "password_hash": self.hasher.hash(password),
                "temporary": True,
                "temporary_expires_at": expires_at,
                "failed_logins": 0,
                "locked_until": None,
                "updated_at": now,
            }
        )
        await self.repo.save_account(account)
        await self.repo.delete_sessions_of(account.account_id)
        await self.publish(
            PasswordReissued(
                company_id=account.company_id,
                account_id=account.account_id,
                name=account.name,
                email=account.email,
                login_id=account.login_id,
                sealed_temporary_password=self._sealer.seal(password),
                temporary_password_expires_at=expires_at,
                portal_url=self.settings.portal_url,
            ),
            account.company_id,
        )
        log.info("password reissued", extra={"account_id": account.account_id})
        return REISSUE_ANSWER

    # --- users -------------------------------------------------------------------------------

    async def account_of(self, principal: Principal) -> Account:
        account = await self.repo.get_account(principal.account_id)
        if account is None or account.company_id != principal.company_id:
            raise IdentityError(404, "not_found", "アカウントが見つかりません。")
        return account

    async def company_users(self, principal: Principal) -> list[Account]:
        return await self.repo.accounts_of_company(principal.company_id)


def mask_phone(phone: str) -> str:
    """090****5678: enough to recognise one's own phone."""
    if len(phone) < 8:
        return "*" * len(phone)
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]
