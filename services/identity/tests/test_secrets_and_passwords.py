"""Sealed secrets and the password policy, to the letter: key settings, the sealed format, the
messages of each refusal, the bounds of the policy, generated passwords, hashing."""

import base64
import io
from datetime import UTC, datetime
from urllib.parse import quote

import pyotp
import pytest
from argon2 import PasswordHasher
from PIL import Image
from pydantic import ValidationError

from identity import totp
from identity.crypto import SecretBox, SecretBoxError, parse_keys
from identity.passwords import Hasher, generate_temporary_password, policy_error
from identity.settings import Settings

KEY_1 = base64.b64encode(b"\x01" * 32).decode()
KEY_2 = base64.b64encode(b"\x02" * 32).decode()
CHEAP = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def test_key_settings_read_every_key_in_order_whatever_the_separator() -> None:
    assert parse_keys(f" k2:{KEY_2} ,\nk1:{KEY_1},, ") == [("k2", b"\x02" * 32), ("k1", b"\x01" * 32)]
    assert parse_keys(f"k1:{KEY_1}\nk2:{KEY_2}") == [("k1", b"\x01" * 32), ("k2", b"\x02" * 32)]


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("", "no key given"),
        (" , ", "no key given"),
        (KEY_1, "each key must read <key id>:<base64 of 32 bytes>"),
        (f"k-1:{KEY_1}", "each key must read <key id>:<base64 of 32 bytes>"),
        (f":{KEY_1}", "each key must read <key id>:<base64 of 32 bytes>"),
        ("k1:not base64!", "key k1 is not base64"),
        ("k1:" + base64.b64encode(b"\x01" * 31).decode(), "key k1 must be 32 bytes (AES-256)"),
        ("k1:" + base64.b64encode(b"\x01" * 33).decode(), "key k1 must be 32 bytes (AES-256)"),
    ],
)
def test_bad_key_settings_say_what_is_wrong(setting: str, message: str) -> None:
    with pytest.raises(SecretBoxError) as refused:
        parse_keys(setting)
    assert str(refused.value) == message


def test_a_sealed_value_names_its_key_and_carries_no_padding() -> None:
    box = SecretBox(f"k1:{KEY_1}")
    assert box.active_key_id == "k1"
    for plain in ("", "a", "JBSWY3DPEHPK3PXP", "x" * 33):
        sealed = box.seal(plain, bound_to="A-1")
        prefix, kid, nonce, body = sealed.split(":")
        assert (prefix, kid) == ("aesgcm", "k1")
        assert "=" not in sealed
        assert len(base64.urlsafe_b64decode(nonce + "=" * (-len(nonce) % 4))) == 12
        assert len(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))) == len(plain) + 16
        assert box.open(sealed, bound_to="A-1") == plain
    first, second = box.seal("same", bound_to="A-1"), box.seal("same", bound_to="A-1")
    assert first != second  # a fresh nonce every time


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("JBSWY3DPEHPK3PXP", "not a sealed value"),
        ("fernet:k1:abc:def", "not a sealed value"),
        ("aesgcm:k9:AAAAAAAAAAAAAAAA:AAAA", "no key 'k9' to open this value"),
        ("aesgcm:k1", "sealed value does not open"),
        ("aesgcm:k1:AAAAAAAAAAAAAAAA", "sealed value does not open"),
        ("aesgcm:k1:!!:??", "sealed value does not open"),
    ],
)
def test_values_that_cannot_be_opened_say_why(value: str, message: str) -> None:
    with pytest.raises(SecretBoxError) as refused:
        SecretBox(f"k1:{KEY_1}").open(value, bound_to="A-1")
    assert str(refused.value) == message


def test_only_values_of_the_active_key_are_current() -> None:
    old = SecretBox(f"k1:{KEY_1}").seal("s", bound_to="A-1")
    rotated = SecretBox(f"k2:{KEY_2},k1:{KEY_1}")
    assert not rotated.is_current(old)
    assert rotated.is_current(rotated.seal("s", bound_to="A-1"))
    assert not rotated.is_current("aesgcm:k22:x:y")
    assert not rotated.is_current("k2:x:y")


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("Ab1#xyz", "パスワードは8文字以上で入力してください。"),
        ("Ab1#" + "x" * 125, "パスワードは128文字以内で入力してください。"),
        ("Ab1#xyz ", "パスワードには半角の英字、数字、記号のみ使用できます。"),
        ("Ab1#xyzé", "パスワードには半角の英字、数字、記号のみ使用できます。"),
        ("Abcdefgh", "パスワードは英字、数字、記号をそれぞれ1文字以上含めてください。"),
        ("12345678#", "パスワードは英字、数字、記号をそれぞれ1文字以上含めてください。"),
        ("Abcdefg#", "パスワードは英字、数字、記号をそれぞれ1文字以上含めてください。"),
        ("Abcdefg1", "パスワードは英字、数字、記号をそれぞれ1文字以上含めてください。"),
    ],
)
def test_each_policy_refusal_has_its_message(password: str, message: str) -> None:
    assert policy_error(password) == message


