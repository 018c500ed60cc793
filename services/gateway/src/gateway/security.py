"""Request hardening of the portal: the client's address, the origin of unsafe requests, and the
security headers of every response."""

from collections.abc import Awaitable, Callable
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address
from urllib.parse import urlsplit

from fastapi import Request, Response
from fastapi.responses import JSONResponse

from gateway.settings import Settings

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
FOREIGN_ORIGIN = "この操作は受け付けられません。ポータルの画面から操作してください。"

Network = IPv4Network | IPv6Network


def _parse(value: str) -> IPv4Address | IPv6Address | None:
    try:
        return ip_address(value.strip().strip("[]"))
    except ValueError:
        return None


def client_address(peer: str | None, forwarded_for: str | None, trusted: list[Network]) -> str:
    """The client's address: the peer, unless the peer is a trusted proxy that says otherwise.

    X-Forwarded-For is read from the right; trusted proxies are skipped and the first other address
    is the client. A header from an untrusted peer is ignored entirely.
    """
    peer_ip = _parse(peer or "")
    if peer_ip is None:
        return peer or ""
    if not forwarded_for or not any(peer_ip in net for net in trusted):
        return str(peer_ip)
    client = peer_ip
    for hop in reversed(forwarded_for.split(",")):
        hop_ip = _parse(hop)
        if hop_ip is None:
            break
        client = hop_ip
        if not any(hop_ip in net for net in trusted):
            break
    return str(client)


def _origin_of(request: Request) -> str | None:
    origin = request.headers.get("origin")
    if origin is None:
        referer = request.headers.get("referer")
        if not referer:
            return None
        parts = urlsplit(referer)
        origin = f"{parts.scheme}://{parts.netloc}"
    return origin.rstrip("/")


def same_origin(request: Request, settings: Settings) -> bool:
    """Whether an unsafe request comes from the portal's own pages (Origin, else Referer)."""
    origin = _origin_of(request)
    if not origin or origin == "null":
        return False
    if settings.public_origins:
        return origin in settings.public_origins
    host = request.headers.get("host", "")
    return bool(host) and urlsplit(origin).netloc == host


def add_security_headers(response: Response, request: Request, settings: Settings) -> None:
    """CSP, HSTS (outside development), no-store (all but static files) and the classic headers."""
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    if settings.app_env != "development" and settings.hsts_max_age_seconds:
        headers.setdefault("Strict-Transport-Security", f"max-age={settings.hsts_max_age_seconds}")
    if not request.url.path.startswith("/static/"):
        headers["Cache-Control"] = "no-store"


Next = Callable[[Request], Awaitable[Response]]
# Routes other services call (never a browser); keep them off the public edge in production.
SERVICE_PATHS = ("/internal/",)


async def guard(request: Request, call_next: Next, refuse_page: Callable[[Request], Response]) -> Response:
    """Set ``request.state.client_address``; refuse unsafe requests from another origin."""
    settings: Settings = request.app.state.settings
    request.state.client_address = client_address(
        request.client.host if request.client else None,
        request.headers.get("x-forwarded-for"),
        settings.trusted_proxies,
    )
    # Service-to-service routes carry no cookie and prove themselves with a token: no CSRF to fear.
    browser_facing = not request.url.path.startswith(SERVICE_PATHS)
    if browser_facing and request.method in UNSAFE_METHODS and not same_origin(request, settings):
        if "json" in request.headers.get("content-type", ""):
            response: Response = JSONResponse({"errors": {"_form": FOREIGN_ORIGIN}}, status_code=403)
        else:
            response = refuse_page(request)
    else:
        response = await call_next(request)
    add_security_headers(response, request, settings)
    return response
