"""The password policy and the generated credentials."""

import pytest

from identity.passwords import (
    LOGIN_ID_ALPHABET,
    generate_login_id,
    generate_temporary_password,
    policy_error,
)


@pytest.mark.parametrize(
    ("password", "accepted"),
    [
        ("Abcdef1!", True),
        ("abc123#xyz", True),
        ("Abc1!", False),  # too short
        ("abcdefgh", False),  # letters only
        ("abcdefg1", False),  # no symbol
        ("12345678!", False),  # no letter
        ("abcdefg!", False),  # no digit
        ("パスワード12!", False),  # not ASCII
    ],
)
def test_policy_needs_eight_characters_with_letters_digits_and_symbols(password: str, accepted: bool) -> None:
    assert (policy_error(password) is None) is accepted


def test_policy_messages_are_japanese() -> None:
    assert policy_error("a1!") == "パスワードは8文字以上で入力してください。"


def test_generated_login_ids_are_twelve_unambiguous_characters() -> None:
    ids = {generate_login_id() for _ in range(200)}
    assert len(ids) == 200
    for login_id in ids:
        assert len(login_id) == 12
        assert set(login_id) <= set(LOGIN_ID_ALPHABET)
        assert not set(login_id) & set("01ilo")


def test_temporary_passwords_satisfy_the_policy() -> None:
    for _ in range(200):
        password = generate_temporary_password()
        assert len(password) == 12
        assert policy_error(password) is None
