"""Alert-mail latency of the notifier (not a test): from the alert-detected event to the SMTP server.

One notifier runs in this process (its whole lifespan: consumers, background loops) with a database
and consumer group of its own; a company gets one recipient, then a steady stream of distinct
important alerts (``--alerts``, default 100, at ``--rate`` a second, default 25) is published. Once
every one is recorded sent, prints p50/p99/max of event time → SMTP accepted and of event time →
claimed, and as its last line one JSON object of those figures. The target is p99 under a second.

    BENCH_SCRIPT=benchmarks/notifier_latency.py scripts/bench.sh      (servers of its own)
    .venv/bin/python benchmarks/notifier_latency.py                    (servers of the environment:
        KAFKA_BOOTSTRAP_SERVERS, MONGODB_URI, SMTP_HOST, SMTP_PORT)
"""

import argparse
import asyncio
import json
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pymongo import AsyncMongoClient

from notifier.main import create_app
from notifier.settings import Settings
from shared.events import AccountProvisioned, AlertDetected, Event
from shared.sealing import Sealer
from shared.settings import DEV_SEALING_KEY

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the tests' Kafka helpers
from support.kafka import producer as idempotent_producer
from support.kafka import start_group_at_end


def _alert(company_id: str, source: str, signature: str = "Malicious Websites") -> AlertDetected:
    return AlertDetected(
        alert_id=f"ALT-{datetime.now(UTC):%Y%m%d}-{uuid.uuid4().hex[:6].upper()}", company_id=company_id,
        unit_id="U-1", unit_name="本社 UTM-1", mac_address="00:09:0F:AA:BB:CC", category="Webガード",
        severity=2, signature=signature, source=source, destination="http://malware.example/",
        action="blocked", summary="UTMが有害サイトへのアクセスを検知したため通信をブロックしました。",
        explanation="有害サイトとして登録されたサイトへのアクセスです。", remedy="利用者に確認してください。",
        detected_at=datetime.now(UTC),
    )  # fmt: skip


async def _sent(deliveries: Any, events: list[Event], within: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + within
    wanted = [str(e.event_id) for e in events]
    while True:
        docs: list[dict[str, Any]] = await deliveries.find(
            {"event_id": {"$in": wanted}, "status": "sent"}
        ).to_list()
        if len(docs) == len(wanted):
            return docs
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(docs)} of {len(wanted)} sent within {within:.0f}s")
        await asyncio.sleep(0.1)


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


async def run(alerts: int, rate: float) -> dict[str, Any]:
    run_id = uuid.uuid4().hex[:8]
    settings = Settings(database=f"notifier-bench-{run_id}", consumer_group=f"notifier-bench-{run_id}")
    await start_group_at_end(settings.kafka.bootstrap_servers, settings.consumer_group)
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(settings.mongo.uri, tz_aware=True)
    producer = idempotent_producer(settings.kafka.bootstrap_servers)
    await producer.start()
    deliveries = mongo[settings.database]["deliveries"]
    company = f"C-bench-{run_id}"

    async def publish(event: Event) -> None:
        await producer.send_and_wait(event.TOPIC, event.model_dump_json().encode(), key=company.encode())

    try:
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            user = AccountProvisioned(
                company_id=company, company_name="計測株式会社", account_id=f"A-{run_id}", name="計測 太郎",
                email=f"bench-{run_id}@example.com", login_id=f"u{run_id}",
                sealed_temporary_password=Sealer(DEV_SEALING_KEY).seal("Tmp#pw-83kd"),
                temporary_password_expires_at=datetime.now(UTC) + timedelta(days=1),
                portal_url="https://console.example.jp/",
            )  # fmt: skip
            await publish(user)
            await _sent(deliveries, [user], 60)
            warm_up = _alert(company, "10.9.9.9", "warm-up")  # every consumer has joined once it is sent
            await publish(warm_up)
            await _sent(deliveries, [warm_up], 60)
            stream = [_alert(company, f"10.0.{i // 250}.{i % 250}") for i in range(alerts)]
            for event in stream:
                await publish(event.model_copy(update={"occurred_at": datetime.now(UTC)}))
                await asyncio.sleep(1 / rate)
            sent = await _sent(deliveries, stream, 120)
    finally:
        await producer.stop()
        await mongo.drop_database(settings.database)
        await mongo.close()
    latencies = sorted((d["sent_at"] - d["event_time"]).total_seconds() for d in sent)
    claims = sorted((d["created_at"] - d["event_time"]).total_seconds() for d in sent)
    return {
        "alerts": alerts,
        "rate": rate,
        "claimed_p50_ms": _ms(statistics.median(claims)),
        "claimed_max_ms": _ms(claims[-1]),
        "smtp_p50_ms": _ms(statistics.median(latencies)),
        "smtp_p99_ms": _ms(latencies[max(0, int(len(latencies) * 0.99) - 1)]),
        "smtp_max_ms": _ms(latencies[-1]),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=100)
    parser.add_argument("--rate", type=float, default=25.0, help="alerts a second")
    args = parser.parse_args()
    figures = asyncio.run(run(args.alerts, args.rate))
    print(f"alert event -> claimed: p50 {figures['claimed_p50_ms']} ms, max {figures['claimed_max_ms']} ms")
    print(
        f"alert event -> SMTP accepted: p50 {figures['smtp_p50_ms']} ms, p99 {figures['smtp_p99_ms']} ms"
        f" (target p99 < 1000 ms)"
    )
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
