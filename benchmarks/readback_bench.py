"""What reading ``alert-detected`` back costs a redelivered batch after a crash (not a test).

    BENCH_SCRIPT=benchmarks/readback_bench.py scripts/bench.sh [--records 60000] [--companies 100]

Fills a topic of its own (6 partitions, as ``alert-detected``) with announcements of many
companies, keyed by company as the pipeline publishes them, then times a read-back for a few
candidates of one company over the whole topic, as after a crash whose batch stored them while
the topic received ``--records`` announcements. Run directly, it uses the Kafka of the environment.
The last line is one JSON object.
"""

import argparse
import asyncio
import json
import os
import time
import uuid
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from alert_pipeline.models import Alert
from alert_pipeline.readback import AnnouncementReadBack

KAFKA = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
# About the size of a real announcement's texts.
SUMMARY = "UTMが有害サイトへのアクセスを検知したため通信をブロックしました。" * 3


def _candidate(alert_id: str, company_id: str, received_at: datetime) -> Alert:
    return Alert(
        alert_id=alert_id, company_id=company_id, unit_id="U-1", unit_name="本社",
        serial_number="FGT60F0001", mac_address="00:09:0F:00:00:01", detected_at=received_at,
        received_at=received_at, category="Webガード", category_key="webfilter", severity=2, summary="",
        explanation="", remedy="", source_event="e", source_format="json",
    )  # fmt: skip


async def run(records: int, companies: int) -> dict[str, float]:
    topic = f"readback-bench-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=6, replication_factor=1)])
    finally:
        await admin.close()
    started_at = datetime.now(UTC)
    producer = AIOKafkaProducer(bootstrap_servers=KAFKA, acks="all", enable_idempotence=True, linger_ms=20)
    await producer.start()
    try:
        for i in range(records):
            company = f"C-{i % companies:04d}"
            body = {"event_id": str(uuid.uuid4()), "alert_id": f"ALT-20261201-{i:010d}",
                    "company_id": company, "summary": SUMMARY}  # fmt: skip
            await producer.send(topic, json.dumps(body).encode(), key=company.encode())
        await producer.flush()
    finally:
        await producer.stop()
    read_back = AnnouncementReadBack(KAFKA, topic=topic)
    # Five candidates of one company: three announced (early, middle, last), two never.
    wanted = [records - 1 - (records - 1) % companies, companies, 0]
    candidates = [_candidate(f"ALT-20261201-{i:010d}", "C-0000", started_at) for i in wanted]
    candidates += [_candidate(f"ALT-20261201-X{i:09d}", "C-0000", started_at) for i in range(2)]
    timings = []
    for _ in range(3):
        began = time.perf_counter()
        found = await read_back.announced(candidates)
        timings.append(time.perf_counter() - began)
        assert found == {c.alert_id for c in candidates[:3]}, found
    return {"records": records, "companies": companies, "read_back_ms": round(min(timings) * 1000, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=60_000)
    parser.add_argument("--companies", type=int, default=100)
    args = parser.parse_args()
    result = asyncio.run(run(args.records, args.companies))
    print(
        f"read back {args.records:,} announcements of {args.companies} companies: {result['read_back_ms']} ms"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
