"""The signup service as the portal's operator pages use it."""

from typing import TYPE_CHECKING, Any

from gateway.backends import Backends
from gateway.clients._base import call_json

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
