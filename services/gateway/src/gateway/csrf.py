"""CSRF protection for every portal form and the wizard's JSON post.

The token is an HMAC (keyed by a gateway secret) of the browser's identity session, or, before
login, of a random nonce kept in an HttpOnly cookie. A cookie and field chosen by an attacker do
not match, and a token taken from one session is worthless in another. Unsafe methods must also
come from the portal's own origin (see ``gateway.security``).
"""

import base64
import hashlib
import hmac
import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Response, status
from markupsafe import Markup

FIELD = "csrf_token"
HEADER = "x-csrf-token"


class CsrfRejected(HTTPException):
    """A form arrived without the token of this browser's session."""

    def __init__(self) -> None:
        super().__init__(status.HTTP_403_FORBIDDEN, "CSRF token missing or wrong")


def new_nonce() -> str:
    """A fresh random value for the pre-login CSRF cookie."""
    return secrets.token_urlsafe(32)


def _nonce(request: Request) -> str:
    nonce = getattr(request.state, "csrf_nonce", None)
    if nonce is None:
        nonce = request.cookies.get(request.app.state.settings.csrf_cookie) or new_nonce()
        request.state.csrf_nonce = nonce
    return str(nonce)


def _binding(request: Request) -> str:
    """What the token is bound to: the identity session once logged in, else the nonce cookie.

    The identity session id never reaches the browser (its cookie holds a handle), and it outlives
    the handle's renewals, so a page rendered just before a renewal still posts.
    """
    session = getattr(request.state, "identity_session", None)
    return f"session:{session}" if session else f"nonce:{_nonce(request)}"


def token_for(secret: str, binding: str) -> str:
    """The token of one binding (an HMAC-SHA256, URL-safe base64)."""
    digest = hmac.new(secret.encode(), binding.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def csrf_token(request: Request) -> str:
    """The token the current browser must send back with unsafe requests."""
    return token_for(request.app.state.settings.csrf_secret, _binding(request))


def csrf_input(request: Request) -> Markup:
    """A hidden form field carrying the token, for templates."""
    return Markup('<input type="hidden" name="{}" value="{}">').format(FIELD, csrf_token(request))


def rotate(request: Request) -> str:
    """Give the browser a new nonce (the middleware sends the cookie with the response)."""
    request.state.csrf_nonce = new_nonce()
    return str(request.state.csrf_nonce)


def set_cookie(request: Request, response: Response) -> None:
    """Send the nonce cookie when the browser does not hold the current one."""
    nonce = getattr(request.state, "csrf_nonce", None)
    settings = request.app.state.settings
    if nonce and request.cookies.get(settings.csrf_cookie) != nonce:
        response.set_cookie(
            settings.csrf_cookie,
            nonce,
            httponly=True,
            samesite="lax",
            secure=settings.secure_cookies,
            path="/",
        )


async def _check(request: Request) -> None:
    given = request.headers.get(HEADER)
    if given is None:
        form = await request.form()
        value = form.get(FIELD)
        given = value if isinstance(value, str) else None
    has_binding = getattr(request.state, "identity_session", None) or request.cookies.get(
        request.app.state.settings.csrf_cookie
    )
    if not has_binding or not given or not hmac.compare_digest(csrf_token(request).encode(), given.encode()):
        raise CsrfRejected()


CsrfProtected = Annotated[None, Depends(_check)]
