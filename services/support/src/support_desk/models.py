"""Pure rules of the support desk: numbers, statuses, notice kinds, attachment types."""

import re
import secrets
from datetime import datetime
from typing import Any, Final

NUMBER_ALPHABET: Final = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"

STATUS_LABELS: Final = {"open": "未対応", "in_progress": "対応中", "closed": "完了"}
OPEN_STATUSES: Final = ("open", "in_progress")
NOTICE_KINDS: Final = ("重要", "メンテナンス", "お知らせ")
IMPORTANT_KIND: Final = "重要"

MAC_PATTERN: Final = re.compile(r"^[0-9A-F]{2}(:[0-9A-F]{2}){5}$")
ALERT_ID_PATTERN: Final = re.compile(r"^[A-Z]{2,5}-[0-9A-Z-]{4,40}$")
EMAIL_PATTERN: Final = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

# What an attachment may be, recognised by its first bytes (the file name and declared type are not trusted).
ATTACHMENT_TYPES: Final = {
    "application/pdf": "PDF",
    "image/png": "PNG",
    "image/jpeg": "JPEG",
    "image/gif": "GIF",
    "text/plain": "テキスト(TXT/CSV/LOG)",
}


class InvalidInput(ValueError):
    """A value a person typed is not acceptable; the message is shown to them (Japanese)."""


def new_inquiry_id() -> str:
    """A fresh inquiry number ``INQ-XXXXXXXX``."""
    return "INQ-" + "".join(secrets.choice(NUMBER_ALPHABET) for _ in range(8))


def new_notice_id() -> str:
    """A fresh notice id ``N-XXXXXXXX``."""
    return "N-" + "".join(secrets.choice(NUMBER_ALPHABET) for _ in range(8))


def normalize_mac(value: str) -> str:
    """``00:09:0F:AA:BB:CC`` from any common spelling; "" stays ""."""
    value = value.strip()
    if not value:
        return ""
    digits = re.sub(r"[^0-9A-Fa-f]", "", value).upper()
    if len(digits) != 12 or re.search(r"[^0-9A-Fa-f:\-. ]", value):
        raise InvalidInput("MACアドレスの形式が正しくありません(例: 00:09:0F:AA:BB:CC)。")
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


def normalize_alert_id(value: str) -> str:
    value = value.strip().upper()
    if value and not ALERT_ID_PATTERN.match(value):
        raise InvalidInput("アラートIDの形式が正しくありません(例: ALT-20261125-8F3K2Q)。")
    return value


def check_email(value: str) -> str:
    value = value.strip()
    if not EMAIL_PATTERN.match(value):
        raise InvalidInput("連絡先メールアドレスの形式が正しくありません。")
    return value


def sniff_attachment(data: bytes) -> str:
    """The content type of an allowed attachment, judged by its content; raises InvalidInput otherwise."""
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if b"\x00" not in data:
        for encoding in ("utf-8", "cp932"):
            try:
                data.decode(encoding)
            except UnicodeDecodeError:
                continue
            return "text/plain"
    raise InvalidInput(
        "添付できるファイルは PDF・PNG・JPEG・GIF・テキスト(TXT/CSV/LOG)です。"
        "ファイルの種類をご確認ください。"
    )


def safe_filename(name: str) -> str:
    """A file name without folders or control characters, at most 120 characters."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable() and ch not in '"<>|:*?')
    return name.strip()[:120] or "attachment"


def is_published(notice: dict[str, Any], now: datetime) -> bool:
    """Whether a notice shows now: its publication started and has not ended."""
    if notice["published_from"] > now:
        return False
    until = notice.get("published_until")
    return until is None or until > now
