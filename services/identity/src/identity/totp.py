"""Authenticator-app codes (RFC 6238): secrets, provisioning URI and QR image, verification."""

import base64
import io
from datetime import datetime

import pyotp
import qrcode

ISSUER = "セキュリティサービスポータル"
STEP_SECONDS = 30
# Codes of the previous and the next 30-second step are accepted for clock drift.
DRIFT_STEPS = 1


def new_secret() -> str:
    """A fresh base32 secret (160 bits)."""
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, account_name: str) -> str:
    """The otpauth:// URI an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=account_name, issuer_name=ISSUER)


def qr_data_url(uri: str) -> str:
    """A PNG QR code of ``uri`` as a data: URL for an <img>."""
    image = qrcode.make(uri, box_size=8, border=2)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def matching_step(secret: str, code: str, *, now: datetime, last_used_step: int | None = None) -> int | None:
    """The time step whose code equals ``code``, or None.

    A step at or before ``last_used_step`` is refused, so a code cannot be used twice.
    """
    code = code.strip()
    if len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    current = int(now.timestamp()) // STEP_SECONDS
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if last_used_step is not None and step <= last_used_step:
            continue
        if pyotp.utils.strings_equal(totp.generate_otp(step), code):
            return step
    return None
