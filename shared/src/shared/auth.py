"""Short-lived access tokens: identity signs them, every service verifies them itself.

A token names the user, the company and the role. Services scope every query by its company.
"""

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import jwt
from fastapi import Depends, HTTPException, Request, status

from shared import keys

log = logging.getLogger(__name__)

Role = Literal["customer", "operator"]
ISSUER = "watch-identity"
ALGORITHM = "EdDSA"
# What ids look like: account ids (A-…), company ids (C-…, "operator", or empty for operators).
ID_SHAPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
COMPANY_SHAPE = re.compile(r"^(?:[A-Za-z0-9][A-Za-z0-9_-]{0,63})?$")
MAX_TEXT_CLAIM = 320
# The one answer a caller gets for any token problem (the reason is logged, never returned).
INVALID_TOKEN = "invalid or missing access token"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the verified content of an access token."""

    account_id: str
    company_id: str
    role: Role
    name: str = ""
    email: str = ""

    @property
    def is_operator(self) -> bool:
        return self.role == "operator"


def issue_token(principal: Principal, *, private_key: str, ttl: timedelta = timedelta(minutes=5)) -> str:
    """Sign an access token for ``principal`` (identity only holds the private key); it names its key."""
    key = keys.load_private_key(private_key)
    now = datetime.now(UTC)
    claims = {
        "iss": ISSUER,
        "sub": principal.account_id,
        "cid": principal.company_id,
        "role": principal.role,
        "name": principal.name,
        "email": principal.email,
        "iat": now,
        "exp": now + ttl,
    }
    return jwt.encode(claims, key, algorithm=ALGORITHM, headers={"kid": keys.key_id(key.public_key())})


def verify_token(token: str, *, public_key: str) -> Principal:
    """Return the principal of a valid token, or raise ``jwt.InvalidTokenError``.

    ``public_key`` holds one or more PEM public keys; the token's ``kid`` chooses one. Every claim is
    checked by type and shape: a token whose company is not a plain id string is refused.
    """
    header = jwt.get_unverified_header(token)
    kid = header.get("kid")
    if not isinstance(kid, str) or header.get("alg") != ALGORITHM:
        raise jwt.InvalidTokenError("token names no known key")
    key = keys.load_public_keys(public_key).get(kid)
    if key is None:
        raise jwt.InvalidTokenError("token names no known key")
    claims: dict[str, Any] = jwt.decode(
        token,
        key,
        algorithms=[ALGORITHM],
        issuer=ISSUER,
        options={"require": ["exp", "iat", "sub", "iss"]},
    )
    sub, cid, role = claims.get("sub"), claims.get("cid", ""), claims.get("role")
    name, email = claims.get("name", ""), claims.get("email", "")
    if not isinstance(sub, str) or not ID_SHAPE.match(sub):
        raise jwt.InvalidTokenError("bad subject")
    if role not in ("customer", "operator"):
        raise jwt.InvalidTokenError("unknown role")
    if not isinstance(cid, str) or not COMPANY_SHAPE.match(cid) or (role == "customer" and not cid):
        raise jwt.InvalidTokenError("bad company")
    for text in (name, email):
        if not isinstance(text, str) or len(text) > MAX_TEXT_CLAIM:
            raise jwt.InvalidTokenError("bad text claim")
    return Principal(account_id=sub, company_id=cid, role=role, name=name, email=email)


async def _principal(request: Request) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, INVALID_TOKEN)
    try:
        return verify_token(token, public_key=request.app.state.token_public_key)
    except (jwt.InvalidTokenError, keys.InvalidKey) as exc:
        log.info("access token refused", extra={"reason": str(exc)})
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, INVALID_TOKEN) from exc


async def _operator(principal: Annotated[Principal, Depends(_principal)]) -> Principal:
    if not principal.is_operator:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "operator role required")
    return principal


CurrentPrincipal = Annotated[Principal, Depends(_principal)]
CurrentOperator = Annotated[Principal, Depends(_operator)]
