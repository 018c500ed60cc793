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

# Partition counts bound how many instances of a consumer group share a topic (each partition goes to
# one instance), and cannot be raised later without moving keys to other partitions (per-unit order
# would break once), so they are chosen for the scale-out (docker-compose.scale.yml, README "Scale-out"):
# - utm-events carries nearly all traffic (every UTM log line): 12, so 1, 2, 3, 4, 6 or 12
#   alert-pipeline instances get equal shares;
# - alert-detected and utm-seen follow that traffic (one per threat / per unit and batch): 6, for up to
#   6 notifier and device-registry instances;
# - the other keyed topics are a few events per customer action: 3 keep per-key order without
#   serialising everything; dead-letter is read by people: 1.
ALL_TOPICS: Final[dict[str, int]] = {
    APPLICATION_CONFIRMATION_REQUESTED: 3,
    APPLICATION_SUBMITTED: 3,
    ACCOUNT_PROVISIONED: 3,
    ACCOUNT_EMAIL_CHANGED: 3,
    PASSWORD_REISSUED: 3,
    SMS_CODE_REQUESTED: 3,
    UTM_SHIPPED: 3,
    UTM_REGISTERED: 3,
    UTM_EVENTS: 12,
    UTM_SEEN: 6,
    UTM_STATUS_CHANGED: 3,
    ALERT_DETECTED: 6,
    NOTIFICATION_REQUESTED: 3,
    MONTHLY_REPORT_READY: 3,
    NOTICE_PUBLISHED: 3,
    DEAD_LETTER: 1,
}
