"""The browser's session handle and the identity session behind it.

The cookie holds a random handle, never the identity session id; the handle is replaced at every
change of privilege (login, second factor, password change, the other setup steps), so a handle
seen before that change is worthless afterwards.
"""

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from pymongo.asynchronous.database import AsyncDatabase


def new_handle() -> str:
    """A fresh random session handle for the cookie."""
    return secrets.token_urlsafe(32)


def _key(handle: str) -> str:
    # Stored hashed: a copy of the collection gives no cookie that works.
    return hashlib.sha256(handle.encode()).hexdigest()


class SessionStore:
    """Handles in the gateway's ``sessions`` collection, expiring with the cookie."""

    def __init__(self, database: AsyncDatabase, max_age: timedelta) -> None:
        self._collection = database["sessions"]
        self._max_age = max_age

    async def create_indexes(self) -> None:
        await self._collection.create_index("expires_at", expireAfterSeconds=0, name="expires_at")

    async def identity_session(self, handle: str) -> str | None:
        """The identity session of a live handle."""
        if not handle or len(handle) > 200:
            return None
        doc = await self._collection.find_one({"_id": _key(handle)})
        if doc is None or doc["expires_at"].replace(tzinfo=UTC) <= datetime.now(UTC):
            return None
        return str(doc["identity_session"])

    async def put(self, handle: str, identity_session: str) -> None:
        """Let ``handle`` stand for ``identity_session``."""
        await self._collection.replace_one(
            {"_id": _key(handle)},
            {"identity_session": identity_session, "expires_at": datetime.now(UTC) + self._max_age},
            upsert=True,
        )

    async def drop(self, handle: str) -> None:
        """Forget ``handle`` (logout, or replaced by a new one)."""
        await self._collection.delete_one({"_id": _key(handle)})
