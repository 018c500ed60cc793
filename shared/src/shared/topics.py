"""Every Kafka topic of the platform, with its partition count, in one place."""

from typing import Final

APPLICATION_CONFIRMATION_REQUESTED: Final = "application-confirmation-requested"
APPLICATION_SUBMITTED: Final = "application-submitted"
ACCOUNT_PROVISIONED: Final = "account-provisioned"
ACCOUNT_EMAIL_CHANGED: Final = "account-email-changed"
PASSWORD_REISSUED: Final = "password-reissued"
SMS_CODE_REQUESTED: Final = "sms-code-requested"
UTM_SHIPPED: Final = "utm-shipped"
UTM_REGISTERED: Final = "utm-registered"
UTM_EVENTS: Final = "utm-events"
UTM_SEEN: Final = "utm-seen"
UTM_STATUS_CHANGED: Final = "utm-status-changed"
ALERT_DETECTED: Final = "alert-detected"
NOTIFICATION_REQUESTED: Final = "notification-requested"
MONTHLY_REPORT_READY: Final = "monthly-report-ready"
NOTICE_PUBLISHED: Final = "notice-published"
DEAD_LETTER: Final = "dead-letter"

# The raw fleet stream carries most of the traffic, so it gets the most partitions;
# keyed topics need at least a few so that per-key order does not serialise everything.
ALL_TOPICS: Final[dict[str, int]] = {
    APPLICATION_CONFIRMATION_REQUESTED: 3,
    APPLICATION_SUBMITTED: 3,
    ACCOUNT_PROVISIONED: 3,
    ACCOUNT_EMAIL_CHANGED: 3,
    PASSWORD_REISSUED: 3,
    SMS_CODE_REQUESTED: 3,
    UTM_SHIPPED: 3,
    UTM_REGISTERED: 3,
    UTM_EVENTS: 6,
    UTM_SEEN: 3,
    UTM_STATUS_CHANGED: 3,
    ALERT_DETECTED: 3,
    NOTIFICATION_REQUESTED: 3,
    MONTHLY_REPORT_READY: 3,
    NOTICE_PUBLISHED: 3,
    DEAD_LETTER: 1,
}
