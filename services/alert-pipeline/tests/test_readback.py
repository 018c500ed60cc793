"""An alert announced by a batch that died before recording so is not announced again by its
redelivery: the pipeline reads its own ``alert-detected`` back (real Kafka and MongoDB)."""

import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from pymongo.errors import AutoReconnect

from alert_pipeline.classifier import Classifier
from alert_pipeline.ingest import IngestService
from alert_pipeline.models import Alert, Unit
from alert_pipeline.monitoring import MonitoringService
from alert_pipeline.readback import AnnouncementReadBack
from alert_pipeline.repository import MongoPipelineStore
from shared.events import AlertDetected, UtmStatusChanged
from support.kafka import create_topic, producer
from support.servers import Servers
from support.service_api import scratch_database

pytestmark = pytest.mark.integration

UNIT = Unit("FGT60FTK2109RBCK", "U-1", "C-1", "本社 UTM-1", "00:09:0F:AA:BB:CC")


@dataclass
class Record:
    value: bytes
    offset: int
    topic: str = "utm-events"
    partition: int = 0
    key: bytes | None = None
    timestamp: int = 0


def _threats(*event_ids: str) -> list[Record]:
    """Blocked web-filter events: each an important alert."""
    bodies = (
        {
            "event_id": event_id,
            "serial_number": UNIT.serial_number,
            "occurred_at": "2026-01-05T03:04:05Z",
            "kind": "webfilter",
            "action": "blocked",
            "level": "warning",
            "signature": f"Malicious Websites {event_id}",
        }
        for event_id in event_ids
    )
    return [Record(json.dumps(body).encode(), offset) for offset, body in enumerate(bodies)]


class RecordingFails(MongoPipelineStore):
    """A process killed after it published its batch's announcements, before it recorded them."""

    async def mark_notified(self, alert_ids: Iterable[str]) -> None:
        raise AutoReconnect("killed before recording the announcements")


@dataclass
class Bench:
    store: MongoPipelineStore
    topic: str
    bootstrap: str
    sender: AIOKafkaProducer

    async def publish(self, event: AlertDetected) -> None:
        value = json.dumps(event.model_dump(mode="json")).encode()
        await self.sender.send_and_wait(self.topic, value, key=event.company_id.encode())

    def service(self, store: MongoPipelineStore | None = None) -> IngestService:
        return IngestService(
            store=store or self.store,
            classifier=Classifier.load(),
            publish_alert=self.publish,
            announced=AnnouncementReadBack(self.bootstrap, topic=self.topic).announced,
        )

    def monitoring(self, store: MongoPipelineStore | None = None) -> MonitoringService:
        return MonitoringService(
            store=store or self.store,
            publish_alert=self.publish,
            announced=AnnouncementReadBack(self.bootstrap, topic=self.topic).announced,
        )

    async def announcements(self) -> Counter[str]:
        """How many times the topic announces each alert."""
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None)
        await consumer.start()
        try:
            tps = [TopicPartition(self.topic, p) for p in range(3)]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            ends = await consumer.end_offsets(tps)
            ids: Counter[str] = Counter()
            while any([await consumer.position(tp) < ends[tp] for tp in tps]):
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    ids.update(json.loads(r.value)["alert_id"] for r in records if r.value)
            return ids
        finally:
            await consumer.stop()


@pytest.fixture
async def bench(servers: Servers) -> AsyncIterator[Bench]:
    topic = f"alert-detected-{uuid.uuid4().hex[:8]}"
    await create_topic(servers.kafka, topic, partitions=3)
    sender = producer(servers.kafka)
    await sender.start()
    try:
        async with scratch_database(servers.mongodb_uri, "readback") as db:
            store = MongoPipelineStore(db)
            await store.upsert_unit(UNIT)
            yield Bench(store, topic, servers.kafka, sender)
    finally:
        await sender.stop()


