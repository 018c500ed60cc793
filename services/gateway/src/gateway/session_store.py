"""The browser's session handles, kept by identity (the gateway holds nothing but the cookie).

Identity issues a handle for an identity session, looks one up (marking it used), revokes one, and
revokes every session of a user; see identity's ``/internal/browser-sessions`` routes.
"""

import time
from collections.abc import Callable
from typing import Protocol

from gateway.backends import Backends
from gateway.clients import identity
from shared.expiring import ExpiringMap


class SessionStore(Protocol):
    """Where handles are resolved: identity in the service, a stand-in in tests without identity."""

    async def lookup(self, handle: str) -> tuple[str, float] | None: ...
    async def create(self, identity_session: str) -> str | None: ...
    async def drop(self, handle: str) -> None: ...


class IdentitySessionStore:
    """Handles kept by identity, through the app's current backends.

    A handle found live is trusted for ``max_age_seconds`` before identity is asked again, as the
    access token behind it is (``session.TokenCache``): a browser's requests of those seconds cost
    identity nothing, and a session ended elsewhere (another gateway, all sessions of a user) stops
    working here within them. A handle dropped through this gateway is forgotten at once.
    """

    def __init__(
        self,
        backends: "BackendsHolder",
        *,
        max_age_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        on_token: Callable[[str, identity.TokenGrant], object] | None = None,
    ) -> None:
        self._holder = backends
        # Given, each lookup asks identity for the session's access token too, and hands it here.
        self._on_token = on_token
        self._max_age = max_age_seconds
        self._clock = clock
        # handle → (identity session, when identity confirmed it, when it was last used here)
        self._live: ExpiringMap[str, tuple[str, float, float]] = ExpiringMap(clock=clock)

    async def lookup(self, handle: str) -> tuple[str, float] | None:
        """The identity session of a live handle, and the seconds it had been unused (it is used now)."""
        now = self._clock()
        known = self._live.get(handle)
        if known is not None:
            session_id, confirmed, used = known
            self._live.put(handle, (session_id, confirmed, now), confirmed + self._max_age - now)
            return session_id, now - used
        found = await identity.lookup_handle(
            self._holder.backends, handle, with_token=self._on_token is not None
        )
        if found is None:
            return None
        self._live.put(handle, (found.session_id, now, now), self._max_age)
        if found.token is not None and self._on_token is not None:
            self._on_token(found.session_id, found.token)
        return found.session_id, found.idle_seconds

    async def create(self, identity_session: str) -> str | None:
        """A new handle standing for ``identity_session`` (None when that session has ended)."""
        return await identity.create_handle(self._holder.backends, identity_session)

    async def drop(self, handle: str) -> None:
        """Forget ``handle`` (logout, or replaced by a new one)."""
        self._live.drop(handle)
        await identity.revoke_handle(self._holder.backends, handle)


class BackendsHolder(Protocol):
    @property
    def backends(self) -> Backends: ...
