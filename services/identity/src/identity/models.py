"""Domain of identity: accounts, their 2-step settings, sessions and SMS challenges."""

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field

Role = Literal["customer", "operator"]
TwoStepMethod = Literal["totp", "sms", "none"]

SMS_CODE_TTL = timedelta(minutes=5)
SMS_MAX_ATTEMPTS = 5
SMS_MAX_SENDS = 5
SMS_RESEND_INTERVAL = timedelta(seconds=30)
EMAIL_MAX_ATTEMPTS = 5


def provisioning_key(application_number: str, email: str) -> str:
    """The natural key of an account created from an application (never changes afterwards)."""
    return f"{application_number}:{email.strip().lower()}"


class Stage(StrEnum):
    """Where a session stands: the first-login setup steps, the second factor, or logged in."""

    PASSWORD_CHANGE = "password_change"
    USER_ID_SETUP = "user_id_setup"
    TWO_STEP_SETUP = "two_step_setup"
    SECOND_FACTOR = "second_factor"
    ACTIVE = "complete"


class TwoStep(BaseModel):
    """The account's 2-step verification setting (TOTP secrets are stored sealed, see identity.crypto)."""

    method: TwoStepMethod | None = Field(default=None, description="None until the user has chosen.")
    totp_secret: str | None = Field(default=None, description="Sealed with AES-GCM.")
    totp_last_step: int | None = Field(default=None, description="Last time step used; its code is spent.")
    pending_totp_secret: str | None = Field(
        default=None, description="Shown as QR, not yet confirmed; sealed."
    )
    phone: str | None = None

    @property
    def has_second_factor(self) -> bool:
        return self.method in ("totp", "sms")


class ReissuedPassword(BaseModel):
    """A temporary password mailed on request; the current password keeps working beside it."""

    password_hash: str
    expires_at: datetime

    def valid(self, now: datetime) -> bool:
        return now < self.expires_at


class Account(BaseModel):
    """A portal account (customer user or operator)."""

    account_id: str
    company_id: str
    company_name: str = ""
    application_number: str = ""
    provisioning_key: str = Field(
        description="Application number and the email given in it: one account per application user."
    )
    role: Role = "customer"
    name: str
    email: str = Field(description="Contact email; recipients of notifications.")
    mobile: str = ""
    login_id: str = Field(description="User ID, stored in lowercase.")
    password_hash: str
    temporary: bool = Field(description="The password is temporary: it must be changed at the next login.")
    temporary_expires_at: datetime | None = None
    user_id_set: bool = False
    two_step: TwoStep = Field(default_factory=TwoStep)
    reissued: ReissuedPassword | None = Field(default=None, description="Pending reissued password.")
    provisioning_notified: bool = False
    created_at: datetime
    updated_at: datetime

    def next_setup_stage(self) -> Stage | None:
        """The first unfinished setup step (guide §4 ③–⑤), or None when setup is complete."""
        if self.temporary:
            return Stage.PASSWORD_CHANGE
        if not self.user_id_set:
            return Stage.USER_ID_SETUP
        if self.two_step.method is None or (self.role == "operator" and self.two_step.method != "totp"):
            return Stage.TWO_STEP_SETUP
        return None

    def stage_after_password(self, *, reissued: bool = False) -> Stage:
        """Where a correct password leads. A reissued password never skips the second factor."""
        if self.two_step.has_second_factor and (reissued or self.next_setup_stage() is None):
            return Stage.SECOND_FACTOR
        if reissued:
            return Stage.PASSWORD_CHANGE
        return self.next_setup_stage() or Stage.ACTIVE

    def temporary_expired(self, now: datetime) -> bool:
        return self.temporary and self.temporary_expires_at is not None and self.temporary_expires_at <= now


class SmsVerdict(StrEnum):
    """Outcome of checking an SMS code."""

    OK = "ok"
    WRONG = "wrong"
    EXPIRED = "expired"
    EXHAUSTED = "exhausted"


