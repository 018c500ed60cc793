"""Versioned event contracts: every message that crosses a service boundary through Kafka.

Facts are named in the past tense, commands in the imperative. Each model is frozen, ignores
unknown fields (so a newer producer never breaks an older consumer) and carries ``event_id``,
``event_type``, ``version`` and ``occurred_at``. ``TOPIC`` names where it is published.
"""

from datetime import UTC, datetime
from typing import Any, ClassVar, Literal
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict, Field

from shared import topics


def utc_now() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class Event(BaseModel):
    """Envelope fields shared by every event."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    TOPIC: ClassVar[str]

    event_id: UUID = Field(
        default_factory=uuid4, description="Unique id of this event; consumers are idempotent on it."
    )
    event_type: str = Field(description="Name of the event, equal to its topic.")
    version: int = Field(default=1, description="Schema version of this event type.")
    occurred_at: datetime = Field(default_factory=utc_now, description="When the fact happened (UTC).")


class Record(BaseModel):
    """A frozen value object nested inside events."""

    model_config = ConfigDict(frozen=True, extra="ignore")


# --- signup ---------------------------------------------------------------------------------


class ApplicationConfirmationRequested(Event):
    """An applicant finished the wizard; the confirmation mail with its single-use link is due."""

    TOPIC: ClassVar[str] = topics.APPLICATION_CONFIRMATION_REQUESTED
    event_type: Literal["application-confirmation-requested"] = "application-confirmation-requested"

    application_number: str = Field(description="Application number.", examples=["AAP-7K2M9QXD"])
    company_name: str = Field(description="Applicant company.", examples=["日本電気株式会社"])
    contact_name: str = Field(description="Applicant's full name.", examples=["日電 太郎"])
    email: str = Field(description="Basic-information email address.", examples=["some@example.com"])
    confirmation_url: str = Field(
        description="Single-use URL that completes the application.",
        examples=["https://portal.example.jp/signup/confirm/3f1c..."],
    )
    expires_at: datetime = Field(description="When the confirmation link stops working (UTC).")


class CompanyProfile(Record):
    """Basic information of the contracting company (guide §3 step 1)."""

    company_name: str = Field(examples=["日本電気株式会社"])
    last_name: str = Field(examples=["日電"])
    first_name: str = Field(examples=["太郎"])
    department: str = Field(default="", examples=["○○事業部"])
    position: str = Field(default="", examples=["課長"])
    email: str = Field(examples=["some@example.com"])
    postal_code: str = Field(description="Seven digits, no hyphen.", examples=["2118666"])
    prefecture: str = Field(examples=["神奈川県"])
    address: str = Field(examples=["川崎市中原区下沼部1753"])
    phone: str = Field(description="Digits only.", examples=["01023456789"])


class DeliveryDestination(Record):
    """Where UTM appliances are posted, and how many (guide §3 step 2)."""

    destination_id: str = Field(description="Stable id of the destination within the application.")
    company_name: str
    last_name: str
    first_name: str
    department: str = ""
    postal_code: str
    prefecture: str
    address: str
    phone: str
    units: int = Field(ge=1, le=10, description="Number of UTM units for this destination.")


class LoginUser(Record):
    """A person who will use the portal (guide §3 step 4)."""

    name: str = Field(examples=["日電 太郎"])
    email: str = Field(examples=["some@example.com"])
    mobile: str = Field(default="", description="Mobile number, digits only; may be empty.")


class AdditionalAnswer(Record):
    """An answer to an operator-configured question (guide §3 step 3)."""

    question_id: str = Field(examples=["chamber_member"])
    question: str = Field(examples=["商工会議所/商工会の会員ですか？"])
    answer: str = Field(examples=["会員"])


class ApplicationSubmitted(Event):
    """An application was confirmed through its emailed link: the contract starts."""

    TOPIC: ClassVar[str] = topics.APPLICATION_SUBMITTED
    event_type: Literal["application-submitted"] = "application-submitted"

    application_number: str = Field(examples=["AAP-7K2M9QXD"])
    company_id: str = Field(description="Id of the contracting company (tenant).", examples=["C-7K2M9QXD"])
    company: CompanyProfile
    destinations: list[DeliveryDestination] = Field(min_length=1)
    login_users: list[LoginUser] = Field(min_length=1, max_length=3)
    answers: list[AdditionalAnswer] = Field(default_factory=list)


# --- identity -------------------------------------------------------------------------------


class AccountProvisioned(Event):
    """A portal account exists with a temporary password; the 仮登録完了のお知らせ mail is due."""

    TOPIC: ClassVar[str] = topics.ACCOUNT_PROVISIONED
    event_type: Literal["account-provisioned"] = "account-provisioned"

    company_id: str = Field(examples=["C-7K2M9QXD"])
    company_name: str = Field(examples=["日本電気株式会社"])
    account_id: str = Field(description="Stable id of the account.")
    name: str = Field(examples=["日電 太郎"])
    email: str = Field(examples=["some@example.com"])
    login_id: str = Field(description="Generated user ID for the first login.", examples=["u7k2m9qxd4ab"])
    sealed_temporary_password: str = Field(
        description="Temporary password encrypted for the notifier (Fernet); never in clear on the wire."
    )
    temporary_password_expires_at: datetime
    portal_url: str = Field(examples=["https://console.example.jp/"])


class AccountEmailChanged(Event):
    """A portal user's contact email changed; recipients lists follow it."""

    TOPIC: ClassVar[str] = topics.ACCOUNT_EMAIL_CHANGED
    event_type: Literal["account-email-changed"] = "account-email-changed"

    company_id: str
    account_id: str
    name: str
    email: str


