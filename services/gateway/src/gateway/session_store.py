"""The browser's session handles, kept by identity (the gateway holds nothing but the cookie).

Identity issues a handle for an identity session, looks one up (marking it used), revokes one, and
revokes every session of a user; see identity's ``/internal/browser-sessions`` routes.
"""

from typing import Protocol

from gateway.backends import Backends
from gateway.clients import identity


class SessionStore(Protocol):
    """Where handles are resolved: identity in the service, a stand-in in tests without identity."""

    async def lookup(self, handle: str) -> tuple[str, float] | None: ...
    async def create(self, identity_session: str) -> str | None: ...
    async def drop(self, handle: str) -> None: ...


class IdentitySessionStore:
    """Handles kept by identity, through the app's current backends."""

    def __init__(self, backends: "BackendsHolder") -> None:
        self._holder = backends

    async def lookup(self, handle: str) -> tuple[str, float] | None:
        """The identity session of a live handle, and the seconds it had been unused (it is used now)."""
        found = await identity.lookup_handle(self._holder.backends, handle)
        return (found.session_id, found.idle_seconds) if found else None

    async def create(self, identity_session: str) -> str | None:
        """A new handle standing for ``identity_session`` (None when that session has ended)."""
        return await identity.create_handle(self._holder.backends, identity_session)

    async def drop(self, handle: str) -> None:
        """Forget ``handle`` (logout, or replaced by a new one)."""
        await identity.revoke_handle(self._holder.backends, handle)


class BackendsHolder(Protocol):
    @property
    def backends(self) -> Backends: ...
