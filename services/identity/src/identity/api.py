"""HTTP API of identity, used by the gateway (session endpoints) and the services (users)."""

from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Header, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from identity.models import Stage
from identity.schemas import (
    AccountView,
    CodeRequest,
    LoginIdRequest,
    LoginRequest,
    LoginResponse,
    MessageResponse,
    PasswordChangeRequest,
    ReissueRequest,
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
from identity.service import IdentityError, IdentityService, TotpSetup, mask_phone
from shared.auth import CurrentPrincipal

SESSION_HEADER = "X-Identity-Session"


def _service(request: Request) -> IdentityService:
    service: IdentityService = request.app.state.identity
    return service


ServiceDep = Annotated[IdentityService, Depends(_service)]
SessionId = Annotated[
    str | None,
    Header(alias=SESSION_HEADER, description="Session id returned by POST /login (kept by the gateway)."),
]

ERRORS = {
    400: {"description": "Missing input"},
    401: {"description": "No valid session or wrong credentials"},
    409: {"description": "Not allowed at the session's current step"},
    422: {"description": "Invalid input; `detail.errors` maps fields to Japanese messages"},
}

router = APIRouter(tags=["identity"], responses=ERRORS)  # type: ignore[arg-type]


@router.post("/login", response_model=LoginResponse)
async def login(body: LoginRequest, service: ServiceDep) -> LoginResponse:
    """Check user ID and password; the session's next step says what the user must do next.

    403 `credentials_expired` (temporary credentials older than 14 days), 423 `account_locked`,
    429 `rate_limited`.
    """
    result = await service.login(body.login_id, body.password, client=body.client)
    return LoginResponse(
        session_id=result.session_id,
        next_step=result.next_step.value,
        second_factor=result.second_factor,
        phone_hint=result.phone_hint,
    )


@router.get("/sessions/current", response_model=SessionView)
async def current_session(service: ServiceDep, session_id: SessionId = None) -> SessionView:
    """The session's step and account (for the setup pages)."""
    session, account = await service.session_state(session_id)
    return SessionView(
        stage=session.stage.value,
        account=AccountView.of(account),
        sms_sent_to=mask_phone(session.sms.phone) if session.sms else None,
        totp_pending=account.two_step.pending_totp_secret is not None,
        application_mobile=account.mobile,
    )


@router.post("/sessions/current/token", response_model=TokenResponse)
async def token(service: ServiceDep, session_id: SessionId = None) -> TokenResponse:
    """Exchange a logged-in session for a short-lived access token; 409 names the unfinished step."""
    grant = await service.grant_token(session_id)
    return TokenResponse(
        access_token=grant.access_token, expires_in=grant.expires_in, account=AccountView.of(grant.account)
    )


@router.delete("/sessions/current", status_code=status.HTTP_204_NO_CONTENT)
async def logout(service: ServiceDep, session_id: SessionId = None) -> Response:
    """ログアウト: end the session."""
    await service.logout(session_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/sessions/current/password", response_model=StepResponse)
async def change_password(
    body: PasswordChangeRequest, service: ServiceDep, session_id: SessionId = None
) -> StepResponse:
    """パスワード変更: 8+ characters with letters, digits and symbols; not the user ID or the old one."""
    return step(await service.change_password(session_id, body.new_password, body.new_password_confirm))


@router.post("/sessions/current/user-id", response_model=StepResponse)
async def set_login_id(
    body: LoginIdRequest, service: ServiceDep, session_id: SessionId = None
) -> StepResponse:
    """ユーザID設定: the user's email address becomes the user ID (409 when taken)."""
    return step(await service.set_login_id(session_id, body.new_login_id))


@router.post("/sessions/current/two-step", response_model=TwoStepResponse)
async def choose_two_step(
    body: TwoStepRequest, service: ServiceDep, session_id: SessionId = None
) -> TwoStepResponse:
    """2段階認証設定: authenticator (returns QR and secret), SMS (sends a code) or none."""
    result = await service.choose_two_step(session_id, use=body.use, method=body.method, phone=body.phone)
    session, _ = await service.session_state(session_id)
    current = session.stage.value
    if isinstance(result, TotpSetup):
        return TwoStepResponse(next_step=current, totp=TotpSetupResponse.of(result))
    if isinstance(result, Stage):
        return TwoStepResponse(next_step=result.value)
    return TwoStepResponse(next_step=current, sms_sent_to=result)


@router.get("/sessions/current/two-step/totp", response_model=TotpSetupResponse)
async def pending_totp(service: ServiceDep, session_id: SessionId = None) -> TotpSetupResponse:
    """The pending authenticator setup (QR and secret) again."""
    return TotpSetupResponse.of(await service.pending_totp(session_id))


@router.post("/sessions/current/two-step/totp/confirm", response_model=StepResponse)
async def confirm_totp(body: CodeRequest, service: ServiceDep, session_id: SessionId = None) -> StepResponse:
    """認証アプリケーションの設定: confirm with a 6-digit code; replaces any previous secret."""
    return step(await service.confirm_totp(session_id, body.code))


@router.post("/sessions/current/two-step/sms/confirm", response_model=StepResponse)
async def confirm_sms(body: CodeRequest, service: ServiceDep, session_id: SessionId = None) -> StepResponse:
    """認証コード入力 (SMS setup): codes expire after 5 minutes; 5 attempts."""
    return step(await service.confirm_sms_setup(session_id, body.code))


@router.post("/sessions/current/sms/resend", response_model=SmsSentResponse)
async def resend_sms(service: ServiceDep, session_id: SessionId = None) -> SmsSentResponse:
    """Send a new SMS code (at most 5 per session, 30 seconds apart)."""
    return SmsSentResponse(sms_sent_to=await service.resend_sms(session_id))


@router.post("/sessions/current/verify", response_model=StepResponse)
async def verify(body: CodeRequest, service: ServiceDep, session_id: SessionId = None) -> StepResponse:
    """Second factor at login: the authenticator's or the SMS code."""
    return step(await service.verify_second_factor(session_id, body.code))


@router.post("/password/reissue", response_model=MessageResponse, status_code=status.HTTP_202_ACCEPTED)
async def reissue(body: ReissueRequest, service: ServiceDep) -> MessageResponse:
    """パスワードの再発行 by user ID or email; the same answer whether or not the account exists."""
    return MessageResponse(message=await service.reissue(body.identifier))


@router.get("/users/me", response_model=AccountView)
async def me(principal: CurrentPrincipal, service: ServiceDep) -> AccountView:
    """The caller's account."""
    return AccountView.of(await service.account_of(principal))


@router.get("/users", response_model=UsersResponse)
async def users(principal: CurrentPrincipal, service: ServiceDep) -> UsersResponse:
    """The portal users of the caller's company (ユーザ情報)."""
    return UsersResponse(users=[AccountView.of(a) for a in await service.company_users(principal)])


def install_error_handlers(app: FastAPI) -> None:
    """Identity errors and invalid bodies become JSON 4xx with a Japanese message."""

    @app.exception_handler(IdentityError)
    async def _identity_error(request: Request, exc: IdentityError) -> JSONResponse:
        return JSONResponse({"detail": exc.body()}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = {
            ".".join(str(p) for p in e.get("loc", ()) if p != "body"): str(e.get("msg", ""))
            for e in exc.errors()
        }
        return JSONResponse(
            {"detail": {"code": "invalid_input", "message": "入力内容に誤りがあります。", "errors": errors}},
            status_code=422,
        )
