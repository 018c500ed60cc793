"""What every typed client shares: the call, and a refusal carrying the backend's status and detail."""

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict

from gateway.backends import Backends

if TYPE_CHECKING:
    from gateway.session import PortalUser


Item = TypeVar("Item")


class Answer(BaseModel):
    """A typed item of a backend's answer: fields the portal does not read are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)


@dataclass(frozen=True, slots=True)
class Page(Generic[Item]):
    """One page of a backend's list and the count of all."""

    items: list[Item]
    total: int

    @classmethod
    def of(cls, result: Any) -> "Page[Any]":
        """Each item as the backend gives it."""
        return Page(items=list(result["items"]), total=int(result["total"]))


class BackendRefused(Exception):
    """A backend answered, but not with success (404 unknown, 422 invalid input, 403 …)."""

    def __init__(self, status_code: int, detail: str, body: Any = None) -> None:
        super().__init__(f"{status_code}: {detail}")
        self.status_code = status_code
        self.detail = detail
        self.body = body

    def messages(self) -> list[str]:
        """The Japanese messages of the answer: its ``detail`` or the values of its ``errors``."""
        if self.detail:
            return [self.detail]
        errors = self.body.get("errors") if isinstance(self.body, dict) else None
        return [str(m) for m in errors.values()] if isinstance(errors, dict) else []

    @property
    def not_found(self) -> bool:
        return self.status_code == 404


def detail_of(response: httpx.Response) -> str:
    """The backend's explanation: a string ``detail`` is shown to people; anything else is not."""
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        return ""
    return detail if isinstance(detail, str) else ""


async def call_json(
    backends: Backends,
    service: str,
    method: str,
    path: str,
    *,
    user: "PortalUser | None" = None,
    **kwargs: Any,
) -> Any:
    """The JSON answer of a successful call; raises BackendRefused otherwise (BackendUnavailable if down)."""
    response = await backends.call(service, method, path, user=user, **kwargs)
    if response.status_code >= 300:
        try:
            body = response.json()
        except ValueError:
            body = None
        raise BackendRefused(response.status_code, detail_of(response), body)
    if response.status_code == 204 or not response.content:
        return None
    return response.json()