class PasswordReissued(Event):
    """A new temporary password was issued on request; the reissue mail is due."""

    TOPIC: ClassVar[str] = topics.PASSWORD_REISSUED
    event_type: Literal["password-reissued"] = "password-reissued"

    company_id: str
    account_id: str
    name: str
    email: str
    login_id: str
    sealed_temporary_password: str
    temporary_password_expires_at: datetime
    portal_url: str


class SendSmsCode(Event):
    """Command: text a one-time code to a phone for 2-step verification."""

    TOPIC: ClassVar[str] = topics.SMS_CODE_REQUESTED
    event_type: Literal["sms-code-requested"] = "sms-code-requested"

    account_id: str
    phone: str = Field(description="Destination mobile number, digits only.", examples=["09012345678"])
    sealed_code: str = Field(description="The one-time code, encrypted for the notifier.")
    expires_at: datetime


# --- device registry ------------------------------------------------------------------------


class UtmShipped(Event):
    """An operator recorded that a UTM unit was posted to a customer."""

    TOPIC: ClassVar[str] = topics.UTM_SHIPPED
    event_type: Literal["utm-shipped"] = "utm-shipped"

    company_id: str
    unit_id: str
    serial_number: str = Field(examples=["FGT60FTK2109ABCD"])
    mac_address: str = Field(examples=["00:09:0F:AA:BB:CC"])
    destination_id: str


class UtmRegistered(Event):
    """A customer registered an installed unit in the portal: its alerts now count."""

    TOPIC: ClassVar[str] = topics.UTM_REGISTERED
    event_type: Literal["utm-registered"] = "utm-registered"

    company_id: str
    unit_id: str
    serial_number: str
    mac_address: str
    name: str = Field(description="Display name of the unit.", examples=["本社 UTM-1"])


class UtmSeen(Event):
    """Units were heard from (heartbeat or any traffic), summarised by the pipeline."""

    TOPIC: ClassVar[str] = topics.UTM_SEEN
    event_type: Literal["utm-seen"] = "utm-seen"

    last_seen: dict[str, datetime] = Field(description="Serial number → latest time heard from (UTC).")


class UtmStatusChanged(Event):
    """A registered unit went offline or came back online."""

    TOPIC: ClassVar[str] = topics.UTM_STATUS_CHANGED
    event_type: Literal["utm-status-changed"] = "utm-status-changed"

    company_id: str
    unit_id: str
    serial_number: str
    mac_address: str
    name: str
    status: Literal["online", "offline"]
    last_seen_at: datetime | None = None


# --- fleet and alert pipeline ---------------------------------------------------------------


