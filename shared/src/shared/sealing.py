"""Symmetric sealing of the few secrets that must travel to the notifier (temporary passwords, SMS codes).

They cross Kafka encrypted so that the topic's log never holds them in clear.
"""

from cryptography.fernet import Fernet, InvalidToken


class SealError(ValueError):
    """A sealed value could not be opened (wrong key or tampered)."""


class Sealer:
    """Seals and opens short secrets with a shared Fernet key."""

    def __init__(self, key: str) -> None:
        self._fernet = Fernet(key.encode())

    def seal(self, secret: str) -> str:
        """Encrypt ``secret`` for the wire."""
        return self._fernet.encrypt(secret.encode()).decode()

    def open(self, sealed: str) -> str:
        """Decrypt a value made by :meth:`seal`."""
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken as exc:
            raise SealError("sealed value cannot be opened with this key") from exc
