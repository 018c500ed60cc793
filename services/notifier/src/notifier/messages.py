"""From events to outgoing messages: which template, which values, and what may be stored.

Pure functions. A message that carries a secret (temporary password, SMS code) keeps a second rendering
with the secret masked: only that copy is ever stored or shown to operators.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import NAMESPACE_URL, uuid5

from notifier.rendering import render_mail, render_sms
from shared.events import (
    AccountProvisioned,
    AlertDetected,
    ApplicationConfirmationRequested,
    NoticePublished,
    NotificationRequested,
    PasswordReissued,
    SendSmsCode,
)

Channel = Literal["email", "sms"]
MASK = "********"
_DELIVERY_NAMESPACE = uuid5(NAMESPACE_URL, "watch-notifier/deliveries")


def delivery_id(source_key: str, recipient: str) -> str:
    """Deterministic id of the one message ``source_key`` may send to ``recipient``."""
    return uuid5(_DELIVERY_NAMESPACE, f"{source_key}|{recipient.strip().lower()}").hex


# Which queued message is sent first while messages wait for the relay (lowest first; in order of
# arrival within one): what a person is waiting for (a code, a password), the first mail of a ★★★
# alert, of a ★★☆ alert, then the rest (follow-ups, digests, notices, reports).
PRIORITY_WAITED = 0
PRIORITY_SERIOUS_ALERT = 1
PRIORITY_ALERT = 2
PRIORITY_ROUTINE = 3
SERIOUS_SEVERITY = 3


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message to one recipient, ready to be recorded and sent."""

    source_key: str
    channel: Channel
    recipient: str
    template: str
    subject: str
    body: str
    stored_body: str
    company_id: str = ""
    event_time: datetime | None = None
    priority: int = PRIORITY_ROUTINE

    @property
    def delivery_id(self) -> str:
        return delivery_id(self.source_key, self.recipient)

    @property
    def has_secret(self) -> bool:
        """True when the stored copy differs from what is sent: it cannot be re-sent from the record."""
        return self.stored_body != self.body


def _mail(
    template: str,
    context: dict[str, Any],
    *,
    source_key: str,
    recipient: str,
    company_id: str = "",
    event_time: datetime | None = None,
    secrets: dict[str, str] | None = None,
    priority: int = PRIORITY_ROUTINE,
) -> Outgoing:
    rendered = render_mail(template, {**context, **(secrets or {})})
    stored = render_mail(template, {**context, **dict.fromkeys(secrets or {}, MASK)}) if secrets else rendered
    return Outgoing(
        source_key=source_key,
        channel="email",
        recipient=recipient,
        template=template,
        subject=rendered.subject,
        body=rendered.body,
        stored_body=stored.body,
        company_id=company_id,
        event_time=event_time,
        priority=priority,
    )


def confirmation_mail(event: ApplicationConfirmationRequested) -> Outgoing:
    """お申込みのご案内: the single-use link that completes an application."""
    return _mail(
        "application_confirmation",
        {
            "application_number": event.application_number,
            "company_name": event.company_name,
            "contact_name": event.contact_name,
            "confirmation_url": event.confirmation_url,
            "expires_at": event.expires_at,
        },
        source_key=str(event.event_id),
        recipient=event.email,
        event_time=event.occurred_at,
    )


def provisioned_mail(event: AccountProvisioned, temporary_password: str) -> Outgoing:
    """仮登録完了のお知らせ: portal URL, user ID and the temporary password."""
    return _credentials_mail(
        "account_provisioned", event, temporary_password, company_name=event.company_name
    )


def reissued_mail(event: PasswordReissued, temporary_password: str) -> Outgoing:
    """パスワード再発行のお知らせ: a new temporary password."""
    return _credentials_mail("password_reissued", event, temporary_password)


def _credentials_mail(
    template: str, event: AccountProvisioned | PasswordReissued, temporary_password: str, **context: str
) -> Outgoing:
    """A mail with the portal URL, user ID and a temporary password (masked in the stored copy)."""
    return _mail(
        template,
        {
            **context,
            "name": event.name,
            "portal_url": event.portal_url,
            "login_id": event.login_id,
            "expires_at": event.temporary_password_expires_at,
        },
        secrets={"temporary_password": temporary_password},
        source_key=str(event.event_id),
        recipient=event.email,
        company_id=event.company_id,
        event_time=event.occurred_at,
    )


def sms_code_message(event: SendSmsCode, code: str) -> Outgoing:
    """The 2-step verification code by SMS."""
    minutes = max(1, round((event.expires_at - event.occurred_at).total_seconds() / 60))
    return Outgoing(
        source_key=str(event.event_id),
        channel="sms",
        recipient=event.phone,
        template="sms_code",
        subject="",
        body=render_sms("sms_code", {"code": code, "minutes": minutes}),
        stored_body=render_sms("sms_code", {"code": MASK, "minutes": minutes}),
        event_time=event.occurred_at,
    )


