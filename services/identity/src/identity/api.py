"""HTTP API of identity, used by the gateway (session endpoints) and the services (users).

Domain errors of the use cases become HTTP answers here, and only here.
"""

import hmac
import ipaddress
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from identity import errors
from identity.context import StepResult, mask_phone
from identity.schemas import (
    AccountView,
    AuditEntry,
    AuditLog,
    CodeRequest,
    LoginIdRequest,
    LoginIdResponse,
    LoginRequest,
    LoginResponse,
    MessageResponse,
    PasswordChangeRequest,
    ReissueRequest,
    SecondFactorResetRequest,
    SessionView,
    SmsSentResponse,
    StepResponse,
    TokenResponse,
    TotpSetupResponse,
    TwoStepRequest,
    TwoStepResponse,
    UsersResponse,
    step,
)
from identity.service import IdentityService
from identity.two_step import TotpSetup
from shared.auth import CurrentOperator, CurrentPrincipal

SESSION_HEADER = "X-Identity-Session"
SERVICE_TOKEN_HEADER = "X-Service-Token"
CLIENT_ADDRESS_HEADER = "X-Client-Address"

STATUS: dict[type[errors.IdentityError], int] = {
    errors.MissingFields: 400,
    errors.BadCredentials: 401,
    errors.NoSession: 401,
    errors.Expired: 403,
    errors.NotFound: 404,
    errors.WrongStep: 409,
    errors.Conflict: 409,
    errors.InvalidInput: 422,
    errors.Throttled: 429,
}


async def _service(request: Request) -> IdentityService:
    service: IdentityService = request.app.state.identity
    return service


async def client_address(request: Request) -> str:
    """The browser's address as the gateway saw it, but only when the gateway proves itself with its
    service token; anyone else is limited by their own peer address."""
    service: IdentityService = request.app.state.identity
    presented = request.headers.get(SERVICE_TOKEN_HEADER, "")
    if not presented:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        presented = token if scheme.lower() == "bearer" else ""
    forwarded = request.headers.get(CLIENT_ADDRESS_HEADER, "").strip()
    expected = service.settings.gateway_secret
    if forwarded and presented and hmac.compare_digest(presented.encode(), expected.encode()):
        try:
            return str(ipaddress.ip_address(forwarded))
        except ValueError:
            pass
    return request.client.host if request.client else ""


ServiceDep = Annotated[IdentityService, Depends(_service)]
ClientAddress = Annotated[str, Depends(client_address)]
SessionId = Annotated[
    str | None,
    Header(alias=SESSION_HEADER, description="Session id returned by POST /login (kept by the gateway)."),
]


Responses = dict[int | str, dict[str, Any]]


def _error(status_code: int, description: str) -> Responses:
    return {status_code: {"description": description}}


R400 = _error(400, "Missing input")
R401 = _error(401, "No valid session, or wrong credentials")
R401_TOKEN = _error(401, "Missing or invalid access token")
R403 = _error(403, "Credentials expired")
R403_OPERATOR = _error(403, "Operator role required")
R404 = _error(404, "Unknown (or another company's) account")
R409 = _error(409, "Not allowed at the session's current step, or conflicting state")
R422 = _error(422, "Invalid input or code; `detail.errors` maps fields to Japanese messages")
R429 = _error(429, "Too many attempts; wait")


def responses(*groups: Responses) -> Responses:
    merged: Responses = {}
    for group in groups:
        merged.update(group)
    return merged


SESSION_STEP = responses(R401, R409, R422)
router = APIRouter(tags=["identity"])


@router.post("/login", response_model=LoginResponse, responses=responses(R400, R401, R403, R422, R429))
async def login(body: LoginRequest, service: ServiceDep, client: ClientAddress) -> LoginResponse:
    """Check user ID and password; the session's next step says what the user must do next.

    401 for a wrong user ID or password (known or not), 403 `credentials_expired` (first temporary
    password older than 14 days), 429 `rate_limited` for a client that failed too often.
    """
    result = await service.login.login(body.login_id, body.password, client=client)
    return LoginResponse(
        session_id=result.session_id,
        next_step=result.next_step.value,
        second_factor=result.second_factor,
        phone_hint=result.phone_hint,
    )


