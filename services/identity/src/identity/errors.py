"""Domain errors of identity: what went wrong, in Japanese for the user. api.py turns them into HTTP."""

from typing import Any


class IdentityError(Exception):
    """A request that cannot be served, with a machine code, a Japanese message and field errors."""

    def __init__(
        self, code: str, message: str, *, errors: dict[str, str] | None = None, **extra: Any
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.errors = errors
        self.extra = extra

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message, **self.extra}
        if self.errors is not None:
            body["errors"] = self.errors
        return body


class MissingFields(IdentityError):
    """Required input left empty."""


class InvalidInput(IdentityError):
    """Input of the wrong shape, or a wrong code."""


class BadCredentials(IdentityError):
    """Wrong user ID or password (never says which)."""


class NoSession(IdentityError):
    """No valid session."""

    def __init__(self) -> None:
        super().__init__(
            "session_invalid", "セッションの有効期限が切れました。もう一度ログインしてください。"
        )


class WrongStep(IdentityError):
    """Not allowed at the session's current step."""


class Conflict(IdentityError):
    """The request clashes with the current state (e.g. an address already in use)."""


class Expired(IdentityError):
    """Credentials past their validity."""


class NotFound(IdentityError):
    """No such thing (also the answer for another company's ids)."""


class Throttled(IdentityError):
    """Too many attempts: wait."""


INVALID_CREDENTIALS = "ユーザIDまたはパスワードが正しくありません。"
TOO_MANY_ATTEMPTS = "ログインの試行回数が多すぎます。しばらく時間をおいてから再度お試しください。"


def wrong_step(stage: str) -> WrongStep:
    return WrongStep("wrong_step", "この操作は現在行えません。", next_step=stage)


def invalid_code(message: str) -> InvalidInput:
    return InvalidInput("invalid_code", message, errors={"code": message})
