"""TOTP secrets at rest: AES-GCM with key ids, rotation, binding to the account."""

import base64

import pytest

from identity.crypto import SecretBox, SecretBoxError, parse_keys

OLD = "k1:" + base64.b64encode(b"\x01" * 32).decode()
NEW = "k2:" + base64.b64encode(b"\x02" * 32).decode()


def test_sealed_values_open_with_their_key_and_after_rotation() -> None:
    sealed = SecretBox(OLD).seal("JBSWY3DPEHPK3PXP", bound_to="A-1")
    assert sealed.startswith("aesgcm:k1:")
    assert "JBSWY3DPEHPK3PXP" not in sealed
    rotated = SecretBox(f"{NEW},{OLD}")
    assert rotated.open(sealed, bound_to="A-1") == "JBSWY3DPEHPK3PXP"
    assert not rotated.is_current(sealed)
    assert rotated.seal("x", bound_to="A-1").startswith("aesgcm:k2:")


def test_a_sealed_value_does_not_open_for_another_account_or_without_its_key() -> None:
    sealed = SecretBox(OLD).seal("JBSWY3DPEHPK3PXP", bound_to="A-1")
    with pytest.raises(SecretBoxError):
        SecretBox(OLD).open(sealed, bound_to="A-2")
    with pytest.raises(SecretBoxError):
        SecretBox(NEW).open(sealed, bound_to="A-1")
    with pytest.raises(SecretBoxError):
        SecretBox(OLD).open(sealed[:-4] + "AAAA", bound_to="A-1")


@pytest.mark.parametrize("setting", ["", "k1", "k1:notbase64!", "k1:" + base64.b64encode(b"short").decode()])
def test_bad_key_settings_are_refused(setting: str) -> None:
    with pytest.raises(SecretBoxError):
        parse_keys(setting)
