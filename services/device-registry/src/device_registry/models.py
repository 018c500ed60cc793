"""Domain of the device registry: UTM units, their identifiers and registration codes."""

import hashlib
import hmac
import re
import secrets
from datetime import datetime
from typing import Any, Literal

UnitStatus = Literal["expected", "shipped", "registered"]

_MAC_HEX = re.compile(r"[0-9A-Fa-f]{12}")
_SERIAL = re.compile(r"[A-Z0-9][A-Z0-9-]{5,31}")
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}


class InvalidIdentifier(ValueError):
    """A MAC address, serial number or code that is not well formed (message in Japanese)."""


def normalise_mac(value: str) -> str:
    """``00-09-0f-aa-bb-cc``, ``0009.0faa.bbcc`` or ``00090FAABBCC`` → ``00:09:0F:AA:BB:CC``."""
    digits = re.sub(r"[\s:.\-]", "", value or "")
    if not _MAC_HEX.fullmatch(digits):
        raise InvalidIdentifier("MACアドレスの形式が正しくありません。(例: 00:09:0F:AA:BB:CC)")
    if int(digits[:2], 16) & 1:
        raise InvalidIdentifier("MACアドレスにマルチキャストアドレスは指定できません。")
    digits = digits.upper()
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


def normalise_serial(value: str) -> str:
    """Serial numbers are upper-case letters, digits and hyphens."""
    serial = (value or "").strip().upper()
    if not _SERIAL.fullmatch(serial):
        raise InvalidIdentifier("シリアル番号の形式が正しくありません。(英数字6〜32文字)")
    return serial


def normalise_code(value: str) -> str:
    """Registration codes are compared without spaces or hyphens, case-insensitively."""
    code = re.sub(r"[\s\-]", "", value or "").upper()
    if not 6 <= len(code) <= 32 or not code.isalnum() or not code.isascii():
        raise InvalidIdentifier("登録コードの形式が正しくありません。")
    return code


def looks_like_mac(value: str) -> bool:
    """Whether a customer's identifier is a MAC address rather than a serial number."""
    return bool(_MAC_HEX.fullmatch(re.sub(r"[\s:.\-]", "", value or ""))) and any(c in value for c in ":-.")


def hash_code(code: str) -> str:
    """A salted scrypt hash of a registration code (the code itself is never stored)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(normalise_code(code).encode(), salt=salt, **_SCRYPT)
    return f"scrypt${salt.hex()}${digest.hex()}"


def verify_code(code: str, stored: str) -> bool:
    """Whether ``code`` matches a hash made by ``hash_code``."""
    try:
        scheme, salt_hex, digest_hex = stored.split("$")
        candidate = normalise_code(code)
    except (ValueError, InvalidIdentifier):
        return False
    if scheme != "scrypt":
        return False
    digest = hashlib.scrypt(candidate.encode(), salt=bytes.fromhex(salt_hex), **_SCRYPT)
    return hmac.compare_digest(digest.hex(), digest_hex)


def unit_status(doc: dict[str, Any]) -> str:
    """online / offline / unknown (never heard) for registered units; the lifecycle state otherwise."""
    if doc["status"] != "registered":
        return str(doc["status"])
    online = doc.get("online")
    return "unknown" if online is None else ("online" if online else "offline")


def public_unit(doc: dict[str, Any]) -> dict[str, Any]:
    """A unit as its company sees it."""
    last_seen: datetime | None = doc.get("last_seen_at")
    return {
        "unit_id": doc["_id"],
        "name": doc.get("name", ""),
        "destination_id": doc["destination_id"],
        "destination_label": doc.get("destination_label", ""),
        "status": doc["status"],
        "connection": unit_status(doc),
        "serial_number": doc.get("serial_number") if doc["status"] != "expected" else None,
        "mac_address": doc.get("mac_address") if doc["status"] != "expected" else None,
        "shipped_at": doc.get("shipped_at"),
        "registered_at": doc.get("registered_at"),
        "last_seen_at": last_seen,
    }