class UtmEvent(BaseModel):
    """One raw record from a UTM in the project's own JSON format (version 1).

    The fleet also sends FortiGate-style ``key=value`` syslog lines to the same topic.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    format: Literal["watch.utm-event"] = "watch.utm-event"
    version: Literal[1] = 1
    event_id: str = Field(description="Id given by the unit; unique per unit.")
    serial_number: str = Field(examples=["FGT60FTK2109ABCD"])
    occurred_at: datetime
    kind: Literal["heartbeat", "traffic", "webfilter", "virus", "ips", "app-ctrl", "botnet"]
    action: str = Field(default="", examples=["blocked", "passthrough", "dropped", "detected"])
    level: str = Field(default="", description="The unit's own level.", examples=["warning", "critical"])
    signature: str = Field(default="", description="Threat, URL category, attack or application name.")
    src_ip: str = ""
    dst_ip: str = ""
    url: str = ""
    details: dict[str, Any] = Field(default_factory=dict)


class AlertDetected(Event):
    """An important alert (★★☆ or above) was raised for a registered unit."""

    TOPIC: ClassVar[str] = topics.ALERT_DETECTED
    event_type: Literal["alert-detected"] = "alert-detected"

    alert_id: str = Field(description="Stable alert ID shown to customers.", examples=["ALT-20261125-8F3K2Q"])
    company_id: str
    unit_id: str
    unit_name: str
    mac_address: str
    category: str = Field(examples=["Webガード"])
    severity: int = Field(ge=1, le=3, description="1 = ★☆☆(低), 2 = ★★☆(中), 3 = ★★★(高).")
    signature: str = Field(default="", description="What was detected (URL category, virus, attack, app).")
    source: str = Field(default="", description="Source address of the offending traffic.")
    destination: str = Field(default="", description="Destination address or URL.")
    action: str = Field(default="", examples=["blocked"])
    summary: str = Field(description="What happened, one sentence in Japanese.")
    explanation: str = Field(description="説明: why it matters.")
    remedy: str = Field(description="対処: what the customer should do.")
    detected_at: datetime


class MonthlyReportReady(Event):
    """A company's monthly threat report can be mailed: the month's figures (own company only)."""

    TOPIC: ClassVar[str] = topics.MONTHLY_REPORT_READY
    event_type: Literal["monthly-report-ready"] = "monthly-report-ready"

    company_id: str = Field(examples=["C-7K2M9QXD"])
    month: str = Field(description="The reported calendar month (JST), YYYY-MM.", examples=["2026-10"])
    report: dict[str, Any] = Field(
        default_factory=dict,
        description="The month's UTM脅威レポート, as the pipeline's report API returns it.",
    )
    resend: str = Field(
        default="", description="Empty for the scheduled mail; an id per operator re-send (mailed again)."
    )


class NotificationRequested(Event):
    """Command: send one message rendered from a notifier template."""

    TOPIC: ClassVar[str] = topics.NOTIFICATION_REQUESTED
    event_type: Literal["notification-requested"] = "notification-requested"

    channel: Literal["email", "sms"]
    template: str = Field(description="Template name known to the notifier.", examples=["inquiry_received"])
    recipient: str = Field(description="Email address or phone number.")
    context: dict[str, Any] = Field(default_factory=dict, description="Values the template uses.")
    company_id: str = Field(default="", description="Tenant the message belongs to, if any.")


class NoticePublished(Event):
    """A 重要 notice is published: the notifier mails it once to each portal user it targets."""

    TOPIC: ClassVar[str] = topics.NOTICE_PUBLISHED
    event_type: Literal["notice-published"] = "notice-published"

    notice_id: str = Field(examples=["N-7K2M9QXD"])
    kind: str = Field(description="重要, メンテナンス or お知らせ.", examples=["重要"])
    title: str = Field(examples=["メンテナンスのお知らせ"])
    body: str
    company_ids: list[str] = Field(
        default_factory=list, description="Targeted companies; empty means every company."
    )
    published_from: datetime
    notice_url: str = Field(description="The notice's page on the portal.")


class DeadLetter(Event):
    """A message that a consumer can never process, with the reason, kept for operators."""

    TOPIC: ClassVar[str] = topics.DEAD_LETTER
    event_type: Literal["dead-letter"] = "dead-letter"

    service: str = Field(description="Service whose consumer gave up.", examples=["alert-pipeline"])
    source_topic: str
    partition: int | None = None
    offset: int | None = None
    key: str | None = None
    payload: str = Field(
        description="At most the first 16 KiB of the original body (UTF-8, undecodable bytes replaced)."
    )
    payload_truncated: bool = Field(default=False, description="True when ``payload`` is only the start.")
    original_size: int | None = Field(default=None, ge=0, description="Size of the original body in bytes.")
    sha256: str = Field(default="", description="SHA-256 (hex) of the original body.")
    reason_code: str = Field(
        default="other", description="Short code of the reason (metrics label).", examples=["too-large"]
    )
    reason: str = Field(description="Why it could not be processed.")


ALL_EVENTS: tuple[type[Event], ...] = (
    ApplicationConfirmationRequested,
    ApplicationSubmitted,
    AccountProvisioned,
    AccountEmailChanged,
    PasswordReissued,
    SendSmsCode,
    UtmShipped,
    UtmRegistered,
    UtmSeen,
    UtmStatusChanged,
    AlertDetected,
    MonthlyReportReady,
    NotificationRequested,
    NoticePublished,
    DeadLetter,
)