def alert_context(alert: AlertDetected, *, portal_url: str, window_minutes: int) -> dict[str, Any]:
    """What the alert templates show about ``alert``."""
    return {
        "alert_id": alert.alert_id,
        "category": alert.category,
        "severity": alert.severity,
        "summary": alert.summary,
        "explanation": alert.explanation,
        "remedy": alert.remedy,
        "unit_name": alert.unit_name,
        "mac_address": alert.mac_address,
        "detected_at": alert.detected_at,
        "signature": alert.signature,
        "source": alert.source,
        "destination": alert.destination,
        "alert_url": f"{portal_url.rstrip('/')}/alerts/{alert.alert_id}",
        "window_minutes": window_minutes,
    }


def alert_mail(
    alert: AlertDetected, recipient: str, *, portal_url: str, window_minutes: int, source_key: str = ""
) -> Outgoing:
    """脅威検出通知: the first mail of an important alert."""
    return _mail(
        "alert_detected",
        alert_context(alert, portal_url=portal_url, window_minutes=window_minutes),
        source_key=source_key or str(alert.event_id),
        recipient=recipient,
        company_id=alert.company_id,
        event_time=alert.occurred_at,
        priority=PRIORITY_SERIOUS_ALERT if alert.severity >= SERIOUS_SEVERITY else PRIORITY_ALERT,
    )


def alert_follow_up_mail(
    latest: AlertDetected,
    recipient: str,
    *,
    group_id: str,
    count: int,
    first_alert_id: str,
    first_notified_at: datetime,
    portal_url: str,
    window_minutes: int,
) -> Outgoing:
    """The single follow-up that counts the repeats of an alert within its window."""
    context = alert_context(latest, portal_url=portal_url, window_minutes=window_minutes)
    context |= {
        "count": count,
        "first_alert_id": first_alert_id,
        "first_notified_at": first_notified_at,
        "last_detected_at": latest.detected_at,
    }
    return _mail(
        "alert_repeated",
        context,
        source_key=f"alert-group:{group_id}",
        recipient=recipient,
        company_id=latest.company_id,
    )


def alert_digest_mail(groups: list[Any], recipient: str, *, portal_url: str, window_minutes: int) -> Outgoing:
    """続報のまとめ: the follow-ups of many alerts closing at once, in one mail per recipient."""
    groups = sorted(groups, key=lambda g: (-g.first.severity, g.first.alert_id))
    items = [
        {
            "category": g.latest_or_first.category,
            "severity": g.latest_or_first.severity,
            "count": g.repeat_count,
            "first_alert_id": g.first.alert_id,
            "unit_name": g.latest_or_first.unit_name,
            "mac_address": g.latest_or_first.mac_address,
            "last_detected_at": g.latest_or_first.detected_at,
            "alert_url": f"{portal_url.rstrip('/')}/alerts/{g.latest_or_first.alert_id}",
        }
        for g in groups
    ]
    key = uuid5(_DELIVERY_NAMESPACE, "|".join(sorted(g.group_id for g in groups))).hex
    return _mail(
        "alert_digest",
        {
            "items": items,
            "alerts": len(items),
            "total": sum(i["count"] for i in items),
            "window_minutes": window_minutes,
            "alerts_url": f"{portal_url.rstrip('/')}/alerts?min_severity=2",
        },
        source_key=f"alert-digest:{key}",
        recipient=recipient,
        company_id=groups[0].first.company_id,
    )


SEALED_PREFIX = "sealed_"


def requested_message(event: NotificationRequested, secrets: dict[str, str] | None = None) -> Outgoing:
    """A message asked for by name through NotificationRequested.

    ``secrets`` are the opened ``sealed_*`` values of the context (``sealed_code`` → ``code``): they are
    in what is sent, masked in what is stored.
    """
    context = {k: v for k, v in event.context.items() if not k.startswith(SEALED_PREFIX)}
    if event.channel == "sms":
        body = render_sms(event.template, {**context, **(secrets or {})})
        stored = render_sms(event.template, {**context, **dict.fromkeys(secrets or {}, MASK)})
        return Outgoing(
            source_key=str(event.event_id),
            channel="sms",
            recipient=event.recipient,
            template=event.template,
            subject="",
            body=body,
            stored_body=stored,
            company_id=event.company_id,
            event_time=event.occurred_at,
        )
    return _mail(
        event.template,
        context,
        secrets=secrets,
        source_key=str(event.event_id),
        recipient=event.recipient,
        company_id=event.company_id,
        event_time=event.occurred_at,
    )


def notice_mail(event: NoticePublished, *, company_id: str, name: str, recipient: str) -> Outgoing:
    """A 重要 notice, once per (notice, portal user): the source key is the notice, not the event."""
    return _mail(
        "notice_important",
        {
            "name": name or "ご担当者",
            "title": event.title,
            "body": event.body,
            "published_from": event.published_from,
            "notice_url": event.notice_url,
        },
        source_key=f"notice:{event.notice_id}",
        recipient=recipient,
        company_id=company_id,
        event_time=event.occurred_at,
    )
