"""The counters' exactness in MongoDB when alerts are stored by one batch and counted by another."""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from alert_pipeline.models import Alert
from alert_pipeline.repository import CountBatch, MongoPipelineStore
from support.servers import Servers
from support.service_api import scratch_database

pytestmark = pytest.mark.integration
HOUR = datetime(2026, 11, 25, 3, tzinfo=UTC)


@pytest.fixture
async def store(servers: Servers) -> AsyncIterator[MongoPipelineStore]:
    async with scratch_database(servers.mongodb_uri, "repository-counts") as db:
        yield MongoPipelineStore(db)


def _alert(alert_id: str) -> Alert:
    return Alert(
        alert_id=alert_id, company_id="C-1", unit_id="U-1", unit_name="本社", serial_number="SER-1",
        mac_address="00:09:0F:00:00:01", detected_at=HOUR, received_at=HOUR,
        category="不正侵入防御(IPS)", category_key="ips", severity=1, summary="概要", explanation="説明",
        remedy="対処", source_event=alert_id, source_format="test", signature="sig",
    )  # fmt: skip


def _batch(
    alerts: list[Alert], new: set[str], topic: str, partition: int, first: int, last: int
) -> CountBatch:
    return CountBatch(
        threats=alerts, new_alerts=new, first={(topic, partition): first}, reached={(topic, partition): last}
    )


async def _threats(store: MongoPipelineStore) -> int:
    """The alerts in the counters, which the unit's tally of the day (JST) must agree with."""
    doc = await store.counters.find_one({"serial_number": "SER-1"})
    counted = 0 if doc is None else int(doc["threats"]["ips"]["count"])
    tally = await store.tallies.collection.find_one({"_id": "U-1|20261125"})
    assert (0 if tally is None else tally["n"]["1"]["不正侵入防御(IPS)"]) == counted
    return counted


async def test_an_alert_is_counted_once_whichever_batch_counts_it_and_however_often_it_comes_again(
    store: MongoPipelineStore,
) -> None:
    made, again = _alert("ALT-MADE"), _alert("ALT-AGAIN")
    # A batch stores ALT-MADE (record utm-events:0@10) and dies before its counts.
    written = await store.insert_alerts([made], {"ALT-MADE": ("utm-events", 0, 10)})
    assert written.new == {"ALT-MADE"}
    # The same alert comes from a record of another partition, whose batch counts it.
    await store.apply_counts(_batch([made], set(), "utm-events", 1, 0, 3))
    assert await _threats(store) == 1
    # The batch that made it comes again: already counted.
    await store.apply_counts(_batch([made], set(), "utm-events", 0, 8, 12))
    assert await _threats(store) == 1

    # A new alert counted by the batch that made it, which then comes again: counted once, and
    # without remembering its id.
    written = await store.insert_alerts([again], {"ALT-AGAIN": ("utm-events", 0, 20)})
    await store.apply_counts(_batch([again], written.new, "utm-events", 0, 13, 21))
    await store.apply_counts(_batch([again], set(), "utm-events", 0, 13, 21))
    await store.apply_counts(_batch([again], set(), "utm-events", 1, 4, 6))
    assert await _threats(store) == 2
    assert [d["_id"] async for d in store.counted.find({})] == ["ALT-MADE"]


async def test_batches_merged_into_one_transaction_count_an_alert_they_share_once(
    store: MongoPipelineStore,
) -> None:
    shared, other = _alert("ALT-SHARED"), _alert("ALT-OTHER")
    # Batch 1 (utm-events:0@0-4) stores ALT-SHARED first; batch 2 (@5-9) finds it stored and adds
    # ALT-OTHER; their counts go in one transaction.
    first = await store.insert_alerts([shared], {"ALT-SHARED": ("utm-events", 0, 2)})
    second = await store.insert_alerts(
        [shared, other], {"ALT-SHARED": ("utm-events", 0, 6), "ALT-OTHER": ("utm-events", 0, 7)}
    )
    assert (first.new, second.new, second.existing) == ({"ALT-SHARED"}, {"ALT-OTHER"}, {"ALT-SHARED"})
    merged = CountBatch.merged(
        [
            _batch([shared], first.new, "utm-events", 0, 0, 4),
            _batch([shared, other], second.new, "utm-events", 0, 5, 9),
        ]
    )
    await store.apply_counts(merged)
    assert await _threats(store) == 2
    # Delivered again, the alerts are found stored: nothing more, alone or merged.
    await store.apply_counts(_batch([shared, other], set(), "utm-events", 0, 5, 9))
    await store.apply_counts(
        CountBatch.merged(
            [
                _batch([shared], set(), "utm-events", 0, 0, 4),
                _batch([shared, other], set(), "utm-events", 0, 5, 9),
            ]
        )
    )
    assert await _threats(store) == 2
    assert await store.counted.count_documents({}) == 0


async def test_an_alert_stored_outside_the_ingest_by_several_at_once_is_tallied_once(
    store: MongoPipelineStore,
) -> None:
    # The service's own UTM監視 alerts are stored with their tally in one transaction.
    offline = _alert("ALT-OFFLINE")
    results = await asyncio.gather(*(store.insert_alert(offline) for _ in range(3)))
    assert sorted(results) == [False, False, True]
    assert await store.alerts.count_documents({"_id": "ALT-OFFLINE"}) == 1
    tally = await store.tallies.collection.find_one({"_id": "U-1|20261125"})
    assert tally is not None
    assert tally["n"] == {"1": {"不正侵入防御(IPS)": 1}}
