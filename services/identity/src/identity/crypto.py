"""Secrets at rest (TOTP secrets): AES-256-GCM with key ids, so keys can rotate.

A sealed value reads ``aesgcm:<key id>:<nonce>:<ciphertext>`` (base64url). The first configured key
seals; every configured key opens. The account id is bound as associated data, so a sealed secret
copied to another account does not open.
"""

import base64
import binascii
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "aesgcm"


class SecretBoxError(ValueError):
    """A key setting or a sealed value that cannot be used."""


def parse_keys(setting: str) -> list[tuple[str, bytes]]:
    """``kid:base64key[,kid:base64key...]`` → [(kid, key)], the first being the active one."""
    parsed: list[tuple[str, bytes]] = []
    for item in setting.replace("\n", ",").split(","):
        item = item.strip()
        if not item:
            continue
        kid, sep, encoded = item.partition(":")
        if not sep or not kid.isalnum():
            raise SecretBoxError("each key must read <key id>:<base64 of 32 bytes>")
        try:
            key = base64.b64decode(encoded, validate=True)
        except binascii.Error as exc:
            raise SecretBoxError(f"key {kid} is not base64") from exc
        if len(key) != 32:
            raise SecretBoxError(f"key {kid} must be 32 bytes (AES-256)")
        parsed.append((kid, key))
    if not parsed:
        raise SecretBoxError("no key given")
    return parsed


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SecretBox:
    """Seals and opens short secrets with the configured keys."""

    def __init__(self, setting: str) -> None:
        keys = parse_keys(setting)
        self.active_key_id = keys[0][0]
        self._keys = {kid: AESGCM(key) for kid, key in keys}

    def seal(self, plain: str, *, bound_to: str) -> str:
        nonce = secrets.token_bytes(12)
        sealed = self._keys[self.active_key_id].encrypt(nonce, plain.encode(), bound_to.encode())
        return f"{PREFIX}:{self.active_key_id}:{_b64(nonce)}:{_b64(sealed)}"

    def open(self, value: str, *, bound_to: str) -> str:
        prefix, _, rest = value.partition(":")
        if prefix != PREFIX:
            raise SecretBoxError("not a sealed value")
        kid, nonce, sealed = [*rest.split(":"), "", ""][:3]
        cipher = self._keys.get(kid)
        if cipher is None:
            raise SecretBoxError(f"no key {kid!r} to open this value")
        try:
            return cipher.decrypt(_unb64(nonce), _unb64(sealed), bound_to.encode()).decode()
        except (InvalidTag, ValueError, binascii.Error) as exc:
            raise SecretBoxError("sealed value does not open") from exc

    def is_current(self, value: str) -> bool:
        """Whether ``value`` is sealed with the active key (otherwise it is re-sealed when used)."""
        return value.startswith(f"{PREFIX}:{self.active_key_id}:")