@pytest.mark.parametrize(
    "password",
    [
        "Ab1#xyzw",
        "Ab1#" + "x" * 124,
        "a1!bcdef",
        "Z9~zzzzz",
        "a1[bcdef",
        "a1`bcdef",
        "a1{bcdef",
        "a1/bcdef",
        "a1:bcdef",
    ],
)
def test_the_policy_accepts_its_bounds_and_every_ascii_symbol(password: str) -> None:
    assert policy_error(password) is None


def test_generated_temporary_passwords_use_only_unambiguous_characters_and_a_symbol() -> None:
    allowed = set("ABCDEFGHJKLMNPQRSTUVWXYZabcdefghjkmnpqrstuvwxyz23456789#$%&+-=?@")
    seen_last = set()
    for _ in range(300):
        password = generate_temporary_password()
        assert len(password) == 12
        assert set(password) <= allowed
        assert set(password) & set("#$%&+-=?@")
        seen_last.add(password[-1])
    assert len(generate_temporary_password(20)) == 20
    assert seen_last - set("#$%&+-=?@")  # the symbol is not always last


def test_hashes_verify_only_their_password_and_no_hash_verifies_nothing() -> None:
    hasher = Hasher(CHEAP)
    stored = hasher.hash("Kawasaki#2026")
    assert stored.startswith("$argon2id$")
    assert stored != hasher.hash("Kawasaki#2026")  # salted
    assert hasher.verify(stored, "Kawasaki#2026") is True
    assert hasher.verify(stored, "Kawasaki#2027") is False
    assert hasher.verify(None, "Kawasaki#2026") is False
    assert hasher.verify("", "Kawasaki#2026") is False
    assert hasher.verify("not-a-hash", "Kawasaki#2026") is False


def test_the_qr_code_is_a_png_with_a_two_module_quiet_zone_of_eight_pixel_modules() -> None:
    uri = totp.provisioning_uri("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", "user@example.com")
    data = base64.b64decode(totp.qr_data_url(uri).removeprefix("data:image/png;base64,"))
    image = Image.open(io.BytesIO(data)).convert("L")
    assert image.format is None or image.format == "PNG"
    width, height = image.size
    assert width == height
    assert width % 8 == 0
    # Quiet zone: 2 modules × 8 px of white; then the finder pattern's dark corner module.
    assert {image.getpixel((x, y)) for x in range(16) for y in range(16)} == {255}
    assert {image.getpixel((x, y)) for x in range(16, 24) for y in range(16, 24)} == {0}
    # The finder: a dark ring one module wide and seven across, a white ring, a 3×3 dark centre,
    # and a white separator after it.
    assert image.getpixel((24, 24)) == 255
    assert image.getpixel((32, 32)) == 0
    assert image.getpixel((16 + 6 * 8, 16)) == 0
    assert image.getpixel((16 + 7 * 8, 16)) == 255


def test_the_uri_names_the_issuer_and_the_account_and_codes_may_carry_spaces() -> None:
    uri = totp.provisioning_uri("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", "user@example.com")
    issuer = quote("セキュリティサービスポータル")
    assert uri.startswith(f"otpauth://totp/{issuer}:user%40example.com?")
    assert f"issuer={issuer}" in uri
    now = datetime(2026, 5, 1, 9, 0, 10, tzinfo=UTC)
    code = pyotp.TOTP("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP").at(now)
    step = int(now.timestamp()) // 30
    assert totp.matching_step("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", f" {code}\n", now=now) == step
    assert (
        totp.matching_step("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", code, now=now, last_used_step=step - 1) == step
    )
    assert totp.matching_step("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", code, now=now, last_used_step=step) is None
    assert len(totp.new_secret()) == 32


def test_password_hashing_defaults_to_owasps_argon2id_minimum_and_refuses_weaker_settings() -> None:
    settings = Settings()
    assert (settings.password_memory_kib, settings.password_time_cost, settings.password_parallelism) == (
        19456,
        2,
        1,
    )
    assert Hasher().hash("Kawasaki#2026").startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    with pytest.raises(ValidationError):
        Settings(password_memory_kib=19455)
    with pytest.raises(ValidationError):
        Settings(password_time_cost=1)
    with pytest.raises(ValidationError):
        Settings(password_parallelism=0)


def test_only_hashes_with_other_parameters_need_re_hashing() -> None:
    hasher = Hasher(CHEAP)
    assert hasher.needs_rehash(hasher.hash("Kawasaki#2026")) is False
    older = PasswordHasher(time_cost=3, memory_cost=65536, parallelism=4).hash("Kawasaki#2026")
    assert hasher.needs_rehash(older) is True
    assert hasher.verify(older, "Kawasaki#2026") is True
    assert hasher.needs_rehash("not-a-hash") is False
