"""The gateway's backend clients: a kept-alive connection closed under a request; reports kept briefly."""

import httpx
import pytest

from gateway.backends import Backends, BackendUnavailable
from gateway.routes.reports import ReportCache


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


def test_a_report_is_kept_a_few_seconds_per_company_kind_and_period() -> None:
    now = [100.0]
    cache = ReportCache(seconds=30.0, size=3, clock=lambda: now[0])
    key = ("C-1", "threats", "2026-11-01", "2026-11-30")
    cache.put(key, {"total": 4})
    assert cache.get(key) == {"total": 4}
    # Another company, kind or period is another report.
    assert cache.get(("C-2", "threats", "2026-11-01", "2026-11-30")) is None
    assert cache.get(("C-1", "compare", "2026-11-01", "2026-11-30")) is None
    assert cache.get(("C-1", "threats", "2026-11-01", "2026-11-29")) is None
    now[0] += 29.9
    assert cache.get(key) == {"total": 4}
    now[0] += 0.1
    assert cache.get(key) is None
    # Full: the expired go first, then everything; the newest is always kept.
    for n in range(5):
        cache.put(("C-1", "threats", "2026-11-01", f"2026-11-0{n + 1}"), {"total": n})
    assert cache.get(("C-1", "threats", "2026-11-01", "2026-11-05")) == {"total": 4}
