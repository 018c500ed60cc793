"""The mail on the wire and the development SMS outbox."""

import json
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from notifier.messages import Outgoing
from notifier.senders import OutboxSmsSender, build_email, create_sms_sender

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)


def test_mail_headers_are_encoded_and_decode_back() -> None:
    message = Outgoing(
        source_key="e1",
        channel="email",
        recipient="user@example.com",
        template="alert_detected",
        subject="脅威検出通知(Webガード) 重要度:★★☆(中)",
        body="UTMが有害サイトへのアクセスを検知したため通信をブロックしました。\n",
        stored_body="",
    )
    wire = build_email(message, mail_from="セキュリティサービスポータル <noreply@watch.example.jp>", now=NOW)
    raw = wire.as_bytes()
    assert raw.isascii()  # RFC 2047 headers and a base64 body: safe for any relay
    parsed = message_from_bytes(raw, policy=policy.default)
    assert parsed["Subject"] == "脅威検出通知(Webガード) 重要度:★★☆(中)"
    assert parsed["From"].addresses[0].display_name == "セキュリティサービスポータル"
    assert parsed["Message-ID"] == f"<{message.delivery_id}@watch.example.jp>"
    assert parsed.get_content() == message.body


async def test_outbox_writes_one_json_file_per_sms(tmp_path: Path) -> None:
    sender = OutboxSmsSender(tmp_path / "sms")
    await sender.send(to="09012345678", body="認証コード：123456", message_id="d1", now=NOW)
    [file] = list((tmp_path / "sms").glob("*.json"))
    record = json.loads(file.read_text(encoding="utf-8"))
    assert record == {
        "to": "09012345678",
        "body": "認証コード：123456",
        "sent_at": "2026-11-25T03:00:00+00:00",
        "message_id": "d1",
    }


def test_unknown_sms_backend_is_refused() -> None:
    assert isinstance(create_sms_sender("outbox", outbox_dir="x"), OutboxSmsSender)
    with pytest.raises(ValueError, match="unknown SMS backend"):
        create_sms_sender("carrier-pigeon", outbox_dir="x")
