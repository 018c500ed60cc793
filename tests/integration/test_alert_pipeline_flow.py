"""Fleet simulator → Kafka → alert pipeline → MongoDB → alert-detected → notifier → Maildir.

Each test gets its own raw topic, consumer groups and databases, so earlier runs never interfere.
"""

import asyncio
import itertools
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from pymongo import AsyncMongoClient

from alert_pipeline.classifier import SEVERITY_LABELS, Classifier
from alert_pipeline.models import alert_id_for
from alert_pipeline.parsing import parse_record
from alert_pipeline.simulator import catalogued_events, events
from shared.events import AccountProvisioned, UtmRegistered
from shared.sealing import Sealer
from shared.settings import DEV_SEALING_KEY
from shared.topics import ALERT_DETECTED, UTM_REGISTERED
from support.maildir import read_all, wait_for_mail
from support.processes import Stack
from support.servers import Servers

pytestmark = pytest.mark.integration
SESSION = uuid.uuid4().hex[:8]


@dataclass
class Fleet:
    stack: Stack
    topic: str
    company_id: str
    email: str
    serials: list[str]

    @property
    def pipeline_db(self) -> str:
        return f"alert-pipeline-{self.stack.run_id}"


@pytest.fixture
def fleet(servers: Servers) -> Iterator[Fleet]:
    stack = Stack(servers)
    run = stack.run_id
    topic = f"utm-events-test-{run}"
    asyncio.run(_create_topic(servers.kafka, topic))
    stack.add(
        "alert-pipeline",
        ALERT_PIPELINE_RAW_TOPIC=topic,
        ALERT_PIPELINE_CONSUMER_GROUP=f"alert-pipeline-{run}",
        ALERT_PIPELINE_SEEN_FLUSH_SECONDS="1",
    )
    # One notifier identity for the whole session: a fresh one would mail every earlier alert again.
    stack.add(
        "notifier", NOTIFIER_CONSUMER_GROUP=f"notifier-{SESSION}", NOTIFIER_DATABASE=f"notifier-{SESSION}"
    )
    stack.start()
    company = f"C-{run.upper()}"
    fleet = Fleet(
        stack, topic, company, f"alerts-{run}@example.com", [f"FGT60F{run.upper()}{i}" for i in range(3)]
    )
    asyncio.run(_register(servers, fleet))
    # The notifier mails alerts to the recipients it has learnt from account events; its own mail to
    # the new user shows it has learnt this one (a new consumer group first replays earlier runs).
    wait_for_mail(servers.maildir, to=fleet.email, subject_contains="仮登録完了のお知らせ", timeout=180)
    try:
        yield fleet
    finally:
        stack.stop()


async def _create_topic(bootstrap: str, topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
    finally:
        await admin.close()


async def _register(servers: Servers, fleet: Fleet) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=servers.kafka, acks="all")
    await producer.start()
    try:
        account = AccountProvisioned(
            company_id=fleet.company_id, company_name="見守り株式会社", account_id=f"A-{fleet.stack.run_id}",
            name="見守 太郎", email=fleet.email, login_id="u-test",
            sealed_temporary_password=Sealer(DEV_SEALING_KEY).seal("Temp-Pass-1"),
            temporary_password_expires_at=datetime.now(UTC) + timedelta(days=1),
            portal_url="http://portal.example/",
        )  # fmt: skip
        await producer.send_and_wait(
            account.TOPIC, account.model_dump_json().encode(), key=fleet.company_id.encode()
        )
        for i, serial in enumerate(fleet.serials):
            event = UtmRegistered(
                company_id=fleet.company_id, unit_id=f"U-{serial}", serial_number=serial,
                mac_address=f"00:09:0F:00:00:{i:02X}", name=f"本社 UTM-{i + 1}",
            )  # fmt: skip
            await producer.send_and_wait(
                UTM_REGISTERED, event.model_dump_json().encode(), key=serial.encode()
            )
    finally:
        await producer.stop()
    # The projection may first replay registrations of earlier runs: wait for this fleet's units.
    mine = {"_id": {"$in": fleet.serials}}
    projected = await _wait(
        lambda db: db["units"].count_documents(mine), len(fleet.serials), servers, fleet.pipeline_db, 300
    )
    assert projected == len(fleet.serials), "the pipeline did not learn the fleet's units in time"


async def _wait(count: Any, expected: int, servers: Servers, db_name: str, within: float) -> int:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(servers.mongodb_uri, tz_aware=True)
    try:
        deadline = time.monotonic() + within
        while True:
            current = await count(client[db_name])
            if current >= expected or time.monotonic() > deadline:
                return int(current)
            await asyncio.sleep(0.3)
    finally:
        await client.close()


def _expected_alerts(records: list[tuple[str, str, bytes]]) -> dict[str, tuple[str, int]]:
    """What the pipeline must make of the records: alert id → (category, severity)."""
    classifier = Classifier.load()
    expected: dict[str, tuple[str, int]] = {}
    for _, _, raw in records:
        event = parse_record(raw)
        if event.is_threat:
            outcome = classifier.classify(event)
            expected[alert_id_for(event.serial_number, event.event_key, event.occurred_at)] = (
                outcome.category.name,
                outcome.severity,
            )
    return expected


