"""Short-lived access tokens: identity signs them, every service verifies them itself.

A token names the user, the company and the role. Services scope every query by its company.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

import jwt
from fastapi import Depends, HTTPException, Request, status

Role = Literal["customer", "operator"]
ISSUER = "watch-identity"
ALGORITHM = "EdDSA"


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
    """Sign an access token for ``principal`` (identity only holds the private key)."""
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
    return jwt.encode(claims, _pem(private_key), algorithm=ALGORITHM)


def verify_token(token: str, *, public_key: str) -> Principal:
    """Return the principal of a valid token, or raise ``jwt.InvalidTokenError``."""
    claims = jwt.decode(
        token, _pem(public_key), algorithms=[ALGORITHM], issuer=ISSUER, options={"require": ["exp", "sub"]}
    )
    role = claims.get("role")
    if role not in ("customer", "operator"):
        raise jwt.InvalidTokenError("unknown role")
    return Principal(
        account_id=claims["sub"],
        company_id=claims.get("cid", ""),
        role=role,
        name=claims.get("name", ""),
        email=claims.get("email", ""),
    )


def _pem(key: str) -> str:
    # Keys given through a .env file often carry their line breaks as a literal "\\n".
    return key.replace("\\n", "\n")


def _principal(request: Request) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing bearer token")
    try:
        return verify_token(token, public_key=request.app.state.token_public_key)
    except jwt.InvalidTokenError as exc:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, f"invalid token: {exc}") from exc


def _operator(principal: Annotated[Principal, Depends(_principal)]) -> Principal:
    if not principal.is_operator:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "operator role required")
    return principal


CurrentPrincipal = Annotated[Principal, Depends(_principal)]
CurrentOperator = Annotated[Principal, Depends(_operator)]
