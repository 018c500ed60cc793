"""HTTP bodies of the identity API."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from identity.context import StepResult, mask_phone
from identity.login import TokenGrant
from identity.models import Account
from identity.two_step import TotpSetup

NextStep = Literal["password_change", "user_id_setup", "two_step_setup", "second_factor", "complete"]


class LoginRequest(BaseModel):
    login_id: str = Field(max_length=254, description="User ID (generated, or the email set by the user).")
    password: str = Field(max_length=256)


class LoginResponse(BaseModel):
    session_id: str = Field(description="Opaque session id; the gateway keeps it in an HttpOnly cookie.")
    next_step: NextStep
    second_factor: Literal["totp", "sms"] | None = None
    phone_hint: str | None = Field(default=None, description="Masked phone the SMS code was sent to.")


class StepResponse(BaseModel):
    next_step: NextStep
    session_id: str | None = Field(
        default=None, description="The session's new id when the step renewed it (the old one stops working)."
    )


class AccountView(BaseModel):
    account_id: str
    company_id: str
    company_name: str
    role: Literal["customer", "operator"]
    name: str
    email: str
    login_id: str
    two_step_method: Literal["totp", "sms", "none"] | None
    phone_hint: str | None = None
    setup_complete: bool

    @classmethod
    def of(cls, account: Account) -> "AccountView":
        phone = account.two_step.phone
        return cls(
            account_id=account.account_id,
            company_id=account.company_id,
            company_name=account.company_name,
            role=account.role,
            name=account.name,
            email=account.email,
            login_id=account.login_id,
            two_step_method=account.two_step.method,
            phone_hint=mask_phone(phone) if phone else None,
            setup_complete=account.next_setup_stage() is None,
        )


class SessionView(BaseModel):
    stage: NextStep
    account: AccountView
    sms_sent_to: str | None = Field(default=None, description="Masked phone of the pending SMS code.")
    totp_pending: bool = False
    login_id_pending: str | None = Field(
        default=None, description="Address a user ID confirmation code was mailed to, awaiting the code."
    )
    application_mobile: str = Field(
        default="", description="The 携帯番号 given in the application, to prefill the SMS setup."
    )


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    account: AccountView

    @classmethod
    def of(cls, grant: TokenGrant) -> "TokenResponse":
        account = AccountView.of(grant.account)
        return cls(access_token=grant.access_token, expires_in=grant.expires_in, account=account)


class PasswordChangeRequest(BaseModel):
    new_password: str = Field(default="", max_length=256)
    new_password_confirm: str = Field(default="", max_length=256)


class LoginIdRequest(BaseModel):
    new_login_id: str = Field(default="", max_length=320)


class TwoStepRequest(BaseModel):
    use: bool = Field(description="利用する (true) or 利用しない (false).")
    method: Literal["totp", "sms"] | None = Field(
        default=None, description="認証アプリケーション or SMS認証."
    )
    phone: str = Field(default="", max_length=20, description="For SMS: mobile number, digits.")


class TotpSetupResponse(BaseModel):
    secret: str = Field(description="Base32 secret, shown in text beside the QR code.")
    otpauth_uri: str
    qr_data_url: str = Field(description="PNG QR code of the otpauth URI as a data: URL.")

    @classmethod
    def of(cls, setup: TotpSetup) -> "TotpSetupResponse":
        return cls(secret=setup.secret, otpauth_uri=setup.otpauth_uri, qr_data_url=setup.qr_data_url)


class TwoStepResponse(BaseModel):
    next_step: NextStep
    session_id: str | None = None
    totp: TotpSetupResponse | None = None
    sms_sent_to: str | None = None


class CodeRequest(BaseModel):
    code: str = Field(default="", max_length=16)


class SmsSentResponse(BaseModel):
    sms_sent_to: str


class ReissueRequest(BaseModel):
    identifier: str = Field(default="", max_length=320, description="User ID or email address.")


class MessageResponse(BaseModel):
    message: str


class UsersResponse(BaseModel):
    users: list[AccountView]


class LoginIdResponse(BaseModel):
    next_step: NextStep
    session_id: str | None = None
    code_sent_to: str | None = Field(
        default=None, description="The address a confirmation code was mailed to; it is set once confirmed."
    )


class SecondFactorResetRequest(BaseModel):
    reason: str = Field(default="", max_length=500, description="How the operator checked who asked.")


class AuditEntry(BaseModel):
    audit_id: str
    at: datetime
    action: Literal["second_factor_reset"]
    operator_id: str
    operator_name: str = ""
    account_id: str
    company_id: str
    previous_method: str | None = None
    reason: str


class AuditLog(BaseModel):
    entries: list[AuditEntry]


def step(result: StepResult) -> StepResponse:
    return StepResponse(next_step=result.stage.value, session_id=result.session_id)
