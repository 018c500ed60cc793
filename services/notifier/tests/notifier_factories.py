"""Events as the other services publish them, for the notifier's tests."""

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

from shared.events import (
    AccountProvisioned,
    AlertDetected,
    ApplicationConfirmationRequested,
    PasswordReissued,
    SendSmsCode,
)
from shared.sealing import Sealer
from shared.settings import DEV_SEALING_KEY

SEALER = Sealer(DEV_SEALING_KEY)
# 2026-11-25 03:04:05 UTC is 12:04:05 in Japan.
DETECTED_AT = datetime(2026, 11, 25, 3, 4, 5, tzinfo=UTC)


def confirmation(**overrides: Any) -> ApplicationConfirmationRequested:
    values: dict[str, Any] = {
        "application_number": "AAP-7K2M9QXD",
        "company_name": "日本電気株式会社",
        "contact_name": "日電 太郎",
        "email": f"applicant-{uuid4().hex[:8]}@example.com",
        "confirmation_url": "https://portal.example.jp/signup/confirm/3f1c0a",
        "expires_at": datetime(2026, 11, 26, 15, 30, tzinfo=UTC),
    }
    return ApplicationConfirmationRequested(**(values | overrides))


def provisioned(password: str = "Tmp#pw-83kd", **overrides: Any) -> AccountProvisioned:
    values: dict[str, Any] = {
        "company_id": f"C-{uuid4().hex[:8]}",
        "company_name": "日本電気株式会社",
        "account_id": f"A-{uuid4().hex[:8]}",
        "name": "日電 太郎",
        "email": f"user-{uuid4().hex[:8]}@example.com",
        "login_id": "u7k2m9qxd4ab",
        "sealed_temporary_password": SEALER.seal(password),
        "temporary_password_expires_at": datetime(2026, 12, 9, 3, 0, tzinfo=UTC),
        "portal_url": "https://console.example.jp/",
    }
    return AccountProvisioned(**(values | overrides))


def reissued(password: str = "Re#issued-55x", **overrides: Any) -> PasswordReissued:
    values: dict[str, Any] = {
        "company_id": "C-1",
        "account_id": "A-1",
        "name": "日電 太郎",
        "email": f"user-{uuid4().hex[:8]}@example.com",
        "login_id": "some@example.com",
        "sealed_temporary_password": SEALER.seal(password),
        "temporary_password_expires_at": datetime(2026, 12, 9, 3, 0, tzinfo=UTC),
        "portal_url": "https://console.example.jp/",
    }
    return PasswordReissued(**(values | overrides))


def sms_code(code: str = "123456", **overrides: Any) -> SendSmsCode:
    now = datetime.now(UTC)
    values: dict[str, Any] = {
        "account_id": "A-1",
        "phone": f"090{uuid4().int % 10**8:08d}",
        "sealed_code": SEALER.seal(code),
        "occurred_at": now,
        "expires_at": now + timedelta(minutes=5),
    }
    return SendSmsCode(**(values | overrides))


def alert(**overrides: Any) -> AlertDetected:
    values: dict[str, Any] = {
        "alert_id": f"ALT-20261125-{uuid4().hex[:6].upper()}",
        "company_id": "C-1",
        "unit_id": "U-1",
        "unit_name": "本社 UTM-1",
        "mac_address": "00:09:0F:AA:BB:CC",
        "category": "Webガード",
        "severity": 2,
        "signature": "Malicious Websites",
        "source": "192.168.1.10",
        "destination": "http://malware.example/",
        "action": "blocked",
        "summary": "UTMが有害サイトへのアクセスを検知したため通信をブロックしました。",
        "explanation": "本サービスにおいて有害サイトとして登録されたサイトにアクセスしています。",
        "remedy": "送信元の端末の利用者に対して、アクセス先URLへのアクセスの有無を確認し、"
        "有害サイトへのアクセスは行わないよう呼び掛けてください",
        "detected_at": DETECTED_AT,
    }
    return AlertDetected(**(values | overrides))
