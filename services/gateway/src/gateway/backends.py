"""HTTP clients of the backend services, one per service, with the user's bearer token."""

import logging
from typing import TYPE_CHECKING, Annotated, Any

import httpx
from fastapi import Depends, Request

if TYPE_CHECKING:
    from gateway.session import PortalUser

log = logging.getLogger(__name__)

# Kept-alive connections are dropped before the backends' servers drop them (uvicorn: after 5 s idle),
# so that a request is seldom sent on a connection the server is closing.
KEEPALIVE_EXPIRY = 2.0
# Requests that may be sent again when a kept-alive connection was closed under them.
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS"})
SERVICE_TOKEN_HEADER = "X-Service-Token"
CLIENT_ADDRESS_HEADER = "X-Client-Address"

SERVICE_LABELS = {
    "signup": "申込み受付",
    "identity": "認証",
    "device-registry": "UTM管理",
    "alert-pipeline": "アラート",
    "notifier": "通知",
    "support": "サポート",
}


class BackendUnavailable(Exception):
    """A backend service did not answer (down, refused, timed out)."""

    def __init__(self, service: str) -> None:
        super().__init__(f"backend {service} unavailable")
        self.service = service


class Backends:
    """One ``httpx.AsyncClient`` per backend service."""

    def __init__(
        self,
        urls: dict[str, str],
        *,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        service_tokens: dict[str, str] | None = None,
    ) -> None:
        # Services that want the gateway to prove itself (identity reads the client address only then).
        self._service_tokens = dict(service_tokens or {})
        self._clients = {
            name: httpx.AsyncClient(
                base_url=url,
                timeout=timeout,
                transport=transport,
                limits=httpx.Limits(keepalive_expiry=KEEPALIVE_EXPIRY),
            )
            for name, url in urls.items()
        }

    async def call(
        self,
        service: str,
        method: str,
        path: str,
        *,
        user: "PortalUser | None" = None,
        headers: dict[str, str] | None = None,
        client: str | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send a request to ``service``; raises BackendUnavailable when it cannot be reached.

        ``client`` is the browser's address, passed on (with the gateway's service token) to services
        that limit by client.
        """
        merged = dict(headers or {})
        if user is not None:
            merged["Authorization"] = f"Bearer {user.access_token}"
        token = self._service_tokens.get(service)
        if token:
            merged[SERVICE_TOKEN_HEADER] = token
            if client:
                merged[CLIENT_ADDRESS_HEADER] = client
        try:
            try:
                return await self._clients[service].request(method, path, headers=merged, **kwargs)
            except httpx.RemoteProtocolError:
                # The server closed a kept-alive connection as the request went out: a read is sent
                # once more, on a fresh connection.
                if method.upper() not in IDEMPOTENT:
                    raise
                return await self._clients[service].request(method, path, headers=merged, **kwargs)
        except httpx.TransportError as exc:
            log.warning("backend unreachable", extra={"service": service, "path": path, "error": str(exc)})
            raise BackendUnavailable(service) from exc

    async def aclose(self) -> None:
        """Close every client."""
        for client in self._clients.values():
            await client.aclose()


async def _backends(request: Request) -> Backends:
    backends: Backends = request.app.state.backends
    return backends


BackendsDep = Annotated[Backends, Depends(_backends)]
