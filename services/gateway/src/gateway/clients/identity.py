"""Identity as the portal uses it: login and the session steps, tokens, users, and the browser
session handles behind the portal's cookie.

Identity answers refusals with ``detail: {code, message, errors, next_step}``; they come out of every
function here as ``IdentityRefused`` with that detail as a ``Problem``.
"""

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict

from gateway.backends import Backends
from gateway.clients._base import BackendRefused, call_json

if TYPE_CHECKING:
    from gateway.session import PortalUser

SERVICE = "identity"
SESSION_HEADER = "X-Identity-Session"
HANDLES = "/internal/browser-sessions"
DEFAULT_MESSAGE = "入力内容をご確認ください。"
TwoStepMethod = Literal["totp", "sms"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Account(_Model):
    account_id: str
    company_id: str = ""
    company_name: str = ""
    role: str = "customer"
    name: str = ""
    email: str = ""
    login_id: str = ""
    two_step_method: str | None = None
    phone_hint: str | None = None
    setup_complete: bool = False


class LoginResult(_Model):
    session_id: str
    next_step: str
    second_factor: str | None = None
    phone_hint: str | None = None


class SessionView(_Model):
    stage: str
    account: Account
    sms_sent_to: str | None = None
    totp_pending: bool = False
    login_id_pending: str | None = None
    application_mobile: str = ""


class TotpSetup(_Model):
    secret: str
    otpauth_uri: str
    qr_data_url: str


class Step(_Model):
    """Where the session stands after a step; ``session_id`` when identity renewed it."""

    next_step: str
    session_id: str | None = None
    code_sent_to: str | None = None
    totp: TotpSetup | None = None
    sms_sent_to: str | None = None


class TokenGrant(_Model):
    access_token: str
    expires_in: int = 300
    account: Account


class HandleLookup(_Model):
    session_id: str
    account_id: str
    idle_seconds: float = 0.0
    token: TokenGrant | None = None  # when asked for, and the session is logged in


@dataclass(frozen=True, slots=True)
class Problem:
    """Identity's explanation of a refusal."""

    code: str = "error"
    message: str = DEFAULT_MESSAGE
    errors: dict[str, str] = field(default_factory=dict)
    next_step: str = ""


class IdentityRefused(BackendRefused):
    """Identity answered with an error status; ``problem`` says why."""

    @property
    def problem(self) -> Problem:
        detail = self.body.get("detail") if isinstance(self.body, dict) else None
        if not isinstance(detail, dict):
            return Problem()
        errors = detail.get("errors")
        return Problem(
            code=str(detail.get("code") or "error"),
            message=str(detail.get("message") or DEFAULT_MESSAGE),
            errors={str(k): str(v) for k, v in errors.items()} if isinstance(errors, dict) else {},
            next_step=str(detail.get("next_step") or ""),
        )


async def _call(backends: Backends, method: str, path: str, **kwargs: Any) -> Any:
    try:
        return await call_json(backends, SERVICE, method, path, **kwargs)
    except BackendRefused as exc:
        raise IdentityRefused(exc.status_code, exc.detail, exc.body) from None


def _session(session_id: str | None) -> dict[str, str]:
    return {SESSION_HEADER: session_id} if session_id else {}


# --- login and the session steps --------------------------------------------------------------


async def login(backends: Backends, login_id: str, password: str, *, client: str) -> LoginResult:
    """Check the user ID and password; a new session at its next step."""
    body = {"login_id": login_id, "password": password}
    return LoginResult.model_validate(await _call(backends, "POST", "/login", json=body, client=client))


async def current_session(backends: Backends, session_id: str | None) -> SessionView:
    return SessionView.model_validate(
        await _call(backends, "GET", "/sessions/current", headers=_session(session_id))
    )


async def token(backends: Backends, session_id: str) -> TokenGrant:
    """A short-lived access token for a logged-in session; 409 names the unfinished step."""
    result = await _call(backends, "POST", "/sessions/current/token", headers=_session(session_id))
    return TokenGrant.model_validate(result)


async def logout(backends: Backends, session_id: str) -> None:
    await _call(backends, "DELETE", "/sessions/current", headers=_session(session_id))


async def _step(
    backends: Backends, path: str, session_id: str | None, body: Any = None, **kwargs: Any
) -> Step:
    result = await _call(backends, "POST", path, json=body, headers=_session(session_id), **kwargs)
    return Step.model_validate(result)


async def verify(backends: Backends, session_id: str | None, code: str) -> Step:
    """The second factor at login."""
    return await _step(backends, "/sessions/current/verify", session_id, {"code": code})


async def resend_sms(backends: Backends, session_id: str | None) -> str:
    """A new SMS code; the masked phone it went to."""
    result = await _call(backends, "POST", "/sessions/current/sms/resend", headers=_session(session_id))
    return str(result["sms_sent_to"])


async def change_password(backends: Backends, session_id: str | None, new: str, confirmation: str) -> Step:
    body = {"new_password": new, "new_password_confirm": confirmation}
    return await _step(backends, "/sessions/current/password", session_id, body)


async def set_login_id(backends: Backends, session_id: str | None, new_login_id: str, *, client: str) -> Step:
    body = {"new_login_id": new_login_id}
    return await _step(backends, "/sessions/current/user-id", session_id, body, client=client)


async def confirm_login_id(backends: Backends, session_id: str | None, code: str) -> Step:
    return await _step(backends, "/sessions/current/user-id/confirm", session_id, {"code": code})


async def choose_two_step(
    backends: Backends, session_id: str | None, *, use: bool, method: str | None, phone: str
) -> Step:
    body: dict[str, Any] = {"use": use, "phone": phone}
    if use:
        body["method"] = method
    return await _step(backends, "/sessions/current/two-step", session_id, body)


async def pending_totp(backends: Backends, session_id: str | None) -> TotpSetup:
    result = await _call(backends, "GET", "/sessions/current/two-step/totp", headers=_session(session_id))
    return TotpSetup.model_validate(result)


async def confirm_two_step(
    backends: Backends, session_id: str | None, method: TwoStepMethod, code: str
) -> Step:
    path = (
        "/sessions/current/two-step/totp/confirm"
        if method == "totp"
        else "/sessions/current/two-step/sms/confirm"
    )
    return await _step(backends, path, session_id, {"code": code})


async def reissue(backends: Backends, identifier: str, *, client: str) -> str:
    """パスワードの再発行; identity's answer (the same whether or not the account exists)."""
    result = await _call(
        backends, "POST", "/password/reissue", json={"identifier": identifier}, client=client
    )
    return str(result["message"])


# --- users --------------------------------------------------------------------------------------


async def users(backends: Backends, user: "PortalUser") -> list[Account]:
    """The portal users of the user's company."""
    result = await _call(backends, "GET", "/users", user=user)
    return [Account.model_validate(item) for item in result["users"]]


# --- browser session handles (internal routes, service token) -----------------------------------


async def create_handle(backends: Backends, session_id: str) -> str | None:
    """A new cookie handle for a live identity session; None when that session has ended."""
    try:
        result = await _call(backends, "POST", HANDLES, json={"session_id": session_id})
    except IdentityRefused as exc:
        if exc.not_found:
            return None
        raise
    return str(result["handle"])


async def lookup_handle(backends: Backends, handle: str, *, with_token: bool = False) -> HandleLookup | None:
    """The identity session behind a cookie handle (marked used now); None when there is none.

    ``with_token``: the session's access token too, when it is logged in (as ``token`` gives it)."""
    if not handle or len(handle) > 200:
        return None
    body: dict[str, Any] = {"handle": handle, "with_token": True} if with_token else {"handle": handle}
    try:
        result = await _call(backends, "POST", f"{HANDLES}/lookup", json=body)
    except IdentityRefused as exc:
        if exc.not_found or exc.status_code == 422:
            return None
        raise
    return HandleLookup.model_validate(result)


async def revoke_handle(backends: Backends, handle: str) -> None:
    if handle and len(handle) <= 200:
        await _call(backends, "POST", f"{HANDLES}/revoke", json={"handle": handle})


async def revoke_account_sessions(backends: Backends, account_id: str) -> int:
    """End every session of a user at once (all browsers)."""
    result = await _call(backends, "POST", f"{HANDLES}/revoke-account", json={"account_id": account_id})
    return int(result["revoked"])
