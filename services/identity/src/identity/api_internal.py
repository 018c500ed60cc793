"""Internal routes for the gateway: the browser session handles behind the portal's cookie.

Only a caller presenting the gateway's service token (X-Service-Token) is answered; anyone else gets
403. Handles travel in bodies, never in paths (they would end up in access logs).
"""

import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.responses import Response
from pydantic import BaseModel, Field

from identity import errors
from identity.api import ServiceDep
from identity.browser_sessions import MAX_HANDLE, BrowserSessions
from identity.schemas import TokenResponse

SERVICE_TOKEN_HEADER = "X-Service-Token"


async def _gateway_only(request: Request) -> None:
    presented = request.headers.get(SERVICE_TOKEN_HEADER, "")
    expected = request.app.state.identity.settings.gateway_secret
    if not presented or not hmac.compare_digest(presented.encode(), expected.encode()):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "service token required")


async def _handles(request: Request) -> BrowserSessions:
    handles: BrowserSessions = request.app.state.browser_sessions
    return handles


HandlesDep = Annotated[BrowserSessions, Depends(_handles)]
Responses = dict[int | str, dict[str, Any]]
R403: Responses = {403: {"description": "No or a wrong service token"}}
router = APIRouter(
    prefix="/internal/browser-sessions", tags=["internal"], dependencies=[Depends(_gateway_only)]
)


class CreateRequest(BaseModel):
    session_id: str = Field(max_length=128, description="The identity session (from /login or a step).")


class HandleRequest(BaseModel):
    handle: str = Field(max_length=MAX_HANDLE, description="The value of the portal's session cookie.")


class LookupRequest(HandleRequest):
    with_token: bool = Field(
        default=False,
        description="Also grant the session an access token, as POST /sessions/current/token does.",
    )


class AccountRequest(BaseModel):
    account_id: str = Field(min_length=1, max_length=128)


class HandleView(BaseModel):
    handle: str


class LookupView(BaseModel):
    session_id: str
    account_id: str
    idle_seconds: float = Field(description="Seconds since the handle was last used (before this lookup).")
    token: TokenResponse | None = Field(
        default=None,
        description="When asked: the access token of a logged-in session (none while a setup step is due).",
    )


class RevokedView(BaseModel):
    revoked: int


@router.post(
    "",
    response_model=HandleView,
    status_code=status.HTTP_201_CREATED,
    responses={**R403, 404: {"description": "The identity session is not live"}},
)
async def create_handle(body: CreateRequest, handles: HandlesDep) -> HandleView:
    """A new handle for the browser's cookie, standing for a live identity session."""
    handle = await handles.create(body.session_id)
    if handle is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such session")
    return HandleView(handle=handle)


@router.post(
    "/lookup",
    response_model=LookupView,
    responses={**R403, 404: {"description": "Unknown, expired or ended handle"}},
)
async def lookup_handle(body: LookupRequest, handles: HandlesDep, service: ServiceDep) -> LookupView:
    """The identity session behind a handle; the handle is marked used now. With ``with_token``, the
    session's access token too (one call where the gateway would otherwise make two)."""
    found = await handles.lookup(body.handle)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such session")
    token = None
    if body.with_token:
        try:
            grant = await service.login.grant_for(found.session)
        except (errors.NoSession, errors.WrongStep):
            pass  # the gateway asks for the token itself and learns why
        else:
            token = TokenResponse.of(grant)
    return LookupView(
        session_id=found.session_id, account_id=found.account_id, idle_seconds=found.idle_seconds, token=token
    )


@router.post("/revoke", status_code=status.HTTP_204_NO_CONTENT, responses=R403)
async def revoke_handle(body: HandleRequest, handles: HandlesDep) -> Response:
    """Forget one handle (no error when it is already gone)."""
    await handles.revoke(body.handle)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/revoke-account", response_model=RevokedView, responses=R403)
async def revoke_account(body: AccountRequest, handles: HandlesDep) -> RevokedView:
    """End every session of a user at once: all their handles and identity sessions."""
    return RevokedView(revoked=await handles.revoke_account(body.account_id))
