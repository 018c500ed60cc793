"""The raw stream's records fetched ahead (``consumer._Fetched``): order, bound, rebalances, failures."""

import asyncio
import time
from typing import Any

import pytest
from aiokafka import ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaConnectionError

from alert_pipeline.consumer import _Fetched, _next_offsets

TOPIC = "utm-events"
P0, P1 = TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 1)
BOTH = {P0, P1}


def _both() -> set[TopicPartition]:
    return BOTH


def _records(tp: TopicPartition, first: int, n: int) -> list[ConsumerRecord[Any, Any]]:
    return [_record(tp, offset) for offset in range(first, first + n)]


def _record(tp: TopicPartition, offset: int) -> ConsumerRecord[Any, Any]:
    return ConsumerRecord(
        topic=tp.topic, partition=tp.partition, offset=offset, timestamp=0, timestamp_type=0,
        key=None, value=b"{}", checksum=None, serialized_key_size=0, serialized_value_size=2,
        headers=[],
    )  # fmt: skip


def _offsets(records: list[ConsumerRecord[Any, Any]]) -> list[tuple[int, int]]:
    return [(r.partition, r.offset) for r in records]


async def test_records_are_taken_in_each_partitions_order_and_at_most_the_limit_at_once() -> None:
    fetched = _Fetched(limit=5)
    fetched.put({P0: _records(P0, 0, 3), P1: _records(P1, 10, 2)})
    fetched.put({P0: _records(P0, 3, 2)})
    first = await fetched.take(_both, within=0.1)
    second = await fetched.take(_both, within=0.1)
    assert _offsets(first) == [(0, 0), (0, 1), (0, 2), (1, 10), (1, 11)]
    assert _offsets(second) == [(0, 3), (0, 4)]
    assert _next_offsets(first) == {P0: 3, P1: 12}


async def test_fetching_pauses_while_the_limit_is_held_and_resumes_once_taken() -> None:
    fetched = _Fetched(limit=4)
    calls: list[int] = []

    class Consumer:
        async def getmany(self, *, timeout_ms: int, max_records: int) -> dict[TopicPartition, Any]:
            calls.append(max_records)
            await asyncio.sleep(0)
            return {P0: _records(P0, 2 * (len(calls) - 1), 2)}

    filling = asyncio.create_task(fetched.fill(Consumer(), timeout_ms=10))
    try:
        await asyncio.sleep(0.05)
        assert len(calls) == 2  # full: no third fetch
        assert len(fetched.records) == 4
        taken = await fetched.take(_both, within=0.1)
        assert _offsets(taken) == [(0, 0), (0, 1), (0, 2), (0, 3)]
        await asyncio.sleep(0.05)
        assert len(calls) == 4
        assert _offsets(list(fetched.records)) == [(0, 4), (0, 5), (0, 6), (0, 7)]
    finally:
        filling.cancel()
        await asyncio.gather(filling, return_exceptions=True)


async def test_a_partition_read_again_from_an_earlier_offset_replaces_what_is_held_of_it() -> None:
    fetched = _Fetched(limit=100)
    fetched.put({P0: _records(P0, 0, 4), P1: _records(P1, 0, 2)})
    # A rebalance: the partition is read again from its committed offset.
    fetched.put({P0: _records(P0, 2, 3)})
    taken = await fetched.take(_both, within=0.1)
    assert _offsets(taken) == [(1, 0), (1, 1), (0, 2), (0, 3), (0, 4)]


async def test_what_is_held_of_a_partition_no_longer_assigned_is_dropped_whole() -> None:
    fetched = _Fetched(limit=3)
    fetched.put({P0: _records(P0, 0, 4), P1: _records(P1, 0, 2)})
    # P0 goes to another member: none of it is taken, not even what was held beyond this take.
    assert _offsets(await fetched.take(lambda: {P1}, within=0.1)) == [(1, 0), (1, 1)]
    assert not fetched.records
    # Back later from any offset (its committed one): taken as it comes.
    fetched.put({P0: _records(P0, 2, 2)})
    assert _offsets(await fetched.take(_both, within=0.1)) == [(0, 2), (0, 3)]


async def test_a_partition_assigned_while_waiting_is_taken() -> None:
    fetched = _Fetched(limit=100)
    assignment: set[TopicPartition] = set()

    async def joined() -> None:
        await asyncio.sleep(0.02)
        assignment.add(P0)
        fetched.put({P0: _records(P0, 0, 2)})

    joining = asyncio.create_task(joined())
    assert _offsets(await fetched.take(lambda: assignment, within=5.0)) == [(0, 0), (0, 1)]
    await joining


async def test_take_waits_for_the_first_record_at_most_the_time_given() -> None:
    fetched = _Fetched(limit=100)
    started = time.monotonic()
    assert await fetched.take(_both, within=0.05) == []
    assert 0.04 <= time.monotonic() - started < 1.0

    async def later() -> None:
        await asyncio.sleep(0.02)
        fetched.put({P0: _records(P0, 0, 1)})

    arriving = asyncio.create_task(later())
    started = time.monotonic()
    assert _offsets(await fetched.take(_both, within=5.0)) == [(0, 0)]
    assert time.monotonic() - started < 1.0
    await arriving


async def test_a_failed_fetch_is_raised_by_the_next_take_so_the_consumer_is_made_anew() -> None:
    fetched = _Fetched(limit=100)

    class Consumer:
        async def getmany(self, *, timeout_ms: int, max_records: int) -> dict[TopicPartition, Any]:
            raise KafkaConnectionError("broker gone")

    await fetched.fill(Consumer(), timeout_ms=10)
    with pytest.raises(RuntimeError, match="fetching the raw stream failed") as caught:
        await fetched.take(_both, within=5.0)
    assert isinstance(caught.value.__cause__, KafkaConnectionError)
