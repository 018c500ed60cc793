"""The signup service as the portal's operator pages use it."""

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gateway.backends import Backends
from gateway.clients._base import BackendRefused, Page, call_json
from gateway.paths import backend_path

if TYPE_CHECKING:
    from gateway.session import PortalUser

SERVICE = "signup"
Json = dict[str, Any]


async def questions(backends: Backends, user: "PortalUser") -> list[Json]:
    """The wizard's additional questions (step 3)."""
    result: Json = await call_json(backends, SERVICE, "GET", "/questions", user=user)
    items: list[Json] = result["questions"]
    return items


async def replace_questions(backends: Backends, user: "PortalUser", items: list[Json]) -> list[Json]:
    """Replace the additional questions (operators only); an empty list hides step 3."""
    result: Json = await call_json(
        backends, SERVICE, "PUT", "/questions", user=user, json={"questions": items}
    )
    saved: list[Json] = result["questions"]
    return saved


async def applications(backends: Backends, user: "PortalUser", params: dict[str, Any]) -> Page:
    """Operators: one page of the applications, newest first."""
    return Page.of(await call_json(backends, SERVICE, "GET", "/applications", user=user, params=params))


async def application(backends: Backends, user: "PortalUser", application_number: str) -> Json:
    """Operators: one application as entered, with its state."""
    path = backend_path("/applications/{number}", number=application_number)
    result: Json = await call_json(backends, SERVICE, "GET", path, user=user)
    return result


async def prefectures(backends: Backends) -> list[str]:
    """The prefectures the wizard offers (public)."""
    result: Json = await call_json(backends, SERVICE, "GET", "/reference/prefectures")
    return list(result["prefectures"])


async def public_questions(backends: Backends) -> list[Json]:
    """The wizard's additional questions, as an applicant sees them (public)."""
    result: Json = await call_json(backends, SERVICE, "GET", "/questions")
    items: list[Json] = result["questions"]
    return items


@dataclass(frozen=True, slots=True)
class Answer:
    """Signup's answer passed on to the wizard as it is: its status, JSON body and Retry-After."""

    status_code: int
    body: Any
    retry_after: str | None = None


async def submit_application(
    backends: Backends, payload: Any, *, client: str, secret: str, idempotency_key: str = ""
) -> Answer:
    """申込み: the wizard's form. Signup believes ``client`` (for its mail limits) only with ``secret``.

    Raises BackendRefused only when the answer is not JSON or a server error other than 503.
    """
    headers = {"X-Client-Address": client, "X-Gateway-Secret": secret}
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key[:200]
    response = await backends.call(SERVICE, "POST", "/applications", json=payload, headers=headers)
    if response.status_code >= 500 and response.status_code != 503:
        raise BackendRefused(response.status_code, "")
    try:
        body = response.json()
    except ValueError:
        raise BackendRefused(response.status_code, "") from None
    return Answer(response.status_code, body, response.headers.get("retry-after"))


async def confirm_application(backends: Backends, token: str) -> Answer:
    """The link of the 申込み確認 mail: ``status`` in the body says completed, expired … (never raises
    for a 4xx; a body that is not JSON or a 5xx gives ``status`` error)."""
    response = await backends.call(SERVICE, "POST", "/applications/confirm", json={"token": token[:500]})
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code >= 500 or not isinstance(body, dict):
        return Answer(response.status_code, {"status": "error"})
    return Answer(response.status_code, body)
