"""The gateway's backend clients: a kept-alive connection closed under a request."""

import httpx
import pytest

from gateway.backends import Backends, BackendUnavailable


def _closing_once() -> tuple[httpx.MockTransport, list[str]]:
    """A backend whose first request finds its connection closed; the next ones are answered."""
    seen: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.method)
        if len(seen) == 1:
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            )
        return httpx.Response(200, json={"ok": True})

    return httpx.MockTransport(handle), seen


async def test_a_read_is_sent_again_when_its_connection_was_closed() -> None:
    transport, seen = _closing_once()
    backends = Backends({"alert-pipeline": "http://pipeline"}, transport=transport)
    response = await backends.call("alert-pipeline", "GET", "/alerts/ALT-1")
    assert (response.status_code, seen) == (200, ["GET", "GET"])
    await backends.aclose()


async def test_a_write_is_never_sent_twice() -> None:
    transport, seen = _closing_once()
    backends = Backends({"alert-pipeline": "http://pipeline"}, transport=transport)
    with pytest.raises(BackendUnavailable):
        await backends.call("alert-pipeline", "POST", "/alerts/acknowledge", json={"alert_ids": ["ALT-1"]})
    assert seen == ["POST"]
    await backends.aclose()
