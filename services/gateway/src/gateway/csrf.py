"""CSRF protection for every portal form (double-submit token bound to a cookie).

The token lives in an HttpOnly cookie and in a hidden form field; a POST whose field does not
match the cookie is refused. It is rotated at login and logout so each session has its own.
"""

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


def new_token() -> str:
    """A fresh random token."""
    return secrets.token_urlsafe(32)


def csrf_token(request: Request) -> str:
    """The token of the current browser (set by the middleware for every request)."""
    token = getattr(request.state, "csrf_token", None)
    if token is None:
        token = request.cookies.get(request.app.state.settings.csrf_cookie) or new_token()
        request.state.csrf_token = token
    return str(token)


def csrf_input(request: Request) -> Markup:
    """A hidden form field carrying the token, for templates."""
    return Markup('<input type="hidden" name="{}" value="{}">').format(FIELD, csrf_token(request))


def rotate(request: Request) -> str:
    """Give the browser a new token (the middleware sends the cookie with the response)."""
    request.state.csrf_token = new_token()
    return request.state.csrf_token


def set_cookie(request: Request, response: Response) -> None:
    """Send the token cookie when the browser does not hold the current one."""
    token = getattr(request.state, "csrf_token", None)
    settings = request.app.state.settings
    if token and request.cookies.get(settings.csrf_cookie) != token:
        response.set_cookie(
            settings.csrf_cookie,
            token,
            httponly=True,
            samesite="lax",
            secure=settings.secure_cookies,
            path="/",
        )


async def _check(request: Request) -> None:
    expected = request.cookies.get(request.app.state.settings.csrf_cookie)
    given = request.headers.get(HEADER)
    if given is None:
        form = await request.form()
        value = form.get(FIELD)
        given = value if isinstance(value, str) else None
    if not expected or not given or not secrets.compare_digest(expected, given):
        raise CsrfRejected()


CsrfProtected = Annotated[None, Depends(_check)]