@router.get("/sessions/current", response_model=SessionView, responses=responses(R401))
async def current_session(service: ServiceDep, session_id: SessionId = None) -> SessionView:
    """The session's step and account (for the setup pages)."""
    session, account = await service.sessions.load(session_id)
    return SessionView(
        stage=session.stage.value,
        account=AccountView.of(account),
        sms_sent_to=mask_phone(session.sms.phone) if session.sms else None,
        totp_pending=account.two_step.pending_totp_secret is not None,
        login_id_pending=session.email.address if session.email else None,
        application_mobile=account.mobile,
    )


@router.post("/sessions/current/token", response_model=TokenResponse, responses=responses(R401, R409))
async def token(service: ServiceDep, session_id: SessionId = None) -> TokenResponse:
    """Exchange a logged-in session for a short-lived access token; 409 names the unfinished step.

    Checked against the stored session at every call: a logout, a password change or an operator's
    reset shows at the next exchange.
    """
    grant = await service.login.grant_token(session_id)
    return TokenResponse.of(grant)


@router.delete("/sessions/current", status_code=status.HTTP_204_NO_CONTENT)
async def logout(service: ServiceDep, session_id: SessionId = None) -> Response:
    """ログアウト: end the session."""
    await service.login.logout(session_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/sessions/current/password", response_model=StepResponse, responses=SESSION_STEP)
async def change_password(
    body: PasswordChangeRequest, service: ServiceDep, session_id: SessionId = None
) -> StepResponse:
    """パスワード変更: 8+ characters with letters, digits and symbols; not the user ID or the old one.

    The session gets a new id; the account's other sessions end.
    """
    return step(await service.setup.change_password(session_id, body.new_password, body.new_password_confirm))


@router.post(
    "/sessions/current/user-id", response_model=LoginIdResponse, responses=responses(SESSION_STEP, R429)
)
async def set_login_id(
    body: LoginIdRequest, service: ServiceDep, session_id: SessionId = None
) -> LoginIdResponse:
    """ユーザID設定: a confirmation code is mailed to the address (`code_sent_to`); the address the
    account's mail already goes to is set at once (409 when it is another account's user ID)."""
    result = await service.setup.request_login_id(session_id, body.new_login_id)
    if isinstance(result, StepResult):
        return LoginIdResponse(next_step=result.stage.value, session_id=result.session_id)
    session, _ = await service.sessions.load(session_id)
    return LoginIdResponse(next_step=session.stage.value, code_sent_to=result)


@router.post("/sessions/current/user-id/confirm", response_model=StepResponse, responses=SESSION_STEP)
async def confirm_login_id(
    body: CodeRequest, service: ServiceDep, session_id: SessionId = None
) -> StepResponse:
    """確認コード入力: the mailed code makes the address the user ID and contact address (409 when
    another account already has it)."""
    return step(await service.setup.confirm_login_id(session_id, body.code))


@router.post("/sessions/current/two-step", response_model=TwoStepResponse, responses=SESSION_STEP)
async def choose_two_step(
    body: TwoStepRequest, service: ServiceDep, session_id: SessionId = None
) -> TwoStepResponse:
    """2段階認証設定: authenticator (returns QR and secret), SMS (sends a code) or none."""
    result = await service.two_step.choose(session_id, use=body.use, method=body.method, phone=body.phone)
    if isinstance(result, StepResult):
        return TwoStepResponse(next_step=result.stage.value, session_id=result.session_id)
    session, _ = await service.sessions.load(session_id)
    current = session.stage.value
    if isinstance(result, TotpSetup):
        return TwoStepResponse(next_step=current, totp=TotpSetupResponse.of(result))
    return TwoStepResponse(next_step=current, sms_sent_to=result)


@router.get(
    "/sessions/current/two-step/totp", response_model=TotpSetupResponse, responses=responses(R401, R409)
)
async def pending_totp(service: ServiceDep, session_id: SessionId = None) -> TotpSetupResponse:
    """The pending authenticator setup (QR and secret) again."""
    return TotpSetupResponse.of(await service.two_step.pending_totp(session_id))


@router.post("/sessions/current/two-step/totp/confirm", response_model=StepResponse, responses=SESSION_STEP)
async def confirm_totp(body: CodeRequest, service: ServiceDep, session_id: SessionId = None) -> StepResponse:
    """認証アプリケーションの設定: confirm with a 6-digit code; replaces any previous secret."""
    return step(await service.two_step.confirm_totp(session_id, body.code))


@router.post("/sessions/current/two-step/sms/confirm", response_model=StepResponse, responses=SESSION_STEP)
async def confirm_sms(body: CodeRequest, service: ServiceDep, session_id: SessionId = None) -> StepResponse:
    """認証コード入力 (SMS setup): codes expire after 5 minutes; 5 attempts."""
    return step(await service.two_step.confirm_sms_setup(session_id, body.code))


@router.post(
    "/sessions/current/sms/resend", response_model=SmsSentResponse, responses=responses(R401, R409, R429)
)
async def resend_sms(service: ServiceDep, session_id: SessionId = None) -> SmsSentResponse:
    """Send a new SMS code (at most 5 per session, 30 seconds apart)."""
    return SmsSentResponse(sms_sent_to=await service.two_step.resend_sms(session_id))


@router.post("/sessions/current/verify", response_model=StepResponse, responses=responses(SESSION_STEP, R429))
async def verify(body: CodeRequest, service: ServiceDep, session_id: SessionId = None) -> StepResponse:
    """Second factor at login: the authenticator's or the SMS code. The session gets a new id; too
    many wrong codes end it (429)."""
    return step(await service.two_step.verify(session_id, body.code))


@router.post(
    "/password/reissue",
    response_model=MessageResponse,
    status_code=status.HTTP_202_ACCEPTED,
    responses=responses(R422, R429),
)
async def reissue(body: ReissueRequest, service: ServiceDep, client: ClientAddress) -> MessageResponse:
    """パスワードの再発行 by user ID or email: the same answer at once whether or not the account exists;
    the temporary password is mailed in the background and works beside the current one."""
    return MessageResponse(message=await service.reissue.request(body.identifier, client=client))


@router.get("/users/me", response_model=AccountView, responses=responses(R401_TOKEN, R404))
async def me(principal: CurrentPrincipal, service: ServiceDep) -> AccountView:
    """The caller's account."""
    return AccountView.of(await service.account_of(principal))


@router.get("/users", response_model=UsersResponse, responses=responses(R401_TOKEN))
async def users(principal: CurrentPrincipal, service: ServiceDep) -> UsersResponse:
    """The portal users of the caller's company (ユーザ情報)."""
    return UsersResponse(users=[AccountView.of(a) for a in await service.company_users(principal)])


@router.post(
    "/operator/accounts/{account_id}/second-factor/reset",
    response_model=AuditEntry,
    responses=responses(R401_TOKEN, R403_OPERATOR, R404, R422),
)
async def reset_second_factor(
    account_id: str, body: SecondFactorResetRequest, operator: CurrentOperator, service: ServiceDep
) -> AuditEntry:
    """A user lost their second factor: an operator, having checked who asks, resets it. The user
    sets a new one at their next login; their sessions end. Recorded in the audit log."""
    entry = await service.two_step.operator_reset(operator, account_id[:64], body.reason)
    return AuditEntry.model_validate(entry)


@router.get("/operator/audit-log", response_model=AuditLog, responses=responses(R401_TOKEN, R403_OPERATOR))
async def audit_log(operator: CurrentOperator, service: ServiceDep) -> AuditLog:
    """The latest 100 entries of the audit log, newest first."""
    entries = await service.repo.audit_entries(limit=100)
    return AuditLog(entries=[AuditEntry.model_validate(e) for e in entries])


def install_error_handlers(app: FastAPI) -> None:
    """Identity errors and invalid bodies become JSON 4xx with a Japanese message."""

    @app.exception_handler(errors.IdentityError)
    async def _identity_error(request: Request, exc: errors.IdentityError) -> JSONResponse:
        return JSONResponse({"detail": exc.body()}, status_code=STATUS.get(type(exc), 400))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errs = {
            ".".join(str(p) for p in e.get("loc", ()) if p != "body"): str(e.get("msg", ""))
            for e in exc.errors()
        }
        return JSONResponse(
            {"detail": {"code": "invalid_input", "message": "入力内容に誤りがあります。", "errors": errs}},
            status_code=422,
        )
