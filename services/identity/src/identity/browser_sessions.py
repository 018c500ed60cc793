"""Browser session handles: the opaque value in the portal's cookie, standing for an identity session.

The gateway keeps nothing but the handle; identity keeps what it stands for. A handle is stored hashed
(a copy of the collection gives no cookie that works) and the session id it stands for is sealed. A
handle works while its identity session lives: logout, a password change, an operator's reset or the
user's deletion end the session and with it every handle on it, at once.
"""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from identity.context import Clock
from identity.models import Session
from identity.repository import Repository
from shared.sealing import Sealer

MAX_HANDLE = 200
# A handle's last use is written when it is at least this old: most page views only read the handle,
# and the idle time the gateway is told is exact to the minute (never shorter than the truth).
USE_PRECISION = timedelta(minutes=1)


def _key(handle: str) -> str:
    return hashlib.sha256(handle.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class HandleLookup:
    """The identity session behind a handle, and how long the handle had been unused."""

    session_id: str
    account_id: str
    idle_seconds: float
    session: Session  # as read for this lookup


class BrowserSessions:
    """Handles in identity's ``browser_sessions`` collection, expiring with the cookie."""

    def __init__(
        self, db: AsyncDatabase, repo: Repository, sealer: Sealer, clock: Clock, max_age: timedelta
    ) -> None:
        self._handles = db["browser_sessions"]
        self._repo = repo
        self._sealer = sealer
        self._clock = clock
        self._max_age = max_age

    async def create_indexes(self) -> None:
        await self._handles.create_index([("expires_at", ASCENDING)], expireAfterSeconds=0, name="ttl")
        await self._handles.create_index([("account_id", ASCENDING)], name="account")

    async def _live_session(self, session_id: str) -> Session | None:
        if not session_id or len(session_id) > 128:
            return None
        session = await self._repo.get_session(Session.hash_id(session_id))
        if session is None or session.expires_at <= self._clock():
            return None
        return session

    async def create(self, session_id: str) -> str | None:
        """A new handle for a live identity session (None when the session is not live)."""
        session = await self._live_session(session_id)
        if session is None:
            return None
        handle = secrets.token_urlsafe(32)
        now = self._clock()
        await self._handles.insert_one(
            {
                "_id": _key(handle),
                "session": self._sealer.seal(session_id),
                "account_id": session.account_id,
                "created_at": now,
                "used_at": now,
                "expires_at": now + self._max_age,
            }
        )
        return handle

    async def lookup(self, handle: str) -> HandleLookup | None:
        """The live session behind ``handle``, marking the handle used now (see ``USE_PRECISION``);
        None when there is none."""
        if not handle or len(handle) > MAX_HANDLE:
            return None
        now = self._clock()
        doc = await self._handles.find_one({"_id": _key(handle)})
        if doc is None or doc["expires_at"] <= now:
            return None
        session_id = self._sealer.open(doc["session"])
        session = await self._live_session(session_id)
        if session is None:
            await self._handles.delete_one({"_id": doc["_id"]})
            return None
        if now - doc["used_at"] >= USE_PRECISION:
            await self._handles.update_one({"_id": doc["_id"]}, {"$max": {"used_at": now}})
        return HandleLookup(
            session_id=session_id,
            account_id=str(doc["account_id"]),
            idle_seconds=max(0.0, (now - doc["used_at"]).total_seconds()),
            session=session,
        )

    async def revoke(self, handle: str) -> None:
        """Forget one handle (logout in this browser, or replaced by a new one)."""
        if handle and len(handle) <= MAX_HANDLE:
            await self._handles.delete_one({"_id": _key(handle)})

    async def revoke_account(self, account_id: str) -> int:
        """End every session of a user: their handles and the identity sessions behind them."""
        result = await self._handles.delete_many({"account_id": account_id})
        await self._repo.delete_sessions_of(account_id)
        return int(result.deleted_count)
