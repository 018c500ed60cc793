"""The gateway's view of browser handles: identity asked once per few seconds, never trusted longer."""

import json
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from gateway.backends import Backends
from gateway.clients.identity import TokenGrant
from gateway.session import TokenCache
from gateway.session_store import IdentitySessionStore
from shared.expiring import ExpiringMap


@dataclass
class Identity:
    """Identity's handle routes, by hand: handle → (session, idle seconds it reports)."""

    live: dict[str, tuple[str, float]] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)
    in_setup: set[str] = field(default_factory=set)  # sessions with a setup step due: no token

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        body = json.loads(request.content)
        self.asked.append(f"{path.rsplit('/', 1)[-1]} {body['handle']}")
        if path.endswith("/lookup"):
            if body["handle"] not in self.live:
                return httpx.Response(404, json={"title": "no such handle"})
            session, idle = self.live[body["handle"]]
            found = {"session_id": session, "account_id": "A-1", "idle_seconds": idle}
            if body.get("with_token") and session not in self.in_setup:
                found["token"] = {
                    "access_token": f"token of {session}",
                    "expires_in": 300,
                    "account": ACCOUNT,
                }
            return httpx.Response(200, json=found)
        self.live.pop(body["handle"], None)
        return httpx.Response(204)


@dataclass
class Holder:
    backends: Backends


ACCOUNT = {
    "account_id": "A-1", "company_id": "C-1", "company_name": "見守り商事株式会社", "role": "customer",
    "name": "見守 太郎", "email": "taro@example.com", "login_id": "taro@example.com",
}  # fmt: skip


def _store(
    identity: Identity, now: list[float], on_token: Callable[[str, TokenGrant], object] | None = None
) -> IdentitySessionStore:
    backends = Backends({"identity": "http://identity"}, transport=httpx.MockTransport(identity.handle))
    return IdentitySessionStore(
        Holder(backends), max_age_seconds=5.0, clock=lambda: now[0], on_token=on_token
    )


async def test_a_live_handle_is_asked_of_identity_once_per_max_age() -> None:
    identity, now = Identity(live={"h1": ("S-1", 120.0)}), [1000.0]
    store = _store(identity, now)
    # The first request reports identity's idle time; the next ones the time since the one before.
    assert await store.lookup("h1") == ("S-1", 120.0)
    now[0] += 2.0
    assert await store.lookup("h1") == ("S-1", 2.0)
    now[0] += 2.5
    assert await store.lookup("h1") == ("S-1", 2.5)
    assert identity.asked == ["lookup h1"]
    # Used all along, it is still asked again once its seconds from identity's answer are over.
    now[0] += 0.5
    assert await store.lookup("h1") == ("S-1", 120.0)
    assert identity.asked == ["lookup h1", "lookup h1"]


async def test_a_session_ended_at_identity_stops_working_within_max_age() -> None:
    identity, now = Identity(live={"h1": ("S-1", 0.0)}), [1000.0]
    store = _store(identity, now)
    assert await store.lookup("h1") == ("S-1", 0.0)
    del identity.live["h1"]  # logged out in another gateway, or every session of the user ended
    now[0] += 4.75
    assert await store.lookup("h1") == ("S-1", 4.75)
    now[0] += 0.25
    assert await store.lookup("h1") is None
    # An unknown handle is never remembered: asked every time.
    assert await store.lookup("h1") is None
    assert identity.asked == ["lookup h1", "lookup h1", "lookup h1"]


async def test_a_handle_dropped_here_is_forgotten_at_once() -> None:
    identity, now = Identity(live={"h1": ("S-1", 0.0), "h2": ("S-2", 0.0)}), [1000.0]
    store = _store(identity, now)
    await store.lookup("h1")
    await store.lookup("h2")
    await store.drop("h1")
    assert await store.lookup("h1") is None
    assert await store.lookup("h2") == ("S-2", 0.0)
    assert identity.asked == ["lookup h1", "lookup h2", "revoke h1", "lookup h1"]


async def test_a_lookup_brings_the_session_s_token_along_when_it_is_logged_in() -> None:
    identity, now = Identity(live={"h1": ("S-1", 0.0), "h2": ("S-2", 0.0)}, in_setup={"S-2"}), [1000.0]
    tokens = TokenCache(max_age_seconds=5.0, clock=lambda: now[0])
    store = _store(identity, now, on_token=tokens.put_grant)
    assert await store.lookup("h1") == ("S-1", 0.0)
    user = tokens.get("S-1")
    assert user is not None
    assert (user.access_token, user.company_id) == ("token of S-1", "C-1")
    # A session with a setup step due gets none: the gateway asks for the token and learns the step.
    assert await store.lookup("h2") == ("S-2", 0.0)
    assert tokens.get("S-2") is None
    # Both are kept for the same seconds, and asked again together.
    now[0] += 5.0
    assert tokens.get("S-1") is None
    assert await store.lookup("h1") == ("S-1", 0.0)
    assert tokens.get("S-1") is not None
    assert identity.asked == ["lookup h1", "lookup h2", "lookup h1"]


def test_the_expiring_map_keeps_each_value_until_its_own_deadline_and_stays_bounded() -> None:
    now = [0.0]
    items: ExpiringMap[str, int] = ExpiringMap(size=3, clock=lambda: now[0])
    items.put("a", 1, 10.0)
    items.put("b", 2, 1.0)
    items.put("none", 0, 0.0)  # no time at all: not kept
    assert (items.get("a"), items.get("b"), items.get("none")) == (1, 2, None)
    now[0] = 1.0
    assert (items.get("a"), items.get("b")) == (1, None)
    # Full: the expired go first, then everything; the newest is always kept.
    items.put("c", 3, 1.0)
    items.put("d", 4, 5.0)
    assert len(items) == 3
    now[0] = 2.5
    items.put("e", 5, 5.0)  # "c" expired and makes room
    assert (items.get("a"), items.get("d"), items.get("e")) == (1, 4, 5)
    items.put("f", 6, 5.0)
    assert (len(items), items.get("f"), items.get("a")) == (1, 6, None)
    items.drop("f")
    assert items.get("f") is None
