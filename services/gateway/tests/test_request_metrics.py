"""Every service's request metrics (``shared.app.RequestMetrics``): by method, route and status."""

import httpx
from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from shared.app import RequestMetrics


def _app(registry: CollectorRegistry) -> FastAPI:
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: str) -> dict[str, str]:
        return {"item": item_id}

    @app.get("/broken")
    async def broken() -> None:
        raise RuntimeError("a bug")

    requests = Counter("http_requests_total", "", ["method", "route", "status"], registry=registry)
    latency = Histogram("http_request_duration_seconds", "", ["method", "route"], registry=registry)
    app.add_middleware(RequestMetrics, requests=requests, latency=latency)
    return app


async def test_requests_are_counted_by_route_template_status_and_timed() -> None:
    registry = CollectorRegistry()
    transport = httpx.ASGITransport(app=_app(registry), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
        assert (await client.get("/items/1")).status_code == 200
        assert (await client.get("/items/2")).status_code == 200
        assert (await client.get("/nowhere")).status_code == 404
        assert (await client.get("/broken")).status_code == 500
    text = generate_latest(registry).decode()
    assert 'http_requests_total{method="GET",route="/items/{item_id}",status="200"} 2.0' in text
    assert 'http_requests_total{method="GET",route="unmatched",status="404"} 1.0' in text
    assert 'http_requests_total{method="GET",route="/broken",status="500"} 1.0' in text
    assert 'http_request_duration_seconds_count{method="GET",route="/items/{item_id}"} 2.0' in text
