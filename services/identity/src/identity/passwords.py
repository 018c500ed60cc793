"""Passwords: the policy, generated user IDs and temporary passwords, argon2id hashing."""

import re
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# Characters that cannot be mistaken for one another when read from an email.
LOGIN_ID_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
PASSWORD_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghjkmnpqrstuvwxyz"
PASSWORD_DIGITS = "23456789"
PASSWORD_SYMBOLS = "#$%&+-=?@"
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 128

_LETTER = re.compile(r"[A-Za-z]")
_DIGIT = re.compile(r"[0-9]")
_SYMBOL = re.compile(r"[!-/:-@\[-`{-~]")
_PRINTABLE_ASCII = re.compile(r"^[!-~]+$")


def generate_login_id(length: int = 12) -> str:
    """A random user ID of lowercase letters and digits, without look-alike characters."""
    return "".join(secrets.choice(LOGIN_ID_ALPHABET) for _ in range(length))


def generate_temporary_password(length: int = 12) -> str:
    """A random temporary password with letters, digits and at least one symbol."""
    alphabet = PASSWORD_LETTERS + PASSWORD_DIGITS + PASSWORD_SYMBOLS
    while True:
        chars = [secrets.choice(alphabet) for _ in range(length - 1)] + [secrets.choice(PASSWORD_SYMBOLS)]
        # Shuffle so the symbol is not always last.
        for i in range(len(chars) - 1, 0, -1):
            j = secrets.randbelow(i + 1)
            chars[i], chars[j] = chars[j], chars[i]
        password = "".join(chars)
        if policy_error(password) is None:
            return password


def policy_error(password: str) -> str | None:
    """Why ``password`` breaks the policy (in Japanese), or None when it is acceptable."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return "パスワードは8文字以上で入力してください。"
    if len(password) > MAX_PASSWORD_LENGTH:
        return "パスワードは128文字以内で入力してください。"
    if not _PRINTABLE_ASCII.match(password):
        return "パスワードには半角の英字、数字、記号のみ使用できます。"
    if not (_LETTER.search(password) and _DIGIT.search(password) and _SYMBOL.search(password)):
        return "パスワードは英字、数字、記号をそれぞれ1文字以上含めてください。"
    return None


# OWASP's recommended argon2id minimum: 19 MiB, 2 passes, 1 lane.
DEFAULT_MEMORY_KIB = 19 * 1024
DEFAULT_TIME_COST = 2
DEFAULT_PARALLELISM = 1


class Hasher:
    """argon2id hashing of passwords (never stored or logged in clear).

    A hash made with other parameters (older defaults) still verifies; ``needs_rehash`` tells the
    login to store a fresh one made with the current parameters.
    """

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher(
            time_cost=DEFAULT_TIME_COST, memory_cost=DEFAULT_MEMORY_KIB, parallelism=DEFAULT_PARALLELISM
        )
        self._dummy = self._hasher.hash(secrets.token_urlsafe(16))

    @classmethod
    def from_parameters(cls, *, memory_kib: int, time_cost: int, parallelism: int) -> "Hasher":
        return cls(PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism))

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        """Whether ``password`` matches; with no hash it still spends the same time."""
        try:
            return self._hasher.verify(password_hash or self._dummy, password) and password_hash is not None
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        """Whether a stored hash was made with other parameters than the current ones."""
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except (InvalidHashError, ValueError):
            return False