async def test_a_batch_killed_between_announcing_and_recording_is_not_announced_twice(bench: Bench) -> None:
    batch = _threats("w1", "w2", "w3")
    with pytest.raises(AutoReconnect):
        await bench.service(RecordingFails(bench.store.db)).process_batch(batch)
    announced = await bench.announcements()
    assert sorted(announced.values()) == [1, 1, 1]

    restarted = bench.service()
    result = await restarted.process_batch(batch)

    assert result.published == 0
    assert await bench.announcements() == announced
    # Recorded now: a third delivery reads nothing back.
    assert await bench.store.unnotified(announced) == []
    again = await restarted.process_batch(batch)
    assert (again.published, again.duplicates) == (0, 3)
    assert await bench.announcements() == announced


async def test_an_alert_stored_but_never_published_is_announced_once_on_redelivery(bench: Bench) -> None:
    batch = _threats("w1", "w2")
    broken = bench.service()

    async def broker_gone(event: AlertDetected) -> None:
        raise ConnectionError("broker gone")

    broken.publish_alert = broker_gone
    with pytest.raises(ConnectionError):
        await broken.process_batch(batch)
    assert await bench.announcements() == Counter()
    assert await bench.store.alerts.count_documents({}) == 2

    result = await bench.service().process_batch(batch)

    assert result.published == 2
    assert sorted((await bench.announcements()).values()) == [1, 1]


async def test_a_line_repeated_while_its_alert_is_being_recorded_is_announced_once(bench: Bench) -> None:
    """The same source event in the next batch, which finds its alert stored but not yet recorded."""
    first = _threats("w1")
    with pytest.raises(AutoReconnect):
        await bench.service(RecordingFails(bench.store.db)).process_batch(first)
    # The next batch (a later line carrying the same event) of another instance.
    await bench.service().process_batch([replace(first[0], offset=7)])
    assert list((await bench.announcements()).values()) == [1]


async def test_a_unit_gone_offline_is_announced_once_whatever_is_redelivered(bench: Bench) -> None:
    offline = UtmStatusChanged(
        company_id=UNIT.company_id, unit_id=UNIT.unit_id, serial_number=UNIT.serial_number,
        mac_address=UNIT.mac_address, name=UNIT.name, status="offline",
    )  # fmt: skip
    with pytest.raises(AutoReconnect):
        await bench.monitoring(RecordingFails(bench.store.db)).status_changed(offline)
    assert list((await bench.announcements()).values()) == [1]

    await bench.monitoring().status_changed(offline)  # redelivered after the crash
    await bench.monitoring().status_changed(offline)  # and once more, recorded by now

    assert list((await bench.announcements()).values()) == [1]
    assert await bench.store.alerts.count_documents({}) == 1


async def test_only_the_records_since_the_earliest_candidate_was_stored_are_read(bench: Bench) -> None:
    await bench.service().process_batch(_threats("w1"))
    [doc] = await bench.store.alerts.find({}).to_list()
    alert = Alert.from_document(doc)
    await bench.sender.send_and_wait(bench.topic, b"\xff not json", key=b"C-1")
    await bench.sender.send_and_wait(bench.topic, b'["a list"]', key=b"C-1")
    await bench.sender.send_and_wait(bench.topic, b"[" * 100_000, key=b"C-1")  # past the parser's depth
    read_back = AnnouncementReadBack(bench.bootstrap, topic=bench.topic, margin=timedelta(0))

    assert await read_back.announced([alert]) == {alert.alert_id}
    later = replace(alert, received_at=datetime.now(UTC) + timedelta(seconds=5))
    assert await read_back.announced([later]) == set()
    assert await read_back.announced([replace(alert, alert_id="ALT-20260105-NOTANNOUNC")]) == set()
    # Only the records keyed by the candidate's company are read.
    elsewhere = replace(alert, alert_id="ALT-20260105-ELSEWHERE0")
    await bench.sender.send_and_wait(
        bench.topic, json.dumps({"alert_id": elsewhere.alert_id}).encode(), key=b"C-2"
    )
    assert await read_back.announced([elsewhere]) == set()
    assert await read_back.announced([replace(elsewhere, company_id="C-2")]) == {elsewhere.alert_id}
    assert read_back.reads == 5
