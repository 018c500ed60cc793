"""The portal session: an opaque handle in an HttpOnly cookie, standing for an identity session.

The gateway never sees passwords after login; it exchanges the identity session for a short-lived
access token signed by identity (cached for a few seconds, so a session ended at identity stops
working quickly) and calls the services with it. The handle is replaced at every change of privilege.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Response

from gateway.backends import BackendsDep, BackendUnavailable
from gateway.clients import identity
from gateway.session_store import SessionStore
from shared.expiring import ExpiringMap

log = logging.getLogger(__name__)

SESSION_HEADER = "X-Identity-Session"
PRIVILEGE_PATHS = ("/login/", "/account/")

# Where each unfinished setup step of the first login is done (guide §4 ③–⑤).
SETUP_PAGES = {
    "password_change": "/account/password",
    "user_id_setup": "/account/user-id",
    "two_step_setup": "/account/two-step",
    "second_factor": "/login/verify",
}


class RedirectRequired(Exception):
    """The browser must go elsewhere first (turned into a 303 by the app)."""

    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location


class LoginRequired(RedirectRequired):
    """No valid session: go to the login page."""

    def __init__(self) -> None:
        super().__init__("/login")


class OperatorRequired(Exception):
    """A customer tried to open an operator page (a 403 page)."""


@dataclass(frozen=True, slots=True)
class PortalUser:
    """The logged-in user as the gateway knows them."""

    account_id: str
    company_id: str
    role: str
    name: str
    email: str
    access_token: str
    company_name: str = ""
    login_id: str = ""

    @property
    def is_operator(self) -> bool:
        return self.role == "operator"


class TokenCache:
    """Access tokens by session id, kept a few seconds (and never until shortly before they expire)."""

    def __init__(
        self,
        margin_seconds: float = 30.0,
        max_age_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._items: ExpiringMap[str, PortalUser] = ExpiringMap(clock=clock)
        self._margin = margin_seconds
        # Revocation at identity (logout elsewhere, reissue) must reach the portal within this time.
        self._max_age = max_age_seconds

    def get(self, session_id: str) -> PortalUser | None:
        return self._items.get(session_id)

    def put(self, session_id: str, user: PortalUser, expires_in: float) -> None:
        self._items.put(session_id, user, min(self._max_age, expires_in - self._margin))

    def put_grant(self, session_id: str, grant: identity.TokenGrant) -> PortalUser:
        """Keep the user a token grant stands for; returns them."""
        user = _user_from(grant)
        self.put(session_id, user, float(grant.expires_in))
        return user

    def drop(self, session_id: str) -> None:
        self._items.drop(session_id)


def session_id(request: Request) -> str | None:
    """The identity session behind this browser's session handle, if any (see ``resolve``)."""
    sid = getattr(request.state, "identity_session", None)
    return str(sid) if sid else None


def session_headers(request: Request) -> dict[str, str]:
    """Headers that present this browser's identity session to the identity service."""
    sid = session_id(request)
    return {SESSION_HEADER: sid} if sid else {}


def start_session(request: Request, response: Response, sid: str) -> None:
    """Hand the browser a new session handle for identity session ``sid`` (identity issues it when
    the response leaves, in ``settle``)."""
    request.state.identity_session = sid
    request.state.session_started = sid


def _set_cookie(request: Request, response: Response, handle: str) -> None:
    settings = request.app.state.settings
    response.set_cookie(
        settings.session_cookie,
        handle,
        max_age=settings.session_max_age_seconds,
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
        path="/",
    )


def end_session(request: Request, response: Response) -> None:
    """Forget the session in this browser and in the token cache."""
    settings = request.app.state.settings
    sid = session_id(request)
    if sid:
        request.app.state.token_cache.drop(sid)
    request.state.session_ended = True
    response.delete_cookie(settings.session_cookie, path="/", secure=settings.secure_cookies, httponly=True)


async def resolve(request: Request) -> None:
    """Find the identity session behind the browser's handle (``request.state.identity_session``).

    Identity unreachable: no session now, and a page that needs the user answers 503 (not /login).
    """
    handle = request.cookies.get(request.app.state.settings.session_cookie)
    store: SessionStore = request.app.state.session_store
    request.state.identity_session = None
    request.state.idle_seconds = 0.0
    if handle:
        try:
            found = await store.lookup(handle)
        except BackendUnavailable:
            request.state.identity_unreachable = True
            return
        if found is not None:
            request.state.identity_session, request.state.idle_seconds = found


def _changes_privilege(request: Request, response: Response) -> bool:
    # Every step of login and account setup (second factor, password, user ID, 2-step) is a POST
    # under these paths; a success (not a 4xx/5xx) may have raised what the session may do.
    return (
        request.method == "POST"
        and request.url.path.startswith(PRIVILEGE_PATHS)
        and response.status_code < 400
    )


async def settle(request: Request, response: Response) -> None:
    """Store a new handle, forget an ended one, or replace the handle after a change of privilege."""
    store: SessionStore = request.app.state.session_store
    old = request.cookies.get(request.app.state.settings.session_cookie)
    started = getattr(request.state, "session_started", None)
    sid = session_id(request)
    try:
        if started is not None or (
            not getattr(request.state, "session_ended", False)
            and old
            and sid
            and _changes_privilege(request, response)
        ):
            handle = await store.create(started or sid or "")
            if handle:
                _set_cookie(request, response, handle)
        elif not getattr(request.state, "session_ended", False):
            return
        if old:
            await store.drop(old)
    except BackendUnavailable:
        log.warning("identity unreachable: the session handle was not renewed or dropped")


def _user_from(grant: identity.TokenGrant) -> PortalUser:
    account = grant.account
    return PortalUser(
        account_id=account.account_id,
        company_id=account.company_id,
        role=account.role,
        name=account.name,
        email=account.email,
        access_token=grant.access_token,
        company_name=account.company_name,
        login_id=account.login_id,
    )


async def optional_user(request: Request, backends: BackendsDep) -> PortalUser | None:
    """The logged-in user, or None; raises RedirectRequired while the first-login setup is unfinished."""
    sid = session_id(request)
    if not sid:
        if getattr(request.state, "identity_unreachable", False):
            raise BackendUnavailable(identity.SERVICE)
        return None
    cache: TokenCache = request.app.state.token_cache
    user = cache.get(sid)
    if user is None:
        try:
            grant = await identity.token(backends, sid)
        except identity.IdentityRefused as exc:
            if exc.status_code == 409:
                raise RedirectRequired(SETUP_PAGES.get(exc.problem.next_step, "/login")) from None
            return None
        user = cache.put_grant(sid, grant)
    idle_limit = request.app.state.settings.operator_idle_minutes * 60
    if user.is_operator and getattr(request.state, "idle_seconds", 0.0) > idle_limit:
        # An operator session left idle too long ends: identity forgets it, the browser logs in again.
        cache.drop(sid)
        await identity.logout(backends, sid)
        raise RedirectRequired("/login?logged_out=1")
    request.state.portal_user = user
    return user


async def _current_user(user: Annotated[PortalUser | None, Depends(optional_user)]) -> PortalUser:
    if user is None:
        raise LoginRequired()
    return user


async def _current_operator(user: Annotated[PortalUser, Depends(_current_user)]) -> PortalUser:
    if not user.is_operator:
        raise OperatorRequired()
    return user


CurrentUser = Annotated[PortalUser, Depends(_current_user)]
CurrentOperatorUser = Annotated[PortalUser, Depends(_current_operator)]
OptionalUser = Annotated[PortalUser | None, Depends(optional_user)]
