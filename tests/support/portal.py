"""The gateway without identity: a stand-in for identity's session handles, and a login by hand."""

import uuid

import httpx
from fastapi import FastAPI

from gateway.session import PortalUser, TokenCache
from shared.auth import Principal, issue_token
from shared.settings import DEV_TOKEN_PRIVATE_KEY


class HandlesByHand:
    """Identity's part in the session handles, for pages tested without identity."""

    def __init__(self) -> None:
        self.handles: dict[str, str] = {}
        self.idle: dict[str, float] = {}

    async def lookup(self, handle: str) -> tuple[str, float] | None:
        sid = self.handles.get(handle)
        return None if sid is None else (sid, self.idle.pop(handle, 0.0))

    async def create(self, identity_session: str) -> str:
        handle = f"handle-{uuid.uuid4().hex}"
        self.handles[handle] = identity_session
        return handle

    async def drop(self, handle: str) -> None:
        self.handles.pop(handle, None)


async def log_in(client: httpx.AsyncClient, app: FastAPI, role: str, company_id: str = "") -> str:
    """As if identity had exchanged this browser's session for a token of ``role`` (the app's
    ``session_store`` must be a ``HandlesByHand``); the identity session id."""
    principal = Principal(
        account_id=f"{role}-1", company_id=company_id, role="operator" if role == "operator" else "customer"
    )
    user = PortalUser(
        account_id=principal.account_id,
        company_id=company_id,
        role=principal.role,
        name="運用 担当",
        email="ops@example.com",
        access_token=issue_token(principal, private_key=DEV_TOKEN_PRIVATE_KEY),
    )
    sid = f"session-{role}-{uuid.uuid4().hex[:6]}"
    cache: TokenCache = app.state.token_cache
    cache.put(sid, user, 300)
    store: HandlesByHand = app.state.session_store
    client.cookies.set("watch_session", await store.create(sid))
    return sid
