"""The gateway uses neither Kafka nor MongoDB (identity keeps its browser sessions): it starts and is
ready with both unreachable."""

from pathlib import Path

import httpx
import pytest

from gateway.main import create_app
from gateway.settings import Settings
from support.processes import ServiceProcess, free_port


async def test_ready_without_kafka_and_mongodb(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9")
    monkeypatch.setenv("MONGODB_URI", "mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=500")
    settings = Settings()
    assert not hasattr(settings, "kafka")
    assert not hasattr(settings, "mongo")
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            ready = await client.get("/health/ready")
            assert ready.status_code == 200
            assert ready.json()["checks"] == {}
            login = await client.get("/login")
            assert login.status_code == 200
            assert "ログイン" in login.text
            favicon = await client.get("/favicon.ico")
            assert favicon.status_code == 200
            assert favicon.content[:4] == b"\x00\x00\x01\x00"


def test_the_gateway_process_starts_and_is_ready_with_no_kafka_and_no_mongodb(tmp_path: Path) -> None:
    nothing = "127.0.0.1:9"  # nothing listens there
    gateway = ServiceProcess(
        name="gateway",
        port=free_port(),
        env={
            "APP_ENV": "test",
            "KAFKA_BOOTSTRAP_SERVERS": nothing,
            "MONGODB_URI": f"mongodb://{nothing}/?serverSelectionTimeoutMS=500",
            "IDENTITY_URL": f"http://{nothing}",
        },
        log_path=tmp_path / "gateway.log",
    )
    try:
        gateway.start(timeout=120)
        ready = httpx.get(f"{gateway.url}/health/ready", timeout=10)
        assert ready.status_code == 200
        assert ready.json()["checks"] == {}
        login = httpx.get(f"{gateway.url}/login", timeout=10)
        assert login.status_code == 200
        assert "ログイン" in login.text
    finally:
        gateway.stop()