async def _produce(
    bootstrap: str, topic: str, records: list[tuple[str, str, bytes]], rate: float = 0
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    started = time.monotonic()
    try:
        for i, (serial, _, raw) in enumerate(records):
            await producer.send(topic, raw, key=serial.encode())
            if rate and (ahead := (i + 1) / rate - (time.monotonic() - started)) > 0.005:
                await asyncio.sleep(ahead)
        await producer.flush()
    finally:
        await producer.stop()


async def _alert_events(bootstrap: str, company_id: str, wanted: set[str], within: float) -> list[str]:
    """alert_ids of the alert-detected events of ``company_id`` (duplicates kept), until all wanted came."""
    consumer = AIOKafkaConsumer(
        ALERT_DETECTED, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    seen: list[str] = []
    deadline = time.monotonic() + within
    try:
        while not wanted <= set(seen) and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500, max_records=5000)
            for records in batch.values():
                for record in records:
                    if record.key == company_id.encode():
                        seen.append(json.loads(record.value)["alert_id"])
    finally:
        await consumer.stop()
    return seen


def test_simulated_fleet_becomes_alerts_events_and_an_email(fleet: Fleet, servers: Servers) -> None:
    records = [r for _, r in zip(range(3000), events(fleet.serials, threat_ratio=0.1, seed=7), strict=False)]
    records.append((fleet.serials[0], "garbage", b"this line is not a UTM log"))
    expected = _expected_alerts(records[:-1])
    important = {a for a, (_, severity) in expected.items() if severity >= 2}
    assert len(important) > 20

    asyncio.run(_produce(servers.kafka, fleet.topic, records))
    stored = asyncio.run(
        _wait(lambda db: db["alerts"].count_documents({}), len(expected), servers, fleet.pipeline_db, 60)
    )
    assert stored == len(expected)
    published = asyncio.run(_alert_events(servers.kafka, fleet.company_id, important, 60))
    assert set(published) == important

    alert_id = sorted(important)[0]
    category, severity = expected[alert_id]
    subject = f"脅威検出通知({category}) 重要度:{SEVERITY_LABELS[severity]}"
    mail = wait_for_mail(servers.maildir, to=fleet.email, subject_contains=subject, timeout=60)
    assert mail.subject.startswith("脅威検出通知(")
    first_mails = [m for m in read_all(servers.maildir) if fleet.email in m.recipients and alert_id in m.text]
    assert len(first_mails) <= 1


def test_pipeline_killed_mid_stream_makes_every_alert_exactly_once(fleet: Fleet, servers: Servers) -> None:
    records = [
        r for _, r in zip(range(30_000), events(fleet.serials, threat_ratio=0.05, seed=11), strict=False)
    ]
    expected = _expected_alerts(records)
    important = {a for a, (_, severity) in expected.items() if severity >= 2}
    pipeline = fleet.stack.services["alert-pipeline"]

    async def produce_and_kill() -> None:
        producing = asyncio.create_task(_produce(servers.kafka, fleet.topic, records, rate=6000))
        await asyncio.sleep(2.0)
        pipeline.kill()
        await producing

    asyncio.run(produce_and_kill())
    pipeline.start()
    stored = asyncio.run(
        _wait(lambda db: db["alerts"].count_documents({}), len(expected), servers, fleet.pipeline_db, 120)
    )
    assert stored == len(expected)
    ids = asyncio.run(_alert_ids(servers, fleet.pipeline_db))
    assert ids == set(expected)
    published = asyncio.run(_alert_events(servers.kafka, fleet.company_id, important, 60))
    assert set(published) == important

    wait_for_mail(servers.maildir, to=fleet.email, subject_contains="脅威検出通知", timeout=120)
    time.sleep(10)  # let the notifier send more of what it received
    texts = [
        m.text
        for m in read_all(servers.maildir)
        if fleet.email in m.recipients and "脅威検出通知" in m.subject
    ]
    assert texts
    for alert_id in important:
        assert sum(alert_id in text for text in texts) <= 1, alert_id


async def _alert_ids(servers: Servers, db_name: str) -> set[str]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(servers.mongodb_uri)
    try:
        return {d["_id"] async for d in client[db_name]["alerts"].find({}, {"_id": 1})}
    finally:
        await client.close()


def test_unregistered_units_are_quarantined_not_alerted(fleet: Fleet, servers: Servers) -> None:
    stranger = f"FGT60FSTRANGER{uuid.uuid4().hex[:6].upper()}"
    sent = list(itertools.islice(catalogued_events([stranger], threat_ratio=0.5, seed=3), 400))
    records = [(s.serial, s.kind, s.record) for s in sent]
    # What the simulator means as an alert (an allowed application is none for some vendors).
    threats = sum(1 for s in sent if s.severity > 0)
    asyncio.run(_produce(servers.kafka, fleet.topic, records))
    quarantined = asyncio.run(
        _wait(lambda db: db["quarantine"].count_documents({}), threats, servers, fleet.pipeline_db, 60)
    )
    assert quarantined == threats
    assert asyncio.run(_alert_ids(servers, fleet.pipeline_db)) == set()
