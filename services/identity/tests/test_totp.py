"""Authenticator codes: the accepted window and replay protection."""

from datetime import UTC, datetime, timedelta

import pyotp

from identity import totp

NOW = datetime(2026, 5, 1, 9, 0, 10, tzinfo=UTC)


def code_at(secret: str, when: datetime) -> str:
    return pyotp.TOTP(secret).at(when)


def test_current_and_adjacent_steps_are_accepted() -> None:
    secret = totp.new_secret()
    for offset in (-30, 0, 30):
        assert (
            totp.matching_step(secret, code_at(secret, NOW + timedelta(seconds=offset)), now=NOW) is not None
        )


def test_codes_outside_the_window_are_refused() -> None:
    secret = totp.new_secret()
    assert totp.matching_step(secret, code_at(secret, NOW - timedelta(seconds=90)), now=NOW) is None
    assert totp.matching_step(secret, code_at(secret, NOW + timedelta(seconds=90)), now=NOW) is None


def test_a_used_code_cannot_be_used_again_in_its_window() -> None:
    secret = totp.new_secret()
    code = code_at(secret, NOW)
    step = totp.matching_step(secret, code, now=NOW)
    assert step is not None
    assert totp.matching_step(secret, code, now=NOW + timedelta(seconds=5), last_used_step=step) is None
    later = NOW + timedelta(seconds=30)
    assert totp.matching_step(secret, code_at(secret, later), now=later, last_used_step=step) == step + 1


def test_malformed_codes_are_refused() -> None:
    secret = totp.new_secret()
    for code in ("", "12345", "1234567", "abcdef"):
        assert totp.matching_step(secret, code, now=NOW) is None


def test_provisioning_uri_names_the_portal_and_qr_is_png() -> None:
    secret = totp.new_secret()
    uri = totp.provisioning_uri(secret, "user@example.com")
    assert uri.startswith("otpauth://totp/")
    assert f"secret={secret}" in uri
    assert "issuer=%E3%82%BB" in uri  # セキュリティサービスポータル, percent-encoded
    assert totp.qr_data_url(uri).startswith("data:image/png;base64,iVBOR")