class SmsChallenge(BaseModel):
    """A one-time SMS code (stored only as a keyed hash) with its expiry and attempt count."""

    purpose: Literal["setup", "login"]
    phone: str
    code_hash: str
    salt: str
    expires_at: datetime
    attempts: int = 0
    sends: int = 1
    last_sent_at: datetime

    @staticmethod
    def hash_code(code: str, salt: str) -> str:
        return hmac.new(salt.encode(), code.encode(), hashlib.sha256).hexdigest()

    @classmethod
    def issue(
        cls, *, purpose: Literal["setup", "login"], phone: str, now: datetime
    ) -> tuple["SmsChallenge", str]:
        """A new challenge and its code in clear (to be sealed for the SMS only)."""
        code = f"{secrets.randbelow(1_000_000):06d}"
        salt = secrets.token_hex(16)
        challenge = cls(
            purpose=purpose,
            phone=phone,
            code_hash=cls.hash_code(code, salt),
            salt=salt,
            expires_at=now + SMS_CODE_TTL,
            last_sent_at=now,
        )
        return challenge, code

    def reissue(self, *, now: datetime) -> tuple["SmsChallenge", str]:
        """A fresh code for the same phone; attempts start again, sends are counted."""
        fresh, code = SmsChallenge.issue(purpose=self.purpose, phone=self.phone, now=now)
        return fresh.model_copy(update={"sends": self.sends + 1}), code

    def can_resend(self, now: datetime) -> bool:
        return self.sends < SMS_MAX_SENDS and now - self.last_sent_at >= SMS_RESEND_INTERVAL

    def check(self, code: str, *, now: datetime) -> tuple["SmsChallenge", SmsVerdict]:
        """Check ``code``; returns the challenge with the attempt counted, and the verdict."""
        if self.attempts >= SMS_MAX_ATTEMPTS:
            return self, SmsVerdict.EXHAUSTED
        if now >= self.expires_at:
            return self, SmsVerdict.EXPIRED
        counted = self.model_copy(update={"attempts": self.attempts + 1})
        if hmac.compare_digest(self.hash_code(code.strip(), self.salt), self.code_hash):
            return counted, SmsVerdict.OK
        if counted.attempts >= SMS_MAX_ATTEMPTS:
            return counted, SmsVerdict.EXHAUSTED
        return counted, SmsVerdict.WRONG


class EmailChallenge(BaseModel):
    """A code mailed to a new user ID address; the address becomes the user ID once it is entered."""

    address: str
    code_hash: str
    salt: str
    expires_at: datetime
    attempts: int = 0

    @classmethod
    def issue(cls, *, address: str, now: datetime, ttl: timedelta) -> tuple["EmailChallenge", str]:
        code = f"{secrets.randbelow(1_000_000):06d}"
        salt = secrets.token_hex(16)
        challenge = cls(
            address=address, code_hash=SmsChallenge.hash_code(code, salt), salt=salt, expires_at=now + ttl
        )
        return challenge, code

    def check(self, code: str, *, now: datetime) -> tuple["EmailChallenge", SmsVerdict]:
        if self.attempts >= EMAIL_MAX_ATTEMPTS:
            return self, SmsVerdict.EXHAUSTED
        if now >= self.expires_at:
            return self, SmsVerdict.EXPIRED
        counted = self.model_copy(update={"attempts": self.attempts + 1})
        if hmac.compare_digest(SmsChallenge.hash_code(code.strip(), self.salt), self.code_hash):
            return counted, SmsVerdict.OK
        if counted.attempts >= EMAIL_MAX_ATTEMPTS:
            return counted, SmsVerdict.EXHAUSTED
        return counted, SmsVerdict.WRONG


class Session(BaseModel):
    """A browser's session; only a hash of its id is stored."""

    session_hash: str
    account_id: str
    stage: Stage
    created_at: datetime
    expires_at: datetime
    client: str = Field(default="", description="Client address at login (for the failure counters).")
    login_id: str = Field(default="", description="User ID typed at login (for the failure counters).")
    reissued: bool = Field(default=False, description="Opened with a reissued password: it must be changed.")
    sms: SmsChallenge | None = None
    email: EmailChallenge | None = None
    second_factor_failures: int = 0

    @staticmethod
    def hash_id(session_id: str) -> str:
        return hashlib.sha256(session_id.encode()).hexdigest()
