"""Every service starts against the real servers and reports its health and metrics."""

import json
from pathlib import Path

import httpx
import pytest

from shared.app import build_app, create_runtime
from shared.settings import CommonSettings, KafkaSettings, MongoSettings
from support.processes import PACKAGES, running_stack
from support.servers import Servers

pytestmark = pytest.mark.integration


def test_every_service_becomes_ready_and_exposes_metrics(servers: Servers) -> None:
    with running_stack(servers) as stack:
        assert set(stack.services) == set(PACKAGES)
        for name, service in stack.services.items():
            live = httpx.get(f"{service.url}/health/live", timeout=5)
            assert live.json() == {"status": "ok", "service": name}
            ready = httpx.get(f"{service.url}/health/ready", timeout=5).json()
            # Kafka and MongoDB for every service but the gateway (neither: identity keeps its browser
            # sessions); a service may add checks of its own (consumers).
            expected = {} if name == "gateway" else {"kafka": "ok", "mongodb": "ok"}
            assert {
                k: ready["checks"][k] for k in ("kafka", "mongodb") if k in ready["checks"]
            } == expected, name
            assert set(ready["checks"].values()) <= {"ok"}, name
            assert ready["status"] == "ok", name
            metrics = httpx.get(f"{service.url}/metrics", timeout=5)
            assert "http_requests_total" in metrics.text, name
    logs = {name: Path(service.log_path).read_text() for name, service in stack.services.items()}
    for name, text in logs.items():
        entries = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
        assert any(entry["service"] == name for entry in entries), f"{name} wrote no JSON log line"


class _ProbeSettings(CommonSettings):
    database: str = "readiness-probe"


async def test_readiness_names_the_failing_dependency(servers: Servers) -> None:
    settings = _ProbeSettings(
        kafka=KafkaSettings(bootstrap_servers=servers.kafka),
        mongo=MongoSettings(uri="mongodb://127.0.0.1:9/?directConnection=true&serverSelectionTimeoutMS=500"),
    )
    app = build_app(create_runtime("readiness-probe", settings), title="probe")
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://probe") as client,
    ):
        response = await client.get("/health/ready")
        live = await client.get("/health/live")
    assert response.status_code == 503
    assert response.json()["failing"] == ["mongodb"]
    assert response.json()["checks"]["kafka"] == "ok"
    assert live.status_code == 200
